//! Callback authentication. MasonHub sends the `token` registered with each callback "with all
//! outgoing instances" but the spec does not say where, so we accept it as a bearer header and as a
//! `token` query parameter (registration puts it in both: the callback URL's query and the `token`
//! field). One URL serves every shop: the token names its shop (`{base64url(shop)}.{random}`), and
//! only its SHA-256 is stored, compared in constant time.

pub use crate::integrations::secret_token::{hash, new_token, shop_of, verify};
