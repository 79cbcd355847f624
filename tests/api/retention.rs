//! Hot retention over HTTP: a resolved incident past `hot_retention` leaves memory and is
//! still answered by `incident`, `incidents` and the REST adapter, takes a note (coming
//! back into memory, then leaving again), and survives a restart.

use std::time::Duration;

use klaxon::app::{Config, Storage};
use serde_json::{Value, json};

use crate::helpers::*;

fn durable(dir: &std::path::Path) -> Config {
    Config {
        storage: Storage::Durable(klaxon::store::sqlite::DurableOptions::new(dir)),
        hot_retention: Some(Duration::from_secs(1)),
        ..Config::default()
    }
}

async fn retired(app: &TestApp) -> u64 {
    app.health().await["incidentsRetired"]
        .as_u64()
        .expect("incidentsRetired")
}

async fn wait_retired(app: &TestApp, n: u64) {
    for _ in 0..200 {
        if retired(app).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} retired incidents, /healthz says {}",
        retired(app).await
    );
}

const LIST: &str = "query($s: IncidentState) { incidents(first: 10, state: $s) { totalCount pageInfo { hasNextPage } nodes { id title state } } }";

#[tokio::test]
async fn a_retired_incident_is_answered_noted_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(durable(dir.path())).await;
    let team = app.team(3_600_000, 3_600_000).await;
    let old = app.trigger_id(&team.schedule, "Disk full on db-1").await;
    let open = app.trigger_id(&team.schedule, "CPU hot").await;
    app.act("resolveIncident", &old).await;
    wait_retired(&app, 1).await;

    // Cold, and answered as before.
    let incident = app.incident(&old).await;
    assert_eq!(incident["id"], old.as_str());
    assert_eq!(incident["state"], "RESOLVED");
    assert_eq!(incident["title"], "Disk full on db-1");
    let all = app.data(LIST, json!({})).await["incidents"].clone();
    assert_eq!(all["totalCount"], 2);
    let ids: Vec<&str> = all["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [open.as_str(), old.as_str()], "newest first");
    let resolved = app.data(LIST, json!({ "s": "RESOLVED" })).await["incidents"].clone();
    assert_eq!(resolved["totalCount"], 1);
    assert_eq!(resolved["nodes"][0]["id"], old.as_str());
    let triggered = app.data(LIST, json!({ "s": "TRIGGERED" })).await["incidents"].clone();
    assert_eq!(triggered["totalCount"], 1);
    let rest = app
        .http
        .get(app.url(&format!("/api/incidents/{old}")))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 200);
    let rest: Value = rest.json().await.unwrap();
    assert_eq!(rest["id"], old.as_str());

    // A note brings it back into memory; the next cut retires it again, note included.
    let noted = app
        .data(
            "mutation($id: ID!) { addNote(incidentId: $id, text: \"postmortem filed\") { id timeline { kind } } }",
            json!({ "id": old }),
        )
        .await;
    assert_eq!(noted["addNote"]["id"], old.as_str());
    wait_retired(&app, 1).await;
    let timeline = |v: &Value| v["incident"]["timeline"].as_array().unwrap().len();
    let query = "query($id: ID!) { incident(id: $id) { id state timeline { kind } } }";
    let before = app.data(query, json!({ "id": old })).await;
    assert_eq!(
        timeline(&before),
        timeline(&json!({ "incident": noted["addNote"] }))
    );

    app.stop().await;
    let app = spawn_app_with(durable(dir.path())).await;
    assert_eq!(retired(&app).await, 1);
    let after = app.data(query, json!({ "id": old })).await;
    assert_eq!(after, before);
    let all = app.data(LIST, json!({})).await["incidents"].clone();
    assert_eq!(all["totalCount"], 2);
}
