//! `GET /sync/orders/alerts?since=<cursor>`: the JSON polling side of the alert channel. Each alert
//! carries the cursor to pass next; a cleared alert reappears once, with `clearedAt` set.

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
}

pub async fn poll(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = authorize(deps, req, query_param(req, "shop_domain").as_deref())?;
    let since = query_param(req, "since").or_else(|| shared::http::header(req, "last-event-id").map(str::to_owned));
    let valid = |cursor: &str| {
        cursor.len() <= 300
            && cursor
                .split_once('#')
                .is_some_and(|(millis, _)| millis.len() == 15 && millis.bytes().all(|b| b.is_ascii_digit()))
    };
    if since.as_deref().is_some_and(|s| !valid(s)) {
        return Err(ApiError::bad_request("INVALID_CURSOR", "since is not an alert cursor"));
    }
    let alerts = deps.alerts.alerts_since(&shop, since.as_deref(), PAGE).await?;
    let cursor = alerts.last().map(|(c, _)| c.clone()).or(since);
    let alerts = alerts.into_iter().map(|(cursor, alert)| AlertEvent { id: alert.id.clone(), cursor, alert }).collect();
    Ok(h::json(StatusCode::OK, &AlertPage { alerts, cursor }))
}
