//! The four actions of the v1.2 envelope: every body carries `shop_domain`; every answer is
//! `{ success, message?, updatedOrders }`. Each action changes the order only when it is not already so,
//! and queues its outbound work only when it changed something (committed with the change: the
//! outbox); the response is stored under the
//! request's `Idempotency-Key` (or a digest of the request), so a repeat gets the same answer.

use std::collections::BTreeMap;

use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use shared::{
    app::{
        orders::{self, ChangeError, Decision},
        outbox,
    },
    domain::{
        FulfillmentStatus, Integration, Order, ReturnAction, ReturnCase, ShopDomain, TimelineEvent,
        ops::{RecordedShipment, SupportThread},
    },
    error::ApiError,
    http::{self as h, header},
    queue::{Outbound, OutboundChange},
    store::Claim,
};

use crate::{Deps, authorize};
use shared::app::order_ref::resolve;

/// Most orders one action may touch.
const MAX_ORDERS: usize = 250;
/// Longest free text an action stores: the order item (which carries the support note, the return note
/// and the recorded shipments) must stay far below DynamoDB's 400 KB, and an outbound message below
/// SQS's limit.
const MAX_NOTE: usize = 4000;
const MAX_SHORT_TEXT: usize = 100;
const MAX_CONVERSATION_ID: usize = 200;
/// Shipments one order may record from the dashboard.
const MAX_RECORDED_SHIPMENTS: usize = 50;

/// `text`, unless it is longer than `max` characters: then a 400 naming `field`.
fn bounded(text: Option<&str>, field: &str, max: usize) -> Result<(), ApiError> {
    match text {
        Some(text) if text.chars().count() > max => {
            Err(bad("TEXT_TOO_LONG", format!("{field} is longer than {max} characters")))
        }
        _ => Ok(()),
    }
}

/// The assignee support escalations hand the order to.
pub const ASSISTANT: &str = "assistant";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    updated_orders: Vec<Value>,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

/// Parses the body and authorizes its `shop_domain`; with an `Idempotency-Key`, claims the key (scoped
/// to the route and the shop) for this body, or finds the answer of an earlier request with it.
/// Keyless requests are not deduplicated: each action's state rules make a repeat change nothing.
async fn begin<T: DeserializeOwned>(deps: &Deps, req: &Request, route: &str) -> Result<(T, Context), ApiError> {
    let body = h::body_bytes(req);
    let value: Value = serde_json::from_slice(body).map_err(|_| bad("INVALID_BODY", "body is not JSON"))?;
    let shop = authorize(deps, req, value.get("shop_domain").and_then(Value::as_str))?;
    let parsed: T = serde_json::from_value(value).map_err(|e| bad("INVALID_BODY", e.to_string()))?;
    let key = match header(req, "idempotency-key") {
        Some(key) if key.len() <= 200 => format!("{route}#{key}"),
        Some(_) => return Err(bad("INVALID_IDEMPOTENCY_KEY", "Idempotency-Key is longer than 200 characters")),
        None => return Ok((parsed, Context { shop, key: None, replay: None })),
    };
    let payload: String = Sha256::digest(body).iter().take(16).map(|b| format!("{b:02x}")).collect();
    let reused = || ApiError::Client {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "IDEMPOTENCY_KEY_REUSED",
        message: "this Idempotency-Key was used with another request body".into(),
    };
    let replay = match deps.requests.claim_request(&shop, &key, &payload, deps.clock.now()).await? {
        Claim::Claimed => None,
        Claim::Completed { payload: earlier, response } if earlier == payload => Some(response),
        Claim::InProgress { payload: earlier } | Claim::Completed { payload: earlier, .. } if earlier != payload => {
            return Err(reused());
        }
        Claim::InProgress { .. } | Claim::Completed { .. } => {
            return Err(ApiError::Client {
                status: StatusCode::CONFLICT,
                code: "REQUEST_IN_PROGRESS",
                message: "a request with this Idempotency-Key is still running; retry shortly".into(),
            });
        }
    };
    Ok((parsed, Context { shop, key: Some(key), replay }))
}

struct Context {
    shop: ShopDomain,
    /// The claimed idempotency key, if the request has one.
    key: Option<String>,
    /// The stored answer of an earlier request with the same key and body.
    replay: Option<String>,
}

/// Runs one action: parse, authorize, claim the idempotency key; replay an earlier answer; else run
/// `action` and store its answer under the key, or release the key when it fails (a retry may run).
async fn run<T: DeserializeOwned>(
    deps: &Deps,
    req: &Request,
    route: &str,
    action: impl AsyncFnOnce(T, &ShopDomain) -> Result<Envelope, ApiError>,
) -> Result<Response<Body>, ApiError> {
    let (body, ctx) = begin::<T>(deps, req, route).await?;
    if let Some(stored) = &ctx.replay {
        let value: Value = serde_json::from_str(stored).map_err(|e| ApiError::Internal(e.into()))?;
        return Ok(h::json(StatusCode::OK, &value));
    }
    match action(body, &ctx.shop).await {
        Ok(envelope) => {
            if let Some(key) = &ctx.key {
                let answer = serde_json::to_string(&envelope).map_err(|e| ApiError::Internal(e.into()))?;
                deps.requests.complete_request(&ctx.shop, key, &answer, deps.clock.now()).await?;
            }
            Ok(h::json(StatusCode::OK, &envelope))
        }
        Err(e) => {
            if let Some(key) = &ctx.key
                && let Err(release) = deps.requests.release_request(&ctx.shop, key).await
            {
                tracing::warn!(error = %release, "could not release the idempotency key; it frees itself shortly");
            }
            Err(e)
        }
    }
}

/// An action's failure in the v1.2 envelope (seed 000: all four endpoints share it), with its status:
/// `{ success: false, message, updatedOrders: [], error, code }`. Internal errors stay opaque.
pub fn failure(error: ApiError) -> Response<Body> {
    let (status, code, message) = match error {
        ApiError::Client { status, code, message } => (status, code, message),
        ApiError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error".to_owned())
        }
    };
    h::json(
        status,
        &json!({ "success": false, "message": message, "updatedOrders": [], "error": message, "code": code }),
    )
}

fn short_hash(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Applies `change` to one order and, when it changed something, commits `outbound`'s message with it
/// (the transactional outbox), then relays it to the queue. A failed relay leaves the effect pending for
/// the sweep: the change is committed, its outbound work delayed, never lost.
async fn apply(
    deps: &Deps,
    order: &Order,
    change: impl Fn(&mut Order) -> Result<Decision, ApiError>,
    outbound: impl Fn(&Order) -> Option<(String, OutboundChange)>,
) -> Result<Order, ApiError> {
    // Every dashboard change today concerns the Shopify order (its fulfilment, metafields, the
    // assistant's escalation, the return fan-out).
    let effects = |_: &Order, changed: &Order| -> Vec<Outbound> {
        outbound(changed)
            .map(|(id, change)| {
                Outbound::new(Integration::Shopify, changed.shop.clone(), changed.key().to_string(), id, change)
            })
            .into_iter()
            .collect()
    };
    let now = deps.clock.now();
    let (changed, pending) =
        orders::change_with_effects(deps.orders.as_ref(), &order.shop, &order.key(), now, change, effects)
            .await
            .map_err(|e| match e {
                ChangeError::Refused(api) => api,
                ChangeError::NotFound => ApiError::not_found("ORDER_NOT_FOUND", "order disappeared"),
                ChangeError::Store(e) => e.into(),
                ChangeError::Contended => ApiError::Internal(anyhow::anyhow!("order kept changing")),
            })?;
    outbox::relay_after_commit(deps.outbox.as_ref(), deps.queue.as_ref(), &pending).await;
    Ok(changed)
}

async fn resolve_all(deps: &Deps, shop: &ShopDomain, ids: &[String]) -> Result<Vec<(String, Order)>, ApiError> {
    if ids.is_empty() || ids.len() > MAX_ORDERS {
        return Err(bad("INVALID_ORDER_IDS", format!("orderIds must hold 1..={MAX_ORDERS} ids")));
    }
    // Resolve every id first, so an unknown one changes nothing.
    let mut resolved = BTreeMap::new();
    for id in ids {
        let order = resolve(deps.orders.as_ref(), shop, id).await?;
        resolved.entry(order.key()).or_insert((id.clone(), order));
    }
    Ok(resolved.into_values().collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignBody {
    order_ids: Vec<String>,
    /// Required; `null` unassigns.
    #[serde(deserialize_with = "nullable")]
    assignee: Option<String>,
}

/// A field that must be present and may be `null` (serde's `Option` alone would take a missing field
/// as `null`).
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

pub async fn assign(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let by = crate::session_user(deps, req);
    run(deps, req, crate::ASSIGN_ROUTE, async |body: AssignBody, shop: &ShopDomain| {
        // `null` unassigns; a blank name is a mistake, not an unassignment.
        let assignee = body.assignee.as_deref().map(str::trim).map(str::to_owned);
        if assignee.as_ref().is_some_and(|a| a.is_empty() || a.len() > 100) {
            return Err(bad("INVALID_ASSIGNEE", "assignee must be 1–100 characters, or null to unassign"));
        }
        let mut updated = Vec::new();
        for (_, order) in resolve_all(deps, shop, &body.order_ids).await? {
            let changed = apply(
                deps,
                &order,
                |o| {
                    let now = deps.clock.now();
                    let previous = o.ops.assigned_to.clone();
                    if !o.ops.assign(assignee.clone(), by.clone(), now) {
                        return Ok(Decision::Keep);
                    }
                    let event = match (&assignee, previous) {
                        (Some(assignee), _) => TimelineEvent::new(now, "assigned", format!("Assigned to {assignee}")),
                        (None, Some(previous)) => {
                            TimelineEvent::new(now, "unassigned", format!("Unassigned from {previous}"))
                        }
                        (None, None) => TimelineEvent::new(now, "unassigned", "Unassigned".to_owned()),
                    };
                    Ok(Decision::Write(vec![event]))
                },
                |o| {
                    let who = assignee.as_deref().unwrap_or_default();
                    let id = short_hash(&["assign", &o.key().to_string(), who, &o.version.to_string()]);
                    Some((id, OutboundChange::AssignmentSync { assignee: assignee.clone() }))
                },
            )
            .await?;
            updated.push(json!({ "id": changed.public_id(), "assignedTo": changed.ops.assigned_to }));
        }
        let message = match &assignee {
            Some(assignee) => format!("Assigned {} to {assignee}", orders_phrase(updated.len())),
            None => format!("Unassigned {}", orders_phrase(updated.len())),
        };
        Ok(Envelope { success: true, message: Some(message), updated_orders: updated })
    })
    .await
}

#[derive(Deserialize)]
struct Tracking {
    number: String,
    carrier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FulfillBody {
    order_ids: Vec<String>,
    tracking: Option<Tracking>,
}

pub async fn fulfill(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    run(deps, req, crate::FULFILL_ROUTE, async |body: FulfillBody, shop: &ShopDomain| {
        let tracking = body.tracking.as_ref().map(|t| (t.number.trim().to_owned(), t.carrier.trim().to_owned()));
        if tracking.as_ref().is_some_and(|(number, _)| number.is_empty() || number.len() > 100) {
            return Err(bad("INVALID_TRACKING", "tracking.number must be 1–100 characters"));
        }
        bounded(tracking.as_ref().map(|(_, carrier)| carrier.as_str()), "tracking.carrier", MAX_SHORT_TEXT)?;
        let mut updated = Vec::new();
        for (_, order) in resolve_all(deps, shop, &body.order_ids).await? {
            let key = order.key().to_string();
            let shipment_id =
                format!("dash-{}", short_hash(&[&key, tracking.as_ref().map_or("", |(n, _)| n.as_str())]));
            let changed = apply(
                deps,
                &order,
                |o| {
                    if o.ops.recorded_shipments.iter().any(|s| s.id == shipment_id) {
                        return Ok(Decision::Keep);
                    }
                    if o.ops.recorded_shipments.len() >= MAX_RECORDED_SHIPMENTS {
                        return Err(conflict(
                            "TOO_MANY_SHIPMENTS",
                            format!("order {} already records {MAX_RECORDED_SHIPMENTS} shipments", o.name.as_str()),
                        ));
                    }
                    let now = deps.clock.now();
                    o.ops.recorded_shipments.push(RecordedShipment {
                        id: shipment_id.clone(),
                        tracking_number: tracking.as_ref().map(|(n, _)| n.clone()),
                        carrier: tracking.as_ref().map(|(_, c)| c.clone()).filter(|c| !c.is_empty()),
                        recorded_at: now,
                    });
                    o.fulfillment_status = FulfillmentStatus::Fulfilled;
                    let details = match &tracking {
                        Some((number, carrier)) => format!("Marked fulfilled with {carrier} tracking {number}"),
                        None => "Marked fulfilled without tracking".to_owned(),
                    };
                    Ok(Decision::Write(vec![TimelineEvent::new(now, "fulfillment", details)]))
                },
                |_| {
                    Some((
                        shipment_id.clone(),
                        OutboundChange::FulfillmentCreate {
                            shipment_id: shipment_id.clone(),
                            tracking_number: tracking.as_ref().map(|(n, _)| n.clone()),
                            carrier: tracking.as_ref().map(|(_, c)| c.clone()),
                        },
                    ))
                },
            )
            .await?;
            let mut entry =
                json!({ "id": changed.public_id(), "fulfillmentStatus": changed.fulfillment_status.as_str() });
            if let Some((number, carrier)) = &tracking {
                entry["tracking"] = json!({ "number": number, "carrier": carrier });
            }
            updated.push(entry);
        }
        let message = format!("Marked {} as fulfilled", orders_phrase(updated.len()));
        Ok(Envelope { success: true, message: Some(message), updated_orders: updated })
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SupportBody {
    order_id: String,
    conversation_id: Option<String>,
    note: String,
}

pub async fn support(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let by = crate::session_user(deps, req);
    run(deps, req, crate::SUPPORT_ROUTE, async |body: SupportBody, shop: &ShopDomain| {
        let note = body.note.trim().to_owned();
        if note.is_empty() || note.chars().count() > MAX_NOTE {
            return Err(bad("INVALID_NOTE", format!("note must be 1–{MAX_NOTE} characters")));
        }
        bounded(body.conversation_id.as_deref(), "conversationId", MAX_CONVERSATION_ID)?;
        let order = resolve(deps.orders.as_ref(), shop, &body.order_id).await?;
        let conversation = body.conversation_id.clone().filter(|c| !c.trim().is_empty());
        let thread_id =
            format!("sup_{}", short_hash(&[&order.key().to_string(), conversation.as_deref().unwrap_or(""), &note]));
        let changed = apply(
            deps,
            &order,
            |o| {
                if o.ops.support.as_ref().is_some_and(|s| s.id == thread_id) {
                    return Ok(Decision::Keep);
                }
                let now = deps.clock.now();
                o.ops.support = Some(SupportThread {
                    id: thread_id.clone(),
                    conversation_id: conversation.clone(),
                    note: note.clone(),
                    escalated_at: now,
                });
                o.ops.assign(Some(ASSISTANT.to_owned()), by.clone(), now);
                Ok(Decision::Write(vec![TimelineEvent::new(
                    now,
                    "support_escalated",
                    "Escalated to support; reassigned to the assistant".to_owned(),
                )]))
            },
            |_| {
                Some((
                    thread_id.clone(),
                    OutboundChange::SupportEscalation {
                        thread_id: thread_id.clone(),
                        conversation_id: conversation.clone(),
                        note: note.clone(),
                    },
                ))
            },
        )
        .await?;
        let updated = vec![json!({ "id": changed.public_id(), "supportThread": thread_id })];
        let message = format!("Support requested for order {}", changed.name.as_str());
        Ok(Envelope { success: true, message: Some(message), updated_orders: updated })
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReturnsBody {
    order_id: String,
    action: String,
    note: Option<String>,
}

pub async fn returns(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    run(deps, req, crate::RETURNS_ROUTE, async |body: ReturnsBody, shop: &ShopDomain| {
        let action = ReturnAction::parse(&body.action).ok_or_else(|| {
            bad(
                "INVALID_ACTION",
                format!("action must be approve_refund, deny or request_inspection, not `{}`", body.action),
            )
        })?;
        let order = resolve(deps.orders.as_ref(), shop, &body.order_id).await?;
        let note = body.note.clone().filter(|n| !n.trim().is_empty());
        bounded(note.as_deref(), "note", MAX_NOTE)?;
        let changed = apply(
            deps,
            &order,
            |o| {
                let current = o
                    .ops
                    .return_case
                    .as_ref()
                    .ok_or_else(|| conflict("NO_RETURN", format!("order {} has no return", o.name.as_str())))?;
                if action.reached(current.state) {
                    // A repeat (no request digest dedupes keyless requests): already so, nothing to do.
                    return Ok(Decision::Keep);
                }
                let next = action.apply(current.state).ok_or_else(|| {
                    conflict(
                        "ILLEGAL_TRANSITION",
                        format!("cannot {} a return that is {}", body.action, current.state.as_str()),
                    )
                })?;
                let now = deps.clock.now();
                o.ops.return_case = Some(ReturnCase { state: next, updated_at: now, note: note.clone() });
                Ok(Decision::Write(vec![TimelineEvent::new(now, "return", format!("Return {}", next.as_str()))]))
            },
            |o| {
                let state = o.ops.return_case.as_ref().map(|r| r.state.as_str()).unwrap_or_default().to_owned();
                let id = short_hash(&["return", &o.key().to_string(), &body.action, &o.version.to_string()]);
                Some((id, OutboundChange::ReturnUpdate { action: body.action.clone(), state, note: note.clone() }))
            },
        )
        .await?;
        let state = changed.ops.return_case.as_ref().map(|r| r.state.as_str()).unwrap_or_default();
        let message = format!("Return updated: {state}");
        Ok(Envelope { success: true, message: Some(message), updated_orders: Vec::new() })
    })
    .await
}

fn conflict(code: &'static str, message: String) -> ApiError {
    ApiError::Client { status: StatusCode::CONFLICT, code, message }
}

fn orders_phrase(n: usize) -> String {
    if n == 1 { "1 order".to_owned() } else { format!("{n} orders") }
}
