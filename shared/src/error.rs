//! Error types. Adapters keep the SDK error as the source; the HTTP edge maps [`ApiError`] to a status
//! and a `{ "error", "code" }` body, with an opaque body for internal errors.

use http::StatusCode;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of the order store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached or refused the call. Retrying may help.
    #[error("store unavailable: {context}")]
    Unavailable {
        context: &'static str,
        #[source]
        source: BoxError,
    },
    /// A stored item could not be decoded: a bug or a manual edit, never retried into success.
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
    /// The store refused the request itself (DynamoDB's `ValidationException`: an item over the size
    /// limit, a malformed expression or key). The same request fails the same way every time, so it is
    /// never retried as transient.
    #[error("store rejected the request: {context}")]
    Rejected {
        context: &'static str,
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    pub fn unavailable(context: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable { context, source: source.into() }
    }

    pub fn rejected(context: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Rejected { context, source: source.into() }
    }

    /// Whether retrying the same call may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// A failure to hand a message to the next stage.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {context}")]
    Unavailable {
        context: &'static str,
        #[source]
        source: BoxError,
    },
    #[error("message could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl QueueError {
    pub fn unavailable(context: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable { context, source: source.into() }
    }
}

/// An error returned to an HTTP caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client error with a machine-readable code, such as `400 BAD_REQUEST`.
    #[error("{message}")]
    Client { status: StatusCode, code: &'static str, message: String },
    /// Anything the caller cannot fix. Logged with its cause chain; the response body stays opaque.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::Client { status: StatusCode::BAD_REQUEST, code, message: message.into() }
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Client { status: StatusCode::UNAUTHORIZED, code, message: message.into() }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Client { status: StatusCode::FORBIDDEN, code, message: message.into() }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::Client { status: StatusCode::NOT_FOUND, code, message: message.into() }
    }

    pub fn method_not_allowed() -> Self {
        Self::Client {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "METHOD_NOT_ALLOWED",
            message: "method not allowed".into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Client { status, .. } => *status,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}

/// Why a queue record was not processed. Both kinds are reported as a batch item failure, so SQS
/// redelivers the record and, after `maxReceiveCount`, moves it to the dead-letter queue; a permanent
/// failure also raises an alert on its last attempt.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Worth another try: the store or an upstream was unavailable, or a write lost a race.
    #[error("retryable: {0:#}")]
    Retryable(anyhow::Error),
    /// Will never succeed: the message is malformed or violates a contract.
    #[error("permanent: {0:#}")]
    Permanent(anyhow::Error),
}

impl From<StoreError> for WorkerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupt(_) | StoreError::Rejected { .. } => WorkerError::Permanent(e.into()),
            StoreError::Unavailable { .. } => WorkerError::Retryable(e.into()),
        }
    }
}

impl From<QueueError> for WorkerError {
    fn from(e: QueueError) -> Self {
        WorkerError::Retryable(e.into())
    }
}
