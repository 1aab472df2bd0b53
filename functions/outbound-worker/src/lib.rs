//! Trigger: the outbound queue. Hands dashboard changes to their partners and records each outcome on
//! the order, keyed by the message id, so a redelivery records nothing new.
//!
//! - **Tracking back to Shopify**: `fulfillmentCreate` on the order's open fulfillment orders with the
//!   tracking info, exactly once per shipment: a shipment already recorded as delivered is not pushed
//!   again, and before pushing, the order's fulfilments in Shopify are checked for the tracking number
//!   (a crash after the push but before the record would otherwise push twice). `userErrors` become a
//!   `push_rejected` alert and a `rejected` record, never a silent drop; transport errors retry and end
//!   in the DLQ.
//! - **Assignments**: mirrored into the order's `order_sync.assigned_to` metafield with `metafieldsSet`
//!   when the shop enabled it (`metafields_sync`); otherwise `skipped` (the contract keeps metafields
//!   read-only by default).
//! - Support escalations are recorded as `delivered` to the assistant's queue; the ERP return fan-out
//!   is `deferred` until an ERP integration is configured, and can be replayed from these records.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::{
        Alert, AlertKind, Channel, OrderKey, ShopDomain, StageMessage,
        message::{Outbound, OutboundChange},
    },
    error::WorkerError,
    queue::{Stage, schema},
    shopify::{
        admin::{UserError, describe},
        graphql::{
            FULFILLMENT_CREATE, FulfillmentCreateData, METAFIELDS_SET, MetafieldsSetData, ORDER_FULFILLMENT_ORDERS,
            OrderFulfillmentOrdersData,
        },
    },
    sqs_batch,
    store::{AlertStore, Delivery, DeliveryStore, ShopStatus, ShopStore, dynamo::DynamoStore},
    tenants::{ShopifyAccess, ShopifyAccessConfig},
};

const STAGE: &str = "outbound";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub shopify: ShopifyAccessConfig,
    /// The app's credentials and token endpoint, to refresh expiring offline tokens.
    pub tokens: shared::install::TokenConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self {
            table: TableConfig::read(&mut env),
            shopify: ShopifyAccessConfig::read(&mut env),
            tokens: shared::install::TokenConfig::read(&mut env),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub shops: Arc<dyn ShopStore>,
    pub shopify: ShopifyAccess,
    /// Refreshes expiring tokens; marks refused ones invalid and parks their messages.
    pub tokens: shared::install::Tokens,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let sdk = shared::aws::sdk_config().await;
        let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
        Self {
            deliveries: store.clone(),
            alerts: store.clone(),
            shops: store.clone(),
            tokens: shared::install::Tokens::connect(
                &sdk,
                config.tokens,
                Vec::new(),
                store,
                Arc::new(shared::queue::sqs::SqsQueue::new(shared::aws::sqs(&sdk), Default::default())),
            ),
            shopify: ShopifyAccess::connect(&sdk, config.shopify),
            clock: Arc::new(SystemClock),
        }
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let max_receive_count = schema::def(Stage::Outbound).max_receive_count;
    Ok(sqs_batch::process(event.payload, STAGE, max_receive_count, deps.alerts.as_ref(), |message| step(deps, message))
        .await)
}

pub async fn step(deps: &Deps, message: StageMessage) -> Result<(), WorkerError> {
    // A refused token parks the message until the shop reconnects, rather than dead-lettering it.
    match deliver(deps, message.clone()).await {
        Err(e) if shared::install::is_token_refusal(&e) => Ok(deps.tokens.refused(Stage::Outbound, &message).await?),
        other => other,
    }
}

async fn deliver(deps: &Deps, message: StageMessage) -> Result<(), WorkerError> {
    let StageMessage::Outbound(outbound) = message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("not an outbound message")));
    };
    let Outbound { shop, order, id, change } = outbound;
    let key = OrderKey::parse(&order).map_err(|e| WorkerError::Permanent(e.into()))?;
    let recorded = deps.deliveries.deliveries(&shop, &key).await?;
    if recorded.iter().any(|d| d.id == id && d.outcome != "deferred") {
        tracing::info!(shop = %shop, order = %key, kind = change.kind(), "already handed on; redelivery ignored");
        return Ok(());
    }
    let (outcome, detail) = match &change {
        OutboundChange::AssignmentSync { assignee } => assignment(deps, &shop, &key, &id, assignee).await?,
        OutboundChange::SupportEscalation { .. } => {
            ("delivered", "escalation queued for the support assistant".to_owned())
        }
        OutboundChange::FulfillmentCreate { tracking_number, carrier, .. } => {
            fulfillment(deps, &shop, &key, &id, tracking_number.as_deref(), carrier.as_deref()).await?
        }
        OutboundChange::ReturnUpdate { .. } => {
            ("deferred", "no ERP or Shopify returns integration is configured".to_owned())
        }
    };
    let delivery =
        Delivery { id, kind: change.kind().to_owned(), outcome: outcome.to_owned(), detail, at: deps.clock.now() };
    deps.deliveries.record_delivery(&shop, &key, &delivery).await?;
    tracing::info!(shop = %shop, order = %key, kind = change.kind(), outcome, "outbound change recorded");
    Ok(())
}

fn order_gid(key: &OrderKey) -> String {
    format!("gid://shopify/Order/{}", key.id)
}

async fn assignment(
    deps: &Deps,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    assignee: &str,
) -> Result<(&'static str, String), WorkerError> {
    let record = deps.shops.shop(shop).await?.filter(|r| r.status == ShopStatus::Active);
    let Some(record) = record.filter(|r| r.metafields_sync && key.channel == Channel::Shopify) else {
        return Ok(("skipped", "Shopify metafields are read-only for this shop".into()));
    };
    let token = deps.tokens.token(&record).await?;
    let variables = serde_json::json!({ "metafields": [{
        "ownerId": order_gid(key), "namespace": "order_sync", "key": "assigned_to",
        "type": "single_line_text_field", "value": assignee,
    }]});
    let payload = deps.shopify.admin.graphql::<MetafieldsSetData>(shop, &token, METAFIELDS_SET, variables).await?.data;
    let done = "assignment mirrored to metafield order_sync.assigned_to";
    rejected_or(deps, shop, key, id, "metafieldsSet", &payload.metafields_set.user_errors, done).await
}

async fn fulfillment(
    deps: &Deps,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    tracking_number: Option<&str>,
    carrier: Option<&str>,
) -> Result<(&'static str, String), WorkerError> {
    if key.channel != Channel::Shopify {
        return Ok(("skipped", "not a Shopify order".into()));
    }
    let Some(record) = deps.shops.shop(shop).await?.filter(|r| r.status == ShopStatus::Active) else {
        return Ok(("skipped", "the shop is not installed".into()));
    };
    let token = deps.tokens.token(&record).await?;
    let variables = serde_json::json!({ "id": order_gid(key) });
    let order = deps
        .shopify
        .admin
        .graphql::<OrderFulfillmentOrdersData>(shop, &token, ORDER_FULFILLMENT_ORDERS, variables)
        .await?
        .data
        .order
        .ok_or_else(|| WorkerError::Permanent(anyhow::anyhow!("Shopify does not know order {key}")))?;
    if let Some(number) = tracking_number
        && order.fulfillments.iter().any(|f| f.tracking_info.iter().any(|t| t.number.as_deref() == Some(number)))
    {
        return Ok(("delivered", format!("Shopify already has a fulfilment with tracking {number}")));
    }
    let open: Vec<serde_json::Value> = order
        .fulfillment_orders
        .nodes
        .iter()
        .filter(|fo| fo.is_open())
        .map(|fo| serde_json::json!({ "fulfillmentOrderId": fo.id }))
        .collect();
    if open.is_empty() {
        return Ok(("skipped", "no open fulfillment orders left in Shopify".into()));
    }
    let mut fulfillment =
        serde_json::json!({ "lineItemsByFulfillmentOrder": open, "notifyCustomer": tracking_number.is_some() });
    if let Some(number) = tracking_number {
        fulfillment["trackingInfo"] = serde_json::json!({ "number": number, "company": carrier });
    }
    let variables = serde_json::json!({ "fulfillment": fulfillment });
    let payload =
        deps.shopify.admin.graphql::<FulfillmentCreateData>(shop, &token, FULFILLMENT_CREATE, variables).await?.data;
    let done = match tracking_number {
        Some(number) => format!("fulfilment created in Shopify with tracking {number} ({id})"),
        None => format!("fulfilment created in Shopify ({id})"),
    };
    rejected_or(deps, shop, key, id, "fulfillmentCreate", &payload.fulfillment_create.user_errors, &done).await
}

/// `delivered` with `done`, or, when Shopify answered with user errors, `rejected` plus an alert.
async fn rejected_or(
    deps: &Deps,
    shop: &ShopDomain,
    key: &OrderKey,
    id: &str,
    mutation: &str,
    errors: &[UserError],
    done: &str,
) -> Result<(&'static str, String), WorkerError> {
    if errors.is_empty() {
        return Ok(("delivered", done.to_owned()));
    }
    let detail = format!("Shopify rejected {mutation}: {}", describe(errors));
    let now = deps.clock.now();
    let alert = Alert {
        shop: shop.clone(),
        id: format!("push_rejected:{id}"),
        kind: AlertKind::PushRejected,
        message: detail.clone(),
        order: Some(key.to_string()),
        raised_at: now,
        cleared_at: None,
    };
    deps.alerts.raise_alert(&alert).await?;
    tracing::warn!(shop = %shop, order = %key, mutation, "Shopify returned userErrors");
    Ok(("rejected", detail))
}
