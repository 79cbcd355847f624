//! Alerts from monitoring tools: integrations, `POST /v2/enqueue` (PagerDuty Events API
//! v2), the Alertmanager, Grafana and generic webhooks, their limits and who may do what.

use std::time::{Duration, Instant};

use klaxon::app::{Config, Storage};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const INTEGRATION_FIELDS: &str =
    "id name kind key url hasSecret createdAt lastEventAt schedule { id } service { id }";

const INCIDENT_FIELDS: &str = "id title description state severity dedupKey alertCount
    triggeredBy { kind name } acknowledgedBy { kind name } resolvedBy { kind name }
    timeline { kind actor { kind name } }
    alerts { integration { id } kind status summary source severity fingerprint
        labels { key value } annotations { key value } fields { key value }
        links { href text } startsAt endsAt receivedAt }";

/// A team and one integration of `kind` on its schedule: (schedule id, integration).
async fn integration(app: &TestApp, kind: &str) -> (String, Value) {
    let team = app.team(60_000, 60_000).await;
    let integration = create(app, &team.schedule, kind, None).await;
    (team.schedule, integration)
}

async fn create(app: &TestApp, schedule: &str, kind: &str, secret: Option<&str>) -> Value {
    let data = app
        .data(
            &format!(
                "mutation($i: CreateIntegrationInput!) {{ createIntegration(input: $i) {{ {INTEGRATION_FIELDS} }} }}"
            ),
            json!({ "i": { "scheduleId": schedule, "name": format!("{kind} monitor"), "kind": kind, "secret": secret } }),
        )
        .await;
    data["createIntegration"].clone()
}

fn key(integration: &Value) -> String {
    integration["key"].as_str().expect("a key").to_owned()
}

/// A client with no credential: monitors send only their key.
fn monitor() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> (u16, Value, Duration) {
    post_raw(
        app,
        path,
        "application/json",
        body.to_string().into_bytes(),
        &[],
    )
    .await
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, Value, Duration) {
    let started = Instant::now();
    let mut request = monitor()
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, started.elapsed())
}

fn fixture(name: &str, routing_key: &str, dedup_key: Option<&str>) -> Value {
    let path = format!(
        "{}/tests/fixtures/pagerduty/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    event["routing_key"] = json!(routing_key);
    if let Some(dedup) = dedup_key {
        event["dedup_key"] = json!(dedup);
    }
    event
}

async fn incidents(app: &TestApp) -> Vec<Value> {
    let data = app
        .data(
            &format!("{{ incidents(first: 500) {{ totalCount nodes {{ {INCIDENT_FIELDS} }} }} }}"),
            json!({}),
        )
        .await;
    data["incidents"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone()
}

async fn only_incident(app: &TestApp) -> Value {
    let all = incidents(app).await;
    assert_eq!(all.len(), 1, "expected exactly one incident: {all:#?}");
    all[0].clone()
}

fn accepted(dedup_key: &str) -> Value {
    json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})
}

fn assert_invalid_event(status: u16, body: &Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "invalid event", "{body}");
    assert_eq!(body["message"], "Event object is invalid", "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert!(
        !errors.is_empty() && errors.iter().all(|e| e.is_string()),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
}

// ---- integrations ----------------------------------------------------------------------

#[tokio::test]
async fn an_admin_creates_an_integration_with_a_32_character_key_and_its_url() {
    let app = spawn_app().await;
    let (schedule, events) = integration(&app, "EVENTS_API_V2").await;
    let key = key(&events);
    assert_eq!(key.len(), 32);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(events["url"], app.url("/v2/enqueue"));
    assert_eq!(events["kind"], "EVENTS_API_V2");
    assert_eq!(events["schedule"]["id"], schedule.as_str());
    assert!(events["lastEventAt"].is_null());
    let am = create(&app, &schedule, "ALERTMANAGER", None).await;
    assert_eq!(
        am["url"],
        app.url(&format!(
            "/integrations/{}/alertmanager",
            am["key"].as_str().unwrap()
        ))
    );
    assert_ne!(am["key"], events["key"]);
    let data = app
        .data(
            "query($s: ID!, $i: ID!) { schedule(id: $s) { integrations { id } } integration(id: $i) { name } }",
            json!({ "s": schedule, "i": events["id"] }),
        )
        .await;
    assert_eq!(
        data["schedule"]["integrations"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(data["integration"]["name"], "EVENTS_API_V2 monitor");
}

#[tokio::test]
async fn create_integration_on_an_unknown_schedule_is_not_found() {
    let app = spawn_app().await;
    let body = app
        .gql(
            "mutation { createIntegration(input: {scheduleId: \"nope\", name: \"x\", kind: GENERIC}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{body}"
    );
}

async fn token(app: &TestApp, role: &str) -> String {
    let data = app
        .data(
            "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token } }",
            json!({ "i": { "name": format!("{role} script"), "role": role } }),
        )
        .await;
    data["createApiToken"]["token"].as_str().unwrap().to_owned()
}

async fn gql_as(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    crate::helpers::client_with_token(token)
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn only_admins_manage_integrations_and_read_their_keys() {
    let app = spawn_app().await;
    let (schedule, am) = integration(&app, "ALERTMANAGER").await;
    let id = am["id"].as_str().unwrap();
    for role in ["RESPONDER", "VIEWER"] {
        let token = token(&app, role).await;
        let body = gql_as(
            &app,
            &token,
            "mutation($s: ID!) { createIntegration(input: {scheduleId: $s, name: \"x\", kind: GENERIC}) { id } }",
            json!({ "s": schedule }),
        )
        .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{body}"
        );
        for mutation in [
            "mutation($i: ID!) { rotateIntegrationKey(id: $i) { id } }",
            "mutation($i: ID!) { setIntegrationSecret(id: $i, secret: \"0123456789abcdef\") { id } }",
            "mutation($i: ID!) { deleteIntegration(id: $i) }",
        ] {
            let body = gql_as(&app, &token, mutation, json!({ "i": id })).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "FORBIDDEN",
                "{body}"
            );
        }
        let body = gql_as(
            &app,
            &token,
            "query($i: ID!) { integration(id: $i) { name key url } }",
            json!({ "i": id }),
        )
        .await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["integration"]["name"], "ALERTMANAGER monitor");
        assert!(body["data"]["integration"]["key"].is_null(), "{body}");
        assert!(body["data"]["integration"]["url"].is_null(), "{body}");
    }
    // Nothing changed: the key still works.
    let (status, _, _) = post_json(
        &app,
        &format!("/integrations/{}/alertmanager", key(&am)),
        &am_payload("firing", "g1", &[("web1", "firing")]),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_rotated_key_stops_working_and_a_deleted_integration_leaves_its_alerts() {
    let app = spawn_app().await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    let old = key(&events);
    let (status, _, _) = post_json(&app, "/v2/enqueue", &fixture("trigger", &old, None)).await;
    assert_eq!(status, 202);
    let rotated = app
        .data(
            "mutation($i: ID!) { rotateIntegrationKey(id: $i) { key } }",
            json!({ "i": events["id"] }),
        )
        .await;
    let new = rotated["rotateIntegrationKey"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new, old);
    let (status, body, _) = post_json(&app, "/v2/enqueue", &fixture("trigger", &old, None)).await;
    assert_invalid_event(status, &body);
    let (status, _, _) = post_json(&app, "/v2/enqueue", &fixture("trigger", &new, None)).await;
    assert_eq!(status, 202);
    app.data(
        "mutation($i: ID!) { deleteIntegration(id: $i) }",
        json!({ "i": events["id"] }),
    )
    .await;
    let (status, body, _) = post_json(&app, "/v2/enqueue", &fixture("trigger", &new, None)).await;
    assert_invalid_event(status, &body);
    let incident = only_incident(&app).await;
    assert_eq!(incident["alertCount"], 2);
    assert!(incident["alerts"][0]["integration"].is_null(), "{incident}");
    assert_eq!(incident["alerts"][0]["kind"], "EVENTS_API_V2");
    let data = app
        .data(
            "query($i: ID!) { integration(id: $i) { id } }",
            json!({ "i": events["id"] }),
        )
        .await;
    assert!(data["integration"].is_null());
}

// ---- PagerDuty Events API v2 -------------------------------------------------------------

#[tokio::test]
async fn an_events_api_trigger_opens_an_incident_as_the_integration() {
    let app = spawn_app().await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    let (status, body, _) = post_json(
        &app,
        "/v2/enqueue",
        &fixture("trigger", &key(&events), None),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(body, accepted("samplekeyhere"));
    let incident = only_incident(&app).await;
    assert_eq!(incident["title"], "Example alert on host1.example.com");
    assert_eq!(incident["severity"], "LOW");
    assert_eq!(incident["state"], "TRIGGERED");
    assert_eq!(incident["dedupKey"], "samplekeyhere");
    assert_eq!(
        incident["triggeredBy"],
        json!({"kind": "INTEGRATION", "name": "EVENTS_API_V2 monitor"})
    );
    let alert = &incident["alerts"][0];
    assert_eq!(alert["integration"]["id"], events["id"]);
    assert_eq!(alert["status"], "FIRING");
    assert_eq!(alert["severity"], "info");
    assert!(
        alert["source"]
            .as_str()
            .unwrap()
            .starts_with("monitoringtool:")
    );
    assert_eq!(alert["startsAt"], "2015-07-17T08:42:58.315Z");
    let fields: Vec<(String, String)> = alert["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap().into(),
                kv["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    for expected in [
        ("component", "postgres"),
        ("group", "prod-datapipe"),
        ("class", "deploy"),
        ("client", "Sample Monitoring Service"),
        ("custom_details.ping time", "1500ms"),
        ("custom_details.load avg", "0.75"),
    ] {
        assert!(
            fields.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {fields:?}"
        );
    }
    let links = alert["links"].as_array().unwrap();
    assert!(links.contains(&json!({"href": "https://example.com/", "text": "Link text"})));
    assert!(links.contains(
        &json!({"href": "https://monitoring.example.com", "text": "Sample Monitoring Service"})
    ));
    let data = app
        .data(
            "query($i: ID!) { integration(id: $i) { lastEventAt } }",
            json!({ "i": events["id"] }),
        )
        .await;
    assert!(data["integration"]["lastEventAt"].is_string());
}

#[tokio::test]
async fn a_repeated_trigger_folds_into_the_open_incident() {
    let app = spawn_app().await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    for _ in 0..3 {
        let (status, body, _) = post_json(
            &app,
            "/v2/enqueue",
            &fixture("trigger", &key(&events), Some("disk-full")),
        )
        .await;
        assert_eq!((status, body), (202, accepted("disk-full")));
    }
    let incident = only_incident(&app).await;
    assert_eq!(incident["alertCount"], 3);
    assert_eq!(incident["alerts"].as_array().map(Vec::len), Some(3));
    let folded = incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "ALERT_FOLDED")
        .count();
    assert_eq!(folded, 2);
}

#[tokio::test]
async fn a_trigger_without_a_dedup_key_gets_one() {
    let app = spawn_app().await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    let mut event = fixture("trigger", &key(&events), None);
    event.as_object_mut().unwrap().remove("dedup_key");
    let (status, body, _) = post_json(&app, "/v2/enqueue", &event).await;
    assert_eq!(status, 202);
    let made = body["dedup_key"].as_str().expect("a dedup key").to_owned();
    assert!(!made.is_empty());
    assert_eq!(body, accepted(&made));
    assert_eq!(only_incident(&app).await["dedupKey"], made.as_str());
}

#[tokio::test]
async fn acknowledge_and_resolve_act_on_the_open_incident_by_dedup_key() {
    let app = spawn_app().await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    let key = key(&events);
    post_json(
        &app,
        "/v2/enqueue",
        &fixture("trigger", &key, Some("dedupkeyhere")),
    )
    .await;
    let (status, body, _) =
        post_json(&app, "/v2/enqueue", &fixture("acknowledge", &key, None)).await;
    assert_eq!((status, body), (202, accepted("dedupkeyhere")));
    let incident = only_incident(&app).await;
    assert_eq!(incident["state"], "ACKNOWLEDGED");
    assert_eq!(incident["acknowledgedBy"]["kind"], "INTEGRATION");
    let (status, body, _) = post_json(&app, "/v2/enqueue", &fixture("resolve", &key, None)).await;
    assert_eq!((status, body), (202, accepted("dedupkeyhere")));
    let incident = only_incident(&app).await;
    assert_eq!(incident["state"], "RESOLVED");
    assert_eq!(
        incident["resolvedBy"],
        json!({"kind": "INTEGRATION", "name": "EVENTS_API_V2 monitor"})
    );
    // Nothing open with that key any more: accepted, nothing changes.
    let before = incident["timeline"].as_array().unwrap().len();
    for action in ["acknowledge", "resolve"] {
        let (status, body, _) = post_json(&app, "/v2/enqueue", &fixture(action, &key, None)).await;
        assert_eq!((status, body), (202, accepted("dedupkeyhere")));
    }
    let incident = only_incident(&app).await;
    assert_eq!(incident["state"], "RESOLVED");
    assert_eq!(incident["timeline"].as_array().unwrap().len(), before);
}

#[tokio::test]
async fn acknowledge_without_an_open_incident_changes_nothing() {
    let app = spawn_app().await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    let (status, body, _) = post_json(
        &app,
        "/v2/enqueue",
        &fixture("acknowledge", &key(&events), None),
    )
    .await;
    assert_eq!((status, body), (202, accepted("dedupkeyhere")));
    assert!(incidents(&app).await.is_empty());
}

#[tokio::test]
async fn invalid_events_get_pagerdutys_400_and_change_nothing() {
    let app = spawn_app().await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    let key = key(&events);
    let base = fixture("trigger", &key, None);
    let with = |pointer: &str, value: Value| {
        let mut event = base.clone();
        *event.pointer_mut(pointer).expect("pointer") = value;
        event.to_string().into_bytes()
    };
    let mut without_source = base.clone();
    without_source["payload"]
        .as_object_mut()
        .unwrap()
        .remove("source");
    let mut without_key = base.clone();
    without_key.as_object_mut().unwrap().remove("routing_key");
    let mut big = base.clone();
    big["payload"]["custom_details"] = json!({ "blob": "x".repeat(600 * 1024) });
    let mut huge = base.clone();
    huge["payload"]["custom_details"] = json!({ "blob": "x".repeat(1536 * 1024) });
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("malformed JSON", b"{\"routing_key\": ".to_vec()),
        ("not an object", b"[1, 2]".to_vec()),
        (
            "summary of the wrong type",
            with("/payload/summary", json!(42)),
        ),
        ("empty summary", with("/payload/summary", json!(""))),
        (
            "summary over 1024",
            with("/payload/summary", json!("s".repeat(1025))),
        ),
        (
            "dedup_key over 255",
            with("/dedup_key", json!("d".repeat(256))),
        ),
        (
            "unknown event_action",
            with("/event_action", json!("explode")),
        ),
        (
            "unknown severity",
            with("/payload/severity", json!("catastrophic")),
        ),
        ("missing source", without_source.to_string().into_bytes()),
        ("missing routing_key", without_key.to_string().into_bytes()),
        (
            "unknown routing_key",
            with("/routing_key", json!("0123456789abcdef0123456789abcdef")),
        ),
        ("body over 512 KB", big.to_string().into_bytes()),
        ("body over 1 MiB", huge.to_string().into_bytes()),
    ];
    for (case, body) in cases {
        let (status, answer, took) =
            post_raw(&app, "/v2/enqueue", "application/json", body, &[]).await;
        assert_invalid_event(status, &answer);
        assert!(took < Duration::from_secs(1), "{case}: took {took:?}");
    }
    assert!(incidents(&app).await.is_empty());
}

#[tokio::test]
async fn over_the_per_key_rate_limit_is_429_with_retry_after() {
    let mut config = Config::default();
    config.ingest_limits.burst = 3;
    config.ingest_limits.per_minute = 1;
    let app = spawn_app_with(config).await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    let event = fixture("trigger", &key(&events), None);
    for _ in 0..3 {
        assert_eq!(post_json(&app, "/v2/enqueue", &event).await.0, 202);
    }
    let response = monitor()
        .post(app.url("/v2/enqueue"))
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "throttle event");
    assert_eq!(only_incident(&app).await["alertCount"], 3);
}

#[tokio::test]
async fn ingestion_is_counted_in_metrics() {
    let app = spawn_app().await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    post_json(
        &app,
        "/v2/enqueue",
        &fixture("trigger", &key(&events), None),
    )
    .await;
    post_json(
        &app,
        "/v2/enqueue",
        &fixture("trigger", &key(&events), None),
    )
    .await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "klaxon_ingestion_events_total{integration_kind=\"events_api_v2\",result=\"triggered\"} 1",
        "klaxon_ingestion_events_total{integration_kind=\"events_api_v2\",result=\"deduplicated\"} 1",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

// ---- Alertmanager and Grafana --------------------------------------------------------------

fn am_payload(status: &str, group: &str, alerts: &[(&str, &str)]) -> Value {
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|(instance, status)| {
            json!({
                "status": status,
                "labels": { "alertname": "HighLatency", "instance": instance, "severity": "warning" },
                "annotations": { "summary": format!("Latency high on {instance}") },
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
                "fingerprint": format!("fp-{instance}"),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "klaxon",
        "groupLabels": { "alertname": group },
        "commonLabels": { "alertname": group, "severity": "warning" },
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
}

#[tokio::test]
async fn an_alertmanager_group_opens_folds_tracks_its_alerts_and_resolves() {
    let app = spawn_app().await;
    let (_, am) = integration(&app, "ALERTMANAGER").await;
    let path = format!("/integrations/{}/alertmanager", key(&am));
    let (status, body, _) = post_json(
        &app,
        &path,
        &am_payload(
            "firing",
            "HighLatency",
            &[("web1", "firing"), ("web2", "firing")],
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let incident = only_incident(&app).await;
    assert_eq!(incident["title"], "[FIRING:2] HighLatency");
    assert_eq!(incident["severity"], "MEDIUM");
    assert_eq!(incident["alerts"].as_array().map(Vec::len), Some(2));
    let alert = &incident["alerts"][0];
    assert_eq!(alert["kind"], "ALERTMANAGER");
    assert_eq!(alert["summary"], "Latency high on web1");
    assert_eq!(alert["fingerprint"], "fp-web1");
    assert!(alert["endsAt"].is_null());
    assert!(
        alert["labels"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "instance", "value": "web1"}))
    );
    assert_eq!(
        alert["links"][0]["href"],
        "http://prometheus:9090/graph?g0.expr=up"
    );
    // The group grows: same incident, three alerts.
    let (status, _, _) = post_json(
        &app,
        &path,
        &am_payload(
            "firing",
            "HighLatency",
            &[("web1", "firing"), ("web2", "resolved"), ("web3", "firing")],
        ),
    )
    .await;
    assert_eq!(status, 200);
    let incident = only_incident(&app).await;
    assert_eq!(incident["alertCount"], 2);
    let statuses: Vec<&str> = incident["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["FIRING", "RESOLVED", "FIRING"]);
    // Resolved: the incident is resolved by the integration.
    let (status, _, _) = post_json(
        &app,
        &path,
        &am_payload("resolved", "HighLatency", &[("web1", "resolved")]),
    )
    .await;
    assert_eq!(status, 200);
    let incident = only_incident(&app).await;
    assert_eq!(incident["state"], "RESOLVED");
    assert_eq!(incident["resolvedBy"]["kind"], "INTEGRATION");
    assert_eq!(incident["alerts"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn two_groups_with_the_same_summary_are_two_incidents() {
    let app = spawn_app().await;
    let (_, am) = integration(&app, "ALERTMANAGER").await;
    let path = format!("/integrations/{}/alertmanager", key(&am));
    for group in ["a", "b"] {
        let mut payload = am_payload("firing", "HighLatency", &[("web1", "firing")]);
        payload["groupKey"] = json!(format!("{{}}:{{team=\"{group}\"}}"));
        payload["commonAnnotations"] = json!({ "summary": "Latency is high" });
        assert_eq!(post_json(&app, &path, &payload).await.0, 201);
    }
    let all = incidents(&app).await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|i| i["title"] == "Latency is high"));
}

#[tokio::test]
async fn the_keyless_paths_take_the_key_as_a_bearer_and_an_unknown_key_is_404() {
    let app = spawn_app().await;
    let (_, am) = integration(&app, "ALERTMANAGER").await;
    let payload = am_payload("firing", "Up", &[("web1", "firing")])
        .to_string()
        .into_bytes();
    let auth = format!("Bearer {}", key(&am));
    let (status, _, _) = post_raw(
        &app,
        "/integrations/alertmanager",
        "application/json",
        payload.clone(),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(status, 201);
    for (path, headers) in [
        ("/integrations/alertmanager", vec![]),
        (
            "/integrations/alertmanager",
            vec![("authorization", "Bearer 0123456789abcdef0123456789abcdef")],
        ),
        (
            "/integrations/0123456789abcdef0123456789abcdef/alertmanager",
            vec![],
        ),
        (
            "/integrations/0123456789abcdef0123456789abcdef/grafana",
            vec![],
        ),
        (
            "/integrations/0123456789abcdef0123456789abcdef/generic",
            vec![],
        ),
    ] {
        let (status, body, _) =
            post_raw(&app, path, "application/json", payload.clone(), &headers).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["error"].is_string());
    }
    assert_eq!(incidents(&app).await.len(), 1);
}

#[tokio::test]
async fn ten_thousand_labels_are_refused_at_once_and_change_nothing() {
    let app = spawn_app().await;
    let (_, am) = integration(&app, "ALERTMANAGER").await;
    let labels: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| (format!("label_{i}"), json!("value")))
        .collect();
    let mut payload = am_payload("firing", "Big", &[("web1", "firing")]);
    payload["alerts"][0]["labels"] = Value::Object(labels);
    let (status, body, took) = post_json(
        &app,
        &format!("/integrations/{}/alertmanager", key(&am)),
        &payload,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("alerts[0].labels"),
        "{body}"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(incidents(&app).await.is_empty());
}

#[tokio::test]
async fn bad_webhook_payloads_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let (_, am) = integration(&app, "ALERTMANAGER").await;
    let path = format!("/integrations/{}/alertmanager", key(&am));
    let mut no_group = am_payload("firing", "x", &[("a", "firing")]);
    no_group.as_object_mut().unwrap().remove("groupKey");
    for body in [
        b"{not json".to_vec(),
        json!({"status": 3, "groupKey": "g"})
            .to_string()
            .into_bytes(),
        json!({"status": "burning", "groupKey": "g"})
            .to_string()
            .into_bytes(),
        no_group.to_string().into_bytes(),
    ] {
        let (status, answer, _) = post_raw(&app, &path, "application/json", body, &[]).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["error"].is_string());
    }
    assert!(incidents(&app).await.is_empty());
}

fn sign(secret: &str, message: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn grafana_posts_must_be_signed_when_the_integration_has_a_secret() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let secret = "grafana-shared-secret-0123";
    let grafana = create(&app, &team.schedule, "GRAFANA", Some(secret)).await;
    assert_eq!(grafana["hasSecret"], true);
    let path = format!("/integrations/{}/grafana", key(&grafana));
    let mut payload = am_payload("firing", "CPU", &[("web1", "firing")]);
    payload["title"] = json!("[FIRING:1] CPU Grafana");
    payload["state"] = json!("alerting");
    payload["message"] = json!("CPU is high");
    payload["orgId"] = json!(1);
    let body = payload.to_string().into_bytes();
    let (status, _, _) = post_raw(&app, &path, "application/json", body.clone(), &[]).await;
    assert_eq!(status, 401);
    let wrong = sign("another-secret-entirely", &body);
    let (status, _, _) = post_raw(
        &app,
        &path,
        "application/json",
        body.clone(),
        &[("x-grafana-alerting-signature", &wrong)],
    )
    .await;
    assert_eq!(status, 401);
    assert!(incidents(&app).await.is_empty());
    let right = sign(secret, &body);
    let (status, _, _) = post_raw(
        &app,
        &path,
        "application/json",
        body.clone(),
        &[("x-grafana-alerting-signature", &right)],
    )
    .await;
    assert_eq!(status, 201);
    let incident = only_incident(&app).await;
    assert_eq!(incident["title"], "[FIRING:1] CPU Grafana");
    assert_eq!(incident["description"], "CPU is high");
    assert_eq!(incident["alerts"][0]["kind"], "GRAFANA");
    // With a timestamp header, "timestamp:body" is signed.
    let now = chrono::Utc::now().timestamp().to_string();
    let mut signed = format!("{now}:").into_bytes();
    signed.extend_from_slice(&body);
    let (status, _, _) = post_raw(
        &app,
        &path,
        "application/json",
        body.clone(),
        &[
            ("x-grafana-alerting-signature", &sign(secret, &signed)),
            ("x-grafana-alerting-signature-timestamp", &now),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(only_incident(&app).await["alertCount"], 2);
}

// ---- generic --------------------------------------------------------------------------------

#[tokio::test]
async fn the_generic_endpoint_opens_from_a_form_and_closes_from_json() {
    let app = spawn_app().await;
    let (_, generic) = integration(&app, "GENERIC").await;
    let path = format!("/integrations/{}/generic", key(&generic));
    let (status, body, _) = post_raw(
        &app,
        &path,
        "application/x-www-form-urlencoded",
        b"summary=Backup+failed&details=disk+full&dedup=backup-1".to_vec(),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let incident = only_incident(&app).await;
    assert_eq!(incident["title"], "Backup failed");
    assert_eq!(incident["description"], "disk full");
    assert_eq!(incident["dedupKey"], "backup-1");
    assert_eq!(incident["alerts"][0]["kind"], "GENERIC");
    let (status, _, _) = post_json(
        &app,
        &path,
        &json!({"summary": "Backup failed", "dedup": "backup-1"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(only_incident(&app).await["alertCount"], 2);
    let (status, _, _) = post_json(
        &app,
        &path,
        &json!({"action": "close", "dedup": "backup-1"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(only_incident(&app).await["state"], "RESOLVED");
    for bad in [
        json!({"details": "no summary"}),
        json!({"summary": 5}),
        json!({"action": "close"}),
    ] {
        let (status, body, _) = post_json(&app, &path, &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(incidents(&app).await.len(), 1);
}

// ---- durability -------------------------------------------------------------------------------

#[tokio::test]
async fn integrations_and_alerts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        storage: Storage::Durable(klaxon::store::sqlite::DurableOptions::new(dir.path())),
        ..Config::default()
    };
    let app = spawn_app_with(config()).await;
    let (_, events) = integration(&app, "EVENTS_API_V2").await;
    let key = key(&events);
    post_json(&app, "/v2/enqueue", &fixture("trigger", &key, Some("k1"))).await;
    post_json(&app, "/v2/enqueue", &fixture("trigger", &key, Some("k1"))).await;
    let before = only_incident(&app).await;
    app.stop().await;
    let app = spawn_app_with(config()).await;
    let after = only_incident(&app).await;
    // (Pages may be confirmed delivered around the restart: compare what alerts made.)
    for field in [
        "id",
        "alertCount",
        "alerts",
        "dedupKey",
        "state",
        "triggeredBy",
    ] {
        assert_eq!(before[field], after[field], "{field}");
    }
    let data = app
        .data(
            "query($i: ID!) { integration(id: $i) { key lastEventAt } }",
            json!({ "i": events["id"] }),
        )
        .await;
    assert_eq!(data["integration"]["key"], key.as_str());
    assert!(data["integration"]["lastEventAt"].is_string());
    let (status, _, _) =
        post_json(&app, "/v2/enqueue", &fixture("resolve", &key, Some("k1"))).await;
    assert_eq!(status, 202);
    assert_eq!(only_incident(&app).await["state"], "RESOLVED");
}

#[tokio::test]
async fn any_integrations_key_works_on_every_path_the_path_gives_the_format() {
    let app = spawn_app().await;
    let (_, am) = integration(&app, "ALERTMANAGER").await;
    let (status, body, _) = post_json(
        &app,
        "/v2/enqueue",
        &fixture("trigger", &key(&am), Some("pd-1")),
    )
    .await;
    assert_eq!((status, body), (202, accepted("pd-1")));
    let incident = only_incident(&app).await;
    assert_eq!(incident["alerts"][0]["kind"], "EVENTS_API_V2");
    assert_eq!(incident["alerts"][0]["integration"]["id"], am["id"]);
}

#[tokio::test]
async fn a_grafana_signature_with_a_stale_timestamp_is_refused() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let secret = "grafana-shared-secret-0123";
    let grafana = create(&app, &team.schedule, "GRAFANA", Some(secret)).await;
    let body = am_payload("firing", "CPU", &[("web1", "firing")])
        .to_string()
        .into_bytes();
    let stale = (chrono::Utc::now().timestamp() - 3_600).to_string();
    let mut signed = format!("{stale}:").into_bytes();
    signed.extend_from_slice(&body);
    let (status, answer, _) = post_raw(
        &app,
        &format!("/integrations/{}/grafana", key(&grafana)),
        "application/json",
        body,
        &[
            ("x-grafana-alerting-signature", &sign(secret, &signed)),
            ("x-grafana-alerting-signature-timestamp", &stale),
        ],
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    assert!(incidents(&app).await.is_empty());
}
