//! The shop's Amazon SP-API connection: typed settings (seller, region, marketplaces, Orders API
//! version) over the generic connection record, created by its owner (the first session user) and
//! updated only by them; and its LWA credential, sealed field by field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    app::credentials,
    config::Secret,
    domain::{Integration, ShopDomain},
    error::{ApiError, StoreError},
    integrations::amazon::{ApiVersion, Region},
    secrets::{SealError, Sealer},
    store::{Connection, ConnectionStatus, ConnectionStore, CredentialStore, Recorded, SealedCredential, WriteOutcome},
};

/// A shop's SP-API connection. The first session user to create it is its owner (`owner_sub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmazonConnection {
    pub shop: ShopDomain,
    pub seller_id: String,
    pub region: Region,
    pub marketplace_ids: Vec<String>,
    pub api_version: ApiVersion,
    pub owner_sub: String,
    /// Active connections are polled by `amazon-scheduler`.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub status: ConnectionStatus,
    pub version: u64,
}

/// The settings document of an Amazon connection record.
#[derive(Debug, Serialize, Deserialize)]
struct Settings {
    seller_id: String,
    region: Region,
    marketplace_ids: Vec<String>,
    api_version: ApiVersion,
}

impl AmazonConnection {
    fn from_record(record: Connection) -> Result<Self, StoreError> {
        let settings: Settings = serde_json::from_value(record.settings)
            .map_err(|e| StoreError::Corrupt(format!("Amazon connection settings: {e}")))?;
        Ok(Self {
            shop: record.shop,
            seller_id: settings.seller_id,
            region: settings.region,
            marketplace_ids: settings.marketplace_ids,
            api_version: settings.api_version,
            owner_sub: record.owner_sub,
            active: record.active,
            created_at: record.created_at,
            updated_at: record.updated_at,
            status: record.status,
            version: record.version,
        })
    }

    fn to_record(&self) -> Result<Connection, StoreError> {
        let settings = Settings {
            seller_id: self.seller_id.clone(),
            region: self.region,
            marketplace_ids: self.marketplace_ids.clone(),
            api_version: self.api_version,
        };
        Ok(Connection {
            shop: self.shop.clone(),
            integration: Integration::Amazon,
            settings: serde_json::to_value(settings).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            owner_sub: self.owner_sub.clone(),
            active: self.active,
            created_at: self.created_at,
            updated_at: self.updated_at,
            status: self.status.clone(),
            version: self.version,
        })
    }
}

/// The shop's Amazon connection, if it has one.
pub async fn load(store: &dyn ConnectionStore, shop: &ShopDomain) -> Result<Option<AmazonConnection>, StoreError> {
    store.connection(shop, Integration::Amazon).await?.map(AmazonConnection::from_record).transpose()
}

/// The connection's settings as sent by the dashboard.
#[derive(Debug, Deserialize)]
pub struct ConnectionInput {
    pub seller_id: String,
    pub region: String,
    pub marketplace_ids: Vec<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

fn is_amazon_id(raw: &str) -> bool {
    (1..=64).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric())
}

/// 403 unless `user` owns the connection.
pub fn require_owner(connection: &AmazonConnection, user: Option<&str>) -> Result<(), ApiError> {
    if user == Some(connection.owner_sub.as_str()) {
        Ok(())
    } else {
        Err(ApiError::forbidden("NOT_OWNER", "only the user who connected Amazon may do this"))
    }
}

/// Whether [`put`] created the connection or updated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    Created,
    Updated,
}

/// Creates the shop's connection (`user` becomes its owner) or updates it (owner only), after checking
/// the input; version-guarded against concurrent updates.
pub async fn put(
    store: &dyn ConnectionStore,
    shop: &ShopDomain,
    user: Option<&str>,
    input: ConnectionInput,
    now: DateTime<Utc>,
) -> Result<(Put, AmazonConnection), ApiError> {
    let seller_id = input.seller_id.trim().to_owned();
    if !is_amazon_id(&seller_id) {
        return Err(ApiError::bad_request("INVALID_SELLER_ID", "seller_id must be 1-64 letters and digits"));
    }
    let region = Region::parse(input.region.trim())
        .ok_or_else(|| ApiError::bad_request("INVALID_REGION", "region must be NA, EU, FE or SANDBOX"))?;
    let marketplace_ids: Vec<String> = input.marketplace_ids.iter().map(|m| m.trim().to_owned()).collect();
    if marketplace_ids.is_empty() || marketplace_ids.len() > 50 || !marketplace_ids.iter().all(|m| is_amazon_id(m)) {
        return Err(ApiError::bad_request(
            "INVALID_MARKETPLACE_IDS",
            "marketplace_ids must list 1-50 marketplace ids (letters and digits)",
        ));
    }
    let api_version = match input.api_version.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(
            ApiVersion::parse(raw)
                .ok_or_else(|| ApiError::bad_request("INVALID_API_VERSION", "api_version must be 2026-01-01 or v0"))?,
        ),
    };
    for attempt in 0..3 {
        crate::clock::pause_before_retry(attempt).await;
        let Some(stored) = load(store, shop).await? else {
            let owner_sub = user.map(str::to_owned).ok_or_else(|| {
                ApiError::forbidden("USER_REQUIRED", "the session token names no user (sub) to own the connection")
            })?;
            let connection = AmazonConnection {
                shop: shop.clone(),
                seller_id: seller_id.clone(),
                region,
                marketplace_ids: marketplace_ids.clone(),
                api_version: api_version.unwrap_or_default(),
                owner_sub,
                active: input.active.unwrap_or(true),
                created_at: now,
                updated_at: now,
                status: ConnectionStatus::default(),
                version: 1,
            };
            if store.create_connection(&connection.to_record()?).await? == Recorded::New {
                tracing::info!(region = %region, "Amazon connection created");
                return Ok((Put::Created, connection));
            }
            continue;
        };
        require_owner(&stored, user)?;
        let updated = AmazonConnection {
            seller_id: seller_id.clone(),
            region,
            marketplace_ids: marketplace_ids.clone(),
            api_version: api_version.unwrap_or(stored.api_version),
            active: input.active.unwrap_or(stored.active),
            updated_at: now,
            version: stored.version + 1,
            ..stored
        };
        if store.update_connection(&updated.to_record()?).await? == WriteOutcome::Written {
            tracing::info!(region = %region, "Amazon connection updated");
            return Ok((Put::Updated, updated));
        }
    }
    Err(ApiError::Client {
        status: http::StatusCode::CONFLICT,
        code: "CONCURRENT_UPDATE",
        message: "the connection changed meanwhile; try again".into(),
    })
}

/// The credential's field names.
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const CLIENT_SECRET: &str = "client_secret";
pub const CLIENT_ID: &str = "client_id";

/// Seals and stores the connection's LWA credential. The plaintexts never leave this function except
/// as ciphertext.
pub async fn put_credential(
    store: &dyn CredentialStore,
    sealer: &dyn Sealer,
    shop: &ShopDomain,
    refresh_token: &Secret,
    client: Option<(String, Secret)>,
    now: DateTime<Utc>,
) -> Result<(), CredentialError> {
    let mut credential = SealedCredential { sealed: Default::default(), public: Default::default(), updated_at: now };
    let token = credentials::seal(sealer, shop, Integration::Amazon, REFRESH_TOKEN, refresh_token).await?;
    credential.sealed.insert(REFRESH_TOKEN.to_owned(), token);
    if let Some((id, secret)) = client {
        let sealed = credentials::seal(sealer, shop, Integration::Amazon, CLIENT_SECRET, &secret).await?;
        credential.sealed.insert(CLIENT_SECRET.to_owned(), sealed);
        credential.public.insert(CLIENT_ID.to_owned(), id);
    }
    store.put_credential(shop, Integration::Amazon, &credential).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the credential could not be sealed")]
    Seal(#[from] SealError),
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}
