//! Claim checks: a message body too large for its queue is stored here under a key, and the message
//! carries the key instead (the S3 claim-check pattern). Keys derive from what the message is (for an
//! inbound event: its source, shop and delivery id), so a retried hand-off overwrites the same object.
//! Objects expire with a lifecycle rule longer than the queues' retention, never on processing, so a
//! duplicate SQS delivery still finds its body.

use async_trait::async_trait;

use crate::error::QueueError;

/// The variable naming the claim-check bucket, for the functions that put or get claimed bodies.
pub const BUCKET_ENV: &str = "PAYLOAD_BUCKET";

#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// Stores `body` under `key`, replacing whatever is there.
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), QueueError>;
    /// The body stored under `key`, or `None` when there is none (expired, or never stored).
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, QueueError>;
}

/// S3 adapter: one bucket, the claim key as the object key.
#[derive(Debug, Clone)]
pub struct S3Claims {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Claims {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

#[async_trait]
impl ClaimStore for S3Claims {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), QueueError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map_err(|e| QueueError::unavailable("store claimed body", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, QueueError> {
        use aws_sdk_s3::operation::get_object::GetObjectError;
        let output = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => output,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => return Ok(None),
            Err(e) => return Err(QueueError::unavailable("read claimed body", e)),
        };
        let bytes = output.body.collect().await.map_err(|e| QueueError::unavailable("read claimed body", e))?;
        Ok(Some(bytes.to_vec()))
    }
}

/// Creates the claim-check bucket if it does not exist (the local stack and tests; in AWS the template
/// creates it).
pub async fn ensure_bucket(client: &aws_sdk_s3::Client, bucket: &str, region: Option<&str>) -> Result<(), QueueError> {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let mut create = client.create_bucket().bucket(bucket);
    if let Some(region) = region.filter(|r| *r != "us-east-1") {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(region)).build(),
        );
    }
    match create.send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) =>
        {
            Ok(())
        }
        Err(e) => Err(QueueError::unavailable("create claim-check bucket", e)),
    }
}
