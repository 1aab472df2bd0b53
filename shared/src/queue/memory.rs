//! In-memory adapter of the queue port: records what was sent, for assertions.

use std::sync::Mutex;

use async_trait::async_trait;

use super::{MessageQueue, Stage};
use crate::{error::QueueError, queue::Message};

#[derive(Debug, Default)]
pub struct MemoryQueue {
    sent: Mutex<Vec<(Stage, Message, u32)>>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<(Stage, Message, u32)> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send(&self, stage: Stage, message: &Message, delay_seconds: u32) -> Result<(), QueueError> {
        // Encode as the SQS adapter does, so a message that could not travel fails here too.
        let body = serde_json::to_string(message)?;
        let decoded = serde_json::from_str(&body)?;
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).push((stage, decoded, delay_seconds.min(900)));
        Ok(())
    }
}

/// In-memory claim-check store.
#[derive(Debug, Default)]
pub struct MemoryClaims {
    bodies: Mutex<std::collections::HashMap<String, Vec<u8>>>,
}

impl MemoryClaims {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl super::ClaimStore for MemoryClaims {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), QueueError> {
        self.bodies.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_owned(), body);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, QueueError> {
        Ok(self.bodies.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned())
    }
}
