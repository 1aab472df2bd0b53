//! Trigger: a schedule (daily). Reconciles every shop with every integration it uses over the last
//! day and a bit (`RECONCILE_WINDOW_HOURS`, 25 by default, so consecutive runs overlap): Shopify and
//! Amazon (what the source holds against what we stored) and MasonHub and CommerceOS (what we handed
//! the partner against its own list), through `shared::app::reconcile`, shop by shop through
//! `app::fan_out::each_shop`: one failing (an integration down, a credential that no longer opens) is
//! counted and logged and never stops the others. Gaps become `data_gap` alerts and re-pushable dead
//! letters.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chrono::Duration;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use shared::{
    app::{
        fan_out,
        reconcile::{self, ReconcileError},
    },
    clock::{Clock, SystemClock},
    config::{ConfigError, Env, SecretsConfig, TableConfig},
    integrations::{
        amazon::{SpApiConfig, client::SpApiClient},
        commerceos::{CommerceOsConfig, client::CommerceOsClient},
        masonhub::{MasonHubConfig, client::MasonHubClient},
        shopify::admin::{AdminClient, AdminConfig},
    },
    secrets::{KmsSealer, Sealer},
    store::dynamo::DynamoStore,
};

#[derive(Debug, Clone)]
pub struct Config {
    pub table: TableConfig,
    pub admin: AdminConfig,
    pub spapi: SpApiConfig,
    pub masonhub: MasonHubConfig,
    pub commerceos: CommerceOsConfig,
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
            admin: AdminConfig::read(&mut env),
            spapi: SpApiConfig::read(&mut env),
            masonhub: MasonHubConfig::read(&mut env),
            commerceos: CommerceOsConfig::read(&mut env),
            secrets: SecretsConfig::read(&mut env),
            window: Duration::hours(hours),
        };
        env.finish().map(|()| config)
    }
}

pub struct Deps {
    pub store: Arc<DynamoStore>,
    pub sealer: Arc<dyn Sealer>,
    pub shopify: AdminClient,
    pub amazon: SpApiClient,
    pub masonhub: MasonHubClient,
    pub masonhub_config: MasonHubConfig,
    pub commerceos: CommerceOsClient,
    pub commerceos_config: CommerceOsConfig,
    pub window: Duration,
    pub clock: Arc<dyn Clock>,
}

pub async fn connect(config: Config) -> Deps {
    let sdk = shared::aws::sdk_config().await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Deps {
        store: Arc::new(DynamoStore::new(shared::aws::dynamodb(&sdk), config.table.table_name)),
        sealer: Arc::new(KmsSealer::new(shared::aws::kms(&sdk), config.secrets.key_id)),
        shopify: AdminClient::new(config.admin),
        amazon: SpApiClient::new(config.spapi, clock.clone()),
        masonhub: MasonHubClient::new(config.masonhub.request_timeout),
        masonhub_config: config.masonhub,
        commerceos: CommerceOsClient::new(),
        commerceos_config: config.commerceos,
        window: config.window,
        clock,
    }
}

impl Deps {
    pub fn reconcile(&self) -> reconcile::Deps<'_> {
        let store = self.store.as_ref();
        reconcile::Deps {
            orders: store,
            mirror: store,
            alerts: store,
            dead_letters: store,
            connections: store,
            credentials: store,
            shops: store,
            sealer: self.sealer.as_ref(),
            shopify: &self.shopify,
            amazon: &self.amazon,
            masonhub: &self.masonhub,
            masonhub_config: &self.masonhub_config,
            commerceos: &self.commerceos,
            commerceos_config: &self.commerceos_config,
        }
    }
}

/// What one run did, over every integration: a shop counts once per integration it uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub shops: usize,
    /// Reports that found gaps.
    pub with_gaps: usize,
    pub failed: usize,
}

#[tracing::instrument(skip_all, fields(stage = "reconciler"))]
pub async fn handle(deps: &Deps, _event: LambdaEvent<serde_json::Value>) -> Result<Report, lambda_runtime::Error> {
    let now = deps.clock.now();
    let reconcile_deps = deps.reconcile();
    let mut report = Report::default();
    for integration in reconcile::INTEGRATIONS {
        let shops = reconcile::shops_of(&reconcile_deps, integration).await?;
        let (with_gaps, skipped) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let (done, failed) = fan_out::each_shop(shops, now, |shop| {
            let (reconcile_deps, with_gaps, skipped) = (&reconcile_deps, &with_gaps, &skipped);
            async move {
                match reconcile::run(reconcile_deps, &shop, integration, now - deps.window, now, now).await {
                    Ok(found) if found.gaps() > 0 => with_gaps.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => 0,
                    Err(ReconcileError::NotApplicable(_) | ReconcileError::NotConnected(_)) => {
                        skipped.fetch_add(1, Ordering::Relaxed)
                    }
                    Err(e) => return Err(e),
                };
                Ok::<_, ReconcileError>(())
            }
        })
        .await;
        report.shops += done + failed.len() - skipped.load(Ordering::Relaxed);
        report.with_gaps += with_gaps.into_inner();
        report.failed += failed.len();
        tracing::info!(%integration, shops = done + failed.len(), failed = failed.len(), "reconciled");
    }
    tracing::info!(shops = report.shops, with_gaps = report.with_gaps, failed = report.failed, "reconciliation done");
    Ok(report)
}
