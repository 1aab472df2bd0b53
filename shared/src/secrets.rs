//! Secrets at rest (shop access tokens, partner credentials): sealed with KMS under an encryption
//! context that names their owner, so a ciphertext copied to another shop's record does not open.
//! Plaintexts only ever live in [`Secret`], which never prints.

use async_trait::async_trait;
use aws_sdk_kms::{Client, primitives::Blob};
use base64::{Engine, engine::general_purpose::STANDARD};

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("key service unavailable: {context}")]
    Unavailable {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error("sealed value is malformed or does not open under this context")]
    Invalid,
}

#[async_trait]
pub trait Sealer: Send + Sync {
    /// Encrypts `plaintext`; the result is text, safe to store.
    async fn seal(&self, plaintext: &Secret, context: &[(&str, &str)]) -> Result<String, SealError>;
    /// Decrypts what [`Sealer::seal`] produced under the same `context`.
    async fn open(&self, sealed: &str, context: &[(&str, &str)]) -> Result<Secret, SealError>;
}

/// KMS symmetric encryption (`Encrypt`/`Decrypt` with an encryption context).
#[derive(Debug, Clone)]
pub struct KmsSealer {
    client: Client,
    key_id: String,
}

impl KmsSealer {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }
}

#[async_trait]
impl Sealer for KmsSealer {
    async fn seal(&self, plaintext: &Secret, context: &[(&str, &str)]) -> Result<String, SealError> {
        let mut request =
            self.client.encrypt().key_id(&self.key_id).plaintext(Blob::new(plaintext.expose().as_bytes()));
        for (k, v) in context {
            request = request.encryption_context(*k, *v);
        }
        let output =
            request.send().await.map_err(|e| SealError::Unavailable { context: "encrypt", source: e.into() })?;
        let blob = output.ciphertext_blob.ok_or(SealError::Invalid)?;
        Ok(STANDARD.encode(blob.as_ref()))
    }

    async fn open(&self, sealed: &str, context: &[(&str, &str)]) -> Result<Secret, SealError> {
        let bytes = STANDARD.decode(sealed).map_err(|_| SealError::Invalid)?;
        let mut request = self.client.decrypt().key_id(&self.key_id).ciphertext_blob(Blob::new(bytes));
        for (k, v) in context {
            request = request.encryption_context(*k, *v);
        }
        match request.send().await {
            Ok(output) => {
                let plain = output.plaintext.ok_or(SealError::Invalid)?;
                String::from_utf8(plain.into_inner()).map(Secret::new).map_err(|_| SealError::Invalid)
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_invalid_ciphertext_exception()) => {
                Err(SealError::Invalid)
            }
            Err(e) => Err(SealError::Unavailable { context: "decrypt", source: e.into() }),
        }
    }
}

/// Creates (once) the local symmetric key behind `alias` and returns its key id. For the local stack
/// and tests against moto; in AWS the SAM template creates the key.
pub async fn ensure_key(client: &Client, alias: &str) -> Result<String, SealError> {
    let unavailable =
        |context| move |e: Box<dyn std::error::Error + Send + Sync>| SealError::Unavailable { context, source: e };
    if let Ok(found) = client.describe_key().key_id(alias).send().await
        && let Some(id) = found.key_metadata.map(|m| m.key_id)
    {
        return Ok(id);
    }
    let created = client
        .create_key()
        .description("order-sync local secrets")
        .send()
        .await
        .map_err(|e| unavailable("create key")(e.into()))?;
    let id = created.key_metadata.map(|m| m.key_id).ok_or(SealError::Invalid)?;
    let aliased = client.create_alias().alias_name(alias).target_key_id(&id).send().await;
    if let Err(e) = aliased {
        // Someone else created the alias meanwhile: use theirs.
        let found =
            client.describe_key().key_id(alias).send().await.ok().and_then(|f| f.key_metadata).map(|m| m.key_id);
        return found.ok_or_else(|| unavailable("create alias")(e.into()));
    }
    Ok(id)
}
