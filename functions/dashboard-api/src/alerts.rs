//! `GET /sync/orders/alerts?since=<cursor>`: the JSON polling side of the alert channel. Each alert
//! carries the cursor to pass next; a cleared alert reappears once, with `clearedAt` set. `refreshedAt`
//! is the shop's refresh ping.
//!
//! With `Accept: text/event-stream` the same route answers Server-Sent Events: through API Gateway
//! (which buffers) the events since `Last-Event-ID`, after which the browser reconnects on its own;
//! the `alerts-stream` function serves the same events live through a streaming Function URL.

use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Serialize;
use shared::{
    domain::Alert,
    error::ApiError,
    http::{self as h, query_param},
};

use crate::{Deps, authorize};

/// Alerts per poll.
const PAGE: usize = 100;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertEvent {
    id: String,
    cursor: String,
    alert: Alert,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertPage {
    alerts: Vec<AlertEvent>,
    /// Pass as `since` next time (unchanged when nothing new arrived).
    cursor: Option<String>,
    /// The shop's refresh ping (the polling side of the SSE `refresh` event): when it differs from the
    /// last poll's, a webhook or a poll window changed the shop's orders; refetch the lists.
    refreshed_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn poll(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = authorize(deps, req, query_param(req, "shop_domain").as_deref())?;
    let since = query_param(req, "since").or_else(|| shared::http::header(req, "last-event-id").map(str::to_owned));
    if since.as_deref().is_some_and(|s| !shared::store::keys::is_alert_cursor(s)) {
        return Err(ApiError::bad_request("INVALID_CURSOR", "since is not an alert cursor"));
    }
    if h::wants_event_stream(req) {
        let (events, _) = shared::sse::alerts_after(deps.alerts.as_ref(), &shop, since.as_deref()).await?;
        let mut response = Response::new(Body::from(format!("retry: 5000\n\n{events}")));
        response.headers_mut().insert(
            lambda_http::http::header::CONTENT_TYPE,
            lambda_http::http::HeaderValue::from_static("text/event-stream"),
        );
        return Ok(response);
    }
    let alerts = deps.alerts.alerts_since(&shop, since.as_deref(), PAGE).await?;
    let cursor = alerts.last().map(|(c, _)| c.clone()).or(since);
    let alerts = alerts.into_iter().map(|(cursor, alert)| AlertEvent { id: alert.id.clone(), cursor, alert }).collect();
    let refreshed_at = deps.sync.sync_state(&shop).await?.refreshed_at;
    Ok(h::json(StatusCode::OK, &AlertPage { alerts, cursor, refreshed_at }))
}
