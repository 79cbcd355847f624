//! `/metrics` after some activity: `promtool check metrics` accepts it, and the main
//! series are there with the values the activity implies.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{TestApp, spawn_app};

async fn scrape(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels).
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn promtool() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    })
}

#[tokio::test]
async fn metrics_pass_promtool_and_count_what_happened() {
    let app = spawn_app().await;
    let team = app.team(60_000, 60_000).await;
    let a = app.trigger_id(&team.schedule, "Disk full").await;
    let b = app.trigger_id(&team.schedule, "Latency").await;
    let _open = app.trigger_id(&team.schedule, "Flapping").await;
    assert!(
        app.act("acknowledgeIncident", &a)
            .await
            .get("errors")
            .is_none()
    );
    assert!(app.act("resolveIncident", &a).await.get("errors").is_none());
    assert!(
        app.act("escalateIncident", &b)
            .await
            .get("errors")
            .is_none()
    );
    // The notifier delivers pages in the background.
    let mut body = scrape(&app).await;
    for _ in 0..100 {
        if value(&body, "klaxon_pages_sent_total{channel=\"log\"}") >= Some(4.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        body = scrape(&app).await;
    }

    let labels = "{service=\"Payments\",severity=\"high\"}";
    assert_eq!(
        value(&body, &format!("klaxon_incidents_opened_total{labels}")),
        Some(3.0),
        "{body}"
    );
    assert_eq!(
        value(
            &body,
            &format!("klaxon_incidents_acknowledged_total{labels}")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&body, &format!("klaxon_incidents_resolved_total{labels}")),
        Some(1.0)
    );
    assert_eq!(
        value(&body, &format!("klaxon_incidents_escalated_total{labels}")),
        Some(1.0)
    );
    assert_eq!(
        value(&body, "klaxon_open_incidents{state=\"triggered\"}"),
        Some(2.0)
    );
    assert_eq!(
        value(&body, "klaxon_open_incidents{state=\"acknowledged\"}"),
        Some(0.0)
    );
    // Three triggers and one escalation paged someone.
    assert_eq!(
        value(&body, "klaxon_pages_sent_total{channel=\"log\"}"),
        Some(4.0),
        "{body}"
    );
    assert_eq!(
        value(&body, "klaxon_pages_failed_total{channel=\"log\"}"),
        Some(0.0)
    );
    // Route templates, never raw paths.
    let graphql = value(
        &body,
        "klaxon_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"}",
    );
    assert!(graphql >= Some(10.0), "{body}");
    assert!(
        value(
            &body,
            "klaxon_http_request_duration_seconds_count{route=\"/graphql\",method=\"POST\"}"
        ) >= Some(10.0)
    );
    assert!(!body.contains(&a), "an incident id leaked into a label");
    assert!(value(&body, "klaxon_journal_append_duration_seconds_count") >= Some(10.0));
    assert!(body.contains("# TYPE klaxon_escalation_timer_lateness_seconds histogram"));
    // The two unacknowledged incidents' escalations and the schedule's handoff.
    assert!(
        value(&body, "klaxon_escalation_timers_pending") >= Some(2.0),
        "{body}"
    );
    assert_eq!(value(&body, "klaxon_websocket_connections"), Some(0.0));
    assert!(value(&body, "klaxon_subscriptions").is_some());

    let Some(promtool) = promtool() else {
        eprintln!(
            "SKIPPED promtool check: promtool is not on PATH (apt-get install prometheus; scripts/test.sh installs it as root)"
        );
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{body}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn metrics_need_a_credential() {
    let app = spawn_app().await;
    let response = reqwest::Client::new()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_timer_that_fires_is_timed() {
    let app = spawn_app().await;
    let team = app.team(50, 60_000).await;
    app.trigger_id(&team.schedule, "Nobody answers").await;
    let mut body = scrape(&app).await;
    for _ in 0..250 {
        if value(&body, "klaxon_escalation_timer_lateness_seconds_count") >= Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        body = scrape(&app).await;
    }
    assert!(
        value(&body, "klaxon_escalation_timer_lateness_seconds_count") >= Some(1.0),
        "{body}"
    );
    assert!(
        value(
            &body,
            "klaxon_incidents_escalated_total{service=\"Payments\",severity=\"high\"}"
        ) >= Some(1.0)
    );
}
