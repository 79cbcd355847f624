//! Starts the real server on an ephemeral port and talks to it over HTTP and WebSocket.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use futures_util::{SinkExt, StreamExt};
use klaxon::app::{self, Config};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The `KLAXON_ADMIN_TOKEN` every test server accepts; `TestApp::http` sends it.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";

/// A reqwest client that sends `Authorization: Bearer <token>` on every request.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A server running inside the test, on its own port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub gate: klaxon::auth::Gate,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

pub async fn spawn_app_with(mut config: Config) -> TestApp {
    config
        .admin_token
        .get_or_insert_with(|| ADMIN_TOKEN.to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel();
    let server = tokio::spawn(app::serve(
        listener,
        config,
        async move {
            let _ = shutdown_rx.await;
        },
        move |running| {
            let _ = ready_tx.send((running.addr, running.gate.clone()));
        },
    ));
    let (addr, gate) = ready_rx.await.expect("server ready");
    TestApp {
        addr,
        http: client_with_token(ADMIN_TOKEN),
        gate,
        shutdown: Some(shutdown_tx),
        server: Some(server),
    }
}

/// A team: three users, one service, a schedule with `alice` on call now, and a policy
/// paging `bob` then `carol`.
pub struct Team {
    pub alice: String,
    pub bob: String,
    pub carol: String,
    pub service: String,
    pub schedule: String,
}

pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a GraphQL request; returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json body")
    }

    /// Like [`gql`], but panics on errors and returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    pub async fn create_user(&self, name: &str) -> String {
        let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
        let data = self
            .data(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "name": name, "email": email } }),
            )
            .await;
        data["createUser"]["id"].as_str().expect("id").to_owned()
    }

    pub async fn create_service(&self, name: &str) -> String {
        let data = self
            .data(
                "mutation($i: CreateServiceInput!) { createService(input: $i) { id } }",
                json!({ "i": { "name": name } }),
            )
            .await;
        data["createService"]["id"].as_str().expect("id").to_owned()
    }

    /// A schedule on `service` with `rotation` entries `(user, start, end)` and a policy.
    pub async fn create_schedule(
        &self,
        service: &str,
        rotation: &[(&str, DateTime<Utc>, DateTime<Utc>)],
        initial_timeout_ms: i64,
        levels: &[(&str, i64)],
    ) -> String {
        let rotation: Vec<Value> = rotation
            .iter()
            .map(|(u, s, e)| json!({ "userId": u, "startTime": iso(*s), "endTime": iso(*e) }))
            .collect();
        let levels: Vec<Value> = levels
            .iter()
            .map(|(u, t)| json!({ "userId": u, "timeoutMs": t }))
            .collect();
        let data = self
            .data(
                "mutation($i: CreateScheduleInput!) { createSchedule(input: $i) { id } }",
                json!({ "i": {
                    "name": "Primary",
                    "serviceId": service,
                    "rotation": rotation,
                    "escalationPolicy": { "initialTimeoutMs": initial_timeout_ms, "escalationLevels": levels },
                }}),
            )
            .await;
        data["createSchedule"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Alice on call for the next day; bob and carol as levels 1 and 2 with the given timeouts.
    pub async fn team(&self, initial_ms: i64, level_ms: i64) -> Team {
        let alice = self.create_user("Alice").await;
        let bob = self.create_user("Bob").await;
        let carol = self.create_user("Carol").await;
        let service = self.create_service("Payments").await;
        let now = Utc::now();
        let schedule = self
            .create_schedule(
                &service,
                &[(&alice, now - TimeDelta::hours(1), now + TimeDelta::days(1))],
                initial_ms,
                &[(&bob, level_ms), (&carol, level_ms)],
            )
            .await;
        Team {
            alice,
            bob,
            carol,
            service,
            schedule,
        }
    }

    pub async fn trigger(&self, schedule: &str, title: &str) -> Value {
        self.trigger_with(json!({ "title": title, "scheduleId": schedule, "severity": "HIGH" }))
            .await
    }

    /// Triggers an incident and returns its id.
    pub async fn trigger_id(&self, schedule: &str, title: &str) -> String {
        let incident = self.trigger(schedule, title).await;
        incident["id"].as_str().expect("an incident id").to_owned()
    }

    /// Subscribes to every incident event over graphql-transport-ws.
    pub async fn events(&self) -> Subscriber {
        self.subscribe(Protocol::TransportWs, EVENTS, json!({}))
            .await
    }

    pub async fn trigger_with(&self, input: Value) -> Value {
        let data = self
            .data(
                &format!(
                    "mutation($i: TriggerIncidentInput!) {{ triggerIncident(input: $i) {{ {INCIDENT} }} }}"
                ),
                json!({ "i": input }),
            )
            .await;
        data["triggerIncident"].clone()
    }

    /// Runs `acknowledgeIncident` / `resolveIncident` / `escalateIncident`; returns the body.
    pub async fn act(&self, mutation: &str, id: &str) -> Value {
        self.gql(
            &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ {INCIDENT} }} }}"),
            json!({ "id": id }),
        )
        .await
    }

    pub async fn incident(&self, id: &str) -> Value {
        let data = self
            .data(
                &format!("query($id: ID!) {{ incident(id: $id) {{ {INCIDENT} }} }}"),
                json!({ "id": id }),
            )
            .await;
        data["incident"].clone()
    }

    /// Entity counts, to check that refused input changed nothing.
    pub async fn counts(&self) -> Value {
        self.data(
            "{ users { id name email phone } services { id name description } schedules { id name rotation { startTime } escalationPolicy { initialTimeoutMs escalationLevels { timeoutMs } } } incidents { totalCount nodes { id state escalationLevel alertCount } } }",
            json!({}),
        )
        .await
    }

    /// Subscribes, and waits until the server has registered the subscription, so no
    /// event published after this returns can be missed.
    pub async fn subscribe(&self, protocol: Protocol, query: &str, variables: Value) -> Subscriber {
        let before = self.subscribers().await;
        let subscriber = Subscriber::connect(self.addr, protocol, query, variables).await;
        for _ in 0..200 {
            if self.subscribers().await > before {
                return subscriber;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A refused subscription never registers; the caller checks its error.
        subscriber
    }

    async fn subscribers(&self) -> u64 {
        self.health().await["subscribers"].as_u64().unwrap_or(0)
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Value {
        self.http
            .get(self.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server stops within 10 s")
                .expect("server task")
                .expect("server result");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The incident fields the tests read.
pub const INCIDENT: &str = "id title state severity escalationLevel alertCount dedupKey triggeredAt acknowledgedAt resolvedAt nextEscalationAt canEscalate assignedTo { id name } service { id } schedule { id } escalationHistory { fromLevel toLevel reason at to { id } } notifications { id user { id } channel reason delivered at }";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// graphql-transport-ws (the `graphql-ws` npm library).
    TransportWs,
    /// The legacy subscriptions-transport-ws protocol, named `graphql-ws`.
    LegacyGraphqlWs,
}

pub struct Subscriber {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: Protocol,
}

impl Subscriber {
    pub async fn connect(
        addr: SocketAddr,
        protocol: Protocol,
        query: &str,
        variables: Value,
    ) -> Subscriber {
        let mut sub = Self::open(addr, protocol)
            .await
            .expect("websocket connects");
        sub.start("1", query, variables).await;
        sub
    }

    /// Opens and initialises a connection without subscribing.
    pub async fn open(addr: SocketAddr, protocol: Protocol) -> Result<Subscriber, String> {
        let mut request = format!("ws://{addr}/graphql/ws")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        let name = match protocol {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyGraphqlWs => "graphql-ws",
        };
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", name.parse().expect("header"));
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| e.to_string())?;
        let mut sub = Subscriber { ws, protocol };
        sub.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {ADMIN_TOKEN}") } }))
            .await;
        let ack = sub.next_message(Duration::from_secs(5)).await.expect("ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        Ok(sub)
    }

    pub async fn start(&mut self, id: &str, query: &str, variables: Value) {
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::LegacyGraphqlWs => "start",
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }))
            .await;
    }

    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// Sends a graphql-transport-ws `ping` and waits for its `pong`: every message sent
    /// before it has been read by then. Fails on any other message.
    pub async fn ping_pong(&mut self) {
        self.send(json!({ "type": "ping" })).await;
        let message = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
            .await
            .expect("a pong in time")
            .expect("open")
            .expect("a message");
        let Message::Text(text) = message else {
            panic!("expected a pong, got {message:?}");
        };
        let value: Value = serde_json::from_str(text.as_str()).expect("json");
        assert_eq!(value["type"], "pong", "{value}");
    }

    /// The next protocol message (skipping keep-alives), or None on timeout / close.
    pub async fn next_message(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match message.ok()? {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(text.as_str()).ok()?;
                    if value["type"] == "ka" || value["type"] == "ping" || value["type"] == "pong" {
                        continue;
                    }
                    return Some(value);
                }
                Message::Close(frame) => {
                    return Some(
                        json!({ "type": "__closed", "code": frame.map(|f| u16::from(f.code)) }),
                    );
                }
                _ => continue,
            }
        }
    }

    /// The next data payload (`next` / `data`), failing on anything else.
    pub async fn next_data(&mut self, wait: Duration) -> Value {
        let message = self
            .next_message(wait)
            .await
            .expect("a subscription message in time");
        let expected = match self.protocol {
            Protocol::TransportWs => "next",
            Protocol::LegacyGraphqlWs => "data",
        };
        assert_eq!(message["type"], expected, "{message}");
        message["payload"].clone()
    }

    /// The next incident event from `incidentEvents`.
    pub async fn next_event(&mut self) -> Value {
        let payload = self.next_data(Duration::from_secs(5)).await;
        assert!(payload.get("errors").is_none(), "{payload}");
        payload["data"]["incidentEvents"].clone()
    }

    /// Asserts nothing arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(message) = self.next_message(wait).await {
            panic!("expected no message, got {message}");
        }
    }
}

pub const EVENTS: &str = "subscription($service: ID, $schedule: ID) { incidentEvents(serviceId: $service, scheduleId: $schedule) { kind at incident { id state escalationLevel alertCount assignedTo { id } } } }";

pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

/// Klaxon itself as the caller, for tests that drive the store directly.
pub fn sys() -> klaxon::domain::Principal {
    klaxon::domain::Principal::system()
}

/// Valid fields for a new responder.
pub fn fields(name: &str, email: &str) -> klaxon::domain::user::UserFields {
    klaxon::domain::user::UserFields::parse(name, email, None, klaxon::domain::Role::Responder)
        .expect("valid user fields")
}

/// The executable schema over `store`, for tests that run documents without HTTP.
pub fn schema_for(store: &klaxon::store::Store) -> klaxon::graphql::KlaxonSchema {
    let gate = klaxon::auth::Gate::new(
        store.clone(),
        None,
        klaxon::auth::SessionPolicy::default(),
        klaxon::auth::LoginQuota::default(),
    );
    klaxon::graphql::build_schema(
        gate,
        klaxon::graphql::PublicUrl("http://klaxon.test".into()),
        klaxon::graphql::QueryLimits::default(),
    )
}

/// A store with one schedule (one responder on call); returns the schedule's id.
pub async fn one_schedule(store: &klaxon::store::Store) -> String {
    let user = store
        .create_user(&sys(), fields("Alice", "alice@example.com"), None)
        .await
        .unwrap();
    let service = store.create_service(&sys(), "S", None).await.unwrap();
    let now = store.clock().now();
    store
        .create_schedule(
            &sys(),
            klaxon::store::ScheduleDraft {
                name: "P".into(),
                service_id: service.id.to_string(),
                time_zone: None,
                rotations: vec![],
                rotation: vec![klaxon::domain::schedule::RotationInput {
                    user_id: user.id.to_string(),
                    start: now,
                    end: now + chrono::Duration::hours(1),
                }],
                escalation_policy: klaxon::domain::schedule::PolicyInput {
                    initial_timeout_ms: 60_000,
                    levels: vec![],
                    repeat: 0,
                    acknowledge_timeout_ms: None,
                },
            },
        )
        .await
        .unwrap()
        .id
        .to_string()
}
