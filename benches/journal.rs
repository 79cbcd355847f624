//! Durability figures: `cargo bench --bench journal` (release). Prints, does not assert.
//!
//! 1. `triggerIncident` throughput over HTTP, 64 concurrent clients, `--in-memory` against
//!    the journal with fsync on, same process, same run.
//! 2. Start-up time with a 1,000,000-event journal, with the newest snapshot (taken 100,000
//!    events before the end: the worst case at the default cadence) and without any.
//! 3. Disk bytes per stored event for a trigger / acknowledge / resolve mix.
//!
//! `KLAXON_BENCH_SMOKE=1` runs a ~2-second version (small journal, short runs) for CI.
//! `KLAXON_BENCH_SECONDS=N` sets each throughput run's length; `KLAXON_BENCH_FSYNC_OFF=1`
//! adds an `--fsync off` run for comparison; `KLAXON_BENCH_ONLY_THROUGHPUT=1` skips part 2.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use klaxon::app::{self, Config, Storage};
use klaxon::domain::incident::Page;
use klaxon::domain::{
    EscalationLevel, EscalationPolicy, Event, Incident, IncidentChange, IncidentChangeKind,
    IncidentId, NewIncident, NotificationId, RotationEntry, Schedule, ScheduleId, Service,
    ServiceId, Severity, User, UserId,
};
use klaxon::store::Journal;
use klaxon::store::sqlite::{DB_FILE, DurableOptions, SqliteJournal};

const CLIENTS: usize = 64;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let smoke = std::env::var_os("KLAXON_BENCH_SMOKE").is_some();
    let run_for = match std::env::var("KLAXON_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seconds) => Duration::from_secs(seconds),
        None if smoke => Duration::from_millis(400),
        None => Duration::from_secs(10),
    };
    let events: u64 = if smoke { 30_000 } else { 1_000_000 };

    println!("== triggerIncident throughput, {CLIENTS} concurrent clients, {run_for:?} each");
    let memory = throughput(Storage::InMemory, run_for).await;
    println!("in-memory:         {memory:>9.0} triggers/s");
    let dir = tempfile::tempdir().expect("tempdir");
    let durable = throughput(
        Storage::Durable(DurableOptions::new(dir.path().join("data"))),
        run_for,
    )
    .await;
    println!("journal, fsync on: {durable:>9.0} triggers/s");
    if std::env::var_os("KLAXON_BENCH_FSYNC_OFF").is_some() {
        let dir = tempfile::tempdir().expect("tempdir");
        let unsafe_rate = throughput(
            Storage::Durable(DurableOptions {
                fsync: false,
                ..DurableOptions::new(dir.path().join("data"))
            }),
            run_for,
        )
        .await;
        println!("journal, fsync off: {unsafe_rate:>8.0} triggers/s (unsafe mode, for comparison)");
    }
    println!(
        "ratio:             {:>9.1} % of in-memory",
        100.0 * durable / memory
    );

    if std::env::var_os("KLAXON_BENCH_ONLY_THROUGHPUT").is_some() {
        return;
    }
    println!("== start-up with {events} journaled events (trigger/ack/resolve)");
    let dir = tempfile::tempdir().expect("tempdir");
    start_up(dir.path(), events).await;
}

/// Runs a server with `storage` and hammers `triggerIncident` for `run_for`.
async fn throughput(storage: Storage, run_for: Duration) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Every request needs a credential: the bootstrap admin token, sent by every client.
    const TOKEN: &str = "kxn_journal_bench_token_0123456789abcdef";
    let config = Config {
        storage,
        admin_token: Some(TOKEN.into()),
        ..Config::default()
    };
    let server = tokio::spawn(app::serve(
        listener,
        config,
        async move {
            let _ = stop_rx.await;
        },
        |_| {},
    ));
    let url = format!("http://{addr}/graphql");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("header"),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client");
    let gql = |query: &'static str, variables: Value| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let body: Value = http
                .post(&url)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            body
        }
    };
    // The server may still be opening its journal.
    let mut user = Value::Null;
    for _ in 0..100 {
        if let Ok(response) = http
            .post(&url)
            .json(&json!({ "query": "mutation { createUser(input: {name: \"Bench\", email: \"bench@example.com\"}) { id } }" }))
            .send()
            .await
        {
            user = response.json().await.expect("json");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let user = user["data"]["createUser"]["id"].clone();
    assert!(user.is_string(), "the bench could not create its user");
    let service = gql(
        "mutation { createService(input: {name: \"Bench\"}) { id } }",
        json!({}),
    )
    .await["data"]["createService"]["id"]
        .clone();
    let now = Utc::now();
    let schedule = gql(
        "mutation($i: CreateScheduleInput!) { createSchedule(input: $i) { id } }",
        json!({ "i": { "name": "Bench", "serviceId": service,
            "rotation": [{ "userId": user, "startTime": (now - TimeDelta::days(1)).to_rfc3339(),
                "endTime": (now + TimeDelta::days(1)).to_rfc3339() }],
            "escalationPolicy": { "initialTimeoutMs": 3_600_000, "escalationLevels": [] } } }),
    )
    .await["data"]["createSchedule"]["id"]
        .clone();

    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    // Each client is its own task, so the clients run in parallel like separate processes
    // would, instead of being multiplexed on the bench's main thread.
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let http = http.clone();
            let url = url.clone();
            let done = done.clone();
            let schedule = schedule.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < run_for {
                    let body: Value = match http
                        .post(&url)
                        .json(&json!({
                            "query": "mutation($i: TriggerIncidentInput!) { triggerIncident(input: $i) { id } }",
                            "variables": { "i": { "title": format!("c{c} n{n}"), "scheduleId": schedule, "severity": "HIGH" } },
                        }))
                        .send()
                        .await
                    {
                        Ok(response) => response.json().await.unwrap_or(Value::Null),
                        Err(_) => Value::Null,
                    };
                    if body["data"]["triggerIncident"]["id"].is_string() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    join_all(clients).await;
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let _ = server.await;
    rate
}

/// Writes a journal of `total` events (1/3 each trigger, acknowledge, resolve), snapshots it
/// 10% before the end, and times opening it with and without the snapshot.
async fn start_up(dir: &Path, total: u64) {
    let options = DurableOptions {
        // Generation only: the figures below are about reading.
        fsync: false,
        snapshot_every: 0,
        ..DurableOptions::new(dir)
    };
    let generated = Instant::now();
    let snapshot_at = total - total / 10;
    let (journal, _, _) = SqliteJournal::open(&options).expect("open");
    let mut events = Generator::new();
    let mut written = 0u64;
    let mut events_bytes = 0u64;
    let mut events_counted = 0u64;
    let mut snapshot = None;
    while written < total {
        let batch: Vec<Event> = (0..4096.min(total - written))
            .map(|_| events.next_event())
            .collect();
        join_all(batch.iter().map(|e| journal.append(e)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .expect("append");
        written += batch.len() as u64;
        if snapshot.is_none() && written >= snapshot_at {
            events_bytes = db_bytes(dir);
            events_counted = written;
            let position = journal.snapshot_now().expect("snapshot");
            snapshot = Some(position);
        }
    }
    drop(journal);
    let all_bytes = db_bytes(dir);
    println!(
        "generated in {:.1?} (snapshot at event {})",
        generated.elapsed(),
        snapshot.unwrap_or(0)
    );
    println!(
        "disk: {:.0} B/event ({events_bytes} bytes for the first {events_counted} events, before any snapshot); \
         {:.0} B/event for the whole file with its snapshot",
        events_bytes as f64 / events_counted as f64,
        all_bytes as f64 / total as f64
    );

    for use_snapshots in [true, false] {
        let options = DurableOptions {
            use_snapshots,
            ..options.clone()
        };
        let started = Instant::now();
        let (journal, state, report) = SqliteJournal::open(&options).expect("open");
        let elapsed = started.elapsed();
        println!(
            "start-up {}: {elapsed:.2?} to ready ({} incidents; snapshot {:?}, {} events replayed)",
            if use_snapshots {
                "with snapshot   "
            } else {
                "without snapshot"
            },
            state.incidents.len(),
            report.snapshot,
            report.replayed
        );
        drop(journal);
    }
}

/// The file's size after a checkpoint (the WAL folded in).
fn db_bytes(dir: &Path) -> u64 {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).expect("open");
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    std::fs::metadata(dir.join(DB_FILE))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Realistic events: one schedule with a responder and one level; incidents triggered,
/// acknowledged and resolved in turn.
struct Generator {
    config: Vec<Event>,
    schedule: Schedule,
    seq: u64,
    open: Option<(IncidentId, u8)>,
}

impl Generator {
    fn new() -> Self {
        let now = Utc::now();
        let alice = User {
            id: UserId::new(),
            name: "Alice Nguyen".into(),
            email: "alice@example.com".into(),
            phone: Some("+1 555 0100".into()),
            role: klaxon::domain::Role::Responder,
            password: None,
            deleted_at: None,
        };
        let bob = User {
            id: UserId::new(),
            name: "Bob Martins".into(),
            email: "bob@example.com".into(),
            phone: None,
            role: klaxon::domain::Role::Responder,
            password: None,
            deleted_at: None,
        };
        let service = Service {
            id: ServiceId::new(),
            name: "Checkout".into(),
            description: Some("Payments and carts".into()),
            deleted_at: None,
            maintenance_until: None,
        };
        let schedule = Schedule {
            id: ScheduleId::new(),
            name: "Checkout primary".into(),
            service_id: service.id,
            time_zone: "UTC".into(),
            rotations: Vec::new(),
            overrides: Vec::new(),
            rotation: vec![RotationEntry {
                user_id: alice.id,
                start: now - TimeDelta::days(1),
                end: now + TimeDelta::days(30),
            }],
            escalation_policy: std::sync::Arc::new(EscalationPolicy {
                initial_timeout_ms: 300_000,
                levels: vec![EscalationLevel {
                    user_id: Some(bob.id),
                    schedule_id: None,
                    timeout_ms: 600_000,
                }],
                repeat: 0,
                acknowledge_timeout_ms: None,
            }),
            calendar_key: None,
            deleted_at: None,
        };
        let config = vec![
            Event::ScheduleCreated {
                schedule: schedule.clone(),
                actor: klaxon::domain::Actor::system(),
            },
            Event::ServiceCreated {
                service,
                actor: klaxon::domain::Actor::system(),
            },
            Event::UserCreated {
                user: bob,
                actor: klaxon::domain::Actor::system(),
            },
            Event::UserCreated {
                user: alice,
                actor: klaxon::domain::Actor::system(),
            },
        ];
        Self {
            config,
            schedule,
            seq: 0,
            open: None,
        }
    }

    fn next_event(&mut self) -> Event {
        if let Some(event) = self.config.pop() {
            return event;
        }
        let now = Utc::now();
        match self.open.take() {
            None => {
                self.seq += 1;
                let new = NewIncident::parse(
                    &format!("Checkout error rate above 5% (#{})", self.seq),
                    Some("5xx ratio on /checkout over threshold for 5 minutes"),
                    Severity::High,
                    None,
                )
                .expect("valid");
                let incident = Incident::trigger(
                    IncidentId::new(),
                    self.seq,
                    new,
                    &self.schedule,
                    now,
                    Page {
                        id: NotificationId::new(),
                        channel: "log".into(),
                    },
                    &|level: &EscalationLevel| level.user_id,
                );
                self.open = Some((incident.id, 1));
                Event::Incident(IncidentChange {
                    incident_id: incident.id,
                    at: now,
                    kind: IncidentChangeKind::Triggered(Box::new(incident)),
                    actor: klaxon::domain::Actor::system(),
                })
            }
            Some((id, 1)) => {
                self.open = Some((id, 2));
                Event::Incident(IncidentChange {
                    incident_id: id,
                    at: now,
                    kind: IncidentChangeKind::Acknowledged,
                    actor: klaxon::domain::Actor::system(),
                })
            }
            Some((id, _)) => Event::Incident(IncidentChange {
                incident_id: id,
                at: now,
                kind: IncidentChangeKind::Resolved,
                actor: klaxon::domain::Actor::system(),
            }),
        }
    }
}
