//! Issue 13: shipment flags and their alerts. Orders that are not ours to ship are never flagged; a
//! flag's alert commits with the order, so a crash between the two loses nothing.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use integration_tests::TestEnv;
use shared::{
    clock::{Clock, FixedClock},
    domain::{Alert, AlertKind, Channel, ChannelOrderId, Fulfillment, LineItem, Money, Order, ShopDomain, Tab},
    error::StoreError,
    store::{AlertStore, OrderQuery, OrderStore, Recorded, Seek, dynamo::DynamoStore},
    testing::{order, save, unique_shop},
};

async fn store(env: &TestEnv) -> Arc<DynamoStore> {
    let sdk = shared::aws::sdk_config().await;
    Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone()))
}

fn line(id: &str) -> LineItem {
    LineItem {
        id: id.into(),
        title: "Gift card".into(),
        sku: None,
        variant_id: None,
        quantity: 1,
        price: Money::new("10.00", "USD").unwrap(),
        source: None,
        source_order_item_id: None,
    }
}

fn shipped(order: &mut Order, at: DateTime<Utc>) {
    order.fulfillments.push(Fulfillment {
        id: "f1".into(),
        status: "success".into(),
        shipment_status: Some("in_transit".into()),
        tracking_company: Some("UPS".into()),
        tracking_numbers: vec!["1Z1".into()],
        tracking_urls: vec![],
        created_at: Some(at),
        updated_at: Some(at),
    });
}

async fn listed(store: &DynamoStore, shop: &ShopDomain, tab: Tab) -> Vec<String> {
    let query = OrderQuery { tab: Some(tab), ..Default::default() };
    let page = store.list_orders(shop, &query, &Seek::First, 50).await.unwrap();
    let mut names: Vec<String> = page.into_iter().map(|l| l.order.name.as_str().to_owned()).collect();
    names.sort();
    names
}

/// Amazon FBA (AFN), local pickup and digital-only orders are never `tracking_pending` or `delayed`,
/// neither by the monitor nor in the tabs (not even one flagged before the rule existed); an ordinary
/// order next to them is.
#[tokio::test]
async fn orders_that_are_not_ours_to_ship_are_never_tracking_pending_or_delayed() {
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let shop = unique_shop("not-ours");
    let mut fba = order(&shop, "3001", 0);
    fba.channel = Channel::Amazon;
    fba.channel_order_id = ChannelOrderId::parse("113-0000000-3001").unwrap();
    fba.delivery.fulfilled_by_channel = true;
    let mut pickup = order(&shop, "3002", 0);
    pickup.delivery.local_pickup = true;
    let mut digital = order(&shop, "3003", 0);
    digital.line_items = vec![line("l1")];
    digital.delivery.unshippable_lines = vec!["l1".into()];
    let ours = order(&shop, "3004", 0);
    let created = ours.created_at;
    let mut fba_in_transit = order(&shop, "3005", 0);
    fba_in_transit.channel = Channel::Amazon;
    fba_in_transit.channel_order_id = ChannelOrderId::parse("113-0000000-3005").unwrap();
    fba_in_transit.delivery.fulfilled_by_channel = true;
    shipped(&mut fba_in_transit, created + Duration::minutes(10));
    // Flagged by the old rule and stored so: the tabs no longer list it.
    let mut legacy = order(&shop, "3006", 0);
    legacy.channel = Channel::Amazon;
    legacy.channel_order_id = ChannelOrderId::parse("113-0000000-3006").unwrap();
    legacy.delivery.fulfilled_by_channel = true;
    legacy.ops.flags.tracking_pending_since = Some(created + Duration::hours(2));
    for o in [fba, pickup, digital, ours, fba_in_transit, legacy] {
        save(store.as_ref(), o).await;
    }

    let clock = Arc::new(FixedClock::new(created + Duration::days(2)));
    let monitor = shipment_monitor::Deps { orders: store.clone(), alerts: store.clone(), clock };
    shipment_monitor::run(&monitor).await.unwrap();

    assert_eq!(listed(&store, &shop, Tab::TrackingPending).await, ["#3004"]);
    assert!(listed(&store, &shop, Tab::Delayed).await.is_empty(), "an FBA shipment is Amazon's to chase");
    let alerts: Vec<(AlertKind, Option<String>)> =
        store.alerts_since(&shop, None, 50).await.unwrap().into_iter().map(|(_, a)| (a.kind, a.order)).collect();
    assert_eq!(alerts, [(AlertKind::TrackingPending, Some("shopify:3004".to_owned()))]);
    let legacy = store.find_by_name(&shop, "3006").await.unwrap().unwrap();
    assert!(!legacy.tabs().contains(&Tab::TrackingPending) && legacy.open_alerts().is_empty());

    // Nothing is left due for these orders: a second run reviews nothing.
    assert_eq!(shipment_monitor::run(&monitor).await.unwrap().reviewed, 0);
}

/// An alert store that is down: anything written after the order's commit is lost, as when the process
/// dies between the two.
struct AlertsDown;

#[async_trait]
impl AlertStore for AlertsDown {
    async fn raise_alert(&self, _alert: &Alert) -> Result<Recorded, StoreError> {
        Err(StoreError::unavailable("raise alert", std::io::Error::other("the process died")))
    }
    async fn refresh_alert(&self, _alert: &Alert, _at: DateTime<Utc>) -> Result<(), StoreError> {
        Err(StoreError::unavailable("refresh alert", std::io::Error::other("the process died")))
    }
    async fn clear_alert(&self, _shop: &ShopDomain, _id: &str, _at: DateTime<Utc>) -> Result<(), StoreError> {
        Err(StoreError::unavailable("clear alert", std::io::Error::other("the process died")))
    }
    async fn alerts_since(
        &self,
        _shop: &ShopDomain,
        _since: Option<&str>,
        _limit: usize,
    ) -> Result<Vec<(String, Alert)>, StoreError> {
        Ok(Vec::new())
    }
}

/// The monitor flags an order and the fulfil clears the flag while nothing can be written after the
/// commit: the `tracking_pending` alert is raised and then cleared all the same, in the order's own
/// transaction, and a second run (the retry) finds nothing to do and needs nothing.
#[tokio::test]
async fn shipment_alerts_commit_with_the_order_so_a_crash_after_the_commit_loses_none() {
    use shared::{
        app::orders::{self, Decision},
        domain::ops::RecordedShipment,
    };
    let env = TestEnv::new().await;
    let store = store(&env).await;
    let shop = unique_shop("alert-commit");
    let waiting = save(store.as_ref(), order(&shop, "3101", 0)).await;
    let clock = Arc::new(FixedClock::new(waiting.created_at + Duration::hours(3)));
    let crashing = shipment_monitor::Deps { orders: store.clone(), alerts: Arc::new(AlertsDown), clock: clock.clone() };
    let report = shipment_monitor::run(&crashing).await.unwrap();
    assert_eq!((report.reviewed, report.failed), (1, 0));
    let retry = shipment_monitor::Deps { orders: store.clone(), alerts: store.clone(), clock: clock.clone() };
    assert_eq!(shipment_monitor::run(&retry).await.unwrap().reviewed, 0, "nothing left due");
    let raised = store.alerts_since(&shop, None, 10).await.unwrap();
    assert_eq!(raised.len(), 1, "the alert committed with the flag");
    assert_eq!((raised[0].1.kind, raised[0].1.cleared_at), (AlertKind::TrackingPending, None));

    let now = clock.now();
    let shipment =
        RecordedShipment { id: "s1".into(), tracking_number: Some("1Z9".into()), carrier: None, recorded_at: now };
    let record = |o: &mut Order| {
        o.ops.recorded_shipments.push(shipment.clone());
        Ok::<_, std::convert::Infallible>(Decision::Write(vec![]))
    };
    orders::change(store.as_ref(), &shop, &waiting.key(), now, record).await.unwrap();
    let after = store.alerts_since(&shop, None, 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].1.cleared_at, Some(now), "the clear committed with the tracking");
    assert!(after[0].0 > raised[0].0, "a cleared alert moves to the end of the feed");
}

/// Records the `ClientRequestToken` of every `TransactWriteItems` request the client sends.
#[derive(Debug, Default, Clone)]
struct TokenRecorder(Arc<std::sync::Mutex<Vec<Option<String>>>>);

impl aws_sdk_dynamodb::config::Intercept for TokenRecorder {
    fn name(&self) -> &'static str {
        "TokenRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request();
        if request.headers().get("x-amz-target").is_some_and(|t| t.ends_with("TransactWriteItems")) {
            let body: serde_json::Value = serde_json::from_slice(request.body().bytes().unwrap_or_default())?;
            let token = body["ClientRequestToken"].as_str().map(str::to_owned);
            self.0.lock().unwrap().push(token);
        }
        Ok(())
    }
}

/// An order write carries a `ClientRequestToken` derived from the change: the same change sent again
/// (as after a lost answer) carries the same token, so DynamoDB answers a repeat of a committed
/// transaction as a success; another change carries another token. At most 36 characters.
#[tokio::test]
async fn an_order_write_carries_a_client_request_token_derived_from_the_change() {
    use shared::store::WriteOutcome;
    let env = TestEnv::new().await;
    let sdk = shared::aws::sdk_config().await;
    let recorder = TokenRecorder::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(recorder.clone()).build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), env.stack.settings.table_name.clone());
    let shop = unique_shop("request-token");
    let mut first = order(&shop, "3201", 0);
    first.version = 1;
    assert_eq!(store.write_order(&first, None, &[]).await.unwrap(), WriteOutcome::Written);
    assert_eq!(store.write_order(&first, None, &[]).await.unwrap(), WriteOutcome::VersionConflict);
    let mut second = order(&shop, "3201", 1);
    second.version = 2;
    assert_eq!(store.write_order(&second, Some(&first), &[]).await.unwrap(), WriteOutcome::Written);

    let tokens = recorder.0.lock().unwrap().clone();
    assert_eq!(tokens.len(), 3);
    let tokens: Vec<String> = tokens.into_iter().map(|t| t.expect("a token on every order write")).collect();
    assert!(tokens.iter().all(|t| !t.is_empty() && t.len() <= 36), "{tokens:?}");
    assert_eq!(tokens[0], tokens[1], "the same change, the same token");
    assert_ne!(tokens[0], tokens[2], "another change, another token");
}
