//! The contract's incident lifecycle rules, one behaviour per test.

use std::time::Duration;

use chrono::{Duration as TimeDelta, Utc};
use serde_json::json;

use crate::helpers::{code, spawn_app};

#[tokio::test]
async fn trigger_assigns_the_on_call_responder_at_level_zero_and_pages_them() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let incident = app.trigger(&team.schedule, "DB down").await;
    assert_eq!(incident["state"], "TRIGGERED");
    assert_eq!(incident["escalationLevel"], 0);
    assert_eq!(incident["assignedTo"]["id"], team.alice.as_str());
    assert_eq!(incident["service"]["id"], team.service.as_str());
    assert_eq!(incident["alertCount"], 1);
    let pages = incident["notifications"].as_array().unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0]["user"]["id"], team.alice.as_str());
    assert_eq!(pages[0]["reason"], "triggered");
    assert_eq!(pages[0]["channel"], "log");
    // Delivery is recorded right after the page is sent.
    let id = incident["id"].as_str().unwrap();
    for _ in 0..50 {
        if app.incident(id).await["notifications"][0]["delivered"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the page was never marked delivered");
}

#[tokio::test]
async fn trigger_with_nobody_on_call_goes_to_level_one() {
    let app = spawn_app().await;
    let bob = app.create_user("Bob").await;
    let service = app.create_service("Web").await;
    let schedule = app
        .create_schedule(&service, &[], 60_000, &[(&bob, 60_000), (&bob, 60_000)])
        .await;
    let incident = app.trigger(&schedule, "no one home").await;
    assert_eq!(incident["escalationLevel"], 1);
    assert_eq!(incident["assignedTo"]["id"], bob.as_str());
    assert_eq!(incident["escalationHistory"][0]["reason"], "NO_ONE_ON_CALL");
    assert_eq!(incident["escalationHistory"][0]["fromLevel"], 0);
    assert_eq!(incident["escalationHistory"][0]["toLevel"], 1);
    assert_eq!(incident["notifications"][0]["user"]["id"], bob.as_str());
}

#[tokio::test]
async fn trigger_with_nobody_on_call_and_no_levels_stays_unassigned_and_visible() {
    let app = spawn_app().await;
    let service = app.create_service("Web").await;
    let schedule = app.create_schedule(&service, &[], 60_000, &[]).await;
    let incident = app.trigger(&schedule, "orphan").await;
    assert_eq!(incident["escalationLevel"], 0);
    assert!(incident["assignedTo"].is_null());
    assert_eq!(incident["notifications"], json!([]));
    assert!(incident["nextEscalationAt"].is_null());
    let open = app
        .data("{ incidents(state: TRIGGERED) { totalCount } }", json!({}))
        .await;
    assert_eq!(open["incidents"]["totalCount"], 1);
}

#[tokio::test]
async fn acknowledge_twice_is_a_no_op_that_succeeds() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "x").await;
    let first = app.act("acknowledgeIncident", &id).await;
    let second = app.act("acknowledgeIncident", &id).await;
    assert!(second.get("errors").is_none(), "{second}");
    let (a, b) = (
        &first["data"]["acknowledgeIncident"],
        &second["data"]["acknowledgeIncident"],
    );
    assert_eq!(b["state"], "ACKNOWLEDGED");
    assert_eq!(
        a["acknowledgedAt"], b["acknowledgedAt"],
        "a no-op keeps the first time"
    );
    assert!(b["nextEscalationAt"].is_null());
}

#[tokio::test]
async fn acknowledge_resolved_fails_with_invalid_state() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "x").await;
    app.act("resolveIncident", &id).await;
    let body = app.act("acknowledgeIncident", &id).await;
    assert_eq!(code(&body), "INVALID_STATE");
    assert_eq!(app.incident(&id).await["state"], "RESOLVED");
}

#[tokio::test]
async fn resolve_works_from_triggered_and_acknowledged_and_twice_is_a_no_op() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let a = app.trigger_id(&team.schedule, "a").await;
    let b = app.trigger_id(&team.schedule, "b").await;
    app.act("acknowledgeIncident", &b).await;
    for id in [&a, &b] {
        let body = app.act("resolveIncident", id).await;
        let resolved = &body["data"]["resolveIncident"];
        assert_eq!(resolved["state"], "RESOLVED");
        assert!(resolved["resolvedAt"].is_string());
        let again = app.act("resolveIncident", id).await;
        assert!(again.get("errors").is_none(), "{again}");
        assert_eq!(
            again["data"]["resolveIncident"]["resolvedAt"],
            resolved["resolvedAt"]
        );
    }
}

#[tokio::test]
async fn manual_escalate_moves_up_reassigns_pages_and_retriggers() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "x").await;
    app.act("acknowledgeIncident", &id).await;
    let body = app.act("escalateIncident", &id).await;
    let incident = &body["data"]["escalateIncident"];
    assert_eq!(incident["state"], "TRIGGERED");
    assert_eq!(incident["escalationLevel"], 1);
    assert_eq!(incident["assignedTo"]["id"], team.bob.as_str());
    assert_eq!(incident["escalationHistory"][0]["reason"], "MANUAL");
    assert_eq!(incident["notifications"][1]["reason"], "manual");
    assert_eq!(
        incident["notifications"][1]["user"]["id"],
        team.bob.as_str()
    );
    assert!(
        incident["nextEscalationAt"].is_string(),
        "the timer restarts"
    );
}

#[tokio::test]
async fn manual_escalate_at_the_last_level_fails_and_changes_nothing() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "x").await;
    app.act("escalateIncident", &id).await;
    app.act("escalateIncident", &id).await;
    let before = app.incident(&id).await;
    assert_eq!(before["escalationLevel"], 2);
    assert_eq!(before["canEscalate"], false);
    let body = app.act("escalateIncident", &id).await;
    assert_eq!(code(&body), "INVALID_STATE");
    assert_eq!(app.incident(&id).await, before);
}

#[tokio::test]
async fn manual_escalate_on_a_resolved_incident_fails() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let id = app.trigger_id(&team.schedule, "x").await;
    app.act("resolveIncident", &id).await;
    let before = app.incident(&id).await;
    assert_eq!(
        code(&app.act("escalateIncident", &id).await),
        "INVALID_STATE"
    );
    assert_eq!(app.incident(&id).await, before);
}

#[tokio::test]
async fn same_dedup_key_on_an_open_incident_folds_in_without_a_new_page() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let input =
        json!({ "title": "disk full", "scheduleId": team.schedule, "dedupKey": "disk:/var" });
    let first = app.trigger_with(input.clone()).await;
    let second = app.trigger_with(input.clone()).await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["alertCount"], 2);
    assert_eq!(second["notifications"].as_array().unwrap().len(), 1);
    let all = app.data("{ incidents { totalCount } }", json!({})).await;
    assert_eq!(all["incidents"]["totalCount"], 1);
}

#[tokio::test]
async fn same_dedup_key_after_resolve_opens_a_new_incident() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let input =
        json!({ "title": "disk full", "scheduleId": team.schedule, "dedupKey": "disk:/var" });
    let first = app.trigger_with(input.clone()).await;
    app.act("resolveIncident", first["id"].as_str().unwrap())
        .await;
    let second = app.trigger_with(input).await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(second["alertCount"], 1);
}

#[tokio::test]
async fn dedup_keys_are_per_service() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let other_service = app.create_service("Other").await;
    let now = Utc::now();
    let other = app
        .create_schedule(
            &other_service,
            &[(
                &team.bob,
                now - TimeDelta::hours(1),
                now + TimeDelta::hours(1),
            )],
            60_000,
            &[],
        )
        .await;
    let a = app
        .trigger_with(json!({ "title": "t", "scheduleId": team.schedule, "dedupKey": "k" }))
        .await;
    let b = app
        .trigger_with(json!({ "title": "t", "scheduleId": other, "dedupKey": "k" }))
        .await;
    assert_ne!(a["id"], b["id"]);
}

#[tokio::test]
async fn on_call_at_a_rotation_boundary_belongs_to_the_new_entry() {
    let app = spawn_app().await;
    let alice = app.create_user("Alice").await;
    let bob = app.create_user("Bob").await;
    let service = app.create_service("S").await;
    let t = Utc::now() + TimeDelta::hours(2);
    let schedule = app
        .create_schedule(
            &service,
            &[
                (&alice, t - TimeDelta::hours(1), t),
                (&bob, t, t + TimeDelta::hours(1)),
            ],
            1_000,
            &[],
        )
        .await;
    let q = "query($id: ID!, $before: DateTime, $at: DateTime, $end: DateTime) { schedule(id: $id) { before: onCall(at: $before) { id } at: onCall(at: $at) { id } end: onCall(at: $end) { id } } }";
    let data = app
        .data(
            q,
            json!({
                "id": schedule,
                "before": crate::helpers::iso(t - TimeDelta::milliseconds(1)),
                "at": crate::helpers::iso(t),
                "end": crate::helpers::iso(t + TimeDelta::hours(1)),
            }),
        )
        .await;
    assert_eq!(data["schedule"]["before"]["id"], alice.as_str());
    assert_eq!(data["schedule"]["at"]["id"], bob.as_str());
    assert!(data["schedule"]["end"].is_null());
}

#[tokio::test]
async fn incidents_are_listed_newest_first_with_cursors() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.trigger_id(&team.schedule, &format!("i{i}")).await);
    }
    app.act("resolveIncident", &ids[0]).await;
    let q = "query($after: String, $state: IncidentState) { incidents(first: 2, after: $after, state: $state) { totalCount nodes { id } edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
    let page1 = app.data(q, json!({})).await["incidents"].clone();
    assert_eq!(page1["totalCount"], 5);
    assert_eq!(page1["nodes"][0]["id"], ids[4].as_str());
    assert_eq!(page1["nodes"][1]["id"], ids[3].as_str());
    assert_eq!(page1["pageInfo"]["hasNextPage"], true);
    let page2 = app
        .data(q, json!({ "after": page1["pageInfo"]["endCursor"] }))
        .await["incidents"]
        .clone();
    assert_eq!(page2["nodes"][0]["id"], ids[2].as_str());
    let open = app.data(q, json!({ "state": "TRIGGERED" })).await["incidents"].clone();
    assert_eq!(open["totalCount"], 4);
    // A search counts every match, whatever the cursor.
    let searched = "query($after: String) { incidents(first: 2, after: $after, search: \"I\") { totalCount nodes { id } } }";
    let after = app
        .data(searched, json!({ "after": page1["pageInfo"]["endCursor"] }))
        .await["incidents"]
        .clone();
    assert_eq!(after["totalCount"], 5);
    assert_eq!(after["nodes"][0]["id"], ids[2].as_str());
    let bad = app.gql(q, json!({ "after": "not-a-cursor" })).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
}

#[tokio::test]
async fn deleting_a_user_still_in_a_schedule_fails_naming_it() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let body = app
        .gql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": team.bob }),
        )
        .await;
    assert_eq!(code(&body), "INVALID_STATE");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Primary"),
        "{body}"
    );
    let free = app.create_user("Zed").await;
    let body = app
        .gql(
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": free }),
        )
        .await;
    assert_eq!(body["data"]["deleteUser"], free.as_str());
    let users = app.data("{ users { id } }", json!({})).await;
    assert_eq!(users["users"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn deleting_a_service_with_schedules_fails_and_deleting_the_schedule_first_works() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let body = app
        .gql(
            "mutation($id: ID!) { deleteService(id: $id) }",
            json!({ "id": team.service }),
        )
        .await;
    assert_eq!(code(&body), "INVALID_STATE");
    let id = app.trigger_id(&team.schedule, "x").await;
    let body = app
        .gql(
            "mutation($id: ID!) { deleteSchedule(id: $id) }",
            json!({ "id": team.schedule }),
        )
        .await;
    assert_eq!(
        code(&body),
        "INVALID_STATE",
        "open incidents block deletion"
    );
    app.act("resolveIncident", &id).await;
    app.data(
        "mutation($id: ID!) { deleteSchedule(id: $id) }",
        json!({ "id": team.schedule }),
    )
    .await;
    app.data(
        "mutation($id: ID!) { deleteService(id: $id) }",
        json!({ "id": team.service }),
    )
    .await;
    // History still resolves the deleted schedule and service.
    let incident = app.incident(&id).await;
    assert_eq!(incident["schedule"]["id"], team.schedule.as_str());
}

#[tokio::test]
async fn updates_change_only_the_given_fields() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let user = app
        .data(
            "mutation($id: ID!) { updateUser(id: $id, input: { phone: \"+1 555 0199\" }) { name email phone } }",
            json!({ "id": team.alice }),
        )
        .await;
    assert_eq!(user["updateUser"]["name"], "Alice");
    assert_eq!(user["updateUser"]["phone"], "+1 555 0199");
    let schedule = app
        .data(
            "mutation($id: ID!) { updateSchedule(id: $id, input: { name: \"Renamed\" }) { name rotation { user { id } } } }",
            json!({ "id": team.schedule }),
        )
        .await;
    assert_eq!(schedule["updateSchedule"]["name"], "Renamed");
    assert_eq!(
        schedule["updateSchedule"]["rotation"][0]["user"]["id"],
        team.alice.as_str()
    );
}
