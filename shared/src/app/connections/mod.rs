//! Shops' connections to integrations: each integration's typed settings over the generic connection
//! record, the owner rule, and its credential.

pub mod amazon;
pub mod masonhub;
