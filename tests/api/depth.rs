//! Working an incident: notes and the timeline, reassign, snooze, repeating policies and
//! acknowledge timeouts. Timers are checked on paused tokio time at the store level (to
//! the millisecond), the API shapes and bad input over HTTP and WebSocket.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as TimeDelta, TimeZone, Utc};
use klaxon::app::{Config, Core};
use klaxon::clock::TokioClock;
use klaxon::domain::schedule::{LevelInput, PolicyInput, RotationInput};
use klaxon::domain::{IncidentState, NewIncident, Severity, TimelineKind};
use klaxon::store::{MemoryJournal, ScheduleDraft, State, Store};
use serde_json::json;

use crate::helpers::{code, fields, spawn_app, sys};

fn origin() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap()
}

/// Alice on call; Bob at level 1, Carol at level 2; `tune` adjusts the policy.
async fn core_with(
    initial_ms: i64,
    level_ms: i64,
    tune: impl FnOnce(&mut PolicyInput),
) -> (Core, String, [klaxon::domain::UserId; 3]) {
    let config = Config {
        clock: Arc::new(TokioClock::starting_at(origin())),
        ..Config::default()
    };
    let core = Core::start(State::default(), Arc::new(MemoryJournal), &config);
    let store = &core.store;
    let mut ids = Vec::new();
    for name in ["Alice", "Bob", "Carol"] {
        let email = format!("{}@example.com", name.to_lowercase());
        ids.push(
            store
                .create_user(&sys(), fields(name, &email), None)
                .await
                .unwrap()
                .id,
        );
    }
    let service = store
        .create_service(&sys(), "Payments", None)
        .await
        .unwrap();
    let mut policy = PolicyInput {
        initial_timeout_ms: initial_ms,
        levels: ids[1..]
            .iter()
            .map(|id| LevelInput {
                user_id: Some(id.to_string()),
                schedule_id: None,
                timeout_ms: level_ms,
            })
            .collect(),
        repeat: 0,
        acknowledge_timeout_ms: None,
    };
    tune(&mut policy);
    let schedule = store
        .create_schedule(
            &sys(),
            ScheduleDraft {
                name: "Primary".into(),
                service_id: service.id.to_string(),
                time_zone: None,
                rotations: vec![],
                rotation: vec![RotationInput {
                    user_id: ids[0].to_string(),
                    start: origin() - TimeDelta::hours(1),
                    end: origin() + TimeDelta::days(7),
                }],
                escalation_policy: policy,
            },
        )
        .await
        .unwrap();
    (core, schedule.id.to_string(), [ids[0], ids[1], ids[2]])
}

async fn trigger(store: &Store, schedule: &str) -> String {
    let new = NewIncident::parse("db down", None, Severity::High, None).unwrap();
    store
        .trigger(&sys(), schedule, new)
        .await
        .unwrap()
        .id
        .to_string()
}

async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

async fn advance(ms: u64) {
    tokio::time::advance(Duration::from_millis(ms)).await;
    settle().await;
}

fn get(store: &Store, id: &str) -> Arc<klaxon::domain::Incident> {
    store.incident(id.parse().unwrap()).unwrap()
}

fn ms(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

#[tokio::test(start_paused = true)]
async fn a_snooze_returns_the_incident_to_triggered_when_its_time_is_up() {
    let (core, schedule, [alice, ..]) = core_with(60_000, 60_000, |_| {}).await;
    let store = &core.store;
    let mut updates = store.subscribe();
    let id = trigger(store, &schedule).await;
    settle().await;
    let snoozed = store.snooze(&sys(), &id, 10_000).await.unwrap();
    assert_eq!(snoozed.state, IncidentState::Acknowledged);
    assert_eq!(snoozed.snoozed_until(), Some(origin() + ms(10_000)));
    assert_eq!(snoozed.escalation_deadline, None);
    advance(9_999).await;
    assert_eq!(get(store, &id).state, IncidentState::Acknowledged);
    advance(1).await;
    let woke = get(store, &id);
    assert_eq!(woke.state, IncidentState::Triggered);
    assert_eq!(woke.escalation_level, 0, "same level");
    assert_eq!(woke.snoozed_until(), None);
    // Paged again, and the level's timeout counts afresh from the wake-up.
    assert_eq!(woke.notifications.len(), 2);
    assert_eq!(woke.notifications[1].user_id, alice);
    assert_eq!(woke.notifications[1].at, origin() + ms(10_000));
    assert_eq!(woke.escalation_deadline, Some(origin() + ms(70_000)));
    let kinds: Vec<_> = std::iter::from_fn(|| updates.try_recv().ok())
        .map(|u| u.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            klaxon::store::UpdateKind::Triggered,
            klaxon::store::UpdateKind::Snoozed,
            klaxon::store::UpdateKind::Retriggered
        ]
    );
    // And it escalates from there like any triggered incident.
    advance(60_000).await;
    assert_eq!(get(store, &id).escalation_level, 1);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn resolving_at_the_snooze_deadline_beats_a_wake_timer_that_has_not_run() {
    let (core, schedule, _) = core_with(60_000, 60_000, |_| {}).await;
    let store = &core.store;
    let id = trigger(store, &schedule).await;
    store.snooze(&sys(), &id, 5_000).await.unwrap();
    settle().await;
    tokio::time::advance(Duration::from_millis(5_000)).await;
    // The timer is due, but the person holds the incident's lock first.
    store.resolve(&sys(), &id).await.unwrap();
    settle().await;
    advance(100_000).await;
    let incident = get(store, &id);
    assert_eq!(incident.state, IncidentState::Resolved);
    assert_eq!(
        incident.notifications.len(),
        1,
        "the stale wake-up paged nobody"
    );
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn snoozing_again_replaces_the_earlier_snooze() {
    let (core, schedule, _) = core_with(60_000, 60_000, |_| {}).await;
    let store = &core.store;
    let id = trigger(store, &schedule).await;
    store.snooze(&sys(), &id, 5_000).await.unwrap();
    advance(2_000).await;
    store.snooze(&sys(), &id, 10_000).await.unwrap();
    advance(3_000).await;
    assert_eq!(
        get(store, &id).state,
        IncidentState::Acknowledged,
        "old timer stale"
    );
    advance(7_000).await;
    assert_eq!(get(store, &id).state, IncidentState::Triggered);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn an_acknowledgement_times_out_back_to_triggered() {
    let (core, schedule, [alice, ..]) =
        core_with(60_000, 60_000, |p| p.acknowledge_timeout_ms = Some(30_000)).await;
    let store = &core.store;
    let id = trigger(store, &schedule).await;
    settle().await;
    advance(1_000).await;
    let acked = store.acknowledge(&sys(), &id).await.unwrap();
    assert_eq!(acked.acknowledge_deadline(), Some(origin() + ms(31_000)));
    advance(29_999).await;
    assert_eq!(get(store, &id).state, IncidentState::Acknowledged);
    advance(1).await;
    let incident = get(store, &id);
    assert_eq!(incident.state, IncidentState::Triggered);
    assert_eq!(incident.notifications.last().unwrap().user_id, alice);
    assert_eq!(incident.escalation_deadline, Some(origin() + ms(91_000)));
    assert!(
        incident
            .timeline
            .iter()
            .any(|r| r.kind == TimelineKind::Retriggered)
    );
    // Acknowledged again: a fresh acknowledge timeout.
    advance(5_000).await;
    let again = store.acknowledge(&sys(), &id).await.unwrap();
    assert_eq!(again.acknowledge_deadline(), Some(origin() + ms(66_000)));
    // Resolved: nothing more happens.
    store.resolve(&sys(), &id).await.unwrap();
    advance(100_000).await;
    assert_eq!(get(store, &id).state, IncidentState::Resolved);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn a_repeating_policy_starts_over_at_level_zero_as_many_times_as_set() {
    let (core, schedule, [alice, bob, carol]) = core_with(1_000, 2_000, |p| p.repeat = 1).await;
    let store = &core.store;
    let id = trigger(store, &schedule).await;
    settle().await;
    // 0 (1 s) → 1 (2 s) → 2 (2 s) → 0 again (1 s) → 1 (2 s) → 2, and it stays there.
    let mut seen = Vec::new();
    for step in [1_000, 2_000, 2_000, 1_000, 2_000] {
        advance(step).await;
        let incident = get(store, &id);
        seen.push((incident.escalation_level, incident.assigned_to));
    }
    assert_eq!(
        seen,
        [
            (1, Some(bob)),
            (2, Some(carol)),
            (0, Some(alice)),
            (1, Some(bob)),
            (2, Some(carol)),
        ]
    );
    let incident = get(store, &id);
    assert_eq!(incident.escalation_deadline, None, "every repeat spent");
    advance(60_000).await;
    let incident = get(store, &id);
    assert_eq!(incident.escalation_history().len(), 5);
    assert!(
        incident
            .escalation_history()
            .iter()
            .all(|s| s.reason == klaxon::domain::EscalationReason::Timeout)
    );
    let loop_step = &incident.escalation_history()[2];
    assert_eq!((loop_step.from_level, loop_step.to_level), (2, 0));
    assert_eq!(loop_step.at, origin() + ms(5_000));
    assert_eq!(incident.notifications.len(), 6);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn reassigning_pages_that_user_at_the_same_level_and_restarts_its_timeout() {
    let (core, schedule, [_, _, carol]) = core_with(10_000, 10_000, |_| {}).await;
    let store = &core.store;
    let id = trigger(store, &schedule).await;
    store.acknowledge(&sys(), &id).await.unwrap();
    advance(4_000).await;
    let reassigned = store
        .reassign(&sys(), &id, &carol.to_string())
        .await
        .unwrap();
    assert_eq!(reassigned.assigned_to, Some(carol));
    assert_eq!(reassigned.escalation_level, 0, "level kept");
    assert_eq!(reassigned.state, IncidentState::Triggered);
    assert_eq!(reassigned.notifications.last().unwrap().user_id, carol);
    assert_eq!(reassigned.escalation_deadline, Some(origin() + ms(14_000)));
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn concurrent_people_and_timers_leave_one_consistent_story() {
    let (core, schedule, [_, bob, _]) = core_with(5, 5, |p| {
        p.repeat = 9;
        p.acknowledge_timeout_ms = Some(1_000);
    })
    .await;
    let store = core.store.clone();
    let id = trigger(&store, &schedule).await;
    let mut tasks = Vec::new();
    for i in 0..60u32 {
        let store = store.clone();
        let id = id.clone();
        let bob = bob.to_string();
        tasks.push(tokio::spawn(async move {
            let by = sys();
            let _ = match i % 6 {
                0 => store.acknowledge(&by, &id).await,
                1 => store.snooze(&by, &id, 1_000).await,
                2 => store.reassign(&by, &id, &bob).await,
                3 => store.add_note(&by, &id, &format!("note {i}")).await,
                4 => store.escalate(&by, &id).await,
                _ => store.acknowledge(&by, &id).await,
            };
        }));
        if i % 10 == 0 {
            advance(600).await;
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    advance(10_000).await;
    let incident = get(&store, &id);
    // Every page is on the timeline once, in order, and the notes all made it.
    let pages = incident
        .timeline
        .iter()
        .filter(|r| {
            r.kind == TimelineKind::Notified
                && r.detail
                    .as_deref()
                    .is_some_and(|d| !d.starts_with("delivered"))
        })
        .count();
    assert_eq!(pages, incident.notifications.len());
    let notes = incident
        .timeline
        .iter()
        .filter(|r| r.kind == TimelineKind::Note)
        .count();
    assert_eq!(notes, 10);
    assert!(
        incident
            .timeline
            .to_vec()
            .windows(2)
            .all(|w| w[0].at <= w[1].at)
    );
    // Replaying the same events gives the same incident: nothing was decided twice.
    let ids: std::collections::HashSet<_> = incident.notifications.iter().map(|n| n.id).collect();
    assert_eq!(ids.len(), incident.notifications.len());
    core.stop();
}

// ---- over HTTP and WebSocket ------------------------------------------------------------

#[tokio::test]
async fn a_note_is_on_the_timeline_with_its_author_and_reaches_subscribers() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let mut events = app.events().await;
    let id = app.trigger_id(&team.schedule, "Disk full").await;
    assert_eq!(events.next_event().await["kind"], "TRIGGERED");
    let body = app
        .data(
            "mutation($id: ID!) { addNote(incidentId: $id, text: \"  Rolled back deploy 42  \") { timeline { kind actor { kind name } message note } } }",
            json!({ "id": id }),
        )
        .await;
    let timeline = body["addNote"]["timeline"].as_array().unwrap();
    let note = timeline.last().unwrap();
    assert_eq!(note["kind"], "NOTE");
    assert_eq!(note["note"], "Rolled back deploy 42");
    assert_eq!(note["actor"]["name"], "KLAXON_ADMIN_TOKEN");
    assert_eq!(note["message"], "Rolled back deploy 42");
    let event = events.next_event().await;
    assert_eq!(event["kind"], "NOTE_ADDED");
    assert_eq!(event["incident"]["id"], id.as_str());
}

#[tokio::test]
async fn the_timeline_tells_the_whole_story_in_order() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "Disk full").await;
    let key = json!({ "title": "Disk full", "scheduleId": team.schedule, "dedupKey": "disk" });
    let deduped = app.trigger_with(key.clone()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.trigger_with(key).await;
    app.act("escalateIncident", &id).await;
    app.act("acknowledgeIncident", &id).await;
    app.data(
        "mutation($id: ID!, $u: ID!) { reassignIncident(id: $id, userId: $u) { id } }",
        json!({ "id": id, "u": team.carol }),
    )
    .await;
    app.data(
        "mutation($id: ID!) { snoozeIncident(id: $id, durationMs: 3600000) { snoozedUntil state } }",
        json!({ "id": id }),
    )
    .await;
    app.data(
        "mutation($id: ID!) { addNote(incidentId: $id, text: \"all good\") { id } }",
        json!({ "id": id }),
    )
    .await;
    app.act("resolveIncident", &id).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // deliveries land
    let body = app
        .data(
            "query($id: ID!) { incident(id: $id) { timeline { at kind actor { kind } message } } }",
            json!({ "id": id }),
        )
        .await;
    let timeline = body["incident"]["timeline"].as_array().unwrap();
    let kinds: Vec<&str> = timeline
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .filter(|k| *k != "NOTIFIED")
        .collect();
    assert_eq!(
        kinds,
        [
            "TRIGGERED",
            "ESCALATED",
            "ACKNOWLEDGED",
            "REASSIGNED",
            "SNOOZED",
            "NOTE",
            "RESOLVED"
        ],
        "{timeline:?}"
    );
    let ats: Vec<&str> = timeline.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let messages: Vec<&str> = timeline
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"Paged Alice (triggered, via log)"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"Page to Alice delivered via log"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"Escalated by KLAXON_ADMIN_TOKEN to level 1, Bob"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"Reassigned by KLAXON_ADMIN_TOKEN to Carol"),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("Snoozed by KLAXON_ADMIN_TOKEN until "))
    );
    // The folded alerts are on the deduplicated incident's own story.
    let body = app
        .data(
            "query($id: ID!) { incident(id: $id) { timeline { kind message } } }",
            json!({ "id": deduped }),
        )
        .await;
    let folded = body["incident"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "ALERT_FOLDED")
        .cloned()
        .expect("a fold");
    assert_eq!(folded["message"], "A repeated alert folded in (2 alerts)");
}

#[tokio::test]
async fn bad_depth_input_gets_a_coded_error_and_changes_nothing() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "Disk full").await;
    let before = app.counts().await;
    let story_query =
        "query($id: ID!) { incident(id: $id) { state timeline { kind } snoozedUntil } }";
    let story = app.data(story_query, json!({ "id": id })).await;
    let long = "x".repeat(10_001);
    let cases: Vec<(String, serde_json::Value, &str)> = vec![
        (
            "mutation($id: ID!, $t: String!) { addNote(incidentId: $id, text: $t) { id } }".into(),
            json!({ "id": id, "t": "   " }),
            "BAD_USER_INPUT",
        ),
        (
            "mutation($id: ID!, $t: String!) { addNote(incidentId: $id, text: $t) { id } }".into(),
            json!({ "id": id, "t": long }),
            "BAD_USER_INPUT",
        ),
        (
            "mutation($id: ID!, $t: String!) { addNote(incidentId: $id, text: $t) { id } }".into(),
            json!({ "id": "nope", "t": "hi" }),
            "NOT_FOUND",
        ),
        (
            "mutation($id: ID!) { snoozeIncident(id: $id, durationMs: 0) { id } }".into(),
            json!({ "id": id }),
            "BAD_USER_INPUT",
        ),
        (
            "mutation($id: ID!) { snoozeIncident(id: $id, durationMs: 604800001) { id } }".into(),
            json!({ "id": id }),
            "BAD_USER_INPUT",
        ),
        (
            "mutation($id: ID!) { reassignIncident(id: $id, userId: \"nobody\") { id } }".into(),
            json!({ "id": id }),
            "NOT_FOUND",
        ),
        (
            "mutation { reassignIncident(id: \"nothing\", userId: \"nobody\") { id } }".into(),
            json!({}),
            "NOT_FOUND",
        ),
    ];
    for (query, vars, expected) in cases {
        let body = app.gql(&query, vars.clone()).await;
        assert_eq!(code(&body), expected, "{query} {vars}: {body}");
    }
    for policy in [
        json!({ "initialTimeoutMs": 1000, "repeat": 10 }),
        json!({ "initialTimeoutMs": 1000, "repeat": -1 }),
        json!({ "initialTimeoutMs": 1000, "acknowledgeTimeoutMs": 999 }),
        json!({ "initialTimeoutMs": 1000, "acknowledgeTimeoutMs": 604800001 }),
    ] {
        let body = app
            .gql(
                "mutation($id: ID!, $p: EscalationPolicyInput!) { updateSchedule(id: $id, input: {escalationPolicy: $p}) { id } }",
                json!({ "id": team.schedule, "p": policy }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{policy}: {body}");
        assert!(
            body["errors"][0]["extensions"]["field"]
                .as_str()
                .unwrap()
                .starts_with("escalationPolicy."),
            "{body}"
        );
    }
    assert_eq!(app.counts().await, before);
    assert_eq!(app.data(story_query, json!({ "id": id })).await, story);
    // A resolved incident cannot be snoozed or reassigned.
    app.act("resolveIncident", &id).await;
    for query in [
        "mutation($id: ID!) { snoozeIncident(id: $id, durationMs: 60000) { id } }",
        "mutation($id: ID!, $u: ID!) { reassignIncident(id: $id, userId: $u) { id } }",
    ] {
        let body = app.gql(query, json!({ "id": id, "u": team.bob })).await;
        assert_eq!(code(&body), "INVALID_STATE", "{body}");
    }
}

#[tokio::test]
async fn repeat_and_acknowledge_timeout_are_policy_fields_in_and_out() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let body = app
        .data(
            "mutation($id: ID!) { updateSchedule(id: $id, input: {escalationPolicy: {initialTimeoutMs: 60000, repeat: 3, acknowledgeTimeoutMs: 1800000}}) { escalationPolicy { repeat acknowledgeTimeoutMs } } }",
            json!({ "id": team.schedule }),
        )
        .await;
    assert_eq!(
        body["updateSchedule"]["escalationPolicy"],
        json!({ "repeat": 3, "acknowledgeTimeoutMs": 1800000 })
    );
    let id = app.trigger_id(&team.schedule, "Disk full").await;
    let acked = app.act("acknowledgeIncident", &id).await;
    assert!(acked.get("errors").is_none(), "{acked}");
    let body = app
        .data(
            "query($id: ID!) { incident(id: $id) { acknowledgeTimeoutAt escalationPolicy { repeat } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        body["incident"]["acknowledgeTimeoutAt"].is_string(),
        "{body}"
    );
    assert_eq!(body["incident"]["escalationPolicy"]["repeat"], 3);
}
