//! Every refused input: a clear error with the contract's code, and nothing changed.

use serde_json::{Value, json};

use crate::helpers::{Team, TestApp, code, iso, spawn_app};
use chrono::{Duration as TimeDelta, Utc};

const CREATE_USER: &str = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }";
const CREATE_SERVICE: &str =
    "mutation($i: CreateServiceInput!) { createService(input: $i) { id } }";
const CREATE_SCHEDULE: &str =
    "mutation($i: CreateScheduleInput!) { createSchedule(input: $i) { id } }";
const TRIGGER: &str = "mutation($i: TriggerIncidentInput!) { triggerIncident(input: $i) { id } }";

/// Sends `query`, expects `code`, and checks that nothing changed.
async fn refused(app: &TestApp, query: &str, variables: Value, expected: &str) -> Value {
    let before = app.counts().await;
    let body = app.gql(query, variables).await;
    assert_eq!(code(&body), expected, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.len() > 10, "a message a person can act on: {body}");
    assert_eq!(app.counts().await, before, "refused input changed state");
    body
}

fn schedule_input(team: &Team, rotation: Value, policy: Value) -> Value {
    json!({ "i": { "name": "S2", "serviceId": team.service, "rotation": rotation, "escalationPolicy": policy } })
}

fn policy(initial: i64, levels: &[(&str, i64)]) -> Value {
    json!({
        "initialTimeoutMs": initial,
        "escalationLevels": levels.iter().map(|(u, t)| json!({ "userId": u, "timeoutMs": t })).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn names_must_be_present_and_at_most_200_characters() {
    let app = spawn_app().await;
    let body = refused(
        &app,
        CREATE_USER,
        json!({ "i": { "name": "  ", "email": "a@example.com" } }),
        "BAD_USER_INPUT",
    )
    .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "name");
    refused(
        &app,
        CREATE_USER,
        json!({ "i": { "name": "x".repeat(201), "email": "a@example.com" } }),
        "BAD_USER_INPUT",
    )
    .await;
    refused(
        &app,
        CREATE_SERVICE,
        json!({ "i": { "name": "" } }),
        "BAD_USER_INPUT",
    )
    .await;
    refused(
        &app,
        CREATE_SERVICE,
        json!({ "i": { "name": "s".repeat(201) } }),
        "BAD_USER_INPUT",
    )
    .await;
}

#[tokio::test]
async fn malformed_emails_are_refused() {
    let app = spawn_app().await;
    for email in [
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "a b@example.com",
    ] {
        let body = refused(
            &app,
            CREATE_USER,
            json!({ "i": { "name": "Alice", "email": email } }),
            "BAD_USER_INPUT",
        )
        .await;
        assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    }
}

#[tokio::test]
async fn rotation_entries_must_end_after_they_start() {
    let app = spawn_app().await;
    let team = app.team(1_000, 1_000).await;
    let t = Utc::now();
    for end in [t, t - TimeDelta::hours(1)] {
        let rotation = json!([{ "userId": team.alice, "startTime": iso(t), "endTime": iso(end) }]);
        let body = refused(
            &app,
            CREATE_SCHEDULE,
            schedule_input(&team, rotation, policy(1_000, &[])),
            "BAD_USER_INPUT",
        )
        .await;
        assert_eq!(
            body["errors"][0]["extensions"]["field"],
            "rotation[0].endTime"
        );
    }
}

#[tokio::test]
async fn timeouts_must_be_positive_and_at_most_seven_days() {
    let app = spawn_app().await;
    let team = app.team(1_000, 1_000).await;
    let eight_days = 8 * 24 * 3_600_000_i64;
    for p in [
        policy(-1, &[]),
        policy(0, &[]),
        policy(eight_days, &[]),
        policy(1_000, &[(&team.bob, -5)]),
        policy(1_000, &[(&team.bob, eight_days)]),
    ] {
        refused(
            &app,
            CREATE_SCHEDULE,
            schedule_input(&team, json!([]), p),
            "BAD_USER_INPUT",
        )
        .await;
    }
}

#[tokio::test]
async fn more_than_twenty_escalation_levels_are_refused() {
    let app = spawn_app().await;
    let team = app.team(1_000, 1_000).await;
    let levels: Vec<(&str, i64)> = (0..21).map(|_| (team.bob.as_str(), 1_000)).collect();
    refused(
        &app,
        CREATE_SCHEDULE,
        schedule_input(&team, json!([]), policy(1_000, &levels)),
        "BAD_USER_INPUT",
    )
    .await;
    let twenty: Vec<(&str, i64)> = (0..20).map(|_| (team.bob.as_str(), 1_000)).collect();
    app.data(
        CREATE_SCHEDULE,
        schedule_input(&team, json!([]), policy(1_000, &twenty)),
    )
    .await;
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let app = spawn_app().await;
    let team = app.team(1_000, 1_000).await;
    let nobody = "00000000-0000-7000-8000-000000000000";
    let rotation = json!([{ "userId": nobody, "startTime": iso(Utc::now()), "endTime": iso(Utc::now() + TimeDelta::hours(1)) }]);
    refused(
        &app,
        CREATE_SCHEDULE,
        schedule_input(&team, rotation, policy(1_000, &[])),
        "NOT_FOUND",
    )
    .await;
    refused(
        &app,
        CREATE_SCHEDULE,
        schedule_input(&team, json!([]), policy(1_000, &[(nobody, 1_000)])),
        "NOT_FOUND",
    )
    .await;
    refused(
        &app,
        CREATE_SCHEDULE,
        json!({ "i": { "name": "S", "serviceId": nobody } }),
        "NOT_FOUND",
    )
    .await;
    refused(
        &app,
        TRIGGER,
        json!({ "i": { "title": "t", "scheduleId": nobody } }),
        "NOT_FOUND",
    )
    .await;
    refused(
        &app,
        TRIGGER,
        json!({ "i": { "title": "t", "scheduleId": "garbage" } }),
        "NOT_FOUND",
    )
    .await;
    for mutation in ["acknowledgeIncident", "resolveIncident", "escalateIncident"] {
        let q = format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id }} }}");
        refused(&app, &q, json!({ "id": nobody }), "NOT_FOUND").await;
    }
    refused(
        &app,
        "mutation($id: ID!) { deleteUser(id: $id) }",
        json!({ "id": nobody }),
        "NOT_FOUND",
    )
    .await;
    refused(
        &app,
        "mutation($id: ID!) { updateService(id: $id, input: {name: \"x\"}) { id } }",
        json!({ "id": nobody }),
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn incident_titles_are_validated() {
    let app = spawn_app().await;
    let team = app.team(1_000, 1_000).await;
    refused(
        &app,
        TRIGGER,
        json!({ "i": { "title": " ", "scheduleId": team.schedule } }),
        "BAD_USER_INPUT",
    )
    .await;
    refused(
        &app,
        TRIGGER,
        json!({ "i": { "title": "t".repeat(201), "scheduleId": team.schedule } }),
        "BAD_USER_INPUT",
    )
    .await;
    refused(
        &app,
        TRIGGER,
        json!({ "i": { "title": "t", "scheduleId": team.schedule, "severity": "HUGE" } }),
        "BAD_USER_INPUT",
    )
    .await;
}

#[tokio::test]
async fn graphql_layer_errors_carry_bad_user_input() {
    let app = spawn_app().await;
    app.team(1_000, 1_000).await;
    // Syntax error, unknown field, wrong variable type, malformed DateTime variable.
    refused(&app, "{ users { id ", json!({}), "BAD_USER_INPUT").await;
    refused(&app, "{ users { nope } }", json!({}), "BAD_USER_INPUT").await;
    refused(
        &app,
        "query($n: Int) { incidents(first: $n) { totalCount } }",
        json!({ "n": "many" }),
        "BAD_USER_INPUT",
    )
    .await;
    refused(
        &app,
        "query($t: DateTime) { schedules { onCall(at: $t) { id } } }",
        json!({ "t": "next tuesday" }),
        "BAD_USER_INPUT",
    )
    .await;
    refused(
        &app,
        "{ incidents(first: 501) { totalCount } }",
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
    refused(
        &app,
        "{ incidents(first: -1) { totalCount } }",
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
}

#[tokio::test]
async fn malformed_request_bodies_get_a_graphql_error() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{ not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let app = spawn_app().await;
    let before = app.counts().await;
    let huge = json!({ "query": CREATE_USER, "variables": { "i": { "name": "x", "email": "a@example.com", "phone": "1".repeat(1_100_000) } } });
    let response = app
        .http
        .post(app.url("/graphql"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(app.counts().await, before);
}

#[tokio::test]
async fn deep_expensive_and_alias_heavy_documents_are_refused() {
    let app = spawn_app().await;
    app.team(1_000, 1_000).await;
    let deep = format!(
        "{{ services {{ {} id {} }} }}",
        "schedules { service { ".repeat(8),
        "} } ".repeat(8)
    );
    refused(&app, &deep, json!({}), "BAD_USER_INPUT").await;
    let aliases: String = (0..65).map(|i| format!("a{i}: users {{ id }} ")).collect();
    refused(
        &app,
        &format!("{{ {aliases} }}"),
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
    let wide: String = (0..60)
        .map(|i| format!("p{i}: incidents(first: 500) {{ nodes {{ id title service {{ name schedules {{ name }} }} }} }} "))
        .collect();
    refused(&app, &format!("{{ {wide} }}"), json!({}), "BAD_USER_INPUT").await;
}
