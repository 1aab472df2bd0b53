//! HTTP helpers for `lambda_http` handlers: JSON responses, the error body, header and query access.

use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::error::ApiError;

/// Turns a handler result into a response. Client errors carry `{ "error", "code" }`; internal errors
/// are logged with their cause chain and answered with an opaque 500.
pub fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    match result {
        Ok(response) => response,
        Err(ApiError::Client { status, code, message }) => error_body(status, code, &message),
        Err(ApiError::Internal(cause)) => {
            tracing::error!(error = format!("{cause:#}"), "internal error");
            error_body(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
        }
    }
}

fn error_body(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message, "code": code }))
}

/// A JSON response. Serialising our own types cannot fail in practice; if it ever does, the caller
/// still gets a well-formed 500.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let (status, body) = match serde_json::to_vec(value) {
        Ok(body) => (status, body),
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            (StatusCode::INTERNAL_SERVER_ERROR, br#"{"error":"internal error","code":"INTERNAL"}"#.to_vec())
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A header's value as text, if present and valid UTF-8. Header names are case-insensitive.
pub fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The raw request body bytes, exactly as delivered (HMACs are computed over these).
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// A query string parameter, from API Gateway's parsed parameters.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_owned)
}

/// The request path without API Gateway stage prefixes.
pub fn path(req: &Request) -> String {
    req.raw_http_path().to_owned()
}

/// Whether the client asked for Server-Sent Events.
pub fn wants_event_stream(req: &Request) -> bool {
    header(req, "accept").is_some_and(|accept| accept.contains("text/event-stream"))
}

/// A path segment as sent: percent-encoded (`%23` for `#`, `%2F` for `/` in a GID), decoded.
pub fn path_segment(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_owned())
}
