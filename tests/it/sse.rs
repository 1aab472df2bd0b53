//! The alert channel as Server-Sent Events: live through the local stack over real HTTP, resumed with
//! `Last-Event-ID`, and the buffered fallback of the dashboard route.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use integration_tests::{TestEnv, token_for};
use shared::{
    domain::{Alert, AlertKind, ShopDomain},
    store::{AlertStore, dynamo::DynamoStore},
};

fn alert(shop: &ShopDomain, id: &str) -> Alert {
    Alert {
        shop: shop.clone(),
        id: id.into(),
        kind: AlertKind::DeadLetter,
        message: format!("alert {id}"),
        order: None,
        raised_at: Utc::now(),
        cleared_at: None,
    }
}

/// Reads the stream until an event mentioning `wanted` arrives; returns everything read.
async fn read_until(response: &mut reqwest::Response, wanted: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !text.contains(wanted) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await.expect("event in time").unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk.expect("stream still open")));
    }
    text
}

fn last_id(text: &str) -> String {
    text.lines().rev().find_map(|l| l.strip_prefix("id: ")).unwrap().to_owned()
}

#[tokio::test]
async fn the_live_stream_delivers_new_alerts_and_resumes_after_last_event_id() {
    let env = TestEnv::new().await;
    let sdk = shared::aws::sdk_config().await;
    let store = DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone());
    let stack = env.stack.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shop = shared::testing::unique_shop("sse");
    let url = format!("http://{}/sync/orders/alerts?shop_domain={shop}", listener.local_addr().unwrap());
    let server = tokio::spawn(local_stack::serve(stack.clone(), listener));
    let client = reqwest::Client::new();
    let open = |last_event_id: Option<String>| {
        let mut request = client.get(&url).header("accept", "text/event-stream").bearer_auth(token_for(&shop));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request.send()
    };

    store.raise_alert(&alert(&shop, "first")).await.unwrap();
    let mut stream = open(None).await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let seen = read_until(&mut stream, "alert first").await;
    assert!(seen.contains("event: raised"));
    let resume_from = last_id(&seen);

    // Live: an alert raised while connected arrives on the open stream.
    store.raise_alert(&alert(&shop, "second")).await.unwrap();
    let seen = read_until(&mut stream, "alert second").await;
    let resume_from_second = last_id(&seen);

    // A webhook processed for the shop pings a refresh, an event without an id.
    use shared::store::SyncStore;
    store.record_webhook(&shop, Utc::now()).await.unwrap();
    let seen = read_until(&mut stream, "event: refresh").await;
    assert!(seen.contains("data: {\"refreshedAt\":"), "{seen}");
    drop(stream);

    // Offline: raised while disconnected, delivered on reconnect; nothing seen before is repeated.
    store.raise_alert(&alert(&shop, "third")).await.unwrap();
    let mut resumed = open(Some(resume_from_second)).await.unwrap();
    let seen = read_until(&mut resumed, "alert third").await;
    assert!(!seen.contains("alert first") && !seen.contains("alert second"), "{seen}");
    drop(resumed);

    let mut from_first = open(Some(resume_from)).await.unwrap();
    let seen = read_until(&mut from_first, "alert third").await;
    assert!(seen.contains("alert second") && !seen.contains("alert first"), "{seen}");

    let refused = client.get(&url).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    server.abort();
}

#[tokio::test]
async fn the_buffered_route_answers_events_since_last_event_id() {
    let env = TestEnv::new().await;
    let sdk = shared::aws::sdk_config().await;
    let store = DynamoStore::new(shared::aws::dynamodb(&sdk), env.stack.settings.table_name.clone());
    let shop = shared::testing::unique_shop("sse-buffered");
    store.raise_alert(&alert(&shop, "one")).await.unwrap();
    let auth = format!("Bearer {}", token_for(&shop));
    let target = format!("/sync/orders/alerts?shop_domain={shop}");
    let headers = [("Authorization", auth.as_str()), ("Accept", "text/event-stream")];
    let response = env.request("GET", &target, &headers, b"").await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(text.starts_with("retry: ") && text.contains("alert one"), "{text}");
    let last = last_id(&text);

    store.raise_alert(&alert(&shop, "two")).await.unwrap();
    let headers = [("Authorization", auth.as_str()), ("Accept", "text/event-stream"), ("Last-Event-ID", last.as_str())];
    let text = String::from_utf8(env.request("GET", &target, &headers, b"").await.body().to_vec()).unwrap();
    assert!(text.contains("alert two") && !text.contains("alert one"), "{text}");
}

#[tokio::test]
async fn a_live_stream_delivers_an_alert_that_lands_behind_one_already_sent_exactly_once() {
    use http_body_util::BodyExt;
    let store = Arc::new(shared::store::memory::MemoryStore::new());
    let shop = shared::testing::unique_shop("late");
    let settings = shared::sse::StreamSettings {
        poll_every: Duration::from_millis(20),
        heartbeat_every: Duration::from_secs(60),
        max_duration: Duration::from_millis(600),
    };
    let at = |ms: i64| Utc::now() + chrono::Duration::milliseconds(ms);
    store.raise_alert(&Alert { raised_at: at(0), ..alert(&shop, "on-time") }).await.unwrap();
    let who = shared::sse::StreamFor {
        shop: shop.clone(),
        expires_at: Utc::now() + chrono::Duration::minutes(1),
        clock: Arc::new(shared::clock::SystemClock),
        lease: None,
    };
    let mut body = shared::sse::alert_stream(store.clone(), store.clone(), who, None, settings);
    let mut text = String::new();
    while !text.contains("alert on-time") {
        let frame = body.frame().await.unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap()));
    }
    // Written after, but stamped 2 s earlier (a slow writer): it sorts behind what was already sent.
    store.raise_alert(&Alert { raised_at: at(-2000), ..alert(&shop, "late") }).await.unwrap();
    while let Some(frame) = body.frame().await {
        text.push_str(&String::from_utf8_lossy(&frame.unwrap().into_data().unwrap()));
    }
    assert_eq!(text.matches("alert late").count(), 1, "{text}");
    assert_eq!(text.matches("alert on-time").count(), 1, "{text}");
}

/// Serves the local stack over real HTTP; returns the alert stream URL of `shop`.
async fn serve(env: &TestEnv, shop: &ShopDomain) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sync/orders/alerts?shop_domain={shop}", listener.local_addr().unwrap());
    tokio::spawn(local_stack::serve(env.stack.clone(), listener));
    url
}

async fn open_stream(url: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new().get(url).header("accept", "text/event-stream").bearer_auth(token).send().await.unwrap()
}

/// The session token is re-checked while streaming: at its expiry the stream says `session_expired`
/// and closes, and the same token no longer opens one (the client fetches a fresh token and resumes
/// with `Last-Event-ID`).
#[tokio::test]
async fn a_live_stream_closes_when_its_session_token_expires() {
    use integration_tests::{API_KEY, API_SECRET};
    use shared::{config::Secret, integrations::shopify::session};
    let env = TestEnv::new().await;
    let shop = shared::testing::unique_shop("sse-expiry");
    let url = serve(&env, &shop).await;
    let short = session::sign(&session::claims_for(&shop, API_KEY, "7", Utc::now(), 1), &Secret::new(API_SECRET));
    let mut stream = open_stream(&url, &short).await;
    assert_eq!(stream.status(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Some(chunk) = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("closed in time").unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.ends_with("event: session_expired\ndata: {}\n\n"), "{text}");
    assert_eq!(open_stream(&url, &short).await.status(), 401, "the expired token opens nothing");
    assert_eq!(open_stream(&url, &token_for(&shop)).await.status(), 200, "a fresh token resumes");
}

/// A shop holds at most `ALERT_STREAM_MAX_PER_SHOP` (10) live streams; one more is 429 until one closes.
/// Other shops are not affected.
#[tokio::test]
async fn a_shop_holds_at_most_its_cap_of_live_streams() {
    let env = TestEnv::new().await;
    let shop = shared::testing::unique_shop("sse-cap");
    let url = serve(&env, &shop).await;
    let token = token_for(&shop);
    let mut open = Vec::new();
    for _ in 0..10 {
        let stream = open_stream(&url, &token).await;
        assert_eq!(stream.status(), 200);
        open.push(stream);
    }
    let refused = open_stream(&url, &token).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["code"], "TOO_MANY_STREAMS");
    let other = shared::testing::unique_shop("sse-cap-other");
    let other_url = url.replace(shop.as_str(), other.as_str());
    assert_eq!(open_stream(&other_url, &token_for(&other)).await.status(), 200, "per shop");

    // A client that goes away frees its slot.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stream = open_stream(&url, &token).await;
        if stream.status() == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed stream's slot was never freed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
