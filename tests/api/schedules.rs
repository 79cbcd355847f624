//! Rotations in time zones, layers, overrides, shifts, gaps, schedule escalation targets,
//! handoff events and the calendar feed, over the real API.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, TimeZone, Utc};
use futures_util::StreamExt;
use klaxon::app::{Config, Core};
use klaxon::clock::TokioClock;
use klaxon::domain::oncall::{RotationDraft, ShiftUnit};
use klaxon::domain::schedule::PolicyInput;
use klaxon::store::{MemoryJournal, ScheduleDraft, State};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, fields, iso, schema_for, spawn_app, sys};

const ADD_ROTATION: &str = "mutation($i: AddRotationInput!) { addRotation(input: $i) { id name timeZone shiftUnit participants { id } } }";
const ADD_OVERRIDE: &str =
    "mutation($i: AddOverrideInput!) { addOverride(input: $i) { id user { id } replaces { id } } }";

async fn setup(app: &TestApp) -> (Vec<String>, String) {
    let mut people = Vec::new();
    for name in ["Ann", "Ben", "Cat"] {
        people.push(app.create_user(name).await);
    }
    let service = app.create_service("Checkout").await;
    let schedule = app.create_schedule(&service, &[], 60_000, &[]).await;
    (people, schedule)
}

fn rotation_input(schedule: &str, people: &[String], start: DateTime<Utc>) -> Value {
    json!({ "i": {
        "scheduleId": schedule, "name": "Daily", "timeZone": "Europe/Berlin",
        "start": iso(start), "shiftLength": 1, "shiftUnit": "DAY", "participants": people,
    }})
}

#[tokio::test]
async fn a_daily_rotation_decides_on_call_and_shifts_agree() {
    let app = spawn_app().await;
    let (people, schedule) = setup(&app).await;
    let start = Utc::now() - TimeDelta::hours(1);
    let rotation = app
        .data(ADD_ROTATION, rotation_input(&schedule, &people, start))
        .await;
    assert_eq!(rotation["addRotation"]["shiftUnit"], "DAY");
    let q = "query($id: ID!, $from: DateTime!, $to: DateTime!) { schedule(id: $id) { timeZone onCall { id } rotations { id } shifts(from: $from, to: $to) { user { id } start end source } coverageGaps(from: $from, to: $to) { start end } } }";
    let from = start;
    let to = start + TimeDelta::days(3);
    let data = app
        .data(
            q,
            json!({ "id": schedule, "from": iso(from), "to": iso(to) }),
        )
        .await;
    let s = &data["schedule"];
    assert_eq!(s["onCall"]["id"], people[0].as_str());
    let shifts = s["shifts"].as_array().unwrap();
    assert_eq!(shifts.len(), 3);
    for (k, shift) in shifts.iter().enumerate() {
        assert_eq!(shift["user"]["id"], people[k].as_str());
        assert_eq!(shift["source"], "rotation:Daily");
    }
    assert_eq!(s["coverageGaps"], json!([]));
}

#[tokio::test]
async fn overrides_win_and_can_be_removed() {
    let app = spawn_app().await;
    let (people, schedule) = setup(&app).await;
    let now = Utc::now();
    app.data(
        ADD_ROTATION,
        rotation_input(&schedule, &people[..1], now - TimeDelta::hours(1)),
    )
    .await;
    let over = app
        .data(ADD_OVERRIDE, json!({ "i": { "scheduleId": schedule, "userId": people[2], "start": iso(now - TimeDelta::minutes(5)), "end": iso(now + TimeDelta::hours(1)), "replaces": people[0] } }))
        .await;
    let on_call = "query($id: ID!) { schedule(id: $id) { onCall { id } overrides { id } } }";
    let data = app.data(on_call, json!({ "id": schedule })).await;
    assert_eq!(data["schedule"]["onCall"]["id"], people[2].as_str());
    let id = over["addOverride"]["id"].clone();
    app.data(
        "mutation($id: ID!) { removeOverride(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    let data = app.data(on_call, json!({ "id": schedule })).await;
    assert_eq!(data["schedule"]["onCall"]["id"], people[0].as_str());
    assert_eq!(data["schedule"]["overrides"], json!([]));
}

#[tokio::test]
async fn rotation_and_override_bad_input_changes_nothing() {
    let app = spawn_app().await;
    let (people, schedule) = setup(&app).await;
    let now = Utc::now();
    let snapshot = "query($id: ID!) { schedule(id: $id) { rotations { id } overrides { id } } }";
    let before = app.data(snapshot, json!({ "id": schedule })).await;
    let mut cases = Vec::new();
    let mut zone = rotation_input(&schedule, &people, now);
    zone["i"]["timeZone"] = json!("Mars/Olympus_Mons");
    cases.push((ADD_ROTATION, zone, "BAD_USER_INPUT"));
    let mut empty = rotation_input(&schedule, &people, now);
    empty["i"]["participants"] = json!([]);
    cases.push((ADD_ROTATION, empty, "BAD_USER_INPUT"));
    for len in [0, -3] {
        let mut bad = rotation_input(&schedule, &people, now);
        bad["i"]["shiftLength"] = json!(len);
        cases.push((ADD_ROTATION, bad, "BAD_USER_INPUT"));
    }
    let mut stranger = rotation_input(&schedule, &people, now);
    stranger["i"]["participants"] = json!(["00000000-0000-7000-8000-000000000000"]);
    cases.push((ADD_ROTATION, stranger, "NOT_FOUND"));
    cases.push((
        ADD_OVERRIDE,
        json!({ "i": { "scheduleId": schedule, "userId": people[0], "start": iso(now), "end": iso(now) } }),
        "BAD_USER_INPUT",
    ));
    cases.push((
        ADD_OVERRIDE,
        json!({ "i": { "scheduleId": schedule, "userId": "00000000-0000-7000-8000-000000000000", "start": iso(now), "end": iso(now + TimeDelta::hours(1)) } }),
        "NOT_FOUND",
    ));
    for (query, variables, expected) in cases {
        let body = app.gql(query, variables.clone()).await;
        assert_eq!(code(&body), expected, "{variables}: {body}");
    }
    assert_eq!(app.data(snapshot, json!({ "id": schedule })).await, before);
}

#[tokio::test]
async fn shifts_over_more_than_366_days_are_refused() {
    let app = spawn_app().await;
    let (_, schedule) = setup(&app).await;
    let now = Utc::now();
    let q = "query($id: ID!, $from: DateTime!, $to: DateTime!) { schedule(id: $id) { shifts(from: $from, to: $to) { start } } }";
    let body = app
        .gql(
            q,
            json!({ "id": schedule, "from": iso(now), "to": iso(now + TimeDelta::days(367)) }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("366")
    );
}

#[tokio::test]
async fn an_escalation_level_can_page_another_schedules_on_call() {
    let app = spawn_app().await;
    let (people, primary) = setup(&app).await;
    let now = Utc::now();
    let service = app.create_service("Platform").await;
    let secondary = app
        .create_schedule(
            &service,
            &[(
                &people[1],
                now - TimeDelta::hours(1),
                now + TimeDelta::hours(1),
            )],
            60_000,
            &[],
        )
        .await;
    let policy = json!({ "initialTimeoutMs": 60_000, "escalationLevels": [{ "scheduleId": secondary, "timeoutMs": 60_000 }] });
    app.data(
        "mutation($id: ID!, $p: EscalationPolicyInput!) { updateSchedule(id: $id, input: { escalationPolicy: $p }) { escalationPolicy { escalationLevels { user { id } schedule { id } } } } }",
        json!({ "id": primary, "p": policy }),
    )
    .await;
    // Nobody on call on the primary: level 1 pages the secondary's on-call user.
    let incident = app.trigger(&primary, "cross-team").await;
    assert_eq!(incident["escalationLevel"], 1);
    assert_eq!(incident["assignedTo"]["id"], people[1].as_str());
    // The referenced schedule cannot be deleted from under the policy.
    let body = app
        .gql(
            "mutation($id: ID!) { deleteSchedule(id: $id) }",
            json!({ "id": secondary }),
        )
        .await;
    assert_eq!(code(&body), "INVALID_STATE");
    let both = json!({ "initialTimeoutMs": 1000, "escalationLevels": [{ "userId": people[0], "scheduleId": secondary, "timeoutMs": 1000 }] });
    let body = app
        .gql("mutation($id: ID!, $p: EscalationPolicyInput!) { updateSchedule(id: $id, input: { escalationPolicy: $p }) { id } }", json!({ "id": primary, "p": both }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn the_calendar_feed_lists_the_coming_shifts() {
    let app = spawn_app().await;
    let (people, schedule) = setup(&app).await;
    app.data(
        ADD_ROTATION,
        rotation_input(&schedule, &people, Utc::now() - TimeDelta::hours(1)),
    )
    .await;
    let response = app
        .http
        .get(app.url(&format!("/schedules/{schedule}/calendar.ics")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let body = response.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR"));
    let events = body.matches("BEGIN:VEVENT").count();
    assert!(
        (60..=62).contains(&events),
        "{events} daily shifts in 60 days"
    );
    assert!(body.contains("Ann on call"));
    let missing = app
        .http
        .get(app.url("/schedules/nope/calendar.ics"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test(start_paused = true)]
async fn on_call_changed_delivers_handoffs_in_order_at_their_instants() {
    let origin = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
    let config = Config {
        clock: Arc::new(TokioClock::starting_at(origin)),
        ..Config::default()
    };
    let core = Core::start(State::default(), Arc::new(MemoryJournal), &config);
    let store = &core.store;
    let mut ids = Vec::new();
    for name in ["Ann", "Ben", "Cat"] {
        ids.push(
            store
                .create_user(&sys(), fields(name, &format!("{name}@example.com")), None)
                .await
                .unwrap()
                .id,
        );
    }
    let service = store.create_service(&sys(), "S", None).await.unwrap();
    let schedule = store
        .create_schedule(
            &sys(),
            ScheduleDraft {
                name: "hourly".into(),
                service_id: service.id.to_string(),
                time_zone: None,
                rotation: vec![],
                rotations: vec![RotationDraft {
                    name: "hourly".into(),
                    time_zone: "Europe/Berlin".into(),
                    start: origin - TimeDelta::minutes(30),
                    shift_length: 1,
                    shift_unit: ShiftUnit::Hour,
                    participants: ids.iter().map(|id| id.to_string()).collect(),
                    restriction: None,
                }],
                escalation_policy: PolicyInput {
                    initial_timeout_ms: 60_000,
                    levels: vec![],
                    repeat: 0,
                    acknowledge_timeout_ms: None,
                },
            },
        )
        .await
        .unwrap();
    let schema = schema_for(store);
    let mut changes = schema.execute_stream(format!(
        "subscription {{ onCallChanged(scheduleId: \"{}\") {{ at from {{ name }} to {{ name }} }} }}",
        schedule.id
    ));
    assert!(futures_util::poll!(changes.next()).is_pending());
    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = tokio::time::timeout(Duration::from_secs(4 * 3600), changes.next())
            .await
            .unwrap()
            .unwrap();
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let value = response.data.into_json().unwrap();
        let change = &value["onCallChanged"];
        seen.push((
            change["at"].as_str().unwrap().to_owned(),
            change["from"]["name"].clone(),
            change["to"]["name"].clone(),
        ));
    }
    let expect = |minutes: i64, from: &str, to: &str| {
        (
            iso(origin + TimeDelta::minutes(minutes)),
            json!(from),
            json!(to),
        )
    };
    assert_eq!(
        seen,
        vec![
            expect(30, "Ann", "Ben"),
            expect(90, "Ben", "Cat"),
            expect(150, "Cat", "Ann"),
            expect(210, "Ann", "Ben"),
        ]
    );
    core.stop();
}

#[tokio::test]
async fn a_schedule_level_needs_coverage_and_always_names_a_user() {
    let app = spawn_app().await;
    let (people, primary) = setup(&app).await;
    let service = app.create_service("Empty").await;
    let empty = app.create_schedule(&service, &[], 60_000, &[]).await;
    let set_policy = "mutation($id: ID!, $p: EscalationPolicyInput!) { updateSchedule(id: $id, input: { escalationPolicy: $p }) { id } }";
    let body = app
        .gql(set_policy, json!({ "id": primary, "p": { "initialTimeoutMs": 1000, "escalationLevels": [{ "scheduleId": empty, "timeoutMs": 1000 }] } }))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // Covered later today (a gap now): the level names whoever is on call next.
    let later = Utc::now() + TimeDelta::hours(2);
    let covered = app
        .create_schedule(
            &service,
            &[(&people[2], later, later + TimeDelta::hours(1))],
            60_000,
            &[],
        )
        .await;
    app.data(set_policy, json!({ "id": primary, "p": { "initialTimeoutMs": 1000, "escalationLevels": [{ "scheduleId": covered, "timeoutMs": 1000 }] } }))
        .await;
    let data = app
        .data("query($id: ID!) { schedule(id: $id) { escalationPolicy { escalationLevels { user { id } schedule { id } } } } }", json!({ "id": primary }))
        .await;
    let level = &data["schedule"]["escalationPolicy"]["escalationLevels"][0];
    assert_eq!(level["user"]["id"], people[2].as_str());
    assert_eq!(level["schedule"]["id"], covered.as_str());
}

#[tokio::test]
async fn current_shift_says_who_and_until_when() {
    let app = spawn_app().await;
    let (people, schedule) = setup(&app).await;
    let start = Utc::now() - TimeDelta::hours(1);
    app.data(ADD_ROTATION, rotation_input(&schedule, &people, start))
        .await;
    let data = app
        .data("query($id: ID!) { schedule(id: $id) { currentShift { user { id } start end source } } }", json!({ "id": schedule }))
        .await;
    let shift = &data["schedule"]["currentShift"];
    assert_eq!(shift["user"]["id"], people[0].as_str());
    assert_eq!(shift["start"], iso(start).as_str());
    assert_eq!(shift["end"], iso(start + TimeDelta::days(1)).as_str());
}
