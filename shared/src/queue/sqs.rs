//! SQS adapter of the queue port.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_sqs::Client;

use super::{MessageQueue, Stage};
use crate::{error::QueueError, queue::Message};

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    urls: HashMap<Stage, String>,
}

impl SqsQueue {
    /// `urls` names the queue of every stage this function sends to.
    pub fn new(client: Client, urls: HashMap<Stage, String>) -> Self {
        Self { client, urls }
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send(&self, stage: Stage, message: &Message, delay_seconds: u32) -> Result<(), QueueError> {
        let url = self
            .urls
            .get(&stage)
            .ok_or_else(|| QueueError::unavailable("send", format!("no queue URL configured for {stage:?}")))?;
        let body = serde_json::to_string(message)?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay_seconds.min(900)).unwrap_or(900))
            .send()
            .await
            .map_err(|e| QueueError::unavailable("send message", e))?;
        Ok(())
    }
}
