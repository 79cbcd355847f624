//! Escalation by timeout: over HTTP and WebSocket with real (short) timeouts, and at the
//! store level with paused tokio time, where deadlines are checked to the millisecond.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use klaxon::app::{Config, Core};
use klaxon::clock::TokioClock;
use klaxon::domain::schedule::{LevelInput, PolicyInput, RotationInput};
use klaxon::domain::{IncidentState, NewIncident, Severity};
use klaxon::store::{MemoryJournal, ScheduleDraft, State, Store};
use serde_json::json;

use crate::helpers::{fields, spawn_app, sys};

fn at(value: &serde_json::Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a DateTime")
}

#[tokio::test]
async fn escalates_through_two_levels_by_timeout_and_stays_at_the_last() {
    let app = spawn_app().await;
    let team = app.team(300, 300).await;
    let mut events = app.events().await;
    let incident = app.trigger(&team.schedule, "slow burn").await;
    let id = incident["id"].as_str().unwrap().to_owned();
    let triggered_at = at(&incident["triggeredAt"]);

    assert_eq!(events.next_event().await["kind"], "TRIGGERED");
    let first = events.next_event().await;
    assert_eq!(first["kind"], "ESCALATED");
    assert_eq!(first["incident"]["escalationLevel"], 1);
    assert_eq!(first["incident"]["assignedTo"]["id"], team.bob.as_str());
    let second = events.next_event().await;
    assert_eq!(second["incident"]["escalationLevel"], 2);
    assert_eq!(second["incident"]["assignedTo"]["id"], team.carol.as_str());
    events.expect_silence(Duration::from_millis(700)).await;

    let incident = app.incident(&id).await;
    let history = incident["escalationHistory"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|h| h["reason"] == "TIMEOUT"));
    // Deadline-driven: each step lands within a few ms of its deadline, not a poll later.
    let lateness_1 = at(&history[0]["at"]) - (triggered_at + TimeDelta::milliseconds(300));
    let lateness_2 = at(&history[1]["at"]) - (at(&history[0]["at"]) + TimeDelta::milliseconds(300));
    for lateness in [lateness_1, lateness_2] {
        assert!(
            lateness >= TimeDelta::zero() && lateness < TimeDelta::milliseconds(100),
            "late by {lateness}"
        );
    }
    assert_eq!(incident["notifications"].as_array().unwrap().len(), 3);
    assert!(incident["nextEscalationAt"].is_null());
}

#[tokio::test]
async fn acknowledge_stops_escalation() {
    let app = spawn_app().await;
    let team = app.team(300, 300).await;
    let mut events = app.events().await;
    let id = app.trigger_id(&team.schedule, "x").await;
    app.act("acknowledgeIncident", &id).await;
    assert_eq!(events.next_event().await["kind"], "TRIGGERED");
    assert_eq!(events.next_event().await["kind"], "ACKNOWLEDGED");
    events.expect_silence(Duration::from_millis(800)).await;
    let incident = app.incident(&id).await;
    assert_eq!(incident["escalationLevel"], 0);
    assert_eq!(incident["escalationHistory"], json!([]));
}

#[tokio::test]
async fn manual_escalation_restarts_the_timer_from_the_new_level() {
    let app = spawn_app().await;
    let team = app.team(60_000, 300).await;
    let id = app.trigger_id(&team.schedule, "x").await;
    let escalated = app.act("escalateIncident", &id).await["data"]["escalateIncident"].clone();
    assert_eq!(escalated["escalationLevel"], 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let incident = app.incident(&id).await;
    assert_eq!(incident["escalationLevel"], 2);
    assert_eq!(incident["escalationHistory"][1]["reason"], "TIMEOUT");
}

// ---- store level, paused time --------------------------------------------------------

fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

async fn core_with_team(initial_ms: i64, level_ms: i64) -> (Core, String) {
    let config = Config {
        clock: Arc::new(TokioClock::starting_at(origin())),
        ..Config::default()
    };
    let core = Core::start(State::default(), Arc::new(MemoryJournal), &config);
    let store = &core.store;
    let alice = store
        .create_user(&sys(), fields("Alice", "alice@example.com"), None)
        .await
        .unwrap();
    let bob = store
        .create_user(&sys(), fields("Bob", "bob@example.com"), None)
        .await
        .unwrap();
    let carol = store
        .create_user(&sys(), fields("Carol", "carol@example.com"), None)
        .await
        .unwrap();
    let service = store
        .create_service(&sys(), "Payments", None)
        .await
        .unwrap();
    let schedule = store
        .create_schedule(
            &sys(),
            ScheduleDraft {
                name: "Primary".into(),
                service_id: service.id.to_string(),
                time_zone: None,
                rotations: vec![],
                rotation: vec![RotationInput {
                    user_id: alice.id.to_string(),
                    start: origin() - TimeDelta::hours(1),
                    end: origin() + TimeDelta::days(1),
                }],
                escalation_policy: PolicyInput {
                    initial_timeout_ms: initial_ms,
                    levels: vec![
                        LevelInput {
                            user_id: Some(bob.id.to_string()),
                            schedule_id: None,
                            timeout_ms: level_ms,
                        },
                        LevelInput {
                            user_id: Some(carol.id.to_string()),
                            schedule_id: None,
                            timeout_ms: level_ms,
                        },
                    ],
                    repeat: 0,
                    acknowledge_timeout_ms: None,
                },
            },
        )
        .await
        .unwrap();
    (core, schedule.id.to_string())
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

/// Lets the engine and spawned escalation tasks run at the current (paused) instant.
async fn settle() {
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
}

fn level(store: &Store, id: &str) -> u32 {
    store
        .incident(id.parse().unwrap())
        .unwrap()
        .escalation_level
}

#[tokio::test(start_paused = true)]
async fn timed_escalation_fires_at_its_deadline_not_a_millisecond_before() {
    let (core, schedule) = core_with_team(5_000, 10_000).await;
    let id = trigger(&core.store, &schedule).await;
    settle().await;
    tokio::time::advance(Duration::from_millis(4_999)).await;
    settle().await;
    assert_eq!(level(&core.store, &id), 0);
    tokio::time::advance(Duration::from_millis(1)).await;
    settle().await;
    assert_eq!(level(&core.store, &id), 1);
    let incident = core.store.incident(id.parse().unwrap()).unwrap();
    assert_eq!(
        incident.escalation_history()[0].at,
        origin() + TimeDelta::milliseconds(5_000)
    );
    assert_eq!(
        incident.escalation_deadline,
        Some(origin() + TimeDelta::milliseconds(15_000))
    );
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn acknowledge_at_the_deadline_instant_beats_a_timer_that_has_not_run() {
    let (core, schedule) = core_with_team(1_000, 1_000).await;
    let id = trigger(&core.store, &schedule).await;
    settle().await;
    tokio::time::advance(Duration::from_millis(1_000)).await;
    // The timer is due, but the person gets the incident's lock first.
    let acked = core.store.acknowledge(&sys(), &id).await.unwrap();
    assert_eq!(acked.state, IncidentState::Acknowledged);
    settle().await;
    tokio::time::advance(Duration::from_millis(5_000)).await;
    settle().await;
    let incident = core.store.incident(id.parse().unwrap()).unwrap();
    assert_eq!(incident.escalation_level, 0, "the stale timer did nothing");
    assert!(incident.escalation_history().is_empty());
    assert_eq!(incident.notifications.len(), 1);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn a_timer_that_fired_first_is_followed_by_the_acknowledge() {
    let (core, schedule) = core_with_team(1_000, 1_000).await;
    let id = trigger(&core.store, &schedule).await;
    settle().await;
    tokio::time::advance(Duration::from_millis(1_000)).await;
    settle().await;
    let acked = core.store.acknowledge(&sys(), &id).await.unwrap();
    assert_eq!(acked.escalation_level, 1);
    assert_eq!(acked.state, IncidentState::Acknowledged);
    assert_eq!(acked.escalation_deadline, None);
    core.stop();
}

#[tokio::test(start_paused = true)]
async fn many_pending_escalations_each_fire_exactly_at_their_own_deadline() {
    let (core, schedule) = core_with_team(60_000, 60_000).await;
    // Re-time each incident by escalating by hand at a different instant.
    let mut ids = Vec::new();
    for i in 0..50u64 {
        let id = trigger(&core.store, &schedule).await;
        tokio::time::advance(Duration::from_millis(7 * i + 1)).await;
        ids.push(id);
    }
    // Sleeping lets paused time auto-advance from one timer to the next, so the engine
    // wakes at each deadline in turn.
    tokio::time::sleep(Duration::from_millis(61_000)).await;
    settle().await;
    for id in &ids {
        let incident = core.store.incident(id.parse().unwrap()).unwrap();
        assert_eq!(incident.escalation_level, 1);
        let expected = incident.triggered_at + TimeDelta::milliseconds(60_000);
        assert_eq!(incident.escalation_history()[0].at, expected);
    }
    core.stop();
}
