//! The seed's REST surface under /api, with the seed's JSON shapes.

use chrono::{Duration as TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{iso, spawn_app};

#[tokio::test]
async fn seed_workflow_over_rest() {
    let app = spawn_app().await;
    let post = |path: &str, body: Value| {
        let request = app.http.post(app.url(path)).json(&body);
        async move { request.send().await.unwrap() }
    };
    let alice = post(
        "/api/users",
        json!({ "name": "Alice", "email": "alice@example.com", "phone": "+1 555 0100" }),
    )
    .await;
    assert_eq!(alice.status(), 201);
    let alice: Value = alice.json().await.unwrap();
    assert_eq!(alice["phone"], "+1 555 0100");
    let bob: Value = post(
        "/api/users",
        json!({ "name": "Bob", "email": "bob@example.com" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let service = post(
        "/api/services",
        json!({ "name": "Payments", "description": "cards" }),
    )
    .await;
    assert_eq!(service.status(), 201);
    let service: Value = service.json().await.unwrap();
    let now = Utc::now();
    let schedule = post(
        "/api/schedules",
        json!({
            "name": "Payments on-call",
            "serviceId": service["id"],
            "rotation": [{ "userId": alice["id"], "startTime": iso(now - TimeDelta::hours(1)), "endTime": iso(now + TimeDelta::hours(8)) }],
            "escalationPolicy": { "initialTimeout": 300000, "escalationLevels": [{ "userId": bob["id"], "timeout": 600000 }] },
        }),
    )
    .await;
    assert_eq!(schedule.status(), 201);
    let schedule: Value = schedule.json().await.unwrap();
    assert_eq!(schedule["serviceId"], service["id"]);
    assert_eq!(schedule["rotation"][0]["userId"], alice["id"]);
    assert_eq!(schedule["escalationPolicy"]["initialTimeout"], 300000);
    assert_eq!(
        schedule["escalationPolicy"]["escalationLevels"][0]["timeout"],
        600000
    );

    let list: Value = app
        .http
        .get(app.url("/api/schedules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["currentOnCall"]["id"], alice["id"]);
    let on_call: Value = app
        .http
        .get(app.url(&format!(
            "/api/schedules/{}/oncall",
            schedule["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(on_call["onCall"]["id"], alice["id"]);

    let incident = post("/api/incidents", json!({ "title": "Payment API Down", "description": "5xx", "scheduleId": schedule["id"], "serviceId": service["id"], "severity": "high" })).await;
    assert_eq!(incident.status(), 201);
    let incident: Value = incident.json().await.unwrap();
    assert_eq!(incident["state"], "triggered");
    assert_eq!(incident["severity"], "high");
    assert_eq!(incident["assignedTo"], alice["id"]);
    assert_eq!(incident["escalationLevel"], 0);
    assert_eq!(incident["escalationPolicy"]["initialTimeout"], 300000);
    assert_eq!(incident["notifications"][0]["userId"], alice["id"]);
    let id = incident["id"].as_str().unwrap();

    let escalated: Value = app
        .http
        .post(app.url(&format!("/api/incidents/{id}/escalate")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(escalated["escalationLevel"], 1);
    assert_eq!(escalated["assignedTo"], bob["id"]);
    assert_eq!(escalated["escalationHistory"][0]["reason"], "manual");
    let acked: Value = app
        .http
        .patch(app.url(&format!("/api/incidents/{id}/acknowledge")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(acked["state"], "acknowledged");
    let resolved = app
        .http
        .patch(app.url(&format!("/api/incidents/{id}/resolve")))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    let resolved: Value = resolved.json().await.unwrap();
    assert_eq!(resolved["state"], "resolved");
    let refused = app
        .http
        .patch(app.url(&format!("/api/incidents/{id}/acknowledge")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert!(refused["error"].as_str().unwrap().contains("resolved"));

    let all: Value = app
        .http
        .get(app.url("/api/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let one = app
        .http
        .get(app.url(&format!("/api/incidents/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
}

#[tokio::test]
async fn rest_errors_are_404_and_400_with_an_error_field() {
    let app = spawn_app().await;
    for path in [
        "/api/users/nope",
        "/api/schedules/00000000-0000-7000-8000-000000000000",
        "/api/incidents/x",
        "/api/schedules/x/oncall",
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string());
    }
    let bad = app
        .http
        .post(app.url("/api/users"))
        .json(&json!({ "name": "A", "email": "nope" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("email"));
    let malformed = app
        .http
        .post(app.url("/api/services"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let users: Value = app
        .http
        .get(app.url("/api/users"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users, json!([]));
}
