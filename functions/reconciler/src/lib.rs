//! Trigger: a schedule (daily). Reconciles every shop with an active MasonHub connection over the last
//! day and a bit (`RECONCILE_WINDOW_HOURS`, 25 by default, so consecutive runs overlap): the orders
//! routed to MasonHub against MasonHub's own list (`shared::app::reconcile`), shop by shop through
//! `app::fan_out::each_shop`: one failing (MasonHub down, a credential that no longer opens) is counted and
//! logged and never stops the others.

use std::sync::Arc;

use chrono::Duration;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use shared::{
    app::{fan_out, reconcile},
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, SecretsConfig, TableConfig},
    domain::Integration,
    integrations::masonhub::{MasonHubConfig, client::MasonHubClient},
    secrets::{KmsSealer, Sealer},
    store::{AlertStore, ConnectionStore, CredentialStore, MirrorStore, OrderStore, dynamo::DynamoStore},
};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub masonhub: MasonHubConfig,
    pub secrets: SecretsConfig,
    pub window: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(Env::from_process())
    }

    pub fn read(mut env: Env) -> Result<Self, ConfigError> {
        let hours = env.parsed("RECONCILE_WINDOW_HOURS", 25, |v| {
            v.parse().ok().filter(|h: &i64| (1..=reconcile::MAX_WINDOW.num_hours()).contains(h))
        });
        let config = Self {
            table: TableConfig::read(&mut env),
            masonhub: MasonHubConfig::read(&mut env),
            secrets: SecretsConfig::read(&mut env),
            window: Duration::hours(hours),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub orders: Arc<dyn OrderStore>,
    pub mirror: Arc<dyn MirrorStore>,
    pub alerts: Arc<dyn AlertStore>,
    pub connections: Arc<dyn ConnectionStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub sealer: Arc<dyn Sealer>,
    pub client: MasonHubClient,
    pub masonhub: MasonHubConfig,
    pub window: Duration,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let store = Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name));
    Deps {
        orders: store.clone(),
        mirror: store.clone(),
        alerts: store.clone(),
        connections: store.clone(),
        credentials: store,
        sealer: Arc::new(KmsSealer::new(shared::aws::kms(&sdk), config.secrets.key_id)),
        client: MasonHubClient::new(config.masonhub.request_timeout),
        masonhub: config.masonhub,
        window: config.window,
        clock: Arc::new(SystemClock),
    }
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub shops: usize,
    /// Shops whose report found gaps.
    pub with_gaps: usize,
    pub failed: usize,
}

#[tracing::instrument(skip_all, fields(stage = "reconciler"))]
pub async fn handle(deps: &Deps, _event: LambdaEvent<serde_json::Value>) -> Result<Report, lambda_runtime::Error> {
    let now = deps.clock.now();
    let reconcile_deps = reconcile::Deps {
        orders: deps.orders.as_ref(),
        mirror: deps.mirror.as_ref(),
        alerts: deps.alerts.as_ref(),
        connections: deps.connections.as_ref(),
        credentials: deps.credentials.as_ref(),
        sealer: deps.sealer.as_ref(),
        client: &deps.client,
        config: &deps.masonhub,
    };
    let shops = deps.connections.active_connections(Integration::MasonHub).await?;
    let with_gaps = std::sync::atomic::AtomicUsize::new(0);
    let (done, failed) = fan_out::each_shop(shops, now, |shop| {
        let (reconcile_deps, with_gaps) = (&reconcile_deps, &with_gaps);
        async move {
            let found = reconcile::masonhub(reconcile_deps, &shop, now - deps.window, now, now).await?;
            if found.gaps() > 0 {
                with_gaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok::<_, reconcile::ReconcileError>(())
        }
    })
    .await;
    let report = Report { shops: done + failed.len(), with_gaps: with_gaps.into_inner(), failed: failed.len() };
    tracing::info!(shops = report.shops, with_gaps = report.with_gaps, failed = report.failed, "reconciled");
    Ok(report)
}
