//! Maintenance windows: incidents of a service in maintenance open and are recorded, but
//! nobody is paged and nothing escalates; at the end (by hand or when `until` passes) they
//! page and escalate from that instant. Timers on paused tokio time through the store and
//! the schema; validation, roles and one window over HTTP and WebSocket on real time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as TimeDelta, Utc};
use klaxon::app::Core;
use klaxon::domain::{NewIncident, Severity};
use klaxon::store::Store;
use serde_json::{Value, json};

use crate::heartbeats::{PausedTeam, advance, at, gql_with, paused_team, run, settle, token_for};
use crate::helpers::{code, iso, spawn_app, sys};

const INCIDENT: &str = "id state escalationLevel pagingHeld nextEscalationAt assignedTo { id } notifications { user { id } reason at } escalationHistory { toLevel reason at } timeline { kind message }";

async fn start(store: &Store, service: &str, until_ms: i64) -> Value {
    let until = store.clock().now() + TimeDelta::milliseconds(until_ms);
    run(
        store,
        "mutation($s: ID!, $u: DateTime!) { startMaintenance(serviceId: $s, until: $u) { id maintenanceUntil } }",
        json!({ "s": service, "u": iso(until) }),
    )
    .await["startMaintenance"]
        .clone()
}

async fn end(store: &Store, service: &str) -> Value {
    run(
        store,
        "mutation($s: ID!) { endMaintenance(serviceId: $s) { id maintenanceUntil } }",
        json!({ "s": service }),
    )
    .await["endMaintenance"]
        .clone()
}

async fn trigger(store: &Store, schedule: &str) -> String {
    let new = NewIncident::parse("db down", None, Severity::High, None).unwrap();
    let incident = store.trigger(&sys(), schedule, new).await.unwrap();
    settle().await;
    incident.id.to_string()
}

async fn incident(store: &Store, id: &str) -> Value {
    run(
        store,
        &format!("query($id: ID!) {{ incident(id: $id) {{ {INCIDENT} }} }}"),
        json!({ "id": id }),
    )
    .await["incident"]
        .clone()
}

async fn maintenance_until(store: &Store, service: &str) -> Value {
    run(
        store,
        "query($id: ID!) { service(id: $id) { maintenanceUntil } }",
        json!({ "id": service }),
    )
    .await["service"]["maintenanceUntil"]
        .clone()
}

fn pages(incident: &Value) -> usize {
    incident["notifications"].as_array().unwrap().len()
}

#[tokio::test(start_paused = true)]
async fn an_incident_in_maintenance_opens_unpaged_and_never_escalates() {
    let team = paused_team(1_000, 1_000).await;
    let store = &team.core.store;
    let started = start(store, &team.service, 600_000).await;
    let until = store.clock().now() + TimeDelta::milliseconds(600_000);
    assert_eq!(at(&started["maintenanceUntil"]), until);
    let id = trigger(store, &team.schedule).await;
    let opened = incident(store, &id).await;
    assert_eq!(opened["state"], "TRIGGERED");
    assert_eq!(opened["pagingHeld"], true);
    assert_eq!(pages(&opened), 0, "nobody paged");
    assert!(opened["nextEscalationAt"].is_null());
    assert!(
        opened["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "PAGING_HELD")
    );
    // Far past every timeout: still level 0, still unpaged.
    advance(599_999).await;
    let still = incident(store, &id).await;
    assert_eq!(still["escalationLevel"], 0);
    assert_eq!(pages(&still), 0);
    assert_eq!(still["escalationHistory"], json!([]));
}

#[tokio::test(start_paused = true)]
async fn when_until_passes_it_pages_and_escalates_after_the_timeout_from_the_end() {
    let team = paused_team(1_000, 2_000).await;
    let store = &team.core.store;
    start(store, &team.service, 10_000).await;
    let until = store.clock().now() + TimeDelta::milliseconds(10_000);
    let id = trigger(store, &team.schedule).await;
    advance(9_999).await;
    assert_eq!(pages(&incident(store, &id).await), 0);
    assert!(!maintenance_until(store, &team.service).await.is_null());
    advance(1).await;
    let released = incident(store, &id).await;
    assert_eq!(released["pagingHeld"], false);
    assert_eq!(pages(&released), 1);
    assert_eq!(
        released["notifications"][0]["user"]["id"],
        team.users[0].as_str()
    );
    assert_eq!(released["notifications"][0]["reason"], "maintenance_ended");
    assert_eq!(at(&released["notifications"][0]["at"]), until);
    assert_eq!(
        at(&released["nextEscalationAt"]),
        until + TimeDelta::milliseconds(1_000),
        "the initial timeout counts from the end"
    );
    assert!(maintenance_until(store, &team.service).await.is_null());
    advance(999).await;
    assert_eq!(incident(store, &id).await["escalationLevel"], 0);
    advance(1).await;
    let escalated = incident(store, &id).await;
    assert_eq!(escalated["escalationLevel"], 1);
    assert_eq!(escalated["assignedTo"]["id"], team.users[1].as_str());
    assert_eq!(escalated["escalationHistory"][0]["reason"], "TIMEOUT");
}

#[tokio::test(start_paused = true)]
async fn ending_early_pages_at_once() {
    let team = paused_team(1_000, 1_000).await;
    let store = &team.core.store;
    start(store, &team.service, 3_600_000).await;
    let id = trigger(store, &team.schedule).await;
    advance(5_000).await;
    let ended = end(store, &team.service).await;
    assert!(ended["maintenanceUntil"].is_null());
    settle().await;
    let now = store.clock().now();
    let released = incident(store, &id).await;
    assert_eq!(pages(&released), 1);
    assert_eq!(at(&released["notifications"][0]["at"]), now);
    assert_eq!(
        at(&released["nextEscalationAt"]),
        now + TimeDelta::milliseconds(1_000)
    );
    // Ending again is a no-op; the old `until` timer, when it comes, changes nothing.
    assert!(end(store, &team.service).await["maintenanceUntil"].is_null());
    advance(1_000).await;
    advance(1_000).await;
    advance(3_600_000).await;
    let later = incident(store, &id).await;
    assert_eq!(
        later["escalationLevel"], 2,
        "escalated normally, once per level"
    );
    assert_eq!(pages(&later), 3);
}

#[tokio::test(start_paused = true)]
async fn an_incident_open_before_maintenance_stops_escalating_then_resumes_at_the_end() {
    let team = paused_team(1_000, 1_000).await;
    let store = &team.core.store;
    let id = trigger(store, &team.schedule).await;
    assert_eq!(pages(&incident(store, &id).await), 1);
    start(store, &team.service, 60_000).await;
    advance(1_000).await;
    let held = incident(store, &id).await;
    assert_eq!(
        held["escalationLevel"], 0,
        "the timeout passed in maintenance"
    );
    assert_eq!(held["pagingHeld"], true);
    assert!(held["nextEscalationAt"].is_null());
    assert_eq!(pages(&held), 1);
    advance(59_000).await;
    let released = incident(store, &id).await;
    assert_eq!(released["escalationLevel"], 0);
    assert_eq!(
        pages(&released),
        2,
        "the current level's assignee is paged again"
    );
    assert_eq!(
        released["notifications"][1]["user"]["id"],
        team.users[0].as_str()
    );
}

#[tokio::test(start_paused = true)]
async fn acknowledge_and_resolve_work_during_maintenance_and_escalation_is_refused() {
    let team = paused_team(1_000, 1_000).await;
    let store = &team.core.store;
    start(store, &team.service, 10_000).await;
    let first = trigger(store, &team.schedule).await;
    let second = trigger(store, &team.schedule).await;
    let refused = store.escalate(&sys(), &first).await.unwrap_err();
    assert!(refused.to_string().contains("maintenance"), "{refused}");
    assert_eq!(incident(store, &first).await["escalationLevel"], 0);
    store.acknowledge(&sys(), &first).await.unwrap();
    store.resolve(&sys(), &second).await.unwrap();
    advance(10_000).await;
    let acknowledged = incident(store, &first).await;
    assert_eq!(acknowledged["state"], "ACKNOWLEDGED");
    assert_eq!(acknowledged["pagingHeld"], false);
    assert_eq!(
        pages(&acknowledged),
        0,
        "someone is on it: no page at the end"
    );
    let resolved = incident(store, &second).await;
    assert_eq!(resolved["state"], "RESOLVED");
    assert_eq!(pages(&resolved), 0);
    advance(60_000).await;
    assert_eq!(incident(store, &first).await["escalationLevel"], 0);
}

#[tokio::test(start_paused = true)]
async fn the_end_and_an_acknowledgement_at_the_same_instant_leave_one_consistent_history() {
    for ack_first in [true, false] {
        let team = paused_team(1_000, 1_000).await;
        let store = team.core.store.clone();
        start(&store, &team.service, 5_000).await;
        let id = trigger(&store, &team.schedule).await;
        advance(4_999).await;
        let person = {
            let store = store.clone();
            let id = id.clone();
            async move {
                if !ack_first {
                    settle().await;
                }
                store.acknowledge(&sys(), &id).await.unwrap();
            }
        };
        let timer = async {
            if ack_first {
                tokio::task::yield_now().await;
            }
            advance(1).await;
        };
        tokio::join!(person, timer);
        settle().await;
        let after = incident(&store, &id).await;
        assert_eq!(after["state"], "ACKNOWLEDGED");
        assert_eq!(after["pagingHeld"], false);
        assert!(after["nextEscalationAt"].is_null());
        assert!(pages(&after) <= 1, "{after}");
        advance(60_000).await;
        let later = incident(&store, &id).await;
        assert_eq!(
            later["escalationLevel"], 0,
            "nothing escalates after the ack"
        );
        assert_eq!(pages(&later), pages(&after));
        team.core.stop();
    }
}

#[tokio::test(start_paused = true)]
async fn a_missed_heartbeat_in_maintenance_opens_a_held_incident() {
    let team = paused_team(1_000, 1_000).await;
    let store = &team.core.store;
    start(store, &team.service, 60_000).await;
    let created = run(
        store,
        "mutation($i: CreateHeartbeatInput!) { createHeartbeat(input: $i) { url } }",
        json!({ "i": { "scheduleId": team.schedule, "name": "cron", "intervalMs": 1_000 } }),
    )
    .await;
    let url = created["createHeartbeat"]["url"].as_str().unwrap();
    store.beat(url.rsplit('/').next().unwrap()).await.unwrap();
    advance(1_000).await;
    let data = run(
        store,
        &format!("{{ heartbeats {{ state incident {{ {INCIDENT} }} }} }}"),
        json!({}),
    )
    .await;
    let outage = &data["heartbeats"][0]["incident"];
    assert_eq!(data["heartbeats"][0]["state"], "UNHEALTHY");
    assert_eq!(outage["pagingHeld"], true);
    assert_eq!(pages(outage), 0);
}

/// Stops the team's core and starts a new one on the state its records replay to, with
/// the same clock (time runs on across the restart).
fn restart(team: PausedTeam) -> Core {
    let PausedTeam {
        core,
        journal,
        config,
        ..
    } = team;
    core.stop();
    Core::start(journal.replay(), Arc::new(journal.clone()), &config)
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_the_window_and_the_held_incidents() {
    let team = paused_team(1_000, 1_000).await;
    let store = team.core.store.clone();
    start(&store, &team.service, 10_000).await;
    let until = store.clock().now() + TimeDelta::milliseconds(10_000);
    let id = trigger(&store, &team.schedule).await;
    let service = team.service.clone();
    drop(store);
    let core = restart(team);
    advance(2_000).await;
    let store = &core.store;
    assert_eq!(at(&maintenance_until(store, &service).await), until);
    assert_eq!(incident(store, &id).await["pagingHeld"], true);
    advance(7_999).await;
    assert_eq!(pages(&incident(store, &id).await), 0);
    advance(1).await;
    let released = incident(store, &id).await;
    assert_eq!(pages(&released), 1);
    assert_eq!(at(&released["notifications"][0]["at"]), until);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn a_window_that_ended_while_the_server_was_down_ends_at_start() {
    let team = paused_team(1_000, 1_000).await;
    let store = team.core.store.clone();
    start(&store, &team.service, 1_000).await;
    let id = trigger(&store, &team.schedule).await;
    let service = team.service.clone();
    drop(store);
    let PausedTeam {
        core,
        journal,
        config,
        ..
    } = team;
    core.stop();
    // Down past `until`: no engine runs meanwhile.
    tokio::time::advance(Duration::from_millis(5_000)).await;
    let core = Core::start(journal.replay(), Arc::new(journal.clone()), &config);
    settle().await;
    let store = &core.store;
    assert!(maintenance_until(store, &service).await.is_null());
    let released = incident(store, &id).await;
    assert_eq!(released["pagingHeld"], false);
    assert_eq!(pages(&released), 1);
    core.stop();
}

// ---- over HTTP and WebSocket, real time ------------------------------------------------

const START: &str = "mutation($s: ID!, $u: DateTime!) { startMaintenance(serviceId: $s, until: $u) { id maintenanceUntil } }";

#[tokio::test]
async fn bad_maintenance_input_is_refused_with_a_code_and_changes_nothing() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let now = Utc::now();
    let cases = [
        (
            json!({ "s": team.service, "u": iso(now - TimeDelta::minutes(1)) }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "s": team.service, "u": iso(now + TimeDelta::days(91)) }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "s": team.service, "u": "tomorrow" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "s": "0190a5a5-0000-7000-8000-000000000000", "u": iso(now + TimeDelta::hours(1)) }),
            "NOT_FOUND",
        ),
        (
            json!({ "s": "nope", "u": iso(now + TimeDelta::hours(1)) }),
            "NOT_FOUND",
        ),
    ];
    for (variables, expected) in cases {
        let body = app.gql(START, variables.clone()).await;
        assert_eq!(code(&body), expected, "{variables}: {body}");
    }
    let body = app
        .gql(
            "mutation { endMaintenance(serviceId: \"nope\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND");
    let data = app
        .data(
            "query($id: ID!) { service(id: $id) { maintenanceUntil } }",
            json!({ "id": team.service }),
        )
        .await;
    assert!(data["service"]["maintenanceUntil"].is_null());
}

#[tokio::test]
async fn only_admins_start_and_end_maintenance() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let until = iso(Utc::now() + TimeDelta::hours(1));
    for role in ["VIEWER", "RESPONDER"] {
        let client = token_for(&app, role).await;
        let body = gql_with(
            &app,
            &client,
            START,
            json!({ "s": team.service, "u": until }),
        )
        .await;
        assert_eq!(code(&body), "FORBIDDEN", "{role}: {body}");
        let body = gql_with(
            &app,
            &client,
            "mutation($s: ID!) { endMaintenance(serviceId: $s) { id } }",
            json!({ "s": team.service }),
        )
        .await;
        assert_eq!(code(&body), "FORBIDDEN", "{role}: {body}");
    }
    let data = app
        .data(START, json!({ "s": team.service, "u": until }))
        .await;
    assert!(!data["startMaintenance"]["maintenanceUntil"].is_null());
}

#[tokio::test]
async fn a_window_over_http_holds_pages_then_releases_them_with_an_event() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let until = Utc::now() + TimeDelta::milliseconds(800);
    app.data(START, json!({ "s": team.service, "u": iso(until) }))
        .await;
    let mut events = app.events().await;
    let opened = app.trigger(&team.schedule, "during the window").await;
    assert_eq!(opened["notifications"], json!([]));
    assert!(opened["assignedTo"].is_null());
    let triggered = events.next_event().await;
    assert_eq!(triggered["kind"], "TRIGGERED");
    let released = events.next_event().await;
    assert_eq!(released["kind"], "PAGING_RELEASED");
    assert_eq!(
        released["incident"]["assignedTo"]["id"],
        team.alice.as_str()
    );
    let incident = app.incident(opened["id"].as_str().unwrap()).await;
    let paged = at(&incident["notifications"][0]["at"]);
    assert!(
        paged >= until && paged - until < TimeDelta::milliseconds(200),
        "{paged} vs {until}"
    );
    let data = app
        .data(
            "query($id: ID!) { service(id: $id) { maintenanceUntil } }",
            json!({ "id": team.service }),
        )
        .await;
    assert!(data["service"]["maintenanceUntil"].is_null());
}
