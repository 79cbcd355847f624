//! The paging workloads: how long a page takes to reach its far end, and what a storm of
//! pages to one person costs.
//!
//! - `page-webhook`: trigger → the `incident.page` envelope received by a local HTTP
//!   receiver (axum), per incident.
//! - `page-email`: trigger → the message accepted by a local SMTP server (Python's
//!   `aiosmtpd`, writing a Maildir: the accept time is the file's modification time),
//!   triggers paced at `--email-rate` per second (the SMTP server, not Klaxon, sets how
//!   many messages a second get through; an unpaced burst measures its queue).
//! - `page-storm`: triggers to one on-call user with one email rule, first with the rule a
//!   day away (pages planned, none sent), then at once (every page sent or bundled); the
//!   two throughputs, the messages the SMTP server got and how many incidents they bundled.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::http::{Conn, Work, closed_loop, post_graphql};
use crate::server::Server;
use crate::stats::{Report, Summary};
use crate::workloads::Plan;

/// A running `aiosmtpd` for the email workloads, shared by them (killed at exit).
pub struct Smtp {
    port: u16,
    maildir: PathBuf,
    child: Mutex<std::process::Child>,
}

static SMTP: OnceLock<Smtp> = OnceLock::new();

/// Starts (once) the local SMTP server; its `smtp://` URL.
pub fn smtp_url() -> anyhow::Result<String> {
    if let Some(smtp) = SMTP.get() {
        return Ok(format!("smtp://127.0.0.1:{}", smtp.port));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let maildir = std::env::temp_dir().join(format!("klaxon-bench-mail-{}", std::process::id()));
    let child = std::process::Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("could not start aiosmtpd (Debian: python3-aiosmtpd)")?;
    let smtp = Smtp {
        port,
        maildir,
        child: Mutex::new(child),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            stop_smtp_of(&smtp);
            bail!("aiosmtpd did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = SMTP.set(smtp);
    Ok(format!("smtp://127.0.0.1:{port}"))
}

fn stop_smtp_of(smtp: &Smtp) {
    if let Ok(mut child) = smtp.child.lock() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&smtp.maildir);
}

/// Stops the SMTP server, if one was started.
pub fn stop_smtp() {
    if let Some(smtp) = SMTP.get() {
        stop_smtp_of(smtp);
    }
}

/// One received email: its subject and when the SMTP server wrote it (unix µs).
struct Mail {
    subject: String,
    at_us: i64,
}

fn mails() -> Vec<Mail> {
    let Some(smtp) = SMTP.get() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(smtp.maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let at_us = entry
                .metadata()
                .ok()?
                .modified()
                .ok()?
                .duration_since(UNIX_EPOCH)
                .ok()?
                .as_micros() as i64;
            let text = std::fs::read_to_string(entry.path()).ok()?;
            let subject = text
                .lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix("Subject: "))?
                .to_owned();
            Some(Mail { subject, at_us })
        })
        .collect()
}

fn clear_mail() {
    if let Some(smtp) = SMTP.get() {
        let _ = std::fs::remove_dir_all(smtp.maildir.join("new"));
        let _ = std::fs::create_dir_all(smtp.maildir.join("new"));
    }
}

fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The schedule of a fresh bench team, and the user on call in it.
async fn on_call_team(server: &Server) -> anyhow::Result<(String, String)> {
    let schedules = server.team(&[3_600_000], 2).await?;
    let data = server
        .gql(
            "query($id: ID!) { schedule(id: $id) { onCall { id email } } }",
            json!({ "id": schedules[0] }),
        )
        .await?;
    let user = data["schedule"]["onCall"]["id"]
        .as_str()
        .with_context(|| format!("nobody on call: {data}"))?
        .to_owned();
    Ok((schedules[0].clone(), user))
}

async fn add_rule(
    server: &Server,
    user: &str,
    kind: &str,
    target: &str,
    delay_ms: i64,
) -> anyhow::Result<(String, String)> {
    let data = server
        .gql(
            "mutation($i: AddContactMethodInput!) { addContactMethod(input: $i) { id } }",
            json!({ "i": { "userId": user, "kind": kind, "name": format!("bench {kind}"), "target": target } }),
        )
        .await?;
    let method = data["addContactMethod"]["id"]
        .as_str()
        .context("no contact method id")?
        .to_owned();
    let data = server
        .gql(
            "mutation($i: AddNotificationRuleInput!) { addNotificationRule(input: $i) { id } }",
            json!({ "i": { "userId": user, "contactMethodId": method, "delayMs": delay_ms } }),
        )
        .await?;
    let rule = data["addNotificationRule"]["id"]
        .as_str()
        .context("no rule id")?
        .to_owned();
    Ok((method, rule))
}

fn trigger_request(addr: SocketAddr, schedule: &str, title: &str) -> Vec<u8> {
    let body = json!({
        "query": "mutation($s: ID!, $t: String!) { triggerIncident(input: {title: $t, scheduleId: $s, severity: HIGH}) { id } }",
        "variables": { "s": schedule, "t": title },
    });
    post_graphql(addr, &body.to_string())
}

/// Triggers `count` incidents titled `{prefix}-{n}` over `clients` connections; the send
/// instant (unix µs) of each, by incident id and by title.
/// With `rate` (per second), trigger n leaves no earlier than n / rate after the start
/// (an open-loop pace, so a page's latency is its own and not a queue's); without it,
/// each client sends as soon as its previous answer came.
async fn timed_triggers(
    server: &Server,
    schedule: &str,
    prefix: &str,
    count: usize,
    clients: usize,
    rate: Option<f64>,
) -> anyhow::Result<Vec<(String, String, i64)>> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let mut conn = Conn::connect(server.addr).await?;
        let next = next.clone();
        let schedule = schedule.to_owned();
        let prefix = prefix.to_owned();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= count {
                    break;
                }
                if let Some(rate) = rate.filter(|r| *r > 0.0) {
                    tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate))
                        .await;
                }
                let title = format!("{prefix}-{n}");
                let request = trigger_request(addr, &schedule, &title);
                let at = unix_micros();
                let (status, body) = conn.roundtrip(&request).await?;
                let body: Value = serde_json::from_slice(body)?;
                let id = body["data"]["triggerIncident"]["id"]
                    .as_str()
                    .with_context(|| format!("trigger answered {status}: {body}"))?
                    .to_owned();
                sent.push((id, title, at));
            }
            Ok::<_, anyhow::Error>(sent)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// `page-webhook`: trigger → webhook received.
pub async fn page_webhook(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let (schedule, user) = on_call_team(server).await?;
    let received: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/page",
        axum::routing::post(move |body: axum::body::Bytes| {
            let at = unix_micros();
            let sink = sink.clone();
            async move {
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    if let Some(id) = value["event"]["incident"]["id"].as_str() {
                        if let Ok(mut map) = sink.lock() {
                            map.entry(id.to_owned()).or_insert(at);
                        }
                    }
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let receiver = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    add_rule(server, &user, "WEBHOOK", &format!("http://{addr}/page"), 0).await?;
    let count = plan.pages;
    let started = Instant::now();
    let sent = timed_triggers(server, &schedule, "webhook", count, plan.page_clients, None).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.lock().map_or(0, |m| m.len()) < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    receiver.abort();
    let received = received.lock().map(|m| m.clone()).unwrap_or_default();
    let latencies: Vec<i64> = sent
        .iter()
        .filter_map(|(id, _, at)| received.get(id).map(|got| got - at))
        .collect();
    let mut extra = Map::new();
    extra.insert("pages".into(), count.into());
    extra.insert("clients".into(), plan.page_clients.into());
    Ok(latency_report(
        "page-webhook",
        count,
        latencies,
        seconds,
        "p99<=50ms",
        extra,
    ))
}

/// A latency workload's report: one operation per page that arrived, the rest errors.
fn latency_report(
    workload: &str,
    count: usize,
    mut latencies: Vec<i64>,
    seconds: f64,
    target: &'static str,
    mut extra: Map<String, Value>,
) -> Report {
    let missing = count.saturating_sub(latencies.len());
    extra.insert("missing".into(), missing.into());
    Report {
        workload: workload.into(),
        ops: latencies.len() as u64,
        errors: missing as u64,
        seconds,
        throughput: Some(latencies.len() as f64 / seconds.max(1e-9)),
        latency: Summary::of_micros(&mut latencies),
        target,
        extra,
    }
}

/// `page-email`: trigger → accepted by the SMTP server (default page: no rules, email to
/// the user's address).
pub async fn page_email(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    clear_mail();
    let (schedule, _) = on_call_team(server).await?;
    let count = plan.emails;
    let started = Instant::now();
    let sent = timed_triggers(
        server,
        &schedule,
        "email",
        count,
        plan.page_clients,
        Some(plan.email_rate),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = mails();
    while got.len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        got = mails();
    }
    let seconds = started.elapsed().as_secs_f64();
    let by_title: HashMap<&str, i64> = got
        .iter()
        .filter_map(|m| m.subject.strip_prefix("[HIGH] ").map(|t| (t, m.at_us)))
        .collect();
    let latencies: Vec<i64> = sent
        .iter()
        .filter_map(|(_, title, at)| by_title.get(title.as_str()).map(|got| got - at))
        .collect();
    let mut extra = Map::new();
    extra.insert("emails".into(), count.into());
    extra.insert("paced_per_s".into(), plan.email_rate.into());
    extra.insert("clients".into(), plan.page_clients.into());
    Ok(latency_report(
        "page-email",
        count,
        latencies,
        seconds,
        "p99<=250ms",
        extra,
    ))
}

async fn trigger_throughput(
    server: &Server,
    schedule: &str,
    count: usize,
    clients: usize,
) -> anyhow::Result<crate::http::Run> {
    let request = trigger_request(server.addr, schedule, "storm");
    let run = closed_loop(
        server.addr,
        clients,
        Work {
            sequences: Arc::new(vec![vec![request]]),
            items: Some(count),
            duration: None,
            keep_bodies: false,
        },
    )
    .await?;
    if run.errors > 0 {
        bail!(
            "{} triggers failed; first: {}",
            run.errors,
            run.first_error.unwrap_or_default()
        );
    }
    Ok(run)
}

/// `page-storm`: `storm_pages` triggers to one user with one email rule.
pub async fn page_storm(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    clear_mail();
    let (schedule, user) = on_call_team(server).await?;
    let count = plan.storm_pages;
    // Phase 1: the rule is a day away, so every page is planned and none is sent.
    let (_, later) = add_rule(server, &user, "EMAIL", "storm@example.com", 86_400_000).await?;
    let quiet = trigger_throughput(server, &schedule, count, plan.clients).await?;
    server
        .gql(
            "mutation($id: ID!) { removeNotificationRule(id: $id) }",
            json!({ "id": later }),
        )
        .await?;
    // Phase 2: at once: every page is sent, or bundled past the per-minute limit.
    clear_mail();
    let (_, _) = add_rule(server, &user, "EMAIL", "storm@example.com", 0).await?;
    let loud = trigger_throughput(server, &schedule, count, plan.clients).await?;
    let quiet_rate = quiet.ok as f64 / quiet.elapsed.as_secs_f64().max(1e-9);
    let loud_rate = loud.ok as f64 / loud.elapsed.as_secs_f64().max(1e-9);
    // Wait for the bundle that leaves when the window has room again.
    let covered = |mails: &[Mail]| -> usize {
        mails
            .iter()
            .map(|m| {
                1 + m
                    .subject
                    .split("(and ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(0)
            })
            .sum()
    };
    let deadline = Instant::now() + plan.storm_wait;
    let mut got = mails();
    while covered(&got) < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = mails();
    }
    let incidents_covered = covered(&got);
    let bundles = got.iter().filter(|m| m.subject.contains("(and ")).count();
    let mut extra = Map::new();
    extra.insert("triggers".into(), count.into());
    extra.insert("clients".into(), plan.clients.into());
    extra.insert(
        "trigger_per_s_rule_later".into(),
        (quiet_rate.round() as u64).into(),
    );
    extra.insert(
        "trigger_per_s_rule_now".into(),
        (loud_rate.round() as u64).into(),
    );
    extra.insert(
        "slowdown_pct".into(),
        json!(((1.0 - loud_rate / quiet_rate.max(1e-9)) * 1000.0).round() / 10.0),
    );
    extra.insert("messages".into(), got.len().into());
    extra.insert("bundled_messages".into(), bundles.into());
    extra.insert("incidents_in_messages".into(), incidents_covered.into());
    let missing = count.saturating_sub(incidents_covered);
    let seconds = loud.elapsed.as_secs_f64();
    Ok(Report {
        workload: "page-storm".into(),
        ops: loud.ok,
        errors: missing as u64,
        seconds,
        throughput: Some(loud_rate),
        latency: Summary::of_unsigned(&loud.latencies_us),
        target: "within 20% of rule-later",
        extra,
    })
}
