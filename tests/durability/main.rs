//! Durability, end to end: the real `klaxon` binary, a real data directory, SIGKILL.
//!
//! Each test starts the binary on a temporary data directory, talks GraphQL over HTTP,
//! kills it without warning and starts it again, then checks what a client was told against
//! what came back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_klaxon");

/// A running `klaxon serve`; derefs to its [`Api`].
struct Server {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    api: Api,
}

/// A GraphQL client for one server: cheap to clone into concurrent tasks.
#[derive(Clone)]
struct Api {
    url: String,
    http: reqwest::Client,
}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// The `KLAXON_ADMIN_TOKEN` the servers here are started with.
const ADMIN_TOKEN: &str = "durability-admin-token-0123456789abcdef";

impl Server {
    fn start(dir: &Path) -> Server {
        Self::try_start(dir).unwrap_or_else(|stderr| panic!("server did not start: {stderr}"))
    }

    /// Starts with extra environment (`KLAXON_*` settings).
    fn start_with(dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::try_start_full(dir, &[], env)
            .unwrap_or_else(|stderr| panic!("server did not start: {stderr}"))
    }

    /// Starts the binary and waits for its ready line; on failure, returns its stderr.
    fn try_start(dir: &Path) -> Result<Server, String> {
        Self::try_start_with(dir, &[])
    }

    /// Like [`Server::try_start`], with more command-line arguments.
    fn try_start_with(dir: &Path, extra: &[&str]) -> Result<Server, String> {
        Self::try_start_full(dir, extra, &[])
    }

    /// Like [`Server::try_start`], with more arguments and environment.
    fn try_start_full(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("KLAXON_ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("KLAXON_FSYNC")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn klaxon");
        let stdout = child.stdout.take().expect("stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let sink = logs.clone();
        // Drains stdout for the server's whole life, so its log lines never block it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("klaxon listening on ") {
                    let _ = ready_tx.send(url.trim().to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(15)) {
            Ok(url) => Ok(Server {
                child,
                logs,
                api: Api {
                    url,
                    http: reqwest::Client::builder()
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
                        .unwrap(),
                },
            }),
            Err(_) => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("wait");
                Err(String::from_utf8_lossy(&output.stderr).to_string())
            }
        }
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Api {
    async fn try_gql(&self, query: &str, variables: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}/graphql", self.url))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        if let Some(errors) = body.get("errors") {
            return Err(errors.to_string());
        }
        Ok(body["data"].clone())
    }

    async fn gql(&self, query: &str, variables: Value) -> Value {
        self.try_gql(query, variables)
            .await
            .unwrap_or_else(|e| panic!("GraphQL failed: {e}\n{query}"))
    }

    async fn create_user(&self, name: &str) -> String {
        let data = self
            .gql(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "name": name, "email": format!("{}@example.com", name.replace(' ', ".").to_lowercase()) } }),
            )
            .await;
        data["createUser"]["id"].as_str().unwrap().to_string()
    }

    async fn create_service(&self, name: &str) -> String {
        let data = self
            .gql(
                "mutation($i: CreateServiceInput!) { createService(input: $i) { id } }",
                json!({ "i": { "name": name } }),
            )
            .await;
        data["createService"]["id"].as_str().unwrap().to_string()
    }

    /// A schedule with `on_call` on call now and one escalation level (`next`).
    async fn create_schedule(
        &self,
        service: &str,
        on_call: &str,
        next: &str,
        initial_timeout_ms: u64,
        level_timeout_ms: u64,
    ) -> String {
        let now = Utc::now();
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
                        "escalationLevels": [{ "userId": next, "timeoutMs": level_timeout_ms }] }
                } }),
            )
            .await;
        data["createSchedule"]["id"].as_str().unwrap().to_string()
    }

    async fn trigger(&self, schedule: &str, title: &str) -> Result<String, String> {
        let data = self
            .try_gql(
                "mutation($i: TriggerIncidentInput!) { triggerIncident(input: $i) { id } }",
                json!({ "i": { "title": title, "scheduleId": schedule, "severity": "HIGH" } }),
            )
            .await?;
        Ok(data["triggerIncident"]["id"].as_str().unwrap().to_string())
    }

    async fn mutate(&self, mutation: &str, id: &str) -> Result<Value, String> {
        let query = format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id state }} }}");
        self.try_gql(&query, json!({ "id": id })).await
    }

    async fn incident(&self, id: &str) -> Value {
        let data = self.gql(INCIDENT, json!({ "id": id })).await;
        data["incident"].clone()
    }

    async fn everything(&self) -> Value {
        self.gql(
            "{ users { id name email } services { id name } schedules { id name rotation { user { id } } }
               incidents(first: 500) { totalCount nodes { id state escalationLevel assignedTo { id }
                 acknowledgedAt resolvedAt alertCount
                 escalationHistory { fromLevel toLevel reason at }
                 notifications { id user { id } reason at } } } }",
            json!({}),
        )
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const INCIDENT: &str = "query($id: ID!) { incident(id: $id) { id state escalationLevel
    acknowledgedAt resolvedAt
    escalationHistory { fromLevel toLevel reason at }
    notifications { id reason at } } }";

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a DateTime: {value}"))
}

/// Polls `check` until it holds or `timeout` passes.
async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn assert_no_duplicate_pages(incident: &Value) {
    let pages = incident["notifications"].as_array().unwrap();
    let steps = incident["escalationHistory"].as_array().unwrap();
    let mut ids: Vec<&str> = pages.iter().map(|p| p["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), pages.len(), "duplicate page ids: {incident}");
    // One page at trigger, one per escalation: a repeated step would show up as an extra.
    assert_eq!(pages.len(), steps.len() + 1, "{incident}");
    let levels: Vec<u64> = steps
        .iter()
        .map(|s| s["toLevel"].as_u64().unwrap())
        .collect();
    let mut unique = levels.clone();
    unique.dedup();
    assert_eq!(unique, levels, "a step was taken twice: {incident}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_restarts_with_everything_and_resumes_escalations() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let alice = server.create_user("Alice On Call").await;
    let bob = server.create_user("Bob Backup").await;
    let service = server.create_service("Payments").await;
    let short = server
        .create_schedule(&service, &alice, &bob, 600, 600_000)
        .await;
    let shorter = server
        .create_schedule(&service, &alice, &bob, 400, 600_000)
        .await;
    let long = server
        .create_schedule(&service, &alice, &bob, 5_000, 600_000)
        .await;
    let quick = server
        .create_schedule(&service, &alice, &bob, 100, 600_000)
        .await;

    // Escalated before the crash: the step must not be taken again.
    let escalated = server.trigger(&quick, "escalated before").await.unwrap();
    // Overdue by restart: fire once, right after start, in deadline order.
    let overdue_late = server.trigger(&short, "overdue late").await.unwrap();
    let overdue_early = server.trigger(&shorter, "overdue early").await.unwrap();
    // Still pending at restart: fires at its original deadline.
    let pending = server.trigger(&long, "pending").await.unwrap();
    let acked = server.trigger(&quick, "acked").await.unwrap();
    server.mutate("acknowledgeIncident", &acked).await.unwrap();
    let resolved = server.trigger(&quick, "resolved").await.unwrap();
    server.mutate("resolveIncident", &resolved).await.unwrap();

    assert!(
        eventually(Duration::from_secs(3), || async {
            server.incident(&escalated).await["escalationLevel"] == 1
        })
        .await
    );
    let pending_deadline = at(&server.incident(&pending).await["notifications"][0]["at"])
        + TimeDelta::milliseconds(5_000);
    let before = server.everything().await;
    server.kill();

    // Down long enough for the short deadlines to pass.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let restarted_at = Utc::now();
    let server = Server::start(dir.path());

    // Overdue: escalated once, at once, earliest deadline first.
    assert!(
        eventually(Duration::from_secs(3), || async {
            server.incident(&overdue_late).await["escalationLevel"] == 1
                && server.incident(&overdue_early).await["escalationLevel"] == 1
        })
        .await,
        "overdue escalations did not fire after restart"
    );
    let early = server.incident(&overdue_early).await;
    let late = server.incident(&overdue_late).await;
    let early_at = at(&early["escalationHistory"][0]["at"]);
    let late_at = at(&late["escalationHistory"][0]["at"]);
    assert!(early_at >= restarted_at && early_at - restarted_at < TimeDelta::seconds(3));
    assert!(
        early_at <= late_at,
        "overdue escalations out of deadline order"
    );
    assert_eq!(early["escalationHistory"][0]["reason"], "TIMEOUT");

    // Everything else is as the last answered mutation left it.
    let after = server.everything().await;
    assert_eq!(after["users"], before["users"]);
    assert_eq!(after["services"], before["services"]);
    assert_eq!(after["schedules"], before["schedules"]);
    let find = |all: &Value, id: &str| -> Value {
        all["incidents"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .cloned()
            .unwrap()
    };
    for id in [&escalated, &acked, &resolved, &pending] {
        assert_eq!(find(&after, id), find(&before, id), "incident {id} changed");
    }
    assert_eq!(find(&after, &acked)["state"], "ACKNOWLEDGED");
    assert_eq!(find(&after, &resolved)["state"], "RESOLVED");

    // Pending: fires at its original deadline, not one timeout after the restart.
    assert!(
        eventually(Duration::from_secs(8), || async {
            server.incident(&pending).await["escalationLevel"] == 1
        })
        .await,
        "pending escalation never fired"
    );
    let fired = at(&server.incident(&pending).await["escalationHistory"][0]["at"]);
    let lateness = fired - pending_deadline;
    assert!(
        lateness >= TimeDelta::zero() && lateness < TimeDelta::milliseconds(1_500),
        "fired {lateness} after its original deadline"
    );

    // Nothing was taken or paged twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let last = server.everything().await;
    for incident in last["incidents"]["nodes"].as_array().unwrap() {
        assert_no_duplicate_pages(incident);
    }
    assert_eq!(find(&last, &escalated)["escalationLevel"], 1);
}

/// A pseudo-random number from the clock: no extra dependency for picking kill moments.
fn jitter(max_ms: u64) -> u64 {
    u64::from(Utc::now().timestamp_subsec_nanos()) % max_ms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_answered_mutation() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let alice = server.create_user("Alice Load").await;
    let bob = server.create_user("Bob Load").await;
    let service = server.create_service("Load").await;
    let schedule = server
        .create_schedule(&service, &alice, &bob, 600_000, 600_000)
        .await;
    let mut server = Some(server);
    // incident id → the furthest state a client was told it reached.
    let answered: Arc<Mutex<Vec<(String, &'static str)>>> = Arc::default();
    for round in 0..3 {
        let live = server.take().unwrap();
        let mut clients = Vec::new();
        for client in 0..8 {
            let live = live.api.clone();
            let answered = answered.clone();
            let schedule = schedule.clone();
            clients.push(tokio::spawn(async move {
                for n in 0..10_000 {
                    let Ok(id) = live
                        .trigger(&schedule, &format!("r{round} c{client} n{n}"))
                        .await
                    else {
                        return;
                    };
                    answered.lock().unwrap().push((id.clone(), "TRIGGERED"));
                    if live.mutate("acknowledgeIncident", &id).await.is_err() {
                        return;
                    }
                    answered.lock().unwrap().push((id.clone(), "ACKNOWLEDGED"));
                    if n % 2 == 0 {
                        if live.mutate("resolveIncident", &id).await.is_err() {
                            return;
                        }
                        answered.lock().unwrap().push((id, "RESOLVED"));
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + jitter(700))).await;
        // SIGKILL while the clients are mid-flight.
        live.kill();
        for client in clients {
            let _ = client.await;
        }
        let restarted = Server::start(dir.path());
        let all = restarted
            .gql("{ incidents(first: 500) { totalCount } }", json!({}))
            .await;
        let total = all["incidents"]["totalCount"].as_u64().unwrap();
        let told = answered.lock().unwrap().clone();
        assert!(
            !told.is_empty(),
            "no mutation was answered in round {round}"
        );
        for (id, state) in &told {
            let incident = restarted.incident(id).await;
            assert!(
                !incident.is_null(),
                "round {round}: answered incident {id} is gone ({total} present)"
            );
            let rank = |s: &str| match s {
                "TRIGGERED" => 0,
                "ACKNOWLEDGED" => 1,
                _ => 2,
            };
            let now = incident["state"].as_str().unwrap();
            assert!(
                rank(now) >= rank(state),
                "round {round}: {id} was answered {state} but came back {now}"
            );
            // Whole, never half-applied.
            match now {
                "ACKNOWLEDGED" => assert!(!incident["acknowledgedAt"].is_null()),
                "RESOLVED" => assert!(!incident["resolvedAt"].is_null()),
                _ => {}
            }
            assert_no_duplicate_pages(&incident);
        }
        server = Some(restarted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_tokens_survive_a_restart_and_revocations_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server
        .gql(
            "mutation { createUser(input: {name: \"Alice\", email: \"alice@example.com\", role: ADMIN, password: \"correct horse battery\"}) { id } }",
            json!({}),
        )
        .await;
    let created = server
        .gql(
            "mutation { a: createApiToken(input: {name: \"kept\", role: VIEWER}) { token } b: createApiToken(input: {name: \"revoked\", role: VIEWER}) { token apiToken { id } } }",
            json!({}),
        )
        .await;
    let kept = created["a"]["token"].as_str().unwrap().to_owned();
    let revoked = created["b"]["token"].as_str().unwrap().to_owned();
    let revoked_id = created["b"]["apiToken"]["id"].as_str().unwrap().to_owned();
    server
        .gql(
            "mutation($id: ID!) { revokeApiToken(id: $id) { id } }",
            json!({ "id": revoked_id }),
        )
        .await;
    let login = reqwest::Client::new()
        .post(format!("{}/auth/login", server.url))
        .json(&json!({ "email": "alice@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    server.kill();

    let restarted = Server::start(dir.path());
    let ask = |header: (&'static str, String)| {
        let url = format!("{}/graphql", restarted.url);
        async move {
            reqwest::Client::new()
                .post(url)
                .header(header.0, header.1)
                .json(&json!({ "query": "{ me { name } access { role } }" }))
                .send()
                .await
                .unwrap()
        }
    };
    let me = ask(("cookie", cookie)).await;
    assert_eq!(me.status(), 200, "the session outlived the restart");
    let body: Value = me.json().await.unwrap();
    assert_eq!(body["data"]["me"]["name"], "Alice");
    assert_eq!(
        ask(("authorization", format!("Bearer {kept}")))
            .await
            .status(),
        200
    );
    assert_eq!(
        ask(("authorization", format!("Bearer {revoked}")))
            .await
            .status(),
        401,
        "a revoked token stays revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_dir_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path());
    let stderr = match Server::try_start(dir.path()) {
        Ok(_) => panic!("a second server started on a locked data dir"),
        Err(stderr) => stderr,
    };
    let pid = first.child.id();
    assert!(stderr.contains(&format!("process {pid}")), "{stderr}");
    assert!(stderr.contains("klaxon.lock"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_starts_as_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let copy_dir = copy.path().join("copy");
    let server = Server::start(dir.path());
    let alice = server.create_user("Alice Backup").await;
    let service = server.create_service("Backups").await;
    let schedule = server
        .create_schedule(&service, &alice, &alice, 600_000, 600_000)
        .await;
    let id = server
        .trigger(&schedule, "before the backup")
        .await
        .unwrap();
    server.mutate("acknowledgeIncident", &id).await.unwrap();
    let status = Command::new(BIN)
        .arg("backup")
        .arg(&copy_dir)
        .arg("--data-dir")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    server.trigger(&schedule, "after the backup").await.unwrap();
    server.kill();

    let restored = Server::start(&copy_dir);
    let all = restored.everything().await;
    assert_eq!(all["users"][0]["name"], "Alice Backup");
    assert_eq!(all["incidents"]["totalCount"], 1);
    assert_eq!(restored.incident(&id).await["state"], "ACKNOWLEDGED");
}

// ---- fixtures ----------------------------------------------------------------------------

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A scratch data directory holding a copy of a fixture (the server writes beside it).
fn data_dir_from(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture(name).join("klaxon.db"),
        dir.path().join("klaxon.db"),
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_written_by_format_version_1_still_loads() {
    let dir = data_dir_from("v1");
    let server = Server::start(dir.path());
    let all = server.everything().await;
    let mut names: Vec<&str> = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Ada Lovelace", "Grace Hopper", "Last Writer"]);
    assert_eq!(all["services"][0]["name"], "Ledger");
    let mut states: Vec<&str> = all["incidents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    states.sort();
    assert_eq!(states, ["ACKNOWLEDGED", "RESOLVED", "TRIGGERED"]);
}

/// `tests/fixtures/before-actors` was written by the release before actors and roles
/// existed: two users, a service, a schedule, an incident escalated by hand, acknowledged
/// and resolved, and one acknowledged. Every change replays as done by the system, users
/// as responders, and the schedule gains a calendar key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_from_before_actors_replays_with_the_system_as_actor() {
    let dir = data_dir_from("before-actors");
    let server = Server::start(dir.path());
    let body = server
        .gql(
            "{ users { name role hasPassword } schedules { calendarUrl } incidents { nodes { title state triggeredBy { kind } acknowledgedBy { kind name } resolvedBy { kind } escalationHistory { reason actor { kind name } } } } }",
            json!({}),
        )
        .await;
    let data = &body;
    for user in data["users"].as_array().unwrap() {
        assert_eq!(user["role"], "RESPONDER", "{user}");
        assert_eq!(user["hasPassword"], false);
    }
    assert!(
        data["schedules"][0]["calendarUrl"]
            .as_str()
            .unwrap()
            .contains("?key="),
        "{data}"
    );
    let incidents = data["incidents"]["nodes"].as_array().unwrap();
    let lag = incidents
        .iter()
        .find(|i| i["title"] == "Ledger lag")
        .unwrap();
    assert_eq!(lag["state"], "RESOLVED");
    assert_eq!(lag["triggeredBy"]["kind"], "SYSTEM");
    assert_eq!(lag["resolvedBy"]["kind"], "SYSTEM");
    assert_eq!(lag["escalationHistory"][0]["reason"], "MANUAL");
    assert_eq!(lag["escalationHistory"][0]["actor"]["kind"], "SYSTEM");
    let declines = incidents
        .iter()
        .find(|i| i["title"] == "Card declines")
        .unwrap();
    assert_eq!(declines["state"], "ACKNOWLEDGED");
    assert_eq!(declines["acknowledgedBy"]["kind"], "SYSTEM");
    assert_eq!(declines["acknowledgedBy"]["name"], "Klaxon");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_record_is_dropped_with_a_warning() {
    let dir = data_dir_from("torn-tail");
    let server = Server::start(dir.path());
    let all = server.everything().await;
    let names: Vec<&str> = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    // The torn record was the last user's creation; everything before it is there.
    assert!(!names.contains(&"Last Writer"), "{names:?}");
    assert!(names.contains(&"Ada Lovelace"), "{names:?}");
    assert_eq!(all["incidents"]["totalCount"], 3);
    assert!(
        eventually(Duration::from_secs(2), || async {
            server
                .logs()
                .contains("dropping a torn last journal record")
        })
        .await,
        "no warning in:\n{}",
        server.logs()
    );
}

#[test]
fn a_damaged_middle_record_stops_start_up_naming_file_and_position() {
    let dir = data_dir_from("corrupt-middle");
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("klaxon.db"), "{stderr}");
    assert!(stderr.contains("journal record"), "{stderr}");
    assert!(stderr.contains("is damaged"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("klaxon listening"),
        "it served a partial state"
    );
}

/// Regenerates `tests/fixtures/` with this build (run when adding a new format version:
/// keep the old directories, add new ones).
/// `cargo test --test durability -- --ignored write_fixtures`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn write_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let ada = server.create_user("Ada Lovelace").await;
    let grace = server.create_user("Grace Hopper").await;
    let service = server.create_service("Ledger").await;
    let week = 7 * 24 * 3_600_000;
    let schedule = server
        .create_schedule(&service, &ada, &grace, week, week)
        .await;
    let resolved = server
        .trigger(&schedule, "Card declines spike")
        .await
        .unwrap();
    server.mutate("resolveIncident", &resolved).await.unwrap();
    let acked = server.trigger(&schedule, "Ledger lag").await.unwrap();
    server.mutate("acknowledgeIncident", &acked).await.unwrap();
    server.trigger(&schedule, "Webhook backlog").await.unwrap();
    // Let page deliveries land, so the user below is the very last record.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.create_user("Last Writer").await;

    let root = fixture("");
    for name in ["v1", "torn-tail", "corrupt-middle"] {
        let _ = std::fs::remove_dir_all(root.join(name));
        let status = Command::new(BIN)
            .arg("backup")
            .arg(root.join(name))
            .arg("--data-dir")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
    server.kill();
    let damage = |name: &str, sql: &str| {
        let conn = rusqlite::Connection::open(root.join(name).join("klaxon.db")).unwrap();
        conn.execute_batch(sql).unwrap();
        conn.execute_batch("VACUUM;").unwrap();
    };
    damage(
        "torn-tail",
        "UPDATE events SET payload = substr(payload, 1, length(payload) / 2)
         WHERE seq = (SELECT MAX(seq) FROM events);",
    );
    damage(
        "corrupt-middle",
        "UPDATE events SET payload = substr(payload, 1, 10) || x'00ff' || substr(payload, 13)
         WHERE seq = (SELECT MAX(seq) / 2 FROM events);",
    );
}

/// A page decided while its contact method's endpoint is down survives a SIGKILL: the
/// restarted server sends it once the endpoint is back, and the incident still lists it
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_to_an_endpoint_that_is_down_arrives_after_a_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("KLAXON_PAGE_ATTEMPTS", "20"),
        ("KLAXON_PAGE_RETRY_MS", "200"),
    ];
    let server = Server::start_with(dir.path(), &env);
    let alice = server.create_user("Page Alice").await;
    let bob = server.create_user("Page Bob").await;
    let service = server.create_service("Paging").await;
    let schedule = server
        .create_schedule(&service, &alice, &bob, 3_600_000, 3_600_000)
        .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = server
        .gql(
            "mutation($i: AddContactMethodInput!) { addContactMethod(input: $i) { id } }",
            json!({ "i": { "userId": alice, "kind": "WEBHOOK", "name": "Pager",
                           "target": format!("http://127.0.0.1:{port}/hook") } }),
        )
        .await;
    let method = data["addContactMethod"]["id"].clone();
    server
        .gql(
            "mutation($i: AddNotificationRuleInput!) { addNotificationRule(input: $i) { id } }",
            json!({ "i": { "userId": alice, "contactMethodId": method, "delayMs": 0 } }),
        )
        .await;
    let id = server
        .trigger(&schedule, "Paged through a crash")
        .await
        .unwrap();
    // The endpoint refuses connections for a while; the page keeps retrying.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pending = server.incident(&id).await;
    assert_eq!(
        pending["notifications"].as_array().unwrap().len(),
        1,
        "{pending}"
    );
    server.kill();

    // The endpoint comes back, then the server.
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    sink.lock().unwrap().push(value);
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let server = Server::start_with(dir.path(), &env);
    let arrived = eventually(Duration::from_secs(15), || {
        let received = received.clone();
        let id = id.clone();
        async move {
            received
                .lock()
                .unwrap()
                .iter()
                .any(|e| e["event"]["incident"]["id"] == id.as_str())
        }
    })
    .await;
    assert!(arrived, "the page never arrived: {}", server.logs());
    let sent = eventually(Duration::from_secs(10), || {
        let server = &server;
        let id = id.clone();
        async move {
            let data = server
                .gql(
                    "query($id: ID!) { incident(id: $id) { notifications { status } } }",
                    json!({ "id": id }),
                )
                .await;
            data["incident"]["notifications"] == json!([{ "status": "SENT" }])
        }
    })
    .await;
    assert!(sent, "{}", server.incident(&id).await);
    assert_no_duplicate_pages(&server.incident(&id).await);
}

// ---- outbound webhooks ------------------------------------------------------------------

/// A webhook receiver that answers 503 while `down`, else 200, and keeps every request.
#[derive(Clone, Default)]
struct Receiver {
    down: Arc<std::sync::atomic::AtomicBool>,
    /// (X-Klaxon-Delivery, event type, answered status)
    got: Arc<Mutex<Vec<(String, String, u16)>>>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let me = me.clone();
                    async move {
                        let delivery = headers
                            .get("x-klaxon-delivery")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let kind = serde_json::from_slice::<Value>(&body)
                            .ok()
                            .and_then(|v| v["event"]["type"].as_str().map(str::to_owned))
                            .unwrap_or_default();
                        let status = if me.down.load(std::sync::atomic::Ordering::SeqCst) {
                            503
                        } else {
                            200
                        };
                        me.got.lock().unwrap().push((delivery, kind, status));
                        axum::http::StatusCode::from_u16(status).unwrap()
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/hook")
    }
}

const WEBHOOK_FLAGS: &[&str] = &[
    "--webhook-retry-base-ms",
    "100",
    "--webhook-retry-window-ms",
    "600000",
];

const DELIVERIES: &str = "{ webhooks { id failing deliveries { id eventType status attempts } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_survive_sigkill_and_arrive_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::default();
    receiver
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let url = receiver.start().await;

    let server = Server::try_start_with(dir.path(), WEBHOOK_FLAGS).unwrap();
    let alice = server.create_user("Alice").await;
    let bob = server.create_user("Bob").await;
    let service = server.create_service("Payments").await;
    let schedule = server
        .create_schedule(&service, &alice, &bob, 600_000, 600_000)
        .await;
    server
        .gql(
            "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id } } }",
            json!({ "i": { "url": url } }),
        )
        .await;
    let incident = server
        .trigger(&schedule, "Down while the receiver is down")
        .await
        .unwrap();
    // The trigger's delivery has been tried (and refused) at least once.
    assert!(
        eventually(Duration::from_secs(10), || async {
            let data = server.gql(DELIVERIES, json!({})).await;
            data["webhooks"][0]["deliveries"][0]["attempts"].as_i64() >= Some(1)
        })
        .await,
        "the first attempt never happened"
    );
    // The acknowledgement's delivery waits behind it; kill the server right after.
    server
        .mutate("acknowledgeIncident", &incident)
        .await
        .unwrap();
    server.kill();

    receiver
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let restarted = Server::try_start_with(dir.path(), WEBHOOK_FLAGS).unwrap();
    let seen = Arc::new(Mutex::new(Value::Null));
    let sent = eventually(Duration::from_secs(20), || {
        let api = restarted.api.clone();
        let seen = seen.clone();
        async move {
            let data = api.gql(DELIVERIES, json!({})).await;
            *seen.lock().unwrap() = data.clone();
            let deliveries = data["webhooks"][0]["deliveries"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            deliveries.len() == 2 && deliveries.iter().all(|d| d["status"] == "SENT")
        }
    })
    .await;
    let last = seen.lock().unwrap().clone();
    assert!(
        sent,
        "not delivered after the restart: {last}\n{}",
        restarted.logs()
    );
    let hook = &last["webhooks"][0];
    assert_eq!(hook["failing"], false);
    let ids: Vec<String> = hook["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    // Exactly one accepted request per event, in order, under the recorded delivery ids.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.got.lock().unwrap().clone();
    let accepted: Vec<(String, String)> = got
        .iter()
        .filter(|(_, _, status)| *status == 200)
        .map(|(id, kind, _)| (id.clone(), kind.clone()))
        .collect();
    assert_eq!(
        accepted,
        [
            (ids[0].clone(), "incident.triggered".to_owned()),
            (ids[1].clone(), "incident.acknowledged".to_owned()),
        ],
        "{got:?}"
    );
    // Every refused attempt before the kill carried the same delivery id as the one sent.
    assert!(
        got.iter()
            .filter(|(_, _, s)| *s == 503)
            .all(|(id, _, _)| *id == ids[0])
    );
}
