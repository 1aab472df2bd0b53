//! Login with Amazon: exchanges a seller's refresh token for an access token (`grant_type=refresh_token`,
//! form-encoded, <https://developer-docs.amazon.com/sp-api-blog/docs/selling-partner-api-migration-for-private-developers>)
//! and caches it until shortly before `expires_in` (one hour). The token goes into the
//! `x-amz-access-token` header; SP-API no longer needs SigV4.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::integrations::http::{self, UpstreamError};

/// The name LWA errors carry.
const LWA: &str = "Login with Amazon";
use crate::{clock::Clock, config::Secret};

/// Renew this long before the token expires, so a request never leaves with a token about to lapse.
pub const REFRESH_MARGIN_SECONDS: i64 = 120;

/// What a token exchange needs. `Debug` hides the secrets.
#[derive(Clone)]
pub struct LwaCredentials {
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
}

impl std::fmt::Debug for LwaCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LwaCredentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

impl LwaCredentials {
    /// The cache key: a digest, so no plaintext secret is ever a map key.
    fn cache_key(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}", self.client_id, self.refresh_token.expose()).as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Clone)]
struct Cached {
    token: Secret,
    renew_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// The token endpoint and the tokens fetched so far (per client id and refresh token).
pub struct LwaClient {
    http: http::Client,
    token_url: String,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl LwaClient {
    pub fn new(token_url: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self { http: http::Client::new(), token_url: token_url.into(), clock, cache: Mutex::default() }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A valid access token: the cached one while it has more than the margin left, else a new one.
    pub async fn access_token(&self, credentials: &LwaCredentials) -> Result<Secret, UpstreamError> {
        let key = credentials.cache_key();
        let now = self.clock.now();
        if let Some(cached) = self.cache().get(&key).filter(|c| now < c.renew_at) {
            return Ok(cached.token.clone());
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", credentials.refresh_token.expose())
            .append_pair("client_id", &credentials.client_id)
            .append_pair("client_secret", credentials.client_secret.expose())
            .finish();
        let response = self
            .http
            .get(LWA)?
            .post(&self.token_url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded;charset=UTF-8")
            .body(body)
            .send()
            .await
            .map_err(|e| UpstreamError::transport(LWA, e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| UpstreamError::transport(LWA, e))?;
        if !status.is_success() {
            let error: Option<TokenError> = serde_json::from_slice(&bytes).ok();
            let code = error.as_ref().and_then(|e| e.error.clone()).unwrap_or_else(|| status.as_str().to_owned());
            let message = error.and_then(|e| e.error_description).unwrap_or_else(|| "token exchange refused".into());
            return Err(if status.is_server_error() {
                UpstreamError::Transient { upstream: LWA, detail: format!("{} {code}: {message}", status.as_u16()) }
            } else {
                UpstreamError::Unauthorized { upstream: LWA, status: status.as_u16(), code, message }
            });
        }
        let token: TokenResponse = serde_json::from_slice(&bytes).map_err(|_| UpstreamError::Decode {
            upstream: LWA,
            detail: "the token response is not the documented JSON".into(),
        })?;
        let lifetime = token.expires_in.unwrap_or(3600).max(1);
        let margin = REFRESH_MARGIN_SECONDS.min(lifetime / 2);
        let cached =
            Cached { token: Secret::new(token.access_token), renew_at: now + Duration::seconds(lifetime - margin) };
        self.cache().insert(key, cached.clone());
        tracing::info!(expires_in = lifetime, "LWA access token obtained");
        Ok(cached.token)
    }

    /// Forgets the cached token (after SP-API refused it), so the next call exchanges again.
    pub fn forget(&self, credentials: &LwaCredentials) {
        self.cache().remove(&credentials.cache_key());
    }
}
