//! Heartbeats: a monitor checks in at its URL; silence past its interval triggers one
//! incident, the next beat resolves it. Deadlines are checked to the millisecond on paused
//! tokio time (the store and the GraphQL schema directly, no sockets, so the runtime's
//! auto-advance never jumps over an in-flight request); URLs, bad input, roles and one
//! end-to-end outage over HTTP and WebSocket on real time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use klaxon::app::{Config, Core};
use klaxon::clock::TokioClock;
use klaxon::domain::schedule::{LevelInput, PolicyInput, RotationInput};
use klaxon::domain::{Event, HeartbeatState, Principal};
use klaxon::store::{Journal, JournalError, ScheduleDraft, State, Store, codec};
use serde_json::{Value, json};

use crate::helpers::{TestApp, client_with_token, code, fields, schema_for, spawn_app, sys};

// ---- paused time: the store and the schema ---------------------------------------------

pub fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).unwrap()
}

/// A journal that keeps every event, encoded as the durable journal encodes it, so a test
/// can "restart": fold the records into a fresh state and start a new core on it.
#[derive(Default, Clone)]
pub struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

impl Journal for Recorder {
    fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), JournalError>> {
        let bytes = codec::encode_event(event).map_err(|e| JournalError(e.to_string()));
        Box::pin(async move {
            self.0.lock().unwrap().push(bytes?);
            Ok(())
        })
    }
}

impl Recorder {
    /// The state a restart replays from these records.
    pub fn replay(&self) -> State {
        let state = State::default();
        for bytes in self.0.lock().unwrap().iter() {
            state.apply(&codec::decode_event(1, bytes).unwrap());
        }
        state
    }
}

pub fn paused_config() -> Config {
    Config {
        clock: Arc::new(TokioClock::starting_at(origin())),
        ..Config::default()
    }
}

/// Alice on call for a week; Bob (level 1) and Carol (level 2) after `level_ms` each.
pub struct PausedTeam {
    pub core: Core,
    /// Its clock: a restarted core shares it, so time runs on across the restart.
    pub config: Config,
    pub journal: Recorder,
    pub schedule: String,
    pub service: String,
    pub users: [String; 3],
}

pub async fn paused_team(initial_ms: i64, level_ms: i64) -> PausedTeam {
    let journal = Recorder::default();
    let config = paused_config();
    let core = Core::start(State::default(), Arc::new(journal.clone()), &config);
    let store = &core.store;
    let mut users = Vec::new();
    for name in ["Alice", "Bob", "Carol"] {
        let email = format!("{}@example.com", name.to_lowercase());
        let user = store
            .create_user(&sys(), fields(name, &email), None)
            .await
            .unwrap();
        users.push(user.id.to_string());
    }
    let service = store.create_service(&sys(), "Backups", None).await.unwrap();
    let now = store.clock().now();
    let schedule = store
        .create_schedule(
            &sys(),
            ScheduleDraft {
                name: "Primary".into(),
                service_id: service.id.to_string(),
                time_zone: None,
                rotations: vec![],
                rotation: vec![RotationInput {
                    user_id: users[0].clone(),
                    start: now - TimeDelta::hours(1),
                    end: now + TimeDelta::days(7),
                }],
                escalation_policy: PolicyInput {
                    initial_timeout_ms: initial_ms,
                    levels: users[1..]
                        .iter()
                        .map(|u| LevelInput {
                            user_id: Some(u.clone()),
                            schedule_id: None,
                            timeout_ms: level_ms,
                        })
                        .collect(),
                    repeat: 0,
                    acknowledge_timeout_ms: None,
                },
            },
        )
        .await
        .unwrap();
    PausedTeam {
        core,
        config,
        journal,
        schedule: schedule.id.to_string(),
        service: service.id.to_string(),
        users: [users[0].clone(), users[1].clone(), users[2].clone()],
    }
}

/// Runs a GraphQL document on the schema as Klaxon itself (ADMIN); panics on errors.
pub async fn run(store: &Store, query: &str, variables: Value) -> Value {
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(Principal::system());
    let response = schema_for(store).execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    response.data.into_json().unwrap()
}

pub async fn settle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

pub async fn advance(ms: u64) {
    tokio::time::advance(Duration::from_millis(ms)).await;
    settle().await;
}

pub fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a DateTime, got {value}"))
}

const HEARTBEAT: &str = "id name intervalMs url lastBeatAt state createdAt nextDeadlineAt schedule { id } incident { id state title dedupKey triggeredAt triggeredBy { kind name } }";

async fn create(store: &Store, schedule: &str, interval_ms: i64) -> (String, String) {
    let data = run(
        store,
        &format!(
            "mutation($i: CreateHeartbeatInput!) {{ createHeartbeat(input: $i) {{ {HEARTBEAT} }} }}"
        ),
        json!({ "i": { "scheduleId": schedule, "name": "nightly backup", "intervalMs": interval_ms } }),
    )
    .await;
    let heartbeat = &data["createHeartbeat"];
    let url = heartbeat["url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap().to_owned();
    (heartbeat["id"].as_str().unwrap().to_owned(), token)
}

async fn heartbeat(store: &Store, id: &str) -> Value {
    run(
        store,
        &format!("query($id: ID!) {{ heartbeat(id: $id) {{ {HEARTBEAT} }} }}"),
        json!({ "id": id }),
    )
    .await["heartbeat"]
        .clone()
}

async fn incidents(store: &Store) -> Vec<Value> {
    run(
        store,
        "{ incidents { nodes { id title state alertCount triggeredAt resolvedAt resolvedBy { kind name } } } }",
        json!({}),
    )
    .await["incidents"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

async fn beat(store: &Store, token: &str) {
    assert!(
        store.beat(token).await.unwrap().is_some(),
        "the token beats"
    );
    settle().await;
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_that_never_beats_is_inactive_and_raises_nothing() {
    let team = paused_team(60_000, 60_000).await;
    let store = &team.core.store;
    let (id, _) = create(store, &team.schedule, 1_000).await;
    let fresh = heartbeat(store, &id).await;
    assert_eq!(fresh["state"], "INACTIVE");
    assert!(fresh["lastBeatAt"].is_null());
    assert!(fresh["nextDeadlineAt"].is_null());
    assert_eq!(fresh["intervalMs"], 1_000);
    advance(3_600_000).await;
    assert_eq!(heartbeat(store, &id).await["state"], "INACTIVE");
    assert!(incidents(store).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_missed_deadline_triggers_exactly_one_incident_at_the_deadline() {
    let team = paused_team(60_000, 60_000).await;
    let store = &team.core.store;
    let (id, token) = create(store, &team.schedule, 5_000).await;
    let schema = schema_for(store);
    let mut events = schema
        .execute_stream("subscription { incidentEvents { kind at incident { title state } } }");
    assert!(futures_util::poll!(events.next()).is_pending());

    beat(store, &token).await;
    let beaten = heartbeat(store, &id).await;
    assert_eq!(beaten["state"], "HEALTHY");
    let last = at(&beaten["lastBeatAt"]);
    assert_eq!(
        at(&beaten["nextDeadlineAt"]),
        last + TimeDelta::milliseconds(5_000)
    );

    advance(4_999).await;
    assert!(incidents(store).await.is_empty(), "not before the deadline");
    assert_eq!(heartbeat(store, &id).await["state"], "HEALTHY");
    advance(1).await;
    let missed = heartbeat(store, &id).await;
    assert_eq!(missed["state"], "UNHEALTHY");
    let incident = &missed["incident"];
    assert_eq!(incident["title"], "Heartbeat nightly backup missed");
    assert_eq!(incident["state"], "TRIGGERED");
    assert_eq!(incident["triggeredBy"]["kind"], "SYSTEM");
    assert_eq!(incident["triggeredBy"]["name"], "heartbeat nightly backup");
    assert_eq!(incident["dedupKey"], format!("heartbeat:{id}"));
    assert_eq!(
        at(&incident["triggeredAt"]),
        last + TimeDelta::milliseconds(5_000),
        "at the deadline"
    );

    advance(600_000).await;
    let all = incidents(store).await;
    assert_eq!(all.len(), 1, "not twice: {all:?}");
    assert_eq!(all[0]["alertCount"], 1);
    let event = events.next().await.unwrap().data.into_json().unwrap();
    assert_eq!(event["incidentEvents"]["kind"], "TRIGGERED");
    assert_eq!(
        event["incidentEvents"]["incident"]["title"],
        "Heartbeat nightly backup missed"
    );
    // Then only its escalations (the outage pages like any incident), no second trigger.
    while let Some(Some(next)) = futures_util::FutureExt::now_or_never(events.next()) {
        let next = next.data.into_json().unwrap();
        assert_ne!(next["incidentEvents"]["kind"], "TRIGGERED", "{next}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_next_beat_resolves_the_outage_and_a_new_silence_is_a_new_incident() {
    let team = paused_team(60_000, 60_000).await;
    let store = &team.core.store;
    let (id, token) = create(store, &team.schedule, 1_000).await;
    beat(store, &token).await;
    advance(1_000).await;
    let outage = heartbeat(store, &id).await["incident"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    advance(30_000).await;
    beat(store, &token).await;
    let back = heartbeat(store, &id).await;
    assert_eq!(back["state"], "HEALTHY");
    assert!(back["incident"].is_null());
    let all = incidents(store).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], outage.as_str());
    assert_eq!(all[0]["state"], "RESOLVED");
    assert_eq!(all[0]["resolvedBy"]["name"], "heartbeat nightly backup");

    advance(1_000).await;
    let again = heartbeat(store, &id).await;
    assert_eq!(again["state"], "UNHEALTHY");
    assert_ne!(again["incident"]["id"], outage.as_str(), "a new outage");
    assert_eq!(incidents(store).await.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn every_beat_moves_the_deadline_even_those_not_journaled() {
    let team = paused_team(60_000, 60_000).await;
    let store = &team.core.store;
    let (id, token) = create(store, &team.schedule, 1_000).await;
    beat(store, &token).await;
    let records = team.journal.0.lock().unwrap().len();
    // 50 ms later: within a tenth of the interval, so kept in memory only.
    advance(50).await;
    beat(store, &token).await;
    assert_eq!(
        team.journal.0.lock().unwrap().len(),
        records,
        "no journal write"
    );
    let view = heartbeat(store, &id).await;
    assert_eq!(
        at(&view["lastBeatAt"]),
        origin() + TimeDelta::milliseconds(50)
    );
    advance(950).await;
    assert!(
        incidents(store).await.is_empty(),
        "the first deadline is stale"
    );
    advance(49).await;
    assert!(incidents(store).await.is_empty());
    advance(1).await;
    assert_eq!(incidents(store).await.len(), 1);
    // Beating every half interval for a while keeps it healthy.
    beat(store, &token).await;
    for _ in 0..20 {
        advance(500).await;
        beat(store, &token).await;
    }
    assert_eq!(heartbeat(store, &id).await["state"], "HEALTHY");
    assert_eq!(incidents(store).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn deleting_a_heartbeat_stops_its_timer_and_its_url() {
    let team = paused_team(60_000, 60_000).await;
    let store = &team.core.store;
    let (id, token) = create(store, &team.schedule, 1_000).await;
    beat(store, &token).await;
    let deleted = run(
        store,
        "mutation($id: ID!) { deleteHeartbeat(id: $id) }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(deleted["deleteHeartbeat"], id.as_str());
    advance(60_000).await;
    assert!(incidents(store).await.is_empty());
    assert!(
        store.beat(&token).await.unwrap().is_none(),
        "the URL is gone"
    );
    let data = run(
        store,
        "query($id: ID!) { heartbeat(id: $id) { id } heartbeats { id } }",
        json!({ "id": id }),
    )
    .await;
    assert!(data["heartbeat"].is_null());
    assert_eq!(data["heartbeats"], json!([]));
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_heartbeats_their_state_and_their_deadline() {
    let team = paused_team(60_000, 60_000).await;
    let store = team.core.store.clone();
    let (healthy, healthy_token) = create(&store, &team.schedule, 10_000).await;
    let (sick, sick_token) = create(&store, &team.schedule, 1_000).await;
    let (_idle, _) = create(&store, &team.schedule, 1_000).await;
    beat(&store, &sick_token).await;
    advance(1_000).await;
    let outage = heartbeat(&store, &sick).await["incident"]["id"].clone();
    beat(&store, &healthy_token).await;
    let deadline = at(&heartbeat(&store, &healthy).await["nextDeadlineAt"]);
    advance(3_000).await;
    let before = run(
        &store,
        &format!("{{ heartbeats {{ {HEARTBEAT} }} }}"),
        json!({}),
    )
    .await;
    team.core.stop();
    drop(store);

    // The same records, folded into a fresh state, served by a new core.
    let state = team.journal.replay();
    let core = Core::start(state, Arc::new(team.journal.clone()), &team.config);
    let store = &core.store;
    let after = run(
        store,
        &format!("{{ heartbeats {{ {HEARTBEAT} }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(
        after, before,
        "heartbeats, states, beats and the outage survive"
    );
    assert_eq!(heartbeat(store, &sick).await["incident"]["id"], outage);
    assert_eq!(
        at(&heartbeat(store, &healthy).await["nextDeadlineAt"]),
        deadline
    );
    let opened = incidents(store).await.len();
    // The deadline is still armed after the restart, at the same instant.
    advance(6_999).await;
    assert_eq!(incidents(store).await.len(), opened, "not early");
    advance(1).await;
    let now = store.clock().now();
    assert_eq!(now, deadline);
    assert_eq!(heartbeat(store, &healthy).await["state"], "UNHEALTHY");
    assert_eq!(incidents(store).await.len(), opened + 1);
    // The outage from before the restart resolves on the next beat.
    beat(store, &sick_token).await;
    assert_eq!(heartbeat(store, &sick).await["state"], "HEALTHY");

    // A snapshot carries heartbeats too.
    let restored = State::default();
    for chunk in klaxon::store::sqlite::chunks_of(store.state()) {
        klaxon::store::sqlite::restore_chunk(&restored, chunk);
    }
    assert_eq!(restored.heartbeats.len(), 3);
    assert_eq!(restored.heartbeat_tokens.len(), 3);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_passed_while_the_server_was_down_fires_at_start() {
    let team = paused_team(60_000, 60_000).await;
    let store = team.core.store.clone();
    let (id, token) = create(&store, &team.schedule, 2_000).await;
    beat(&store, &token).await;
    team.core.stop();
    drop(store);
    // Down for longer than the interval: the engine is not running.
    tokio::time::advance(Duration::from_millis(10_000)).await;
    let core = Core::start(
        team.journal.replay(),
        Arc::new(team.journal.clone()),
        &team.config,
    );
    settle().await;
    let store = &core.store;
    assert_eq!(heartbeat(store, &id).await["state"], "UNHEALTHY");
    assert_eq!(incidents(store).await.len(), 1);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn a_schedule_with_heartbeats_cannot_be_deleted() {
    let team = paused_team(60_000, 60_000).await;
    let store = &team.core.store;
    let (id, _) = create(store, &team.schedule, 1_000).await;
    let err = store
        .delete_schedule(&sys(), &team.schedule)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("heartbeat"), "{err}");
    let data = run(
        store,
        "query($id: ID!) { schedule(id: $id) { heartbeats { id } } }",
        json!({ "id": team.schedule }),
    )
    .await;
    assert_eq!(data["schedule"]["heartbeats"][0]["id"], id.as_str());
    assert_eq!(
        store.heartbeat(id.parse().unwrap()).unwrap().state(),
        HeartbeatState::Inactive
    );
}

// ---- over HTTP and WebSocket, real time ------------------------------------------------

const CREATE: &str = "mutation($i: CreateHeartbeatInput!) { createHeartbeat(input: $i) { id url state intervalMs name createdAt schedule { id } } }";

pub async fn token_for(app: &TestApp, role: &str) -> reqwest::Client {
    let data = app
        .data(
            "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token } }",
            json!({ "i": { "name": format!("{role} script"), "role": role } }),
        )
        .await;
    client_with_token(data["createApiToken"]["token"].as_str().unwrap())
}

pub async fn gql_with(
    app: &TestApp,
    client: &reqwest::Client,
    query: &str,
    variables: Value,
) -> Value {
    client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn http_create(app: &TestApp, schedule: &str, interval_ms: i64) -> Value {
    app.data(
        CREATE,
        json!({ "i": { "scheduleId": schedule, "name": "cron", "intervalMs": interval_ms } }),
    )
    .await["createHeartbeat"]
        .clone()
}

#[tokio::test]
async fn the_url_beats_with_post_or_get_and_an_unknown_token_is_404() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let created = http_create(&app, &team.schedule, 60_000).await;
    assert_eq!(created["state"], "INACTIVE");
    let url = created["url"].as_str().unwrap();
    let prefix = app.url("/heartbeats/");
    assert!(url.starts_with(&prefix), "{url}");
    let token = &url[prefix.len()..];
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

    // No credential needed: the token is the secret.
    let plain = reqwest::Client::new();
    let posted = plain.post(url).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    let body: Value = posted.json().await.unwrap();
    assert_eq!(body["state"], "healthy");
    let first = app
        .data(
            "query($id: ID!) { heartbeat(id: $id) { state lastBeatAt } }",
            json!({ "id": created["id"] }),
        )
        .await;
    assert_eq!(first["heartbeat"]["state"], "HEALTHY");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let got = plain.get(url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let second = app
        .data(
            "query($id: ID!) { heartbeat(id: $id) { lastBeatAt } }",
            json!({ "id": created["id"] }),
        )
        .await;
    assert!(at(&second["heartbeat"]["lastBeatAt"]) > at(&first["heartbeat"]["lastBeatAt"]));

    let other = format!("{prefix}{}", "0".repeat(32));
    for wrong in [
        other.as_str(),
        &app.url("/heartbeats/short"),
        &app.url("/heartbeats/zz"),
    ] {
        assert_eq!(
            plain.post(wrong).send().await.unwrap().status(),
            404,
            "{wrong}"
        );
        assert_eq!(
            plain.get(wrong).send().await.unwrap().status(),
            404,
            "{wrong}"
        );
    }
    app.data(
        "mutation($id: ID!) { deleteHeartbeat(id: $id) }",
        json!({ "id": created["id"] }),
    )
    .await;
    assert_eq!(plain.post(url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn bad_heartbeat_input_is_refused_with_a_code_and_changes_nothing() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let cases = [
        (
            json!({ "scheduleId": team.schedule, "name": "x", "intervalMs": 999 }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scheduleId": team.schedule, "name": "x", "intervalMs": 0 }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scheduleId": team.schedule, "name": "x", "intervalMs": -1000 }),
            "BAD_USER_INPUT",
        ),
        // 30 days + 1 ms: over the limit.
        (
            json!({ "scheduleId": team.schedule, "name": "x", "intervalMs": 2_592_000_001i64 }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scheduleId": team.schedule, "name": "", "intervalMs": 60_000 }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scheduleId": team.schedule, "name": "   ", "intervalMs": 60_000 }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scheduleId": team.schedule, "name": "x".repeat(201), "intervalMs": 60_000 }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scheduleId": "0190a5a5-0000-7000-8000-000000000000", "name": "x", "intervalMs": 60_000 }),
            "NOT_FOUND",
        ),
        (
            json!({ "scheduleId": "nope", "name": "x", "intervalMs": 60_000 }),
            "NOT_FOUND",
        ),
    ];
    for (input, expected) in cases {
        let body = app.gql(CREATE, json!({ "i": input })).await;
        assert_eq!(code(&body), expected, "{input}: {body}");
    }
    let data = app
        .data(
            "query($id: ID!) { heartbeats { id } schedule(id: $id) { heartbeats { id } } }",
            json!({ "id": team.schedule }),
        )
        .await;
    assert_eq!(data["heartbeats"], json!([]));
    assert_eq!(data["schedule"]["heartbeats"], json!([]));
    let body = app
        .gql("mutation { deleteHeartbeat(id: \"nope\") }", json!({}))
        .await;
    assert_eq!(code(&body), "NOT_FOUND");
    // Ok at both ends of the range.
    http_create(&app, &team.schedule, 1_000).await;
    // 30 days is past a 32-bit Int of milliseconds: it goes in and comes back whole.
    let longest = http_create(&app, &team.schedule, 2_592_000_000).await;
    assert_eq!(longest["intervalMs"], 2_592_000_000i64);
    let id = longest["id"].as_str().expect("id").to_owned();
    let read = app
        .data(
            "query($id: ID!) { heartbeat(id: $id) { intervalMs } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read["heartbeat"]["intervalMs"], 2_592_000_000i64);
}

#[tokio::test]
async fn only_admins_create_and_delete_heartbeats_and_viewers_read_them() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let created = http_create(&app, &team.schedule, 60_000).await;
    for role in ["VIEWER", "RESPONDER"] {
        let client = token_for(&app, role).await;
        let body = gql_with(
            &app,
            &client,
            CREATE,
            json!({ "i": { "scheduleId": team.schedule, "name": "x", "intervalMs": 60_000 } }),
        )
        .await;
        assert_eq!(code(&body), "FORBIDDEN", "{role}: {body}");
        let body = gql_with(
            &app,
            &client,
            "mutation($id: ID!) { deleteHeartbeat(id: $id) }",
            json!({ "id": created["id"] }),
        )
        .await;
        assert_eq!(code(&body), "FORBIDDEN", "{role}: {body}");
        let body = gql_with(&app, &client, "{ heartbeats { id state url } }", json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["heartbeats"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn an_outage_over_http_is_published_then_resolved_by_the_next_beat() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let created = http_create(&app, &team.schedule, 1_000).await;
    let url = created["url"].as_str().unwrap().to_owned();
    let mut events = app.events().await;
    let plain = reqwest::Client::new();
    assert_eq!(plain.post(&url).send().await.unwrap().status(), 200);
    let triggered = events.next_event().await;
    assert_eq!(triggered["kind"], "TRIGGERED");
    assert_eq!(triggered["incident"]["state"], "TRIGGERED");
    let view = app
        .data(
            "query($id: ID!) { heartbeat(id: $id) { state lastBeatAt incident { id triggeredAt title } } }",
            json!({ "id": created["id"] }),
        )
        .await;
    let heartbeat = &view["heartbeat"];
    assert_eq!(heartbeat["state"], "UNHEALTHY");
    let late = at(&heartbeat["incident"]["triggeredAt"]) - at(&heartbeat["lastBeatAt"]);
    assert!(
        late >= TimeDelta::milliseconds(1_000) && late < TimeDelta::milliseconds(1_200),
        "triggered {late} after the last beat"
    );
    assert_eq!(plain.get(&url).send().await.unwrap().status(), 200);
    let resolved = events.next_event().await;
    assert_eq!(resolved["kind"], "RESOLVED");
    assert_eq!(resolved["incident"]["id"], heartbeat["incident"]["id"]);
    let view = app
        .data(
            "query($id: ID!) { heartbeat(id: $id) { state incident { id } } }",
            json!({ "id": created["id"] }),
        )
        .await;
    assert_eq!(view["heartbeat"]["state"], "HEALTHY");
    assert!(view["heartbeat"]["incident"].is_null());
}

#[tokio::test]
async fn a_restart_from_the_data_directory_keeps_heartbeats() {
    // The durable journal itself (SQLite, real time): records, codec and replay.
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        storage: klaxon::app::Storage::Durable(klaxon::store::sqlite::DurableOptions::new(
            dir.path(),
        )),
        ..Config::default()
    };
    let app = crate::helpers::spawn_app_with(config()).await;
    let team = app.team(60_000, 60_000).await;
    let created = http_create(&app, &team.schedule, 60_000).await;
    let url = created["url"].as_str().unwrap().to_owned();
    reqwest::Client::new().post(&url).send().await.unwrap();
    let query =
        "{ heartbeats { id name intervalMs state lastBeatAt nextDeadlineAt schedule { id } } }";
    let before = app.data(query, json!({})).await;
    app.stop().await;
    let app = crate::helpers::spawn_app_with(config()).await;
    let after = app.data(query, json!({})).await;
    assert_eq!(after, before);
    assert_eq!(after["heartbeats"][0]["state"], "HEALTHY");
    // The token still works (the URL's host is the new port; the path is the same).
    let path = &url[url.find("/heartbeats/").unwrap()..];
    let status = reqwest::Client::new()
        .post(app.url(path))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}
