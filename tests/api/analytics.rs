//! `analytics` and the CSV export over HTTP, with a clock the test sets, so every
//! trigger, acknowledgement and resolution happens at a known moment.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use klaxon::app::Config;
use klaxon::clock::Clock;
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, iso, spawn_app_with};

/// A clock that reads what the test last set.
#[derive(Debug)]
struct ManualClock(Mutex<DateTime<Utc>>);

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// Monday 2 March 2026, noon UTC.
fn origin() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap()
}

/// Long enough that no timer fires while the test moves its clock by hours.
const WEEK_MS: i64 = 7 * 24 * 3_600_000;

struct Fixture {
    app: TestApp,
    clock: Arc<ManualClock>,
    alice: String,
    bob: String,
    service: String,
    schedule: String,
    /// Alice's session cookie: her acknowledgements are hers.
    alice_cookie: String,
}

impl Fixture {
    fn at(&self, offset: Duration) {
        *self.clock.0.lock().unwrap() = origin() + offset;
    }

    async fn trigger_at(&self, offset: Duration, title: &str, severity: &str) -> String {
        self.at(offset);
        let incident = self
            .app
            .trigger_with(
                json!({ "title": title, "scheduleId": self.schedule, "severity": severity }),
            )
            .await;
        incident["id"].as_str().expect("id").to_owned()
    }

    /// Alice acknowledges at `offset`.
    async fn acknowledge_at(&self, offset: Duration, id: &str) {
        self.at(offset);
        let response = reqwest::Client::new()
            .post(self.app.url("/graphql"))
            .header("cookie", &self.alice_cookie)
            .json(&json!({
                "query": "mutation($id: ID!) { acknowledgeIncident(id: $id) { state } }",
                "variables": { "id": id },
            }))
            .send()
            .await
            .expect("request");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            body["data"]["acknowledgeIncident"]["state"], "ACKNOWLEDGED",
            "{body}"
        );
    }

    async fn act_at(&self, offset: Duration, mutation: &str, id: &str) {
        self.at(offset);
        let body = self.app.act(mutation, id).await;
        assert!(body.get("errors").is_none(), "{body}");
    }

    async fn analytics(&self, from: DateTime<Utc>, to: DateTime<Utc>, extra: Value) -> Value {
        let mut vars = json!({ "from": iso(from), "to": iso(to) });
        if let (Some(vars), Some(extra)) = (vars.as_object_mut(), extra.as_object()) {
            vars.extend(extra.clone());
        }
        self.app.gql(ANALYTICS, vars).await
    }
}

const ANALYTICS: &str = "query($from: DateTime!, $to: DateTime!, $service: ID, $tz: String) {
  analytics(from: $from, to: $to, serviceId: $service, timeZone: $tz) {
    from to timeZone incidentCount acknowledgedCount resolvedCount escalatedCount
    mttaMs mttrMs mttaP50Ms mttaP90Ms mttrP50Ms mttrP90Ms
    byService { service { id name } incidentCount acknowledgedCount resolvedCount mttaMs mttrMs }
    byResponder { user { id name } incidentCount pagesReceived acknowledgedCount mttaMs mttrMs }
    daily { date incidentCount lowCount mediumCount highCount mttaMs mttrMs }
    onCallLoad { user { id } onCallMs pages nightPages }
  }
}";

/// Alice on call from a day before the origin to two days after, in `time_zone`; Bob is
/// the first escalation level.
async fn fixture(time_zone: &str) -> Fixture {
    let clock = Arc::new(ManualClock(Mutex::new(origin())));
    let app = spawn_app_with(Config {
        clock: clock.clone(),
        ..Config::default()
    })
    .await;
    let alice = app.create_user("Alice").await;
    let bob = app.create_user("Bob").await;
    let service = app.create_service("Payments").await;
    let data = app
        .data(
            "mutation($i: CreateScheduleInput!) { createSchedule(input: $i) { id } }",
            json!({ "i": {
                "name": "Primary",
                "serviceId": service,
                "timeZone": time_zone,
                "rotation": [{ "userId": alice, "startTime": iso(origin() - Duration::days(1)), "endTime": iso(origin() + Duration::days(2)) }],
                "escalationPolicy": { "initialTimeoutMs": WEEK_MS, "escalationLevels": [{ "userId": bob, "timeoutMs": WEEK_MS }] },
            }}),
        )
        .await;
    let schedule = data["createSchedule"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let alice_id = alice.parse().expect("a user id");
    let link = app.gate.login_link(alice_id);
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(&format!("/auth/link/{link}")))
        .send()
        .await
        .expect("login link");
    let alice_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    Fixture {
        app,
        clock,
        alice,
        bob,
        service,
        schedule,
        alice_cookie,
    }
}

fn minutes(m: i64) -> Duration {
    Duration::minutes(m)
}

#[tokio::test]
async fn mtta_and_mttr_average_only_the_acknowledged_and_resolved_incidents() {
    let f = fixture("UTC").await;
    // Before the window: not counted.
    let early = f.trigger_at(minutes(-90), "Before", "HIGH").await;
    f.act_at(minutes(-80), "resolveIncident", &early).await;
    let a = f.trigger_at(minutes(0), "Disk full", "HIGH").await;
    f.acknowledge_at(minutes(1), &a).await;
    f.act_at(minutes(5), "resolveIncident", &a).await;
    let b = f.trigger_at(minutes(10), "Latency", "MEDIUM").await;
    f.acknowledge_at(minutes(13), &b).await;
    let _open = f.trigger_at(minutes(20), "Flapping", "LOW").await;

    let body = f
        .analytics(origin(), origin() + Duration::hours(1), json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let a = &body["data"]["analytics"];
    assert_eq!(a["incidentCount"], 3);
    assert_eq!(a["acknowledgedCount"], 2);
    assert_eq!(a["resolvedCount"], 1);
    assert_eq!(a["escalatedCount"], 0);
    // (1 + 3) / 2 minutes; the open incident is not a zero.
    assert_eq!(a["mttaMs"], 120_000.0);
    assert_eq!(a["mttrMs"], 300_000.0);
    assert_eq!(a["mttaP50Ms"], 60_000.0);
    assert_eq!(a["mttaP90Ms"], 180_000.0);
    assert_eq!(a["mttrP90Ms"], 300_000.0);
    assert_eq!(a["timeZone"], "UTC");
    assert_eq!(a["byService"][0]["service"]["id"], f.service.as_str());
    assert_eq!(a["byService"][0]["incidentCount"], 3);
    assert_eq!(a["byService"][0]["mttaMs"], 120_000.0);
    let alice = &a["byResponder"][0];
    assert_eq!(alice["user"]["id"], f.alice.as_str());
    assert_eq!(alice["incidentCount"], 3);
    assert_eq!(alice["pagesReceived"], 3);
    assert_eq!(alice["acknowledgedCount"], 2);
    assert_eq!(alice["mttaMs"], 120_000.0);
    assert_eq!(alice["mttrMs"], 300_000.0);
}

#[tokio::test]
async fn means_are_null_when_nothing_was_acknowledged() {
    let f = fixture("UTC").await;
    f.trigger_at(minutes(0), "Quiet", "LOW").await;
    let body = f
        .analytics(origin(), origin() + Duration::hours(1), json!({}))
        .await;
    let a = &body["data"]["analytics"];
    assert_eq!(a["incidentCount"], 1);
    assert_eq!(a["mttaMs"], Value::Null);
    assert_eq!(a["mttrP50Ms"], Value::Null);
}

#[tokio::test]
async fn a_manual_escalation_counts_as_escalated_and_pages_the_next_level() {
    let f = fixture("UTC").await;
    let id = f.trigger_at(minutes(0), "Down", "HIGH").await;
    f.act_at(minutes(2), "escalateIncident", &id).await;
    let body = f
        .analytics(origin(), origin() + Duration::hours(1), json!({}))
        .await;
    let a = &body["data"]["analytics"];
    assert_eq!(a["escalatedCount"], 1);
    let paged: Vec<&str> = a["byResponder"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user"]["id"].as_str().unwrap())
        .collect();
    assert!(paged.contains(&f.bob.as_str()), "{a}");
    assert!(paged.contains(&f.alice.as_str()), "{a}");
}

#[tokio::test]
async fn an_acknowledgement_lost_to_an_escalation_still_counts_for_mtta() {
    let f = fixture("UTC").await;
    let id = f.trigger_at(minutes(0), "Down", "HIGH").await;
    f.acknowledge_at(minutes(4), &id).await;
    f.act_at(minutes(6), "escalateIncident", &id).await;
    let body = f
        .analytics(origin(), origin() + Duration::hours(1), json!({}))
        .await;
    let a = &body["data"]["analytics"];
    assert_eq!(a["acknowledgedCount"], 1);
    assert_eq!(a["mttaMs"], 240_000.0);
}

#[tokio::test]
async fn daily_buckets_are_local_days_with_every_day_present() {
    let f = fixture("America/New_York").await;
    // 12:00Z is 07:00 in New York (EST); 03:00Z the next day is 22:00 the same local day.
    let a = f.trigger_at(minutes(0), "Morning", "HIGH").await;
    f.acknowledge_at(minutes(10), &a).await;
    f.trigger_at(Duration::hours(15), "Evening", "LOW").await;
    // New York midnight 2 March to midnight 5 March.
    let from = Utc.with_ymd_and_hms(2026, 3, 2, 5, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2026, 3, 5, 5, 0, 0).unwrap();
    let body = f
        .analytics(from, to, json!({ "tz": "America/New_York" }))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let daily = &body["data"]["analytics"]["daily"];
    assert_eq!(body["data"]["analytics"]["timeZone"], "America/New_York");
    assert_eq!(
        daily,
        &json!([
            { "date": "2026-03-02", "incidentCount": 2, "lowCount": 1, "mediumCount": 0, "highCount": 1, "mttaMs": 600_000.0, "mttrMs": null },
            { "date": "2026-03-03", "incidentCount": 0, "lowCount": 0, "mediumCount": 0, "highCount": 0, "mttaMs": null, "mttrMs": null },
            { "date": "2026-03-04", "incidentCount": 0, "lowCount": 0, "mediumCount": 0, "highCount": 0, "mttaMs": null, "mttrMs": null },
        ])
    );
}

#[tokio::test]
async fn on_call_load_sums_shifts_and_counts_night_pages_in_the_schedules_zone() {
    let f = fixture("Europe/Berlin").await;
    // 12:00Z is 13:00 in Berlin: a day page. 22:00Z is 23:00: a night page.
    f.trigger_at(minutes(0), "Day", "HIGH").await;
    f.trigger_at(Duration::hours(10), "Night", "HIGH").await;
    let body = f
        .analytics(origin(), origin() + Duration::days(1), json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let load = &body["data"]["analytics"]["onCallLoad"];
    assert_eq!(
        load,
        &json!([{ "user": { "id": f.alice }, "onCallMs": 86_400_000.0, "pages": 2, "nightPages": 1 }])
    );
}

#[tokio::test]
async fn a_service_filter_keeps_only_that_services_incidents() {
    let f = fixture("UTC").await;
    f.trigger_at(minutes(0), "Ours", "HIGH").await;
    let other = f.app.create_service("Search").await;
    let body = f
        .analytics(
            origin(),
            origin() + Duration::hours(1),
            json!({ "service": other }),
        )
        .await;
    let a = &body["data"]["analytics"];
    assert_eq!(a["incidentCount"], 0, "{body}");
    assert_eq!(a["onCallLoad"], json!([]));
    let body = f
        .analytics(
            origin(),
            origin() + Duration::hours(1),
            json!({ "service": f.service }),
        )
        .await;
    assert_eq!(body["data"]["analytics"]["incidentCount"], 1, "{body}");
}

#[tokio::test]
async fn bad_windows_zones_and_services_are_refused() {
    let f = fixture("UTC").await;
    let cases = [
        (origin(), origin(), json!({}), "BAD_USER_INPUT", Some("to")),
        (
            origin(),
            origin() - Duration::hours(1),
            json!({}),
            "BAD_USER_INPUT",
            Some("to"),
        ),
        (
            origin(),
            origin() + Duration::days(401),
            json!({}),
            "BAD_USER_INPUT",
            Some("to"),
        ),
        (
            origin(),
            origin() + Duration::days(1),
            json!({ "tz": "Mars/Olympus" }),
            "BAD_USER_INPUT",
            Some("timeZone"),
        ),
        (
            origin(),
            origin() + Duration::days(1),
            json!({ "service": "7b0c6f5e-2f5e-4c8e-9a57-2f3f7d0a0b1c" }),
            "NOT_FOUND",
            Some("serviceId"),
        ),
    ];
    for (from, to, extra, expected, field) in cases {
        let body = f.analytics(from, to, extra.clone()).await;
        assert_eq!(code(&body), expected, "{extra}: {body}");
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
    }
}

#[tokio::test]
async fn analytics_needs_a_credential() {
    let f = fixture("UTC").await;
    let response = reqwest::Client::new()
        .post(f.app.url("/graphql"))
        .json(&json!({ "query": ANALYTICS, "variables": { "from": iso(origin()), "to": iso(origin() + Duration::hours(1)) } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_incident_export_is_rfc_4180_csv() {
    let f = fixture("UTC").await;
    let id = f
        .trigger_at(minutes(0), "Disk \"sda\" full, again", "HIGH")
        .await;
    f.acknowledge_at(minutes(1), &id).await;
    f.act_at(minutes(5), "resolveIncident", &id).await;
    let response = f
        .app
        .http
        .get(f.app.url(&format!(
            "/analytics/incidents.csv?from={}&to={}&serviceId={}",
            iso(origin()),
            iso(origin() + Duration::hours(1)),
            f.service
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "id,title,service,severity,state,triggeredAt,acknowledgedAt,resolvedAt,acknowledgedBy,resolvedBy,escalated,alertCount"
    );
    assert_eq!(
        lines[1],
        format!(
            "{id},\"Disk \"\"sda\"\" full, again\",Payments,HIGH,RESOLVED,2026-03-02T12:00:00.000Z,2026-03-02T12:01:00.000Z,2026-03-02T12:05:00.000Z,Alice,KLAXON_ADMIN_TOKEN,false,1"
        ),
    );
    assert_eq!(lines.len(), 3, "{body}");
    assert_eq!(lines[2], "");
}

#[tokio::test]
async fn the_incident_export_needs_a_credential_and_a_window() {
    let f = fixture("UTC").await;
    let url = f.app.url(&format!(
        "/analytics/incidents.csv?from={}&to={}",
        iso(origin()),
        iso(origin() + Duration::hours(1))
    ));
    let anonymous = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let missing = f
        .app
        .http
        .get(
            f.app
                .url("/analytics/incidents.csv?from=2026-03-02T00:00:00Z"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let inverted = f
        .app
        .http
        .get(f.app.url(&format!(
            "/analytics/incidents.csv?from={}&to={}",
            iso(origin()),
            iso(origin() - Duration::hours(1))
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(inverted.status(), 400);
}
