use chrono::{TimeZone, Utc};

use crate::{
    domain::Integration,
    store::{CredentialStore, SealedCredential, ShopStore},
    testing::unique_shop,
};

pub(super) async fn credentials_are_kept_per_integration<S: CredentialStore + ShopStore>(store: &S) {
    let shop = unique_shop("contract-credentials");
    let at = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let credential = SealedCredential {
        sealed: [("refresh_token".to_owned(), "c2VhbGVk".to_owned())].into(),
        public: [("client_id".to_owned(), "client".to_owned())].into(),
        updated_at: at,
    };
    assert!(store.credential(&shop, Integration::Amazon).await.unwrap().is_none());
    store.put_credential(&shop, Integration::Amazon, &credential).await.unwrap();
    assert_eq!(store.credential(&shop, Integration::Amazon).await.unwrap(), Some(credential.clone()));
    assert!(store.credential(&shop, Integration::MasonHub).await.unwrap().is_none());
    let replaced = SealedCredential { public: Default::default(), ..credential };
    store.put_credential(&shop, Integration::Amazon, &replaced).await.unwrap();
    assert_eq!(store.credential(&shop, Integration::Amazon).await.unwrap(), Some(replaced.clone()));
    assert!(!format!("{replaced:?}").contains("c2VhbGVk"), "Debug never shows a ciphertext");
    store.erase_shop(&shop).await.unwrap();
    assert!(store.credential(&shop, Integration::Amazon).await.unwrap().is_none());
}
