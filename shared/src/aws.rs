//! AWS SDK clients, loaded once per cold start. Endpoints come from the SDK's own
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables, so the local stack uses this same code.

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{ConfigError, Env};

pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

/// S3 with path-style addressing (`https://s3.<region>.amazonaws.com/<bucket>/<key>`), which S3 serves
/// everywhere and which an endpoint from `AWS_ENDPOINT_URL` needs.
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(true).build())
}

pub fn secretsmanager(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// The variable naming the Secrets Manager secret that holds the Shopify app secret(s).
pub const APP_SECRET_ID_ENV: &str = "SHOPIFY_APP_SECRET_ID";

/// The Shopify app secret as stored in Secrets Manager (a JSON secret string).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AppSecret {
    pub api_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_api_secret: Option<String>,
}

/// `env` with the Shopify app secret read from Secrets Manager when `SHOPIFY_APP_SECRET_ID` names a
/// secret: called once per cold start, before `Config::read`. Without the variable `env` is unchanged.
pub async fn resolve_app_secret(mut env: Env) -> Result<Env, ConfigError> {
    let Some(secret_id) = env.optional(APP_SECRET_ID_ENV) else { return Ok(env) };
    let unreadable =
        |why: String| ConfigError { missing: Vec::new(), invalid: vec![(APP_SECRET_ID_ENV.to_owned(), why)] };
    let client = secretsmanager(&sdk_config().await);
    let value = client.get_secret_value().secret_id(&secret_id).send().await.map_err(|e| {
        unreadable(format!("cannot read the secret: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e)))
    })?;
    // The secret's value is never part of an error or a log line.
    let secret: AppSecret = serde_json::from_str(value.secret_string().unwrap_or_default())
        .map_err(|_| unreadable("the secret is not {\"api_secret\": …} JSON".to_owned()))?;
    env.set("SHOPIFY_API_SECRET", secret.api_secret);
    if let Some(previous) = secret.previous_api_secret.filter(|p| !p.trim().is_empty()) {
        env.set("SHOPIFY_API_SECRET_PREVIOUS", previous);
    }
    Ok(env)
}

/// The process environment with the app secret resolved: what a function's `main` reads its `Config`
/// from.
pub async fn function_env() -> Result<Env, ConfigError> {
    resolve_app_secret(Env::from_process()).await
}

/// Creates or updates the secret `name` holding `secret` (the local stack and tests; in AWS the
/// template creates it). Returns its ARN.
pub async fn ensure_app_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    secret: &AppSecret,
) -> Result<String, anyhow::Error> {
    let value = serde_json::to_string(secret)?;
    match client.create_secret().name(name).secret_string(&value).send().await {
        Ok(created) => Ok(created.arn.unwrap_or_else(|| name.to_owned())),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => {
            let put = client.put_secret_value().secret_id(name).secret_string(value).send().await?;
            Ok(put.arn.unwrap_or_else(|| name.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn kms(config: &SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(config)
}

/// The Admin API client and the KMS sealer that opens shop tokens, for the functions that call Shopify.
pub fn shopify_access(
    sdk: &aws_config::SdkConfig,
    config: crate::app::shops::ShopifyAccessConfig,
) -> crate::app::shops::ShopifyAccess {
    crate::app::shops::ShopifyAccess {
        admin: crate::integrations::shopify::admin::AdminClient::new(config.admin),
        sealer: std::sync::Arc::new(crate::secrets::KmsSealer::new(kms(sdk), config.secrets.key_id)),
    }
}

/// The DynamoDB store on `table` with the SDK's default configuration, for functions that need only it.
pub async fn dynamo_store(table: impl Into<String>) -> crate::store::dynamo::DynamoStore {
    crate::store::dynamo::DynamoStore::new(dynamodb(&sdk_config().await), table)
}

/// The install and token service over one DynamoDB store, KMS and the system clock.
pub fn tokens(
    sdk: &aws_config::SdkConfig,
    config: crate::app::install::TokenConfig,
    required_scopes: Vec<String>,
    store: std::sync::Arc<crate::store::dynamo::DynamoStore>,
    queue: std::sync::Arc<dyn crate::queue::MessageQueue>,
) -> crate::app::install::Tokens {
    crate::app::install::Tokens {
        oauth: std::sync::Arc::new(crate::integrations::shopify::oauth::OAuthClient::new(config.oauth)),
        sealer: std::sync::Arc::new(crate::secrets::KmsSealer::new(kms(sdk), config.secrets.key_id)),
        store: store.clone(),
        alerts: store,
        queue,
        clock: std::sync::Arc::new(crate::clock::SystemClock),
        required_scopes,
    }
}
