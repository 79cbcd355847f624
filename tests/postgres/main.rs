//! More than one machine, end to end: real `klaxon serve` processes on one real PostgreSQL
//! database (`--database-url`), talking GraphQL over HTTP and WebSocket, killed with
//! SIGKILL, and a database that is missing or goes away.
//!
//! `cluster.rs` starts a throwaway PostgreSQL (Debian's `postgresql` package; `scripts/test.sh`
//! installs it when run as root). Without it these tests fail, unless
//! `KLAXON_SKIP_POSTGRES=1`, which skips them with a note. The tests share one cluster, a
//! database each; the one that stops the database has a cluster of its own.
//!
//! `cargo test --release --test postgres`

mod cluster;
mod retention;

use std::collections::HashSet;
use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use cluster::Cluster;

const BIN: &str = env!("CARGO_BIN_EXE_klaxon");

/// The `KLAXON_ADMIN_TOKEN` the servers here are started with.
const ADMIN_TOKEN: &str = "postgres-admin-token-0123456789abcdef";

/// The contract: a change answered by one process is readable through every other, and
/// published to their subscribers, within a second.
const PROPAGATION: Duration = Duration::from_secs(1);
/// The contract: when the engine holder dies, another takes over within 5 s.
const TAKEOVER: Duration = Duration::from_secs(5);
/// How long processes may take to agree once pages have been delivered (deliveries are
/// recorded a moment after the change that decided them).
const SETTLE: Duration = Duration::from_secs(3);
/// How long a process may take to print its ready line.
const READY: Duration = Duration::from_secs(30);
/// How long a process may take to elect its first engine holder at start.
const ELECTION: Duration = Duration::from_secs(5);
/// How long a process may take to work again once its database is back.
const RECOVERY: Duration = Duration::from_secs(12);

// ---- processes ---------------------------------------------------------------------------

/// A running `klaxon serve`; derefs to its [`Api`]. Prints its log if the test fails.
struct Server {
    name: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    api: Api,
}

/// How a process is given its database.
#[derive(Clone, Copy)]
enum Via {
    /// `--database-url URL`
    Flag,
    /// `KLAXON_DATABASE_URL=URL`
    Env,
}

/// A process started but not yet known to be ready.
struct Starting {
    name: String,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Receiver<String>,
}

/// Starts `klaxon serve` on `database_url`; [`Starting::ready`] waits for it.
fn spawn(name: &str, database_url: &str, via: Via) -> Starting {
    spawn_with(name, database_url, via, &[])
}

/// [`spawn`] with more command-line arguments.
fn spawn_with(name: &str, database_url: &str, via: Via, extra: &[&str]) -> Starting {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra);
    match via {
        Via::Flag => {
            command
                .args(["--database-url", database_url])
                .env_remove("KLAXON_DATABASE_URL");
        }
        Via::Env => {
            command.env("KLAXON_DATABASE_URL", database_url);
        }
    }
    let mut child = command
        .env("RUST_LOG", "info")
        .env("KLAXON_ADMIN_TOKEN", ADMIN_TOKEN)
        // Every page sent on its own (no bundling), so deliveries settle quickly.
        .env("KLAXON_PAGES_PER_MINUTE", "100000")
        .env_remove("KLAXON_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn klaxon");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, ready) = mpsc::channel();
    drain(
        child.stdout.take().expect("stdout"),
        "",
        &logs,
        Some(ready_tx),
    );
    drain(
        child.stderr.take().expect("stderr"),
        "stderr: ",
        &logs,
        None,
    );
    Starting {
        name: name.to_owned(),
        child,
        logs,
        ready,
    }
}

/// Reads a process's output for its whole life (so it never blocks on a full pipe) into
/// `logs`; sends the URL of the ready line on `ready`.
fn drain(
    from: impl Read + Send + 'static,
    prefix: &'static str,
    logs: &Arc<Mutex<Vec<String>>>,
    ready: Option<mpsc::Sender<String>>,
) {
    let logs = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if let (Some(ready), Some(url)) = (&ready, line.strip_prefix("klaxon listening on ")) {
                let _ = ready.send(url.trim().to_owned());
            }
            logs.lock().unwrap().push(format!("{prefix}{line}"));
        }
    });
}

impl Starting {
    /// Waits for the ready line; panics with the process's output if it does not come.
    fn ready(mut self) -> Server {
        match self.ready.recv_timeout(READY) {
            Ok(url) => Server {
                name: self.name,
                child: self.child,
                logs: self.logs,
                api: Api::new(url),
            },
            Err(_) => {
                let _ = self.child.kill();
                let status = self.child.wait().expect("wait");
                // Let the readers take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "{} did not start within {READY:?} ({status}):\n{}",
                    self.name,
                    self.logs.lock().unwrap().join("\n")
                );
            }
        }
    }
}

/// Starts processes together (as a deployment would) and waits until each is ready.
fn start_all(names: &[&str], database_url: &str) -> Vec<Server> {
    let starting: Vec<Starting> = names
        .iter()
        .map(|name| spawn(name, database_url, Via::Flag))
        .collect();
    starting.into_iter().map(Starting::ready).collect()
}

fn start(name: &str, database_url: &str) -> Server {
    spawn(name, database_url, Via::Flag).ready()
}

impl Server {
    /// SIGKILL: no shutdown path runs. The log stays, for a failure report.
    fn kill(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- log of {} ----\n{}", self.name, self.logs());
        }
    }
}

/// How a process ended when run to completion.
struct Exit {
    /// `None`: still running at the limit (then killed).
    status: Option<ExitStatus>,
    took: Duration,
    stdout: String,
    stderr: String,
}

impl Exit {
    /// Everything about the run, for assertion messages.
    fn report(&self) -> String {
        format!(
            "after {:?}, {:?}\nstdout:\n{}\nstderr:\n{}",
            self.took, self.status, self.stdout, self.stderr
        )
    }

    /// Asserts that `serve` refused to start: exited non-zero within 15 s without ever
    /// listening. Returns the report.
    fn assert_refused(&self, what: &str) -> String {
        let report = self.report();
        let status = self
            .status
            .unwrap_or_else(|| panic!("still running after 20 s ({what}): {report}"));
        assert!(!status.success(), "exited 0 ({what}): {report}");
        assert!(
            self.took <= Duration::from_secs(15),
            "too slow ({what}): {report}"
        );
        assert!(
            !self.stdout.contains("klaxon listening"),
            "it served ({what}): {report}"
        );
        report
    }
}

/// Runs `klaxon ARGS` until it exits or `limit` passes.
fn run_to_exit(args: &[&str], limit: Duration) -> Exit {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .env("KLAXON_ADMIN_TOKEN", ADMIN_TOKEN)
        .env_remove("KLAXON_DATABASE_URL")
        .env_remove("KLAXON_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn klaxon");
    let out = Arc::new(Mutex::new(Vec::new()));
    let err = Arc::new(Mutex::new(Vec::new()));
    drain(child.stdout.take().expect("stdout"), "", &out, None);
    drain(child.stderr.take().expect("stderr"), "", &err, None);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let text = |lines: &Arc<Mutex<Vec<String>>>| lines.lock().unwrap().join("\n");
    Exit {
        status,
        took,
        stdout: text(&out),
        stderr: text(&err),
    }
}

// ---- the API -----------------------------------------------------------------------------

/// A GraphQL client for one process: cheap to clone into concurrent tasks.
#[derive(Clone)]
struct Api {
    url: String,
    http: reqwest::Client,
}

/// Three users, a service and a schedule with `alice` on call now; its policy pages
/// `bob`, then `carol`.
struct Team {
    alice: String,
    bob: String,
    carol: String,
    service: String,
    schedule: String,
}

/// The incident fields the tests compare across processes.
const INCIDENT: &str = "id title state escalationLevel triggeredAt acknowledgedAt resolvedAt
    assignedTo { id } acknowledgedBy { kind name } resolvedBy { kind name }
    escalationHistory { fromLevel toLevel reason at to { id } }
    notifications { id user { id } reason at delivered }
    timeline { at kind message actor { kind name } user { id } note }";

impl Api {
    fn new(url: String) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .default_headers(
                [(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {ADMIN_TOKEN}").parse().unwrap(),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .unwrap();
        Api { url, http }
    }

    /// `data`, or the response's `errors` (a transport failure or a body that is not
    /// GraphQL becomes one error with code `TRANSPORT`).
    async fn try_gql(&self, query: &str, variables: Value) -> Result<Value, Value> {
        let transport =
            |e: String| json!([{ "message": e, "extensions": { "code": "TRANSPORT" } }]);
        let response = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| transport(format!("{e:?}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| transport(format!("{e:?}")))?;
        let body: Value = serde_json::from_str(&text)
            .map_err(|_| transport(format!("HTTP {status}, not JSON: {text}")))?;
        match body.get("errors") {
            Some(errors) => Err(errors.clone()),
            None => Ok(body["data"].clone()),
        }
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        self.try_gql(query, variables)
            .await
            .unwrap_or_else(|e| panic!("GraphQL failed at {}: {e}\n{query}", self.url))
    }

    /// `GET /healthz` (null if it cannot be read).
    async fn health(&self) -> Value {
        let Ok(response) = self.http.get(format!("{}/healthz", self.url)).send().await else {
            return Value::Null;
        };
        response.json().await.unwrap_or(Value::Null)
    }

    /// `/healthz`'s `engine`: does this process hold the engine?
    async fn engine(&self) -> Option<bool> {
        self.health().await["engine"].as_bool()
    }

    async fn subscribers(&self) -> u64 {
        self.health().await["subscribers"].as_u64().unwrap_or(0)
    }

    async fn create_user(&self, name: &str) -> String {
        let email = format!("{}@example.com", name.replace(' ', ".").to_lowercase());
        let data = self
            .gql(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "name": name, "email": email } }),
            )
            .await;
        data["createUser"]["id"].as_str().unwrap().to_owned()
    }

    async fn create_service(&self, name: &str) -> String {
        let data = self
            .gql(
                "mutation($i: CreateServiceInput!) { createService(input: $i) { id } }",
                json!({ "i": { "name": name } }),
            )
            .await;
        data["createService"]["id"].as_str().unwrap().to_owned()
    }

    /// A schedule on `service` with `on_call` on call now, then `levels` (user, timeout).
    async fn create_schedule(
        &self,
        service: &str,
        on_call: &str,
        initial_timeout_ms: u64,
        levels: &[(&str, u64)],
    ) -> String {
        let now = Utc::now();
        let levels: Vec<Value> = levels
            .iter()
            .map(|(user, timeout)| json!({ "userId": user, "timeoutMs": timeout }))
            .collect();
        let data = self
            .gql(
                "mutation($i: CreateScheduleInput!) { createSchedule(input: $i) { id } }",
                json!({ "i": {
                    "name": format!("Schedule {initial_timeout_ms}"),
                    "serviceId": service,
                    "rotation": [{ "userId": on_call,
                        "startTime": (now - TimeDelta::days(1)).to_rfc3339(),
                        "endTime": (now + TimeDelta::days(30)).to_rfc3339() }],
                    "escalationPolicy": { "initialTimeoutMs": initial_timeout_ms,
                        "escalationLevels": levels }
                } }),
            )
            .await;
        data["createSchedule"]["id"].as_str().unwrap().to_owned()
    }

    /// A team whose on-call responder times out after `initial_ms`, each level after
    /// `level_ms`.
    async fn team(&self, label: &str, initial_ms: u64, level_ms: u64) -> Team {
        let alice = self.create_user(&format!("Alice {label}")).await;
        let bob = self.create_user(&format!("Bob {label}")).await;
        let carol = self.create_user(&format!("Carol {label}")).await;
        let service = self.create_service(label).await;
        let schedule = self
            .create_schedule(
                &service,
                &alice,
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

    /// Triggers an incident; returns it.
    async fn trigger(&self, schedule: &str, title: &str) -> Value {
        let data = self
            .gql(
                &format!(
                    "mutation($i: TriggerIncidentInput!) {{ triggerIncident(input: $i) {{ {INCIDENT} }} }}"
                ),
                json!({ "i": { "title": title, "scheduleId": schedule, "severity": "HIGH" } }),
            )
            .await;
        data["triggerIncident"].clone()
    }

    /// `acknowledgeIncident` / `resolveIncident` / `escalateIncident`: the incident after.
    async fn act(&self, mutation: &str, id: &str) -> Result<Value, Value> {
        let query = format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ {INCIDENT} }} }}");
        let data = self.try_gql(&query, json!({ "id": id })).await?;
        Ok(data[mutation].clone())
    }

    async fn add_note(&self, id: &str, text: &str) -> Result<Value, Value> {
        let query = format!(
            "mutation($id: ID!, $t: String!) {{ addNote(incidentId: $id, text: $t) {{ {INCIDENT} }} }}"
        );
        let data = self.try_gql(&query, json!({ "id": id, "t": text })).await?;
        Ok(data["addNote"].clone())
    }

    /// The incident, or null if this process does not know it.
    async fn incident(&self, id: &str) -> Value {
        let query = format!("query($id: ID!) {{ incident(id: $id) {{ {INCIDENT} }} }}");
        self.gql(&query, json!({ "id": id })).await["incident"].clone()
    }

    async fn schedule_known(&self, id: &str) -> bool {
        !self
            .gql(
                "query($id: ID!) { schedule(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await["schedule"]
            .is_null()
    }

    /// Users, services, schedules and incidents, each list sorted by id.
    async fn everything(&self) -> Value {
        let mut all = self
            .gql(
                &format!(
                    "{{ users {{ id name email role }} services {{ id name }}
                       schedules {{ id name rotation {{ user {{ id }} }}
                         escalationPolicy {{ initialTimeoutMs escalationLevels {{ timeoutMs }} }} }}
                       incidents(first: 500) {{ totalCount nodes {{ {INCIDENT} }} }} }}"
                ),
                json!({}),
            )
            .await;
        for list in ["users", "services", "schedules"] {
            sort_by_id(&mut all[list]);
        }
        sort_by_id(&mut all["incidents"]["nodes"]);
        all
    }
}

fn sort_by_id(list: &mut Value) {
    if let Some(items) = list.as_array_mut() {
        items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    }
}

fn id_of(incident: &Value) -> String {
    incident["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no incident id in {incident}"))
        .to_owned()
}

/// The first error's `extensions.code`.
fn code(errors: &Value) -> &str {
    errors[0]["extensions"]["code"].as_str().unwrap_or("<none>")
}

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a DateTime: {value}"))
}

/// The timeline's kinds, without page deliveries (they land a moment after a change).
fn story(incident: &Value) -> Vec<String> {
    incident["timeline"]
        .as_array()
        .unwrap_or_else(|| panic!("no timeline: {incident}"))
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .filter(|k| k != "NOTIFIED" && k != "DELIVERY_FAILED")
        .collect()
}

// ---- waiting -----------------------------------------------------------------------------

/// Polls `check` until it holds or `timeout` passes.
async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Reads `read` through every process until they all answer the same; returns it.
/// Panics with every answer if they still differ after `within`.
async fn agreed<'a, F, Fut>(servers: &[&'a Server], within: Duration, read: F) -> Value
where
    F: Fn(&'a Api) -> Fut,
    Fut: Future<Output = Value>,
{
    let deadline = Instant::now() + within;
    loop {
        let mut answers = Vec::new();
        for server in servers.iter().copied() {
            answers.push(read(&server.api).await);
        }
        if answers.windows(2).all(|pair| pair[0] == pair[1]) {
            return answers.swap_remove(0);
        }
        if Instant::now() >= deadline {
            let each: Vec<String> = servers
                .iter()
                .zip(&answers)
                .map(|(server, answer)| format!("{}: {answer:#}", server.name))
                .collect();
            panic!(
                "the processes still disagree after {within:?}:\n{}",
                each.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until exactly one process reports `"engine": true`; returns its index.
async fn one_engine(servers: &[&Server], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let mut health = Vec::new();
        for server in servers {
            health.push(server.health().await);
        }
        let holders: Vec<usize> = (0..servers.len())
            .filter(|&i| health[i]["engine"] == true)
            .collect();
        if holders.len() == 1 {
            return holders[0];
        }
        if Instant::now() >= deadline {
            let each: Vec<String> = servers
                .iter()
                .zip(&health)
                .map(|(server, health)| format!("{}: {health}", server.name))
                .collect();
            panic!(
                "expected exactly one process with \"engine\": true in /healthz within {within:?}:\n{}",
                each.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `server` knows the schedule (made through another process).
async fn wait_for_schedule(server: &Server, schedule: &str) {
    let started = Instant::now();
    assert!(
        eventually(PROPAGATION, || server.schedule_known(schedule)).await,
        "{} did not see a schedule made elsewhere within {PROPAGATION:?}",
        server.name
    );
    eprintln!(
        "{} saw the schedule after {:?}",
        server.name,
        started.elapsed()
    );
}

/// Waits until `server` reads the incident in `state`.
async fn wait_for_state(server: &Server, id: &str, state: &str) {
    let seen = eventually(PROPAGATION, || async {
        server.incident(id).await["state"] == state
    })
    .await;
    assert!(
        seen,
        "{} did not read incident {id} as {state} within {PROPAGATION:?}: {}",
        server.name,
        server.incident(id).await
    );
}

/// An incident triggered at level 0 (`alice`) that escalated by its timer exactly once,
/// to level 1 (`bob`), between its deadline (`triggeredAt + timeout_ms`) and `late` after.
fn assert_escalated_once(incident: &Value, team: &Team, timeout_ms: i64, late: Duration) {
    assert_eq!(incident["state"], "TRIGGERED", "{incident:#}");
    assert_eq!(incident["escalationLevel"], 1, "{incident:#}");
    let steps = incident["escalationHistory"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "escalated more than once: {incident:#}");
    assert_eq!(steps[0]["fromLevel"], 0, "{incident:#}");
    assert_eq!(steps[0]["toLevel"], 1, "{incident:#}");
    assert_eq!(steps[0]["reason"], "TIMEOUT", "{incident:#}");
    assert_eq!(steps[0]["to"]["id"], team.bob.as_str(), "{incident:#}");
    let deadline = at(&incident["triggeredAt"]) + TimeDelta::milliseconds(timeout_ms);
    let fired = at(&steps[0]["at"]);
    assert!(
        fired >= deadline,
        "escalated {} ms before its deadline: {incident:#}",
        (deadline - fired).num_milliseconds()
    );
    assert!(
        fired - deadline <= TimeDelta::from_std(late).unwrap(),
        "escalated {} ms after its deadline (at most {late:?}): {incident:#}",
        (fired - deadline).num_milliseconds()
    );
    // One page per level: the trigger's to alice, the escalation's to bob.
    let pages = incident["notifications"].as_array().unwrap();
    let ids: HashSet<&str> = pages.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), pages.len(), "duplicate page ids: {incident:#}");
    let mut paged: Vec<(&str, &str)> = pages
        .iter()
        .map(|p| {
            (
                p["user"]["id"].as_str().unwrap(),
                p["reason"].as_str().unwrap(),
            )
        })
        .collect();
    paged.sort();
    let mut expected = vec![
        (team.alice.as_str(), "triggered"),
        (team.bob.as_str(), "escalated"),
    ];
    expected.sort();
    assert_eq!(paged, expected, "one page per level: {incident:#}");
    let escalations = story(incident)
        .iter()
        .filter(|k| k.as_str() == "ESCALATED")
        .count();
    assert_eq!(escalations, 1, "timeline: {incident:#}");
}

// ---- subscriptions -----------------------------------------------------------------------

const EVENTS: &str =
    "subscription { incidentEvents { kind at incident { id state escalationLevel } } }";

/// An `incidentEvents` subscription over graphql-transport-ws.
struct Subscriber {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Subscriber {
    /// Subscribes, and waits until the process has registered the subscription (its
    /// `/healthz` `subscribers` went up), so nothing published after this is missed.
    async fn incident_events(server: &Server) -> Subscriber {
        let before = server.subscribers().await;
        let address = server.url.replacen("http://", "ws://", 1);
        let mut request = format!("{address}/graphql/ws")
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .unwrap_or_else(|e| panic!("WebSocket to {}: {e}", server.name));
        let mut subscriber = Subscriber { ws };
        subscriber
            .send(json!({ "type": "connection_init",
                          "payload": { "authorization": format!("Bearer {ADMIN_TOKEN}") } }))
            .await;
        let ack = subscriber.next_message(Duration::from_secs(5)).await;
        assert_eq!(
            ack.as_ref().map(|a| a["type"].clone()),
            Some(json!("connection_ack")),
            "{ack:?}"
        );
        subscriber
            .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }))
            .await;
        let registered = eventually(Duration::from_secs(5), || async {
            server.subscribers().await > before
        })
        .await;
        assert!(
            registered,
            "{}: the subscription never registered",
            server.name
        );
        subscriber
    }

    async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .expect("send");
    }

    /// The next protocol message (skipping pings), or None on timeout or close.
    async fn next_message(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(text.as_str()).ok()?;
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    if value["type"] == "pong" {
                        continue;
                    }
                    return Some(value);
                }
                Message::Close(frame) => {
                    return Some(json!({ "type": "__closed", "frame": format!("{frame:?}") }));
                }
                _ => continue,
            }
        }
    }

    /// The next `incidentEvents` event, or None if none comes within `wait`. Panics on
    /// anything else (an error, a completion, a close).
    async fn next_event(&mut self, wait: Duration) -> Option<Value> {
        let message = self.next_message(wait).await?;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        Some(message["payload"]["data"]["incidentEvents"].clone())
    }
}

// ---- the tests ---------------------------------------------------------------------------

/// The harness on its own: a cluster starts, makes a database and answers psql.
#[test]
fn the_cluster_harness_starts_postgres_and_makes_databases() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("harness");
    let name = url.rsplit('/').next().unwrap();
    assert_eq!(cluster.psql(name, "SELECT 40 + 2").unwrap(), "42");
    let current = cluster.psql(name, "SELECT current_database()").unwrap();
    assert_eq!(current, name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_database_serve_the_same_state() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("shared_state");
    let a = start("A", &url);
    // B is given the database through the environment.
    let b = spawn("B", &url, Via::Env).ready();

    // Configuration made through A is readable through B within a second.
    let team = a.team("Shared", 600_000, 600_000).await;
    wait_for_schedule(&b, &team.schedule).await;
    let config = |api: &Api| {
        let api = api.clone();
        async move {
            let mut all = api.everything().await;
            all.as_object_mut().unwrap().remove("incidents");
            all
        }
    };
    let seen = agreed(&[&a, &b], PROPAGATION, config).await;
    assert_eq!(seen["users"].as_array().unwrap().len(), 3, "{seen:#}");

    // Triggered on B, acknowledged on A, resolved on B.
    let id = id_of(&b.trigger(&team.schedule, "Checkout errors").await);
    wait_for_state(&a, &id, "TRIGGERED").await;
    let acked = a.act("acknowledgeIncident", &id).await.unwrap();
    assert_eq!(acked["state"], "ACKNOWLEDGED", "{acked:#}");
    wait_for_state(&b, &id, "ACKNOWLEDGED").await;
    let resolved = b.act("resolveIncident", &id).await.unwrap();
    assert_eq!(resolved["state"], "RESOLVED", "{resolved:#}");
    wait_for_state(&a, &id, "RESOLVED").await;

    // Both tell the same story.
    let incident = agreed(&[&a, &b], SETTLE, |api| api.incident(&id)).await;
    assert_eq!(
        story(&incident),
        ["TRIGGERED", "ACKNOWLEDGED", "RESOLVED"],
        "{incident:#}"
    );
    assert!(!incident["acknowledgedAt"].is_null(), "{incident:#}");
    assert!(!incident["resolvedAt"].is_null(), "{incident:#}");
    assert_eq!(incident["notifications"].as_array().unwrap().len(), 1);
    let everything = agreed(&[&a, &b], SETTLE, |api| api.everything()).await;
    assert_eq!(everything["incidents"]["totalCount"], 1, "{everything:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_of_every_process_get_each_change_once_and_in_order() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("subscriptions");
    let a = start("A", &url);
    let b = start("B", &url);
    let team = a.team("Live", 600_000, 600_000).await;
    wait_for_schedule(&b, &team.schedule).await;
    let mut on_a = Subscriber::incident_events(&a).await;
    let mut on_b = Subscriber::incident_events(&b).await;

    // Triggered and acknowledged on A, resolved on B: both subscribers see all three.
    let incident = a.trigger(&team.schedule, "Queue backlog").await;
    let id = id_of(&incident);
    let mut expect = async |kind: &str, state: &str| {
        for (subscriber, name) in [(&mut on_b, "B"), (&mut on_a, "A")] {
            let event = subscriber.next_event(PROPAGATION).await.unwrap_or_else(|| {
                panic!("{name}'s subscriber got no {kind} event within {PROPAGATION:?}")
            });
            assert_eq!(event["kind"], kind, "{name}: {event:#}");
            assert_eq!(event["incident"]["id"], id.as_str(), "{name}: {event:#}");
            assert_eq!(event["incident"]["state"], state, "{name}: {event:#}");
        }
    };
    expect("TRIGGERED", "TRIGGERED").await;
    a.act("acknowledgeIncident", &id).await.unwrap();
    expect("ACKNOWLEDGED", "ACKNOWLEDGED").await;
    b.act("resolveIncident", &id).await.unwrap();
    expect("RESOLVED", "RESOLVED").await;

    // Nothing twice (a process must not publish a change it relays and made itself).
    for (subscriber, name) in [(&mut on_a, "A"), (&mut on_b, "B")] {
        if let Some(extra) = subscriber.next_message(Duration::from_millis(500)).await {
            panic!("{name}'s subscriber got an extra message: {extra:#}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_escalate_each_deadline_exactly_once() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("one_escalation");
    // Started together on an empty database, as a deployment would.
    let servers = start_all(&["P1", "P2", "P3"], &url);
    let all: Vec<&Server> = servers.iter().collect();
    one_engine(&all, ELECTION).await;

    const TIMEOUT_MS: i64 = 1_500;
    let team = servers[0]
        .team("Deadline", TIMEOUT_MS as u64, 600_000)
        .await;
    for server in &servers[1..] {
        wait_for_schedule(server, &team.schedule).await;
    }
    // One incident through each process: the engine holder learns of all of them.
    let mut ids = Vec::new();
    for server in &servers {
        let title = format!("Deadline via {}", server.name);
        ids.push(id_of(&server.trigger(&team.schedule, &title).await));
    }
    let escalated = eventually(
        Duration::from_millis(TIMEOUT_MS as u64) + TAKEOVER,
        || async {
            for id in &ids {
                if servers[0].incident(id).await["escalationLevel"] != 1 {
                    return false;
                }
            }
            true
        },
    )
    .await;
    assert!(
        escalated,
        "not every incident escalated within 5 s of its deadline"
    );
    // A second timer (or a second engine) would have fired by now too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for id in &ids {
        let incident = agreed(&all, SETTLE, |api| api.incident(id)).await;
        assert_escalated_once(&incident, &team, TIMEOUT_MS, Duration::from_secs(2));
    }
    one_engine(&all, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_engine_holder_is_killed_another_takes_over_and_escalates_once() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("failover");
    let mut servers = vec![start("A", &url), start("B", &url)];
    let holder = one_engine(&[&servers[0], &servers[1]], ELECTION).await;
    let mut holder = servers.remove(holder);
    let survivor = servers.remove(0);
    eprintln!("{} holds the engine", holder.name);

    const TIMEOUT_MS: i64 = 3_000;
    let team = survivor.team("Failover", TIMEOUT_MS as u64, 600_000).await;
    wait_for_schedule(&holder, &team.schedule).await;
    // Triggered through the holder, which dies right after answering: its page and its
    // escalation are the survivor's to do.
    let id = id_of(&holder.trigger(&team.schedule, "Holder dies").await);
    holder.kill();
    let killed = Instant::now();

    let took_over = eventually(TAKEOVER, || async { survivor.engine().await == Some(true) }).await;
    assert!(
        took_over,
        "{} did not take the engine within {TAKEOVER:?} of the holder's death: {}",
        survivor.name,
        survivor.health().await
    );
    eprintln!("{} took over after {:?}", survivor.name, killed.elapsed());

    let escalated = eventually(
        Duration::from_millis(TIMEOUT_MS as u64) + TAKEOVER + Duration::from_secs(1),
        || async { survivor.incident(&id).await["escalationLevel"] == 1 },
    )
    .await;
    assert!(
        escalated,
        "never escalated: {:#}",
        survivor.incident(&id).await
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let incident = survivor.incident(&id).await;
    assert_escalated_once(&incident, &team, TIMEOUT_MS, TAKEOVER);

    // No page lost: both are delivered, once each.
    let delivered = eventually(TAKEOVER, || async {
        let incident = survivor.incident(&id).await;
        let pages = incident["notifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        pages.len() == 2 && pages.iter().all(|p| p["delivered"] == true)
    })
    .await;
    let incident = survivor.incident(&id).await;
    assert!(delivered, "pages not delivered: {incident:#}");
    assert_escalated_once(&incident, &team, TIMEOUT_MS, TAKEOVER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_transitions_through_two_processes_leave_one_consistent_history() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("racing");
    let a = start("A", &url);
    let b = start("B", &url);
    let team = a.team("Racing", 600_000, 600_000).await;
    wait_for_schedule(&b, &team.schedule).await;

    const INCIDENTS: usize = 20;
    let triggers = (0..INCIDENTS).map(|i| {
        let via = if i % 2 == 0 { &a } else { &b };
        let schedule = team.schedule.clone();
        async move { id_of(&via.trigger(&schedule, &format!("Race {i}")).await) }
    });
    let ids: Vec<String> = futures_util::future::join_all(triggers).await;
    for (i, id) in ids.iter().enumerate() {
        let other = if i % 2 == 0 { &b } else { &a };
        wait_for_state(other, id, "TRIGGERED").await;
    }

    // For each incident, at once: acknowledge and a note through one process, resolve
    // through the other.
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let (one, other) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        for (kind, api) in [("ack", one), ("note", one), ("resolve", other)] {
            let api = api.api.clone();
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                let result = match kind {
                    "ack" => api.act("acknowledgeIncident", &id).await,
                    "note" => api.add_note(&id, "Racing note").await,
                    _ => api.act("resolveIncident", &id).await,
                };
                (i, kind, result)
            }));
        }
    }
    let mut acked = [false; INCIDENTS];
    let mut noted = [false; INCIDENTS];
    for task in tasks {
        let (i, kind, result) = task.await.unwrap();
        match (kind, &result) {
            ("resolve", Ok(incident)) => {
                assert_eq!(incident["state"], "RESOLVED", "resolve {i}: {incident:#}")
            }
            ("ack", Ok(incident)) => {
                assert_eq!(incident["state"], "ACKNOWLEDGED", "ack {i}: {incident:#}");
                acked[i] = true;
            }
            ("note", Ok(_)) => noted[i] = true,
            ("ack" | "note", Err(errors)) if code(errors) == "INVALID_STATE" => {}
            (_, Err(errors)) => panic!("{kind} {i}: not a domain error: {errors}"),
            _ => unreachable!(),
        }
    }
    eprintln!(
        "{} of {INCIDENTS} acknowledgements won their race",
        acked.iter().filter(|a| **a).count()
    );

    for (i, id) in ids.iter().enumerate() {
        let incident = agreed(&[&a, &b], SETTLE, |api| api.incident(id)).await;
        assert_eq!(incident["state"], "RESOLVED", "{incident:#}");
        let kinds = story(&incident);
        let count = |kind: &str| kinds.iter().filter(|k| k.as_str() == kind).count();
        assert_eq!(
            kinds.first().map(String::as_str),
            Some("TRIGGERED"),
            "{incident:#}"
        );
        assert_eq!(count("TRIGGERED"), 1, "{incident:#}");
        assert_eq!(count("RESOLVED"), 1, "{incident:#}");
        assert_eq!(count("ACKNOWLEDGED"), usize::from(acked[i]), "{incident:#}");
        assert_eq!(count("NOTE"), usize::from(noted[i]), "{incident:#}");
        if let Some(ack) = kinds.iter().position(|k| k == "ACKNOWLEDGED") {
            let resolved = kinds.iter().position(|k| k == "RESOLVED").unwrap();
            assert!(ack < resolved, "acknowledged after resolved: {incident:#}");
            assert!(!incident["acknowledgedAt"].is_null(), "{incident:#}");
        }
        assert!(!incident["resolvedAt"].is_null(), "{incident:#}");
        let times: Vec<DateTime<Utc>> = incident["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| at(&e["at"]))
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "timeline out of time order: {incident:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_killed_and_new_ones_started_serve_everything() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("restart");
    let mut a = start("A", &url);
    let mut b = start("B", &url);
    let team = a.team("Restart", 600_000, 600_000).await;
    wait_for_schedule(&b, &team.schedule).await;

    let open = id_of(&a.trigger(&team.schedule, "Left open").await);
    let acked = id_of(&b.trigger(&team.schedule, "Acknowledged").await);
    wait_for_state(&a, &acked, "TRIGGERED").await;
    a.act("acknowledgeIncident", &acked).await.unwrap();
    let resolved = id_of(&a.trigger(&team.schedule, "Resolved").await);
    wait_for_state(&b, &resolved, "TRIGGERED").await;
    b.act("resolveIncident", &resolved).await.unwrap();
    let noted = id_of(&b.trigger(&team.schedule, "Noted").await);
    wait_for_state(&a, &noted, "TRIGGERED").await;
    a.add_note(&noted, "Looking into it").await.unwrap();

    // Every page delivered, both processes agreeing: then both die at once.
    let delivered = eventually(SETTLE, || async {
        let all = a.everything().await;
        all["incidents"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["notifications"].as_array().unwrap())
            .all(|p| p["delivered"] == true)
    })
    .await;
    assert!(delivered, "pages not delivered: {:#}", a.everything().await);
    let before = agreed(&[&a, &b], SETTLE, |api| api.everything()).await;
    assert_eq!(before["incidents"]["totalCount"], 4, "{before:#}");
    a.kill();
    b.kill();

    let servers = start_all(&["C", "D"], &url);
    let (c, d) = (&servers[0], &servers[1]);
    let after = agreed(&[c, d], SETTLE, |api| api.everything()).await;
    assert_eq!(after, before, "not what the killed processes answered");
    let story_of = |id: &str| {
        let nodes = after["incidents"]["nodes"].as_array().unwrap();
        story(nodes.iter().find(|i| i["id"] == id).unwrap())
    };
    assert_eq!(story_of(&open), ["TRIGGERED"]);
    assert_eq!(story_of(&acked), ["TRIGGERED", "ACKNOWLEDGED"]);
    assert_eq!(story_of(&resolved), ["TRIGGERED", "RESOLVED"]);
    assert_eq!(story_of(&noted), ["TRIGGERED", "NOTE"]);
    one_engine(&[c, d], ELECTION).await;

    // New changes work, through either, and are seen by both.
    c.act("acknowledgeIncident", &open).await.unwrap();
    d.act("resolveIncident", &acked).await.unwrap();
    let user = d.create_user("After Restart").await;
    wait_for_state(d, &open, "ACKNOWLEDGED").await;
    wait_for_state(c, &acked, "RESOLVED").await;
    let known = eventually(PROPAGATION, || async {
        !c.gql(
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": user }),
        )
        .await["user"]
            .is_null()
    })
    .await;
    assert!(known, "C does not know the user made on D");
    let incident = agreed(&[c, d], SETTLE, |api| api.incident(&acked)).await;
    assert_eq!(story(&incident), ["TRIGGERED", "ACKNOWLEDGED", "RESOLVED"]);
}

/// `serve` on a database nothing answers for: exits non-zero within 15 s, naming it.
#[test]
fn serve_exits_when_the_database_cannot_be_reached_or_the_url_is_malformed() {
    let port = cluster::free_port();
    let url = format!("postgres://klaxon@127.0.0.1:{port}/klaxon");
    let exit = run_to_exit(
        &["serve", "--listen", "127.0.0.1:0", "--database-url", &url],
        Duration::from_secs(20),
    );
    let report = exit.assert_refused("no database");
    assert!(
        exit.stderr.contains(&port.to_string()),
        "stderr does not name the database (127.0.0.1:{port}): {report}"
    );
    assert!(
        exit.stderr.to_lowercase().contains("database"),
        "stderr does not say it is the database: {report}"
    );

    let exit = run_to_exit(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "notaurl",
        ],
        Duration::from_secs(20),
    );
    let report = exit.assert_refused("a malformed URL");
    let stderr = exit.stderr.to_lowercase();
    assert!(
        stderr.contains("database") || stderr.contains("url"),
        "no clear message: {report}"
    );
}

/// A password in the URL is a secret: never printed, whether the database answers or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_is_never_printed() {
    const PASSWORD: &str = "hunter2-not-for-logs";
    let port = cluster::free_port();
    let url = format!("postgres://klaxon:{PASSWORD}@127.0.0.1:{port}/klaxon");
    let exit = run_to_exit(
        &["serve", "--listen", "127.0.0.1:0", "--database-url", &url],
        Duration::from_secs(20),
    );
    assert!(
        !exit.stderr.contains(PASSWORD) && !exit.stdout.contains(PASSWORD),
        "the password was printed:\nstdout:\n{}\nstderr:\n{}",
        exit.stdout,
        exit.stderr
    );

    let Some(cluster) = cluster::shared() else {
        return;
    };
    // Trust authentication: any password is accepted, and must not show in the log.
    let url = cluster.create_database("password").replacen(
        "postgres@",
        &format!("postgres:{PASSWORD}@"),
        1,
    );
    let server = start("A", &url);
    server.create_user("Logged Nowhere").await;
    let logs = server.logs();
    assert!(
        !logs.contains(PASSWORD),
        "the password was printed:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_fails_mutations_then_recovers_without_restart() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    let url = cluster.create_database("outage");
    let server = start("A", &url);
    let team = server.team("Outage", 600_000, 600_000).await;
    let id = id_of(&server.trigger(&team.schedule, "Before the outage").await);
    server.act("acknowledgeIncident", &id).await.unwrap();
    let settled = eventually(SETTLE, || async {
        let incident = server.incident(&id).await;
        incident["notifications"][0]["delivered"] == true
    })
    .await;
    assert!(settled, "{:#}", server.incident(&id).await);
    let before = server.incident(&id).await;
    one_engine(&[&server], ELECTION).await;

    cluster.stop();
    let create = |name: &str| {
        let api = server.api.clone();
        let name = name.to_owned();
        async move {
            api.try_gql(
                "mutation($i: CreateServiceInput!) { createService(input: $i) { id } }",
                json!({ "i": { "name": name } }),
            )
            .await
        }
    };
    let asked = Instant::now();
    let errors = create("During the outage")
        .await
        .expect_err("a mutation succeeded while the database was down");
    eprintln!("refused after {:?}: {errors}", asked.elapsed());
    assert_eq!(code(&errors), "INTERNAL", "{errors:#}");
    let message = errors[0]["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "no message: {errors:#}");
    // An incident's change too (its own serialized path), and it leaves the incident be.
    let errors = server
        .act("resolveIncident", &id)
        .await
        .expect_err("an incident was resolved while the database was down");
    assert_eq!(code(&errors), "INTERNAL", "{errors:#}");

    cluster.restart();
    let restarted = Instant::now();
    let mut attempt = 0;
    let last = loop {
        attempt += 1;
        let errors = match create(&format!("After the outage {attempt}")).await {
            Ok(_) => break None,
            Err(errors) => errors,
        };
        if restarted.elapsed() > RECOVERY {
            break Some(errors);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if let Some(errors) = last {
        panic!("mutations still fail {RECOVERY:?} after the database came back: {errors:#}");
    }
    eprintln!("recovered {:?} after the restart", restarted.elapsed());

    // What was there is still there; what was refused is not.
    assert_eq!(server.incident(&id).await, before);
    let services = server.gql("{ services { name } }", json!({})).await;
    let names: Vec<&str> = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Outage"), "{names:?}");
    assert!(
        !names.contains(&"During the outage"),
        "a refused mutation left a service: {names:?}"
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("After the outage"))
            .count(),
        1,
        "{names:?}"
    );

    // The engine runs again: a new incident escalates on time.
    let took_engine = eventually(TAKEOVER, || async { server.engine().await == Some(true) }).await;
    assert!(
        took_engine,
        "no engine after the outage: {}",
        server.health().await
    );
    const TIMEOUT_MS: i64 = 1_000;
    let quick = server
        .create_schedule(
            &team.service,
            &team.alice,
            TIMEOUT_MS as u64,
            &[(&team.bob, 600_000), (&team.carol, 600_000)],
        )
        .await;
    let id = id_of(&server.trigger(&quick, "After the outage").await);
    let escalated = eventually(
        Duration::from_millis(TIMEOUT_MS as u64) + TAKEOVER,
        || async { server.incident(&id).await["escalationLevel"] == 1 },
    )
    .await;
    assert!(
        escalated,
        "never escalated: {:#}",
        server.incident(&id).await
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_escalated_once(&server.incident(&id).await, &team, TIMEOUT_MS, TAKEOVER);
}

/// What one process just made is usable through another at once, without waiting for it
/// to propagate: a process that does not know an incident or schedule yet catches up
/// with the journal before it answers "not found".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_process_just_made_is_usable_through_another_at_once() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("at_once");
    let a = start("A", &url);
    let b = start("B", &url);
    let team = a.team("At once", 600_000, 600_000).await;
    wait_for_schedule(&b, &team.schedule).await;
    // Many at a time, so the other process's fold has work queued when the second
    // request arrives: an incident triggered through one, acknowledged through the other
    // the moment the trigger is answered.
    let mut rounds = Vec::new();
    for round in 0..40 {
        let (one, other) = if round % 2 == 0 {
            (a.api.clone(), b.api.clone())
        } else {
            (b.api.clone(), a.api.clone())
        };
        let schedule = team.schedule.clone();
        rounds.push(tokio::spawn(async move {
            let incident = one.trigger(&schedule, "Right away").await;
            other
                .act("acknowledgeIncident", &id_of(&incident))
                .await
                .map(|acked| acked["state"].clone())
        }));
    }
    for (round, done) in rounds.into_iter().enumerate() {
        let state = done.await.unwrap();
        assert_eq!(
            state,
            Ok(json!("ACKNOWLEDGED")),
            "round {round}: the other process did not find the incident just triggered"
        );
    }
    // A schedule made through one process is triggered on through the other at once.
    let fresh = b.team("Fresh", 600_000, 600_000).await;
    let incident = a.trigger(&fresh.schedule, "On a new schedule").await;
    assert_eq!(incident["state"], "TRIGGERED", "{incident:#}");
}

/// Configuration changes made at the same moment through different processes queue behind
/// one cluster-wide lock: every one succeeds, and every process sees all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_configuration_changes_on_two_processes_all_succeed() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("config");
    let a = start("A", &url);
    let b = start("B", &url);
    let mut calls = Vec::new();
    for n in 0..12 {
        for (server, side) in [(&a, "a"), (&b, "b")] {
            let api = server.api.clone();
            calls.push(tokio::spawn(async move {
                api.try_gql(
                    "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                    json!({ "i": { "name": format!("User {side}{n}"), "email": format!("{side}{n}@example.com") } }),
                )
                .await
            }));
        }
    }
    for call in calls {
        let answer = call.await.unwrap();
        assert!(answer.is_ok(), "a createUser failed: {answer:?}");
    }
    let count = |api: Api| async move {
        api.gql("{ users { id } }", json!({})).await["users"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let seen = eventually(PROPAGATION, || async {
        count(a.api.clone()).await == 24 && count(b.api.clone()).await == 24
    })
    .await;
    assert!(
        seen,
        "A sees {}, B sees {}",
        count(a.api.clone()).await,
        count(b.api.clone()).await
    );
}

/// Waits until every one of `servers` reports `n` incidents retired (cuts run every
/// second with a one-second window).
async fn wait_retired(servers: &[&Server], n: u64) {
    let done = eventually(Duration::from_secs(8), || async {
        for server in servers {
            if server.health().await["incidentsRetired"] != n {
                return false;
            }
        }
        true
    })
    .await;
    assert!(done, "expected {n} retired incidents on every process");
}

/// `--hot-retention` on PostgreSQL: a resolved incident leaves the memory of every process
/// (the engine holder cuts; the others fold the cut) and is still answered through each,
/// from `klaxon_cold_incidents`; a note through either brings it back on both and the next
/// cut retires it again, note included; a process started later finds it the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_incidents_leave_every_process_and_are_still_answered() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("hot_retention");
    let retention = ["--hot-retention", "1s"];
    let a = spawn_with("A", &url, Via::Flag, &retention).ready();
    let b = spawn_with("B", &url, Via::Flag, &retention).ready();
    let retired = |api: &Api| {
        let api = api.clone();
        async move { api.health().await["incidentsRetired"].clone() }
    };

    let team = a.team("Retention", 3_600_000, 3_600_000).await;
    let old = id_of(&a.trigger(&team.schedule, "Disk full on db-1").await);
    let open = id_of(&b.trigger(&team.schedule, "CPU hot").await);
    b.act("resolveIncident", &old).await.unwrap();
    wait_retired(&[&a, &b], 1).await;

    let list = |api: &Api| {
        let api = api.clone();
        async move {
            api.gql(
                "{ incidents(first: 10) { totalCount nodes { id state title } } resolved: incidents(first: 10, state: RESOLVED) { totalCount nodes { id } } }",
                json!({}),
            )
            .await
        }
    };
    let seen = agreed(&[&a, &b], PROPAGATION, list).await;
    assert_eq!(seen["incidents"]["totalCount"], 2, "{seen:#}");
    let ids: Vec<&str> = seen["incidents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [open.as_str(), old.as_str()], "newest first: {seen:#}");
    assert_eq!(seen["resolved"]["totalCount"], 1, "{seen:#}");
    let cold = agreed(&[&a, &b], PROPAGATION, |api| api.incident(&old)).await;
    assert_eq!(cold["state"], "RESOLVED", "{cold:#}");
    assert_eq!(cold["title"], "Disk full on db-1", "{cold:#}");

    // A note through B: back in memory on both (B by the decision, A by the fold).
    b.add_note(&old, "postmortem: bigger disk").await.unwrap();
    let noted = agreed(&[&a, &b], PROPAGATION, |api| api.incident(&old)).await;
    let text = noted.to_string();
    assert!(text.contains("postmortem: bigger disk"), "{noted:#}");
    // The next cut retires it again, note included.
    wait_retired(&[&a, &b], 1).await;
    let again = agreed(&[&a, &b], PROPAGATION, |api| api.incident(&old)).await;
    assert_eq!(again, noted);

    // A process started later reads the same from the database.
    let c = spawn_with("C", &url, Via::Flag, &retention).ready();
    assert_eq!(retired(&c).await, 1);
    assert_eq!(c.incident(&old).await, noted);
    assert_eq!(agreed(&[&a, &b, &c], PROPAGATION, list).await, seen);
}

// ---- snapshots, damage, newer schemas ----------------------------------------------------

/// The engine holder stores a snapshot every `--snapshot-every` events; a process started
/// later loads it (and only the events after it), answers exactly what the journal
/// answered, and changes incidents restored from it (their basis is the snapshot's
/// position) and numbers new ones after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_stored_and_a_later_process_starts_from_it() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("snapshot");
    let mut a = spawn_with("A", &url, Via::Flag, &["--snapshot-every", "10"]).ready();
    let team = a.team("Snapshot", 600_000, 600_000).await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(id_of(
            &a.trigger(&team.schedule, &format!("Before {n}")).await,
        ));
    }
    a.act("acknowledgeIncident", &ids[0]).await.unwrap();
    a.act("resolveIncident", &ids[1]).await.unwrap();
    let stored = eventually(Duration::from_secs(15), || async {
        a.logs().contains("snapshot stored")
    })
    .await;
    assert!(stored, "no snapshot within 15 s:\n{}", a.logs());
    // One more change after the snapshot: loaded from the journal's tail.
    a.add_note(&ids[2], "After the snapshot").await.unwrap();
    let before = a.everything().await;
    a.kill();

    let b = spawn_with("B", &url, Via::Flag, &["--snapshot-every", "10"]).ready();
    let loaded = b
        .logs()
        .lines()
        .find(|l| l.contains("shared journal loaded"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        loaded.contains("snapshot") && loaded.contains("Some("),
        "B did not start from the snapshot: {loaded}\n{}",
        b.logs()
    );
    assert_eq!(b.everything().await, before, "not what A answered");
    // Incidents restored from the snapshot change like any other.
    let acked = b.act("acknowledgeIncident", &ids[3]).await.unwrap();
    assert_eq!(acked["state"], "ACKNOWLEDGED", "{acked:#}");
    let resolved = b.act("resolveIncident", &ids[0]).await.unwrap();
    assert_eq!(resolved["state"], "RESOLVED", "{resolved:#}");
    // A new incident sorts first: numbered after every restored one.
    let newest = id_of(&b.trigger(&team.schedule, "After restart").await);
    let first = b
        .gql("{ incidents(first: 1) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(first["incidents"]["nodes"][0]["id"], newest.as_str());
}

/// A journal row that fails its checksum, and a schema newer than the binary, refuse to
/// start with a message saying what is wrong; the data is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_row_or_a_newer_schema_refuses_to_start() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let url = cluster.create_database("damaged");
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut a = start("A", &url);
    a.create_user("Kept").await;
    a.kill();

    let serve = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        url.as_str(),
    ];
    cluster
        .psql(
            &name,
            "UPDATE klaxon_events SET checksum = checksum + 1 WHERE pos = 1",
        )
        .unwrap();
    let exit = run_to_exit(&serve, Duration::from_secs(20));
    exit.assert_refused("a damaged row");
    assert!(
        exit.stderr.contains("journal row 1") && exit.stderr.contains("damaged"),
        "{}",
        exit.stderr
    );
    cluster
        .psql(
            &name,
            "UPDATE klaxon_events SET checksum = checksum - 1 WHERE pos = 1",
        )
        .unwrap();

    cluster
        .psql(&name, "UPDATE klaxon_meta SET schema_version = 99")
        .unwrap();
    let exit = run_to_exit(&serve, Duration::from_secs(20));
    exit.assert_refused("a newer schema");
    assert!(
        exit.stderr.contains("version 99") && exit.stderr.contains("newer"),
        "{}",
        exit.stderr
    );
    // Nothing was overwritten: the version is still the newer one, the rows are there.
    let version = cluster
        .psql(&name, "SELECT schema_version FROM klaxon_meta")
        .unwrap();
    assert_eq!(version.trim(), "99");
    let rows = cluster
        .psql(&name, "SELECT count(*) FROM klaxon_events")
        .unwrap();
    assert_ne!(rows.trim(), "0");
}

// ---- figures (not timed tests: `scripts/bench-postgres.sh` runs them) --------------------

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// From SIGKILL of the engine holder to the first escalation fired by the new one (the
/// incident's deadline falls 150 ms after the kill), over 10 trials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: scripts/bench-postgres.sh"]
async fn measure_failover() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    let mut took = Vec::new();
    for trial in 0..10 {
        let url = cluster.create_database(&format!("failover{trial}"));
        let mut servers = vec![start("A", &url), start("B", &url)];
        let holder = one_engine(&[&servers[0], &servers[1]], ELECTION).await;
        let mut holder = servers.remove(holder);
        let survivor = servers.remove(0);
        let team = survivor.team("Failover", 150, 600_000).await;
        wait_for_schedule(&holder, &team.schedule).await;
        let id = id_of(&holder.trigger(&team.schedule, "Holder dies").await);
        holder.kill();
        let killed = Utc::now();
        let escalated = eventually(Duration::from_secs(10), || async {
            survivor.incident(&id).await["escalationLevel"] == 1
        })
        .await;
        assert!(escalated, "trial {trial}: never escalated");
        let incident = survivor.incident(&id).await;
        let fired = at(&incident["escalationHistory"][0]["at"]);
        took.push((fired - killed).num_microseconds().unwrap_or(0) as f64 / 1000.0);
    }
    took.sort_by(f64::total_cmp);
    println!(
        "failover: SIGKILL of the holder to the new holder's first escalation, 10 trials: median {:.0} ms, max {:.0} ms (each: {:?})",
        percentile(&took, 0.5),
        took[took.len() - 1],
        took.iter().map(|t| t.round() as i64).collect::<Vec<_>>()
    );
}

/// A mutation answered by process A to its event at a subscriber of process B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: scripts/bench-postgres.sh"]
async fn measure_publication() {
    let Some(cluster) = cluster::shared() else {
        return;
    };
    const ROUNDS: usize = 300;
    let url = cluster.create_database("publication");
    let a = start("A", &url);
    let b = start("B", &url);
    let team = a.team("Publication", 600_000, 600_000).await;
    let id = id_of(&a.trigger(&team.schedule, "Noted often").await);
    wait_for_state(&b, &id, "TRIGGERED").await;
    let mut subscriber = Subscriber::incident_events(&b).await;
    let mut took = Vec::with_capacity(ROUNDS);
    for n in 0..ROUNDS {
        let sent = Instant::now();
        a.add_note(&id, &format!("note {n}")).await.unwrap();
        let event = subscriber.next_event(Duration::from_secs(5)).await;
        assert!(event.is_some(), "round {n}: nothing reached B");
        took.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    println!(
        "publication: addNote sent to process A until its event reached a subscriber of process B, {ROUNDS} rounds: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&took, 0.5),
        percentile(&took, 0.99),
        took[took.len() - 1]
    );
}
