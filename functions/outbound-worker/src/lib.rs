//! Trigger: the outbound queue. Hands dashboard changes to their partners and records each outcome on
//! the order, keyed by the message id, so a redelivery records nothing new.
//!
//! What is wired today: Shopify metafields stay read-only (the contract's current stance), so an
//! assignment sync is recorded as `skipped`; support escalations are recorded as `delivered` to the
//! assistant's queue; the Shopify `fulfillmentCreate` push and the ERP return fan-out are recorded as
//! `deferred` until those integrations are configured, and can be replayed from these records.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use shared::{
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    domain::{
        OrderKey, StageMessage,
        message::{Outbound, OutboundChange},
    },
    error::WorkerError,
    queue::{Stage, schema},
    sqs_batch,
    store::{AlertStore, Delivery, DeliveryStore, dynamo::DynamoStore},
};

const STAGE: &str = "outbound";

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let config = Self { table: TableConfig::read(&mut env) };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub deliveries: Arc<dyn DeliveryStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub async fn connect(config: Config) -> Self {
        let store = Arc::new(DynamoStore::connect(config.table.table_name).await);
        Self { deliveries: store.clone(), alerts: store, clock: Arc::new(SystemClock) }
    }
}

pub async fn handle(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let max_receive_count = schema::def(Stage::Outbound).max_receive_count;
    Ok(sqs_batch::process(event.payload, STAGE, max_receive_count, deps.alerts.as_ref(), |message| step(deps, message))
        .await)
}

pub async fn step(deps: &Deps, message: StageMessage) -> Result<(), WorkerError> {
    let StageMessage::Outbound(outbound) = message else {
        return Err(WorkerError::Permanent(anyhow::anyhow!("not an outbound message")));
    };
    let Outbound { shop, order, id, change } = outbound;
    let key = OrderKey::parse(&order).map_err(|e| WorkerError::Permanent(e.into()))?;
    let (outcome, detail) = match &change {
        OutboundChange::AssignmentSync { .. } => ("skipped", "Shopify metafields are read-only for this shop"),
        OutboundChange::SupportEscalation { .. } => ("delivered", "escalation queued for the support assistant"),
        OutboundChange::FulfillmentCreate { .. } => ("deferred", "the Shopify fulfilment push is not configured"),
        OutboundChange::ReturnUpdate { .. } => ("deferred", "no ERP or Shopify returns integration is configured"),
    };
    let delivery = Delivery {
        id,
        kind: change.kind().to_owned(),
        outcome: outcome.to_owned(),
        detail: detail.to_owned(),
        at: deps.clock.now(),
    };
    deps.deliveries.record_delivery(&shop, &key, &delivery).await?;
    tracing::info!(shop = %shop, order = %key, kind = change.kind(), outcome, "outbound change recorded");
    Ok(())
}
