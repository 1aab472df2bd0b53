//! `GET /sync/orders`: tabs, filters and offset cursors; `GET /sync/orders/{id}`: the order detail.
//!
//! Cursors are `ofs:<base36 offset>`. After serving a page the service remembers the position of the
//! next page's first order, so following a cursor it issued costs one boundary read and one page of
//! orders at any depth. An offset the service has not remembered (hand-made, forged, or older than the
//! boundaries' 24 h) is found by counting from the top only when that costs at most two pages of reads;
//! deeper ones answer `400 CURSOR_UNKNOWN` (start again from the first page).
//! `next` continues towards older orders (`direction=forward`), `previous` is the offset this page
//! starts at: pass it with `direction=backward` for the page before.

use chrono::{DateTime, NaiveDate, Utc};
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Serialize;
use shared::{
    app::order_ref,
    domain::{OrderKey, Priority, ShopDomain, Tab, tabs::STATUSES},
    error::ApiError,
    http::{self as h, query_param},
    store::{Listed, OrderQuery, Seek},
};

use crate::{
    Deps, authorize,
    view::{OrderDetail, OrderView},
};

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 250;
/// Timeline events in the order detail.
pub const TIMELINE_LENGTH: usize = 10;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderList {
    orders: Vec<OrderView>,
    tab: &'static str,
    page_size: usize,
    /// The offset of this page's first order.
    offset: u64,
    next: Option<String>,
    previous: Option<String>,
    /// The Shopify GraphQL cursor of this page's boundary (its first order), as the poll last read it
    /// (`orders` sorted by `UPDATED_AT`), so the dashboard can rewind against Shopify from there. `null`
    /// until the poll has read that order.
    shopify_cursor: Option<String>,
    /// The page's first order.
    #[serde(skip)]
    boundary: Option<OrderKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Backward,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(code, message)
}

fn parse_query(req: &Request) -> Result<OrderQuery, ApiError> {
    let tab = query_param(req, "tab")
        .map(|t| Tab::parse(&t).ok_or_else(|| bad("INVALID_TAB", format!("unknown tab `{t}`"))))
        .transpose()?;
    let status = query_param(req, "status")
        .map(|s| {
            if STATUSES.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(bad("INVALID_STATUS", format!("unknown status `{s}`")))
            }
        })
        .transpose()?;
    let priority = query_param(req, "priority")
        .map(|p| Priority::parse(&p).ok_or_else(|| bad("INVALID_PRIORITY", format!("unknown priority `{p}`"))))
        .transpose()?;
    let assignee = query_param(req, "assigned_to")
        .map(|a| {
            let a = a.trim().to_owned();
            if a.is_empty() || a.len() > 100 {
                Err(bad("INVALID_ASSIGNEE", "assigned_to must be 1–100 characters"))
            } else {
                Ok(a)
            }
        })
        .transpose()?;
    let created_from = query_param(req, "date_start").map(|d| parse_date(&d, false)).transpose()?;
    let created_to = query_param(req, "date_end").map(|d| parse_date(&d, true)).transpose()?;
    if let (Some(from), Some(to)) = (created_from, created_to)
        && from > to
    {
        return Err(bad("INVALID_DATE", "date_start is after date_end"));
    }
    Ok(OrderQuery { tab, status, priority, assignee, created_from, created_to })
}

/// RFC 3339, or a calendar date (`2026-11-20`): the start of the day, or its end for `date_end`.
fn parse_date(raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| bad("INVALID_DATE", format!("`{raw}` is not a date (YYYY-MM-DD or RFC 3339)")))?;
    let time = if end_of_day { day.and_hms_milli_opt(23, 59, 59, 999) } else { day.and_hms_opt(0, 0, 0) };
    time.map(|t| t.and_utc()).ok_or_else(|| bad("INVALID_DATE", format!("`{raw}` is not a date")))
}

fn parse_cursor(raw: &str) -> Result<u64, ApiError> {
    raw.strip_prefix("ofs:")
        .filter(|digits| !digits.is_empty() && digits.len() <= 12)
        .and_then(|digits| u64::from_str_radix(digits, 36).ok())
        .ok_or_else(|| bad("INVALID_CURSOR", "cursor must be ofs:<base36 offset>"))
}

fn cursor(offset: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut n = offset;
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    format!("ofs:{}", String::from_utf8_lossy(&out))
}

pub async fn list_orders(deps: &Deps, req: &Request) -> Result<Response<Body>, ApiError> {
    let shop = authorize(deps, req, query_param(req, "shop_domain").as_deref())?;
    let query = parse_query(req)?;
    let page_size = match query_param(req, "pageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| bad("INVALID_PAGE_SIZE", format!("pageSize must be 1..={MAX_PAGE_SIZE}")))?,
    };
    let offset = query_param(req, "cursor").map(|c| parse_cursor(&c)).transpose()?.unwrap_or(0);
    let direction = match query_param(req, "direction").as_deref() {
        None | Some("forward") => Direction::Forward,
        Some("backward") => Direction::Backward,
        Some(other) => {
            return Err(bad("INVALID_DIRECTION", format!("direction must be forward or backward, not `{other}`")));
        }
    };
    let mut page = match direction {
        Direction::Forward => forward(deps, &shop, &query, offset, page_size).await?,
        Direction::Backward => backward(deps, &shop, &query, offset, page_size).await?,
    };
    if let Some(first) = &page.boundary {
        page.shopify_cursor = deps.sync.order_cursor(&shop, first).await?;
    }
    Ok(h::json(StatusCode::OK, &page))
}

/// Where the order at an offset is.
enum At {
    Position(String),
    /// The list is shorter than the offset: these are all of its orders.
    PastEnd(Vec<Listed>),
}

/// The position of the order at `offset`, from a remembered boundary or, for an offset within two pages
/// of the top (`size` orders each), by counting from the top.
async fn position_at(
    deps: &Deps,
    shop: &ShopDomain,
    query: &OrderQuery,
    offset: u64,
    size: usize,
) -> Result<At, ApiError> {
    let fingerprint = query.fingerprint();
    if let Some(position) = deps.orders.page_boundary(shop, &fingerprint, offset).await? {
        return Ok(At::Position(position));
    }
    let index = usize::try_from(offset)
        .ok()
        .filter(|&index| index <= 2 * size)
        .ok_or_else(|| bad("CURSOR_UNKNOWN", "this cursor was not issued or has expired: start from the first page"))?;
    let mut listed = deps.orders.list_orders(shop, query, &Seek::First, index + 1).await?;
    if listed.len() <= index {
        return Ok(At::PastEnd(listed));
    }
    let position = listed.swap_remove(index).position;
    deps.orders.remember_page_boundary(shop, &fingerprint, offset, &position, deps.clock.now()).await?;
    Ok(At::Position(position))
}

async fn forward(
    deps: &Deps,
    shop: &ShopDomain,
    query: &OrderQuery,
    offset: u64,
    size: usize,
) -> Result<OrderList, ApiError> {
    let seek = match offset {
        0 => Some(Seek::First),
        _ => match position_at(deps, shop, query, offset, size).await? {
            At::Position(position) => Some(Seek::From(position)),
            At::PastEnd(_) => None,
        },
    };
    let mut listed = match seek {
        Some(seek) => deps.orders.list_orders(shop, query, &seek, size + 1).await?,
        None => Vec::new(),
    };
    let next_first = (listed.len() > size).then(|| listed.remove(size));
    let next = match next_first {
        Some(first) => {
            let next_offset = offset + size as u64;
            deps.orders
                .remember_page_boundary(shop, &query.fingerprint(), next_offset, &first.position, deps.clock.now())
                .await?;
            Some(cursor(next_offset))
        }
        None => None,
    };
    Ok(page(query, size, offset, &listed, next, (offset > 0).then(|| cursor(offset))))
}

async fn backward(
    deps: &Deps,
    shop: &ShopDomain,
    query: &OrderQuery,
    end: u64,
    size: usize,
) -> Result<OrderList, ApiError> {
    if end == 0 {
        return Ok(page(query, size, 0, &[], Some(cursor(0)), None));
    }
    let (end, mut listed) = match position_at(deps, shop, query, end, size).await? {
        At::Position(position) => (end, deps.orders.list_orders(shop, query, &Seek::Before(position), size).await?),
        // Past the end: the page before it is the list's tail, which ends where the list does.
        At::PastEnd(all) => (all.len() as u64, all.into_iter().rev().take(size).collect()),
    };
    listed.reverse();
    let start = end.saturating_sub(listed.len() as u64);
    if let Some(first) = listed.first() {
        deps.orders
            .remember_page_boundary(shop, &query.fingerprint(), start, &first.position, deps.clock.now())
            .await?;
    }
    let next = Some(cursor(start + listed.len() as u64));
    Ok(page(query, size, start, &listed, next, (start > 0).then(|| cursor(start))))
}

fn page(
    query: &OrderQuery,
    size: usize,
    offset: u64,
    listed: &[Listed],
    next: Option<String>,
    previous: Option<String>,
) -> OrderList {
    OrderList {
        orders: listed.iter().map(|l| OrderView::from(&l.order)).collect(),
        tab: query.tab().as_str(),
        page_size: size,
        offset,
        next,
        previous,
        shopify_cursor: None,
        boundary: listed.first().map(|l| l.order.key()),
    }
}

pub async fn order_detail(deps: &Deps, req: &Request, raw_id: &str) -> Result<Response<Body>, ApiError> {
    let shop = authorize(deps, req, query_param(req, "shop_domain").as_deref())?;
    let id = h::path_segment(raw_id);
    let order = order_ref::resolve(deps.orders.as_ref(), &shop, &id).await?;
    let (order, timeline) = deps
        .orders
        .order_detail(&shop, &order.key(), TIMELINE_LENGTH)
        .await?
        .ok_or_else(|| ApiError::not_found("ORDER_NOT_FOUND", "order disappeared"))?;
    let deliveries = deps.deliveries.deliveries(&shop, &order.key()).await?;
    Ok(h::json(StatusCode::OK, &OrderDetail::new(&order, timeline, deliveries)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_in_base36() {
        for offset in [0, 1, 35, 36, 1000, 123_456_789] {
            assert_eq!(parse_cursor(&cursor(offset)).unwrap(), offset);
        }
        assert_eq!(cursor(1000), "ofs:rs");
        for bad in ["", "ofs:", "1", "ofs:-1", "ofs:ZZ!", "offset:1", "ofs:zzzzzzzzzzzzz"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_accept_days_and_instants() {
        assert_eq!(parse_date("2026-11-20", false).unwrap().to_rfc3339(), "2026-11-20T00:00:00+00:00");
        assert_eq!(parse_date("2026-11-20", true).unwrap().timestamp_millis() % 1000, 999);
        assert!(parse_date("2026-11-20T10:00:00-05:00", false).is_ok());
        assert!(parse_date("yesterday", false).is_err());
        assert!(parse_date("2026-13-01", false).is_err());
    }
}
