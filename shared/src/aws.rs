//! AWS SDK clients, loaded once per cold start. Endpoints come from the SDK's own
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables, so the local stack uses this same code.

use aws_config::{BehaviorVersion, SdkConfig};

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
