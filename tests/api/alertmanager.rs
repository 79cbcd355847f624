//! A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) pages through
//! Klaxon with both of its ways out: `pagerduty_configs` pointed at `/v2/enqueue` and
//! `webhook_configs` pointed at an Alertmanager integration's URL. No imitation: the
//! binary must be installed (`scripts/test.sh` installs it); without it this test fails,
//! unless `KLAXON_SKIP_ALERTMANAGER=1`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{Duration as TimeDelta, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, iso, spawn_app};

const DEFAULT_BIN: &str = "/usr/bin/prometheus-alertmanager";

fn alertmanager_bin() -> Option<PathBuf> {
    let bin = std::env::var_os("KLAXON_ALERTMANAGER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BIN));
    bin.is_file().then_some(bin)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

async fn integration(app: &TestApp, schedule: &str, kind: &str) -> Value {
    let data = app
        .data(
            "mutation($i: CreateIntegrationInput!) { createIntegration(input: $i) { id key url } }",
            json!({ "i": { "scheduleId": schedule, "name": format!("alertmanager via {kind}"), "kind": kind } }),
        )
        .await;
    data["createIntegration"].clone()
}

/// Incidents per service id: (state, dedupKey, alert label names).
async fn by_service(app: &TestApp) -> Vec<Value> {
    let data = app
        .data(
            "{ incidents(first: 50) { nodes { state dedupKey alertCount service { id }
                triggeredBy { kind name } resolvedBy { kind }
                alerts { kind status labels { key value } } } } }",
            json!({}),
        )
        .await;
    data["incidents"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone()
}

async fn wait_for(
    app: &TestApp,
    what: &str,
    logs: &std::path::Path,
    ready: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let incidents = by_service(app).await;
        if ready(&incidents) {
            return incidents;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(logs).unwrap_or_default();
            panic!(
                "Alertmanager never got {what} through; incidents: {incidents:#?}\nalertmanager log:\n{log}"
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_real_alertmanager_pages_and_resolves_through_both_receivers() {
    let Some(bin) = alertmanager_bin() else {
        if std::env::var("KLAXON_SKIP_ALERTMANAGER").as_deref() == Ok("1") {
            eprintln!("skipped: KLAXON_SKIP_ALERTMANAGER=1 and no Alertmanager binary");
            return;
        }
        panic!(
            "{DEFAULT_BIN} is missing: install it (apt-get install -y --no-install-recommends prometheus-alertmanager, as scripts/test.sh does), point KLAXON_ALERTMANAGER_BIN at one, or set KLAXON_SKIP_ALERTMANAGER=1 to skip this test"
        );
    };
    let app = spawn_app().await;
    // Two services, so each receiver's incident is told apart.
    let team = app.team(3_600_000, 3_600_000).await;
    let other_service = app.create_service("Checkout").await;
    let now = Utc::now();
    let other_schedule = app
        .create_schedule(
            &other_service,
            &[(
                &team.bob,
                now - TimeDelta::hours(1),
                now + TimeDelta::days(1),
            )],
            3_600_000,
            &[],
        )
        .await;
    let pagerduty = integration(&app, &team.schedule, "EVENTS_API_V2").await;
    let webhook = integration(&app, &other_schedule, "ALERTMANAGER").await;

    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"global:
  resolve_timeout: 5m
route:
  receiver: klaxon
  group_by: ['alertname']
  group_wait: 200ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: klaxon
    pagerduty_configs:
      - routing_key: "{pd_key}"
        url: "http://{addr}/v2/enqueue"
        send_resolved: true
    webhook_configs:
      - url: "{webhook_url}"
        send_resolved: true
"#,
        pd_key = pagerduty["key"].as_str().expect("key"),
        addr = app.addr,
        webhook_url = webhook["url"].as_str().expect("url"),
    );
    let config_path = dir.path().join("alertmanager.yml");
    std::fs::write(&config_path, config).expect("config");
    let port = free_port();
    let log_path = dir.path().join("alertmanager.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let _alertmanager = tokio::process::Command::new(&bin)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start alertmanager");
    let api = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = client.get(format!("{api}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager did not become ready: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let starts_at = Utc::now() - TimeDelta::seconds(5);
    let alert = |ends_at: Option<chrono::DateTime<Utc>>| {
        let mut alert = json!({
            "labels": { "alertname": "KlaxonEndToEnd", "severity": "critical", "instance": "web-1" },
            "annotations": { "summary": "End-to-end latency is high" },
            "startsAt": iso(starts_at),
            "generatorURL": "http://prometheus.example/graph",
        });
        if let Some(ends_at) = ends_at {
            alert["endsAt"] = json!(iso(ends_at));
        }
        json!([alert])
    };
    let posted = client
        .post(format!("{api}/api/v2/alerts"))
        .json(&alert(None))
        .send()
        .await
        .expect("post alert");
    assert!(posted.status().is_success(), "{:?}", posted.text().await);

    let opened = wait_for(&app, "two open incidents", &log_path, |incidents| {
        incidents.len() == 2 && incidents.iter().all(|i| i["state"] == "TRIGGERED")
    })
    .await;
    let of = |service: &str| {
        opened
            .iter()
            .find(|i| i["service"]["id"] == service)
            .unwrap_or_else(|| panic!("no incident on {service}: {opened:#?}"))
            .clone()
    };
    let via_pagerduty = of(&team.service);
    let via_webhook = of(&other_service);
    assert_eq!(via_pagerduty["triggeredBy"]["kind"], "INTEGRATION");
    assert_eq!(via_pagerduty["alerts"][0]["kind"], "EVENTS_API_V2");
    assert_eq!(via_webhook["alerts"][0]["kind"], "ALERTMANAGER");
    assert!(
        via_webhook["alerts"][0]["labels"]
            .as_array()
            .expect("labels")
            .contains(&json!({"key": "alertname", "value": "KlaxonEndToEnd"})),
        "{via_webhook:#?}"
    );
    // Both ways name the group the same: SHA-256 of its group key.
    assert_eq!(via_pagerduty["dedupKey"], via_webhook["dedupKey"]);

    let ended = client
        .post(format!("{api}/api/v2/alerts"))
        .json(&alert(Some(Utc::now() - TimeDelta::seconds(1))))
        .send()
        .await
        .expect("post resolution");
    assert!(ended.status().is_success());
    let resolved = wait_for(&app, "both resolutions", &log_path, |incidents| {
        incidents.len() == 2 && incidents.iter().all(|i| i["state"] == "RESOLVED")
    })
    .await;
    assert!(
        resolved
            .iter()
            .all(|i| i["resolvedBy"]["kind"] == "INTEGRATION")
    );
}
