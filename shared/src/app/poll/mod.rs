//! Scheduled reads of an upstream: what each integration's poll does with a job.

pub mod amazon;
pub mod shopify;
pub mod shopify_schedule;
