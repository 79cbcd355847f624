//! Outbound webhooks, end to end: the real server posts to a real axum receiver on port 0
//! that checks `X-Klaxon-Signature` with the secret `createWebhook` showed, reads the
//! envelope and `X-Klaxon-Delivery`, and fails on purpose (5xx, 4xx, slow, huge answers).
//! Retries use a short schedule (`webhook_retry`), so the tests take seconds.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use klaxon::app::Config;
use klaxon::domain::webhook::RetryPolicy;
use klaxon::engine::http_out::verify;
use serde_json::{Value, json};

use crate::heartbeats::{gql_with, token_for};
use crate::helpers::{TestApp, code, spawn_app_with};

/// What the receiver answers.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Waits this long, then 200.
    Slow(Duration),
    /// A 500 whose body streams this many bytes.
    Huge(u64),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    delivery: String,
    signature: String,
    body: Bytes,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    fn event_type(&self) -> String {
        self.json()["event"]["type"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

#[derive(Default)]
struct Inner {
    /// Answers for the next requests, in order; then `otherwise`.
    script: Mutex<VecDeque<Answer>>,
    otherwise: Mutex<Option<Answer>>,
    received: Mutex<Vec<Received>>,
    /// Bytes of huge answers the server pulled.
    streamed: Arc<AtomicU64>,
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Receiver {
    async fn start(script: &[Answer], otherwise: Answer) -> Receiver {
        let inner = Arc::new(Inner::default());
        inner.script.lock().unwrap().extend(script.iter().copied());
        *inner.otherwise.lock().unwrap() = Some(otherwise);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inner }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn answer_from_now(&self, answer: Answer) {
        self.inner.script.lock().unwrap().clear();
        *self.inner.otherwise.lock().unwrap() = Some(answer);
    }

    fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or(*inner.otherwise.lock().unwrap())
        .unwrap_or(Answer::Status(200));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let status = match answer {
        Answer::Status(status) => status,
        Answer::Slow(_) => 200,
        Answer::Huge(_) => 500,
    };
    inner.received.lock().unwrap().push(Received {
        delivery: header("x-klaxon-delivery"),
        signature: header("x-klaxon-signature"),
        body,
        answered: status,
    });
    match answer {
        Answer::Status(status) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::OK)
            .into_response(),
        Answer::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK.into_response()
        }
        Answer::Huge(bytes) => {
            let streamed = inner.streamed.clone();
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let chunks = bytes.div_ceil(chunk.len() as u64);
            let stream = futures_util::stream::iter(0..chunks).map(move |_| {
                streamed.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Ok::<_, std::io::Error>(chunk.clone())
            });
            (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(stream)).into_response()
        }
    }
}

use futures_util::StreamExt;

fn config(base_ms: u64, window_ms: u64) -> Config {
    Config {
        webhook_retry: RetryPolicy::with(base_ms, window_ms),
        public_url: Some("https://klaxon.example.com".into()),
        ..Config::default()
    }
}

const CREATE: &str = "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id url events failing createdAt service { id } deliveries { id } } } }";
const HOOKS: &str = "{ webhooks { id url failing events service { id } deliveries { id eventType status attempts responseStatus lastError createdAt lastAttemptAt durationMs nextAttemptAt incident { id } } } }";

/// Makes a webhook; returns (id, secret).
async fn create(app: &TestApp, input: Value) -> (String, String) {
    let data = app.data(CREATE, json!({ "i": input })).await;
    let made = &data["createWebhook"];
    (
        made["webhook"]["id"].as_str().expect("id").to_owned(),
        made["secret"].as_str().expect("secret").to_owned(),
    )
}

async fn hook(app: &TestApp, id: &str) -> Value {
    let data = app.data(HOOKS, json!({})).await;
    data["webhooks"]
        .as_array()
        .expect("list")
        .iter()
        .find(|w| w["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Polls the webhook until `done` holds (at most `within`); returns it.
async fn wait_for(
    app: &TestApp,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let hook = hook(app, id).await;
        if done(&hook) {
            return hook;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "webhook never got there: {hook}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn statuses(hook: &Value) -> Vec<String> {
    hook["deliveries"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|d| d["status"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn all_finished(n: usize) -> impl Fn(&Value) -> bool {
    move |hook| {
        let s = statuses(hook);
        s.len() == n && s.iter().all(|s| s != "PENDING")
    }
}

#[tokio::test]
async fn retried_after_two_500s_then_delivered_signed_with_one_delivery_id() {
    let receiver = Receiver::start(
        &[Answer::Status(500), Answer::Status(503)],
        Answer::Status(200),
    )
    .await;
    let app = spawn_app_with(config(50, 3_000)).await;
    let team = app.team(600_000, 600_000).await;
    let (id, secret) = create(&app, json!({ "url": receiver.url() })).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let incident = app.trigger_id(&team.schedule, "Checkout down").await;

    let hook = wait_for(&app, &id, Duration::from_secs(10), all_finished(1)).await;
    let delivery = &hook["deliveries"][0];
    assert_eq!(delivery["status"], "SENT", "{hook}");
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["responseStatus"], 200);
    assert_eq!(delivery["eventType"], "incident.triggered");
    assert_eq!(delivery["incident"]["id"], incident.as_str());
    assert!(delivery["lastError"].is_null());
    assert!(delivery["nextAttemptAt"].is_null());
    assert!(delivery["lastAttemptAt"].is_string());
    assert!(delivery["durationMs"].is_number());
    assert_eq!(hook["failing"], false);

    let received = receiver.received();
    assert_eq!(received.len(), 3, "{received:?}");
    assert_eq!(
        received.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    for r in &received {
        assert!(
            verify(secret.as_bytes(), &r.body, &r.signature),
            "bad signature {}",
            r.signature
        );
        assert!(!verify(b"another secret", &r.body, &r.signature));
        assert_eq!(r.delivery, delivery["id"].as_str().unwrap());
        // The same bytes on every retry.
        assert_eq!(r.body, received[0].body);
    }
    let envelope = received[0].json();
    let event = &envelope["event"];
    assert_eq!(event["id"], delivery["id"]);
    assert_eq!(event["type"], "incident.triggered");
    assert!(event["occurredAt"].as_str().unwrap().ends_with('Z'));
    let i = &event["incident"];
    assert_eq!(i["id"], incident.as_str());
    assert_eq!(i["title"], "Checkout down");
    assert_eq!(i["state"], "TRIGGERED");
    assert_eq!(i["severity"], "HIGH");
    assert_eq!(i["service"]["id"], team.service.as_str());
    assert_eq!(i["service"]["name"], "Payments");
    assert_eq!(i["assignee"]["id"], team.alice.as_str());
    assert_eq!(i["assignee"]["name"], "Alice");
    assert_eq!(i["assignee"]["email"], "alice@example.com");
    assert_eq!(i["escalationLevel"], 0);
    assert_eq!(i["alertCount"], 1);
    assert!(i["acknowledgedAt"].is_null());
    assert_eq!(
        i["url"],
        format!("https://klaxon.example.com/incidents/{incident}")
    );
}

#[tokio::test]
async fn a_400_fails_at_once_without_a_retry() {
    let receiver = Receiver::start(&[], Answer::Status(400)).await;
    let app = spawn_app_with(config(50, 3_000)).await;
    let team = app.team(600_000, 600_000).await;
    let (id, _) = create(&app, json!({ "url": receiver.url() })).await;
    app.trigger_id(&team.schedule, "Bad request").await;
    let hook = wait_for(&app, &id, Duration::from_secs(10), all_finished(1)).await;
    let delivery = &hook["deliveries"][0];
    assert_eq!(delivery["status"], "FAILED", "{hook}");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["responseStatus"], 400);
    assert!(
        delivery["lastError"]
            .as_str()
            .unwrap()
            .contains("answered 400")
    );
    assert_eq!(hook["failing"], true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "no retry after a 400");
}

#[tokio::test]
async fn always_500_gives_up_after_the_window_marks_the_webhook_failing_until_a_success() {
    let receiver = Receiver::start(&[], Answer::Status(500)).await;
    let app = spawn_app_with(config(50, 1_000)).await;
    let team = app.team(600_000, 600_000).await;
    let (id, _) = create(&app, json!({ "url": receiver.url() })).await;
    let incident = app.trigger_id(&team.schedule, "Always broken").await;
    let pending = wait_for(&app, &id, Duration::from_secs(5), |h| {
        h["deliveries"][0]["attempts"].as_i64() >= Some(1)
    })
    .await;
    assert_eq!(pending["failing"], false);
    let hook = wait_for(&app, &id, Duration::from_secs(10), all_finished(1)).await;
    let delivery = &hook["deliveries"][0];
    assert_eq!(delivery["status"], "FAILED", "{hook}");
    let attempts = delivery["attempts"].as_i64().unwrap();
    assert!(attempts >= 3, "{attempts} attempts in a 1 s window");
    assert_eq!(delivery["responseStatus"], 500);
    assert_eq!(hook["failing"], true);
    assert_eq!(receiver.received().len() as i64, attempts);

    // The next success clears it.
    receiver.answer_from_now(Answer::Status(204));
    app.act("acknowledgeIncident", &incident).await;
    let hook = wait_for(&app, &id, Duration::from_secs(10), all_finished(2)).await;
    assert_eq!(statuses(&hook), ["SENT", "FAILED"], "newest first: {hook}");
    assert_eq!(hook["deliveries"][0]["eventType"], "incident.acknowledged");
    assert_eq!(hook["failing"], false);
}

#[tokio::test]
async fn an_answer_slower_than_5_s_is_a_timeout() {
    let receiver = Receiver::start(&[], Answer::Slow(Duration::from_secs(8))).await;
    let app = spawn_app_with(config(50, 500)).await;
    let team = app.team(600_000, 600_000).await;
    let (id, _) = create(&app, json!({ "url": receiver.url() })).await;
    app.trigger_id(&team.schedule, "Slow receiver").await;
    let started = std::time::Instant::now();
    let hook = wait_for(&app, &id, Duration::from_secs(15), all_finished(1)).await;
    let delivery = &hook["deliveries"][0];
    assert_eq!(delivery["status"], "FAILED", "{hook}");
    assert_eq!(delivery["attempts"], 1);
    assert!(delivery["responseStatus"].is_null());
    assert!(
        delivery["lastError"]
            .as_str()
            .unwrap()
            .contains("no answer within 5 s"),
        "{delivery}"
    );
    let took = delivery["durationMs"].as_i64().unwrap();
    assert!((4_900..7_000).contains(&took), "{took} ms");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn one_incidents_events_arrive_in_order_even_when_the_first_attempt_fails() {
    let receiver = Receiver::start(&[Answer::Status(500)], Answer::Status(200)).await;
    let app = spawn_app_with(config(200, 5_000)).await;
    let team = app.team(600_000, 600_000).await;
    let (id, secret) = create(&app, json!({ "url": receiver.url() })).await;
    let incident = app.trigger_id(&team.schedule, "Ordered").await;
    app.act("acknowledgeIncident", &incident).await;
    app.act("resolveIncident", &incident).await;
    let hook = wait_for(&app, &id, Duration::from_secs(10), all_finished(3)).await;
    assert_eq!(statuses(&hook), ["SENT", "SENT", "SENT"], "{hook}");
    let types: Vec<String> = receiver
        .received()
        .iter()
        .map(Received::event_type)
        .collect();
    assert_eq!(
        types,
        [
            "incident.triggered",
            "incident.triggered",
            "incident.acknowledged",
            "incident.resolved"
        ]
    );
    let received = receiver.received();
    assert!(
        received
            .iter()
            .all(|r| verify(secret.as_bytes(), &r.body, &r.signature))
    );
    let last = received[3].json();
    assert_eq!(last["event"]["incident"]["state"], "RESOLVED");
    assert!(last["event"]["incident"]["resolvedAt"].is_string());
    assert!(last["event"]["incident"]["acknowledgedAt"].is_string());
}

#[tokio::test]
async fn a_100_mb_answer_is_not_read() {
    let receiver = Receiver::start(&[], Answer::Huge(100 * 1024 * 1024)).await;
    // A 1 ms window: the first attempt is the only one.
    let app = spawn_app_with(config(50, 1)).await;
    let team = app.team(600_000, 600_000).await;
    let (id, _) = create(&app, json!({ "url": receiver.url() })).await;
    app.trigger_id(&team.schedule, "Huge answer").await;
    let hook = wait_for(&app, &id, Duration::from_secs(10), all_finished(1)).await;
    let delivery = &hook["deliveries"][0];
    assert_eq!(delivery["status"], "FAILED", "{hook}");
    assert_eq!(delivery["responseStatus"], 500);
    assert_eq!(delivery["attempts"], 1);
    assert!(delivery["lastError"].as_str().unwrap().len() < 1_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let streamed = receiver.inner.streamed.load(Ordering::Relaxed);
    assert!(
        streamed < 20 * 1024 * 1024,
        "{streamed} bytes of the answer were produced"
    );
}

#[tokio::test]
async fn service_and_event_filters_choose_what_is_sent() {
    let everything = Receiver::start(&[], Answer::Status(200)).await;
    let resolved_only = Receiver::start(&[], Answer::Status(200)).await;
    let other_service = Receiver::start(&[], Answer::Status(200)).await;
    let app = spawn_app_with(config(50, 3_000)).await;
    let team = app.team(600_000, 600_000).await;
    let elsewhere = app.create_service("Search").await;
    let (all_id, _) = create(&app, json!({ "url": everything.url(), "events": [] })).await;
    let (resolved_id, _) = create(
        &app,
        json!({ "url": resolved_only.url(), "serviceId": team.service, "events": ["RESOLVED", "RESOLVED"] }),
    )
    .await;
    let (other_id, _) = create(
        &app,
        json!({ "url": other_service.url(), "serviceId": elsewhere }),
    )
    .await;
    let hooks = app.data(HOOKS, json!({})).await;
    assert_eq!(hooks["webhooks"].as_array().unwrap().len(), 3);
    let resolved = hook(&app, &resolved_id).await;
    assert_eq!(resolved["events"], json!(["RESOLVED"]));
    assert_eq!(resolved["service"]["id"], team.service.as_str());
    assert_eq!(
        hook(&app, &all_id).await["events"],
        json!(["TRIGGERED", "ACKNOWLEDGED", "RESOLVED", "ESCALATED"])
    );

    let incident = app.trigger_id(&team.schedule, "Filtered").await;
    app.act("escalateIncident", &incident).await;
    app.act("acknowledgeIncident", &incident).await;
    app.gql(
        "mutation($id: ID!, $t: String!) { addNote(incidentId: $id, text: $t) { id } }",
        json!({ "id": incident, "t": "not sent" }),
    )
    .await;
    app.act("resolveIncident", &incident).await;
    wait_for(&app, &all_id, Duration::from_secs(10), all_finished(4)).await;
    wait_for(&app, &resolved_id, Duration::from_secs(10), all_finished(1)).await;
    let types: Vec<String> = everything
        .received()
        .iter()
        .map(Received::event_type)
        .collect();
    assert_eq!(
        types,
        [
            "incident.triggered",
            "incident.escalated",
            "incident.acknowledged",
            "incident.resolved"
        ]
    );
    let escalated = everything.received()[1].json();
    assert_eq!(escalated["event"]["incident"]["escalationLevel"], 1);
    assert_eq!(
        escalated["event"]["incident"]["assignee"]["id"],
        team.bob.as_str()
    );
    assert_eq!(
        resolved_only
            .received()
            .iter()
            .map(Received::event_type)
            .collect::<Vec<_>>(),
        ["incident.resolved"]
    );
    assert!(other_service.received().is_empty());
    assert!(statuses(&hook(&app, &other_id).await).is_empty());

    // Deleted: nothing more is sent, and it is gone from the list.
    let deleted = app
        .data(
            "mutation($id: ID!) { deleteWebhook(id: $id) }",
            json!({ "id": all_id }),
        )
        .await;
    assert_eq!(deleted["deleteWebhook"], all_id.as_str());
    assert!(hook(&app, &all_id).await.is_null());
    app.trigger_id(&team.schedule, "After the delete").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(everything.received().len(), 4);
    let again = app
        .gql(
            "mutation($id: ID!) { deleteWebhook(id: $id) }",
            json!({ "id": all_id }),
        )
        .await;
    assert_eq!(code(&again), "NOT_FOUND");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing_and_only_admins_see_webhooks() {
    let app = spawn_app_with(config(50, 3_000)).await;
    let service = app.create_service("Payments").await;
    let cases = [
        (json!({ "url": "ftp://example.com/hook" }), "BAD_USER_INPUT"),
        (json!({ "url": "not a url" }), "BAD_USER_INPUT"),
        (
            json!({ "url": "https://user:pass@example.com/hook" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "url": format!("https://example.com/{}", "a".repeat(2100)) }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "url": "https://example.com/hook", "events": ["NOTE_ADDED"] }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "url": "https://example.com/hook", "serviceId": "00000000-0000-7000-8000-000000000000" }),
            "NOT_FOUND",
        ),
        (
            json!({ "url": "https://example.com/hook", "serviceId": "nope" }),
            "NOT_FOUND",
        ),
    ];
    for (input, expected) in cases {
        let body = app.gql(CREATE, json!({ "i": input })).await;
        assert_eq!(code(&body), expected, "{input}: {body}");
    }
    assert_eq!(app.data(HOOKS, json!({})).await["webhooks"], json!([]));

    // Loopback and private addresses are fine.
    create(
        &app,
        json!({ "url": "http://10.0.0.7:8080/klaxon", "serviceId": service }),
    )
    .await;
    for role in ["VIEWER", "RESPONDER"] {
        let client = token_for(&app, role).await;
        let body = gql_with(&app, &client, HOOKS, json!({})).await;
        assert_eq!(code(&body), "FORBIDDEN", "{role}: {body}");
        let body = gql_with(
            &app,
            &client,
            CREATE,
            json!({ "i": { "url": "https://example.com/hook" } }),
        )
        .await;
        assert_eq!(code(&body), "FORBIDDEN", "{role}: {body}");
    }
    assert_eq!(
        app.data(HOOKS, json!({})).await["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // At most 50; deleting one makes room.
    let mut last = String::new();
    for n in 1..50 {
        last = create(
            &app,
            json!({ "url": format!("http://127.0.0.1:9/hook/{n}") }),
        )
        .await
        .0;
    }
    let body = app
        .gql(
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:9/one-too-many" } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        app.data(HOOKS, json!({})).await["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    app.data(
        "mutation($id: ID!) { deleteWebhook(id: $id) }",
        json!({ "id": last }),
    )
    .await;
    create(&app, json!({ "url": "http://127.0.0.1:9/room-again" })).await;
}
