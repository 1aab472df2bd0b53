//! Trigger: a schedule. Shipment flags depend on time alone (an order turns 2 hours old without
//! tracking; a shipment goes 24 hours without a carrier update), so no webhook announces them. Each
//! order that may change that way has a watch entry keyed by the instant it comes due; this monitor
//! reads the due entries of every shop and rewrites those orders, which raises their alerts. Webhooks and
//! dashboard actions recompute the same flags on every write, which clears them when the condition ends.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use shared::{
    app::{
        fan_out,
        orders::{self, ChangeError},
    },
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, TableConfig},
    store::{AlertStore, OrderStore},
};

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
    pub orders: Arc<dyn OrderStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let store = Arc::new(shared::aws::dynamo_store(config.table.table_name).await);
    Deps { orders: store.clone(), alerts: store, clock: Arc::new(SystemClock) }
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Shops reviewed.
    pub shops: usize,
    pub reviewed: usize,
    /// Shops whose review failed (logged; the others were reviewed).
    pub failed: usize,
}

/// Accepts any schedule envelope.
pub async fn handle(deps: &Deps, _event: LambdaEvent<serde_json::Value>) -> Result<Report, lambda_runtime::Error> {
    Ok(run(deps).await?)
}

pub async fn run(deps: &Deps) -> Result<Report, ChangeError<std::convert::Infallible>> {
    let now = deps.clock.now();
    let reviewed = AtomicUsize::new(0);
    let (shops, failed) = fan_out::each_shop(deps.orders.shops().await?, now, async |shop| {
        let count = orders::review_due(deps.orders.as_ref(), &shop, now).await?;
        reviewed.fetch_add(count, Ordering::Relaxed);
        Ok::<_, ChangeError<std::convert::Infallible>>(())
    })
    .await;
    let report = Report { shops, reviewed: reviewed.into_inner(), failed: failed.len() };
    tracing::info!(shops = report.shops, reviewed = report.reviewed, failed = report.failed, "shipment flags reviewed");
    Ok(report)
}
