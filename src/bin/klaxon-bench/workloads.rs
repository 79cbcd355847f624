//! The seven workloads. Each sets up what it needs through the public API, measures, and
//! returns a [`Report`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use tokio::sync::{Semaphore, watch};

use crate::http::{Conn, Run, Work, closed_loop, find, post_graphql, post_json};
use crate::server::Server;
use crate::stats::{Report, Summary};
use crate::ws::WsClient;

/// Sizes and durations for one invocation.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Concurrent HTTP clients.
    pub clients: usize,
    /// Length of the timed HTTP workloads.
    pub duration: Duration,
    /// Incidents acknowledged then resolved in `ack-resolve`.
    pub ack_incidents: usize,
    /// Subscriber counts for `fanout`.
    pub subscribers: Vec<usize>,
    /// Mutations sent per `fanout` size.
    pub rounds: usize,
    /// Pending escalations in `escalation-precision`.
    pub pending: usize,
    /// Deadlines are spread over this long.
    pub spread_ms: u32,
    /// The earliest initial timeout: room for the trigger phase to finish first.
    pub escalation_base_ms: u32,
    /// Open incidents for `memory`.
    pub memory_incidents: usize,
    /// Events API triggers in `alert-storm`.
    pub storm_events: usize,
    /// Dedup keys they spread over.
    pub storm_keys: usize,
    /// Heartbeats in `heartbeat-precision`.
    pub heartbeats: usize,
    /// Pages in `page-webhook`.
    pub pages: usize,
    /// Emails in `page-email`.
    pub emails: usize,
    /// Concurrent triggering clients in the page-latency workloads.
    pub page_clients: usize,
    /// Triggers per second in `page-email`.
    pub email_rate: f64,
    /// Triggers in `page-storm`.
    pub storm_pages: usize,
    /// How long `page-storm` waits for the bundled message.
    pub storm_wait: Duration,
    /// `history`: resolved incidents in the year.
    pub history_resolved: usize,
    /// `history`: open incidents at its end.
    pub history_open: usize,
    /// `history`: keep the generated data directory.
    pub keep_history: bool,
}

/// What a board subscribes to: the fields a card shows.
pub const FANOUT_SUBSCRIPTION: &str = "subscription { incidentEvents { kind at incident { \
    id title severity state triggeredAt escalationLevel alertCount nextEscalationAt \
    assignedTo { id name } service { id name } } } }";
const ESCALATION_SUBSCRIPTION: &str = "subscription { incidentEvents { kind at incident { id } } }";
/// Long enough that nothing escalates during a throughput run.
const HOUR_MS: u32 = 3_600_000;

fn trigger_request(server: &Server, schedule: &str, title: &str, selection: &str) -> Vec<u8> {
    let body = json!({
        "query": format!("mutation($s: ID!, $t: String!) {{ triggerIncident(input: {{title: $t, scheduleId: $s, severity: HIGH}}) {selection} }}"),
        "variables": { "s": schedule, "t": title },
    });
    post_graphql(server.addr, &body.to_string())
}

fn by_id_request(server: &Server, mutation: &str, id: &str) -> Vec<u8> {
    let body = json!({
        "query": format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ id state }} }}"),
        "variables": { "id": id },
    });
    post_graphql(server.addr, &body.to_string())
}

fn http_report(
    workload: &str,
    run: Run,
    target: &'static str,
    mut extra: Map<String, Value>,
) -> Report {
    if let Some(error) = &run.first_error {
        eprintln!("{workload}: {} failed requests; first: {error}", run.errors);
        extra.insert("_first_error".into(), error.as_str().into());
    }
    let seconds = run.elapsed.as_secs_f64();
    Report {
        workload: workload.into(),
        ops: run.ok,
        errors: run.errors,
        seconds,
        throughput: Some(run.ok as f64 / seconds.max(1e-9)),
        latency: Summary::of_unsigned(&run.latencies_us),
        target,
        extra,
    }
}

fn repeat(request: Vec<u8>, duration: Duration) -> Work {
    Work {
        sequences: Arc::new(vec![vec![request]]),
        items: None,
        duration: Some(duration),
        keep_bodies: false,
    }
}

/// Opens `count` incidents as fast as `clients` allow; returns the run with bodies.
async fn trigger_many(
    server: &Server,
    schedules: &[String],
    count: usize,
    clients: usize,
    selection: &str,
    keep_bodies: bool,
) -> anyhow::Result<Run> {
    let sequences = schedules
        .iter()
        .map(|s| vec![trigger_request(server, s, "bench", selection)])
        .collect();
    let run = closed_loop(
        server.addr,
        clients,
        Work {
            sequences: Arc::new(sequences),
            items: Some(count),
            duration: None,
            keep_bodies,
        },
    )
    .await?;
    if run.errors > 0 {
        bail!(
            "{} of {count} triggers failed; first: {}",
            run.errors,
            run.first_error.unwrap_or_default()
        );
    }
    Ok(run)
}

/// `trigger`: `triggerIncident` over keep-alive connections.
pub async fn trigger(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let schedules = server.team(&[HOUR_MS], 2).await?;
    let request = trigger_request(server, &schedules[0], "bench", "{ id }");
    let run = closed_loop(server.addr, plan.clients, repeat(request, plan.duration)).await?;
    let mut extra = Map::new();
    extra.insert("clients".into(), plan.clients.into());
    Ok(http_report("trigger", run, ">=12000/s p99<15ms", extra))
}

/// `oncall-read`: who is on call, for every schedule.
pub async fn oncall_read(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let schedules = server.team(&[HOUR_MS; 10], 8).await?;
    let query = "{ schedules { id onCall { id } } }";
    let data = server.gql(query, json!({})).await?;
    let listed = data["schedules"].as_array().map_or(0, Vec::len);
    if listed < schedules.len() {
        bail!(
            "expected at least {} schedules, got {data}",
            schedules.len()
        );
    }
    let request = post_graphql(server.addr, &json!({ "query": query }).to_string());
    let run = closed_loop(server.addr, plan.clients, repeat(request, plan.duration)).await?;
    let mut extra = Map::new();
    extra.insert("clients".into(), plan.clients.into());
    extra.insert("schedules".into(), listed.into());
    Ok(http_report("oncall-read", run, ">=14000/s", extra))
}

/// `ack-resolve`: acknowledge then resolve incidents triggered beforehand (each mutation
/// counts).
pub async fn ack_resolve(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let schedules = server.team(&[HOUR_MS], 2).await?;
    let triggered = trigger_many(
        server,
        &schedules,
        plan.ack_incidents,
        plan.clients,
        "{ id }",
        true,
    )
    .await?;
    let sequences = triggered
        .bodies
        .iter()
        .map(|body| {
            let body: Value = serde_json::from_slice(body)?;
            let id = body["data"]["triggerIncident"]["id"]
                .as_str()
                .with_context(|| format!("no id in {body}"))?;
            Ok(vec![
                by_id_request(server, "acknowledgeIncident", id),
                by_id_request(server, "resolveIncident", id),
            ])
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let items = sequences.len();
    let run = closed_loop(
        server.addr,
        plan.clients,
        Work {
            sequences: Arc::new(sequences),
            items: Some(items),
            duration: None,
            keep_bodies: false,
        },
    )
    .await?;
    let mut extra = Map::new();
    extra.insert("clients".into(), plan.clients.into());
    extra.insert("incidents".into(), items.into());
    Ok(http_report("ack-resolve", run, "-", extra))
}

/// `fanout`: one mutation, `subscribers` WebSocket receipts: latency from the mutation's
/// send to each subscriber's receipt, over `plan.rounds` mutations sent one after another.
/// `fanout-<subscribers>`: that many subscriptions to the board-card selection, at most
/// `per_connection` on each WebSocket (1 unless the open-files limit is below one
/// connection per subscriber), then `plan.rounds` triggers, each timed until every
/// subscription has its event.
pub async fn fanout(
    server: &Server,
    plan: &Plan,
    subscribers: usize,
    per_connection: usize,
) -> anyhow::Result<Report> {
    let per_connection = per_connection.max(1);
    let connections = subscribers.div_ceil(per_connection);
    let schedules = server.team(&[HOUR_MS], 2).await?;
    let already = server.health().await?["subscribers"].as_u64().unwrap_or(0) as usize;
    let origin = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..plan.rounds).map(|_| AtomicU64::new(0)).collect());
    let received: Arc<Vec<AtomicUsize>> =
        Arc::new((0..plan.rounds).map(|_| AtomicUsize::new(0)).collect());
    // Each round's last receipt (nanoseconds since `origin`).
    let last: Arc<Vec<AtomicU64>> = Arc::new((0..plan.rounds).map(|_| AtomicU64::new(0)).collect());
    let first: Arc<Vec<AtomicU64>> =
        Arc::new((0..plan.rounds).map(|_| AtomicU64::new(u64::MAX)).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let handshakes = Arc::new(Semaphore::new(256));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(connections);
    for n in 0..connections {
        // Every connection carries `per_connection` operations but the last, which
        // carries what is left.
        let ops = per_connection.min(subscribers - n * per_connection);
        let (sent, received, first, last, connected, failed, handshakes) = (
            sent.clone(),
            received.clone(),
            first.clone(),
            last.clone(),
            connected.clone(),
            failed.clone(),
            handshakes.clone(),
        );
        let mut stop = stop_rx.clone();
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let permit = handshakes.acquire_owned().await;
            let mut ws = match WsClient::subscribe(addr, FANOUT_SUBSCRIPTION, n, ops).await {
                Ok(ws) => ws,
                Err(e) => {
                    failed.fetch_add(ops, Ordering::Relaxed);
                    return Err(e);
                }
            };
            drop(permit);
            connected.fetch_add(ops, Ordering::Relaxed);
            let mut latencies = Vec::with_capacity(sent.len() * ops);
            // One wait for the stop, kept across messages: a new one per message registered
            // and dropped a waiter each time, a few percent of the driver's CPU.
            let stopped = stop.changed();
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    biased;
                    message = ws.next_text() => {
                        let Some(message) = message? else { break };
                        let now = origin.elapsed().as_nanos() as u64;
                        if let Some(round) = round_of(message) {
                            if round < sent.len() {
                                let at = sent[round].load(Ordering::Acquire);
                                latencies.push((now.saturating_sub(at) / 1000) as i64);
                                first[round].fetch_min(now, Ordering::Relaxed);
                                last[round].fetch_max(now, Ordering::Relaxed);
                                received[round].fetch_add(1, Ordering::Release);
                            }
                        }
                    }
                    _ = &mut stopped => break,
                }
            }
            Ok::<_, std::io::Error>(latencies)
        }));
    }
    let wait = Instant::now();
    while connected.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < subscribers {
        if wait.elapsed() > Duration::from_secs(300) {
            bail!("subscribers took more than 300 s to connect");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = wait.elapsed().as_secs_f64();
    let live = connected.load(Ordering::Relaxed);
    // Every subscription must be registered with the broadcast before the clock starts.
    loop {
        let registered = server.health().await?["subscribers"].as_u64().unwrap_or(0) as usize;
        if registered >= already + live {
            break;
        }
        if wait.elapsed() > Duration::from_secs(330) {
            bail!(
                "only {registered} of {} subscriptions registered",
                already + live
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut conn = Conn::connect(server.addr).await?;
    let mut errors = 0;
    let mut busy = Duration::ZERO;
    for round in 0..plan.rounds {
        let request = trigger_request(server, &schedules[0], &format!("fanout-{round}-"), "{ id }");
        let started = Instant::now();
        sent[round].store(origin.elapsed().as_nanos() as u64, Ordering::Release);
        let (status, body) = conn.roundtrip(&request).await?;
        if status != 200 || find(body, b"\"errors\"").is_some() {
            errors += 1;
            eprintln!("fanout: trigger failed: {}", String::from_utf8_lossy(body));
        }
        while received[round].load(Ordering::Acquire) < live
            && started.elapsed() < Duration::from_secs(10)
        {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        busy += started.elapsed();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    let mut latencies = Vec::with_capacity(live * plan.rounds);
    for task in tasks {
        if let Ok(Ok(mut l)) = task.await {
            latencies.append(&mut l);
        }
    }
    let delivered = latencies.len() as u64;
    let expected = (live * plan.rounds) as u64;
    // How long each round took to reach its first and its last subscriber, sorted: the
    // p99 above is mostly the slowest rounds' last receipts.
    let since_sent = |receipts: &[AtomicU64]| {
        let mut ms: Vec<f64> = receipts
            .iter()
            .zip(sent.iter())
            .map(|(at, sent)| {
                let (at, sent) = (at.load(Ordering::Relaxed), sent.load(Ordering::Relaxed));
                (at.saturating_sub(sent) as f64 / 1e4).round() / 100.0
            })
            .collect();
        ms.sort_unstable_by(f64::total_cmp);
        ms
    };
    let (firsts, rounds) = (since_sent(&first), since_sent(&last));
    let mut extra = Map::new();
    extra.insert("subscribers".into(), live.into());
    extra.insert("connections".into(), connections.into());
    extra.insert("rounds".into(), plan.rounds.into());
    extra.insert(
        "missing".into(),
        (expected - delivered.min(expected)).into(),
    );
    extra.insert(
        "connect_failures".into(),
        failed.load(Ordering::Relaxed).into(),
    );
    extra.insert("connect_s".into(), connect_s.into());
    if let (Some(median), Some(slowest)) = (rounds.get(rounds.len() / 2), rounds.last()) {
        extra.insert("round_p50_ms".into(), (*median).into());
        extra.insert("round_max_ms".into(), (*slowest).into());
    }
    if let Some(median) = firsts.get(firsts.len() / 2) {
        extra.insert("first_p50_ms".into(), (*median).into());
    }
    Ok(Report {
        workload: format!("fanout-{subscribers}"),
        ops: delivered,
        errors: errors + (expected - delivered.min(expected)),
        seconds: busy.as_secs_f64(),
        throughput: Some(delivered as f64 / busy.as_secs_f64().max(1e-9)),
        latency: Summary::of_micros(&mut latencies),
        target: if subscribers >= 10_000 {
            "p99<250ms"
        } else {
            "p99<50ms (1k)"
        },
        extra,
    })
}

/// The round number in a `fanout-<round>-` title.
fn round_of(message: &[u8]) -> Option<usize> {
    let start = find(message, b"fanout-")? + "fanout-".len();
    let digits = message[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&message[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn millis_of(rfc3339: &str) -> anyhow::Result<i64> {
    Ok(chrono::DateTime::parse_from_rfc3339(rfc3339)
        .with_context(|| format!("bad timestamp {rfc3339}"))?
        .timestamp_millis())
}

/// `escalation-precision`: many pending escalations with deadlines spread over
/// `spread_ms`: how late each `ESCALATED` is, by the server's own `at` and by receipt.
pub async fn escalation_precision(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let levels: u32 = if plan.pending >= 10_000 { 60 } else { 10 };
    let timeouts: Vec<u32> = (0..levels)
        .map(|i| plan.escalation_base_ms + i * plan.spread_ms / levels)
        .collect();
    let schedules = server.team(&timeouts, 2).await?;
    let already = server.health().await?["subscribers"].as_u64().unwrap_or(0);
    let mut ws = WsClient::subscribe(server.addr, ESCALATION_SUBSCRIPTION, 0, 1).await?;
    while server.health().await?["subscribers"].as_u64().unwrap_or(0) <= already {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let expected = plan.pending;
    let (stop_tx, mut stop) = watch::channel(false);
    let receiver = tokio::spawn(async move {
        let mut escalations: Vec<(Vec<u8>, i64)> = Vec::with_capacity(expected);
        loop {
            tokio::select! {
                message = ws.next_text() => {
                    let Some(message) = message? else { break };
                    if find(message, b"ESCALATED").is_some() {
                        escalations.push((message.to_vec(), unix_micros()));
                        if escalations.len() >= expected {
                            break;
                        }
                    }
                }
                _ = stop.changed() => break,
            }
        }
        Ok::<_, std::io::Error>(escalations)
    });
    let phase = Instant::now();
    let run = trigger_many(
        server,
        &schedules,
        plan.pending,
        plan.clients,
        "{ id nextEscalationAt }",
        true,
    )
    .await?;
    let trigger_phase_s = phase.elapsed().as_secs_f64();
    let triggers_done_ms = unix_micros() / 1000;
    let mut deadlines: HashMap<String, i64> = HashMap::with_capacity(run.bodies.len());
    for body in &run.bodies {
        let body: Value = serde_json::from_slice(body)?;
        let incident = &body["data"]["triggerIncident"];
        let id = incident["id"]
            .as_str()
            .with_context(|| format!("no id in {body}"))?;
        let at = incident["nextEscalationAt"]
            .as_str()
            .with_context(|| format!("no deadline in {body}"))?;
        deadlines.insert(id.to_owned(), millis_of(at)?);
    }
    let first = deadlines.values().copied().min().unwrap_or(0);
    let last = deadlines.values().copied().max().unwrap_or(0);
    let give_up = Duration::from_millis((last + 10_000 - unix_micros() / 1000).max(0) as u64);
    let mut receiver = receiver;
    // Stop listening once every escalation arrived, or 10 s after the last deadline.
    let escalations = tokio::select! {
        joined = &mut receiver => joined??,
        _ = tokio::time::sleep(give_up) => {
            let _ = stop_tx.send(true);
            receiver.await??
        }
    };
    let mut server_late = Vec::with_capacity(escalations.len());
    let mut receipt_late = Vec::with_capacity(escalations.len());
    for (message, receipt_us) in &escalations {
        let message: Value = serde_json::from_slice(message)?;
        let event = &message["payload"]["data"]["incidentEvents"];
        let Some(deadline) = event["incident"]["id"]
            .as_str()
            .and_then(|id| deadlines.get(id))
        else {
            continue;
        };
        let at = millis_of(event["at"].as_str().unwrap_or_default())?;
        server_late.push((at - deadline) * 1000);
        receipt_late.push(receipt_us - deadline * 1000);
    }
    let measured = receipt_late.len();
    let server = Summary::of_micros(&mut server_late);
    let mut extra = Map::new();
    extra.insert("pending".into(), expected.into());
    extra.insert("spread_s".into(), ((last - first) as f64 / 1000.0).into());
    extra.insert("trigger_phase_s".into(), trigger_phase_s.into());
    extra.insert(
        "all_pending_before_first_deadline".into(),
        (triggers_done_ms < first).into(),
    );
    if let Some(s) = server {
        extra.insert("server_p50_ms".into(), s.p50_ms.into());
        extra.insert("server_p99_ms".into(), s.p99_ms.into());
        extra.insert("server_max_ms".into(), s.max_ms.into());
    }
    Ok(Report {
        workload: "escalation-precision".into(),
        ops: measured as u64,
        errors: (expected - measured.min(expected)) as u64,
        seconds: (last - first) as f64 / 1000.0,
        throughput: None,
        latency: Summary::of_micros(&mut receipt_late),
        target: "p99 lateness<10ms",
        extra,
    })
}

/// Heartbeats created per aliased `createHeartbeat` request (the alias cap is 64).
const HEARTBEATS_PER_REQUEST: usize = 50;
const TRIGGER_SUBSCRIPTION: &str = "subscription { incidentEvents { kind at incident { title } } }";

/// `heartbeat-precision`: many heartbeats with deadlines spread over `spread_ms`, each
/// beaten once and then left silent: how late each outage's `TRIGGERED` is after the
/// heartbeat's deadline (its last beat + its interval), by the server's own `at` and by
/// receipt.
pub async fn heartbeat_precision(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let schedules = server.team(&[HOUR_MS], 2).await?;
    let count = plan.heartbeats;
    let interval = |i: usize| {
        u64::from(plan.escalation_base_ms) + (i as u64 * u64::from(plan.spread_ms)) / count as u64
    };
    // Create, in aliased batches.
    let creates: Vec<Vec<Vec<u8>>> = (0..count)
        .step_by(HEARTBEATS_PER_REQUEST)
        .map(|first| {
            let fields: String = (first..(first + HEARTBEATS_PER_REQUEST).min(count))
                .map(|i| {
                    format!(
                        "h{i}: createHeartbeat(input: {{scheduleId: $s, name: \"hb-{i}\", intervalMs: {}}}) {{ url }} ",
                        interval(i)
                    )
                })
                .collect();
            let body = json!({
                "query": format!("mutation($s: ID!) {{ {fields} }}"),
                "variables": { "s": schedules[0] },
            });
            vec![post_graphql(server.addr, &body.to_string())]
        })
        .collect();
    let requests = creates.len();
    let created = closed_loop(
        server.addr,
        plan.clients.min(8),
        Work {
            sequences: Arc::new(creates),
            items: Some(requests),
            duration: None,
            keep_bodies: true,
        },
    )
    .await?;
    if created.errors > 0 {
        bail!(
            "{} heartbeat batches failed; first: {}",
            created.errors,
            created.first_error.unwrap_or_default()
        );
    }
    let mut paths = Vec::with_capacity(count);
    for body in &created.bodies {
        let body: Value = serde_json::from_slice(body)?;
        let Some(data) = body["data"].as_object() else {
            bail!("no data in {body}");
        };
        for heartbeat in data.values() {
            let url = heartbeat["url"].as_str().context("no url")?;
            let at = url.find("/heartbeats/").context("not a heartbeat url")?;
            paths.push(url[at..].to_owned());
        }
    }
    let already = server.health().await?["subscribers"].as_u64().unwrap_or(0);
    let mut ws = WsClient::subscribe(server.addr, TRIGGER_SUBSCRIPTION, 0, 1).await?;
    while server.health().await?["subscribers"].as_u64().unwrap_or(0) <= already {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (stop_tx, mut stop) = watch::channel(false);
    let receiver = tokio::spawn(async move {
        let mut triggers: Vec<(Vec<u8>, i64)> = Vec::with_capacity(count);
        loop {
            tokio::select! {
                message = ws.next_text() => {
                    let Some(message) = message? else { break };
                    if find(message, b"TRIGGERED").is_some() {
                        triggers.push((message.to_vec(), unix_micros()));
                        if triggers.len() >= count {
                            break;
                        }
                    }
                }
                _ = stop.changed() => break,
            }
        }
        Ok::<_, std::io::Error>(triggers)
    });
    // Beat each once.
    let phase = Instant::now();
    let beats: Vec<Vec<Vec<u8>>> = paths
        .iter()
        .map(|path| {
            vec![
                format!(
                    "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
                    server.addr
                )
                .into_bytes(),
            ]
        })
        .collect();
    let beaten = closed_loop(
        server.addr,
        plan.clients,
        Work {
            sequences: Arc::new(beats),
            items: Some(paths.len()),
            duration: None,
            keep_bodies: false,
        },
    )
    .await?;
    if beaten.errors > 0 {
        bail!(
            "{} beats failed; first: {}",
            beaten.errors,
            beaten.first_error.unwrap_or_default()
        );
    }
    let beat_phase_s = phase.elapsed().as_secs_f64();
    let beats_done_ms = unix_micros() / 1000;
    let listed = server
        .gql("{ heartbeats { name nextDeadlineAt } }", json!({}))
        .await?;
    let mut deadlines: HashMap<String, i64> = HashMap::with_capacity(count);
    for heartbeat in listed["heartbeats"].as_array().context("no heartbeats")? {
        let name = heartbeat["name"].as_str().context("no name")?;
        let at = heartbeat["nextDeadlineAt"]
            .as_str()
            .with_context(|| format!("{name} has no deadline"))?;
        deadlines.insert(format!("Heartbeat {name} missed"), millis_of(at)?);
    }
    let first = deadlines.values().copied().min().unwrap_or(0);
    let last = deadlines.values().copied().max().unwrap_or(0);
    let give_up = Duration::from_millis((last + 10_000 - unix_micros() / 1000).max(0) as u64);
    let mut receiver = receiver;
    let triggers = tokio::select! {
        joined = &mut receiver => joined??,
        _ = tokio::time::sleep(give_up) => {
            let _ = stop_tx.send(true);
            receiver.await??
        }
    };
    let mut server_late = Vec::with_capacity(triggers.len());
    let mut receipt_late = Vec::with_capacity(triggers.len());
    let mut early = 0u64;
    for (message, receipt_us) in &triggers {
        let message: Value = serde_json::from_slice(message)?;
        let event = &message["payload"]["data"]["incidentEvents"];
        let Some(deadline) = event["incident"]["title"]
            .as_str()
            .and_then(|title| deadlines.get(title))
        else {
            continue;
        };
        let at = millis_of(event["at"].as_str().unwrap_or_default())?;
        if at < *deadline {
            early += 1;
        }
        server_late.push((at - deadline) * 1000);
        receipt_late.push(receipt_us - deadline * 1000);
    }
    let measured = receipt_late.len();
    let server_summary = Summary::of_micros(&mut server_late);
    let mut extra = Map::new();
    extra.insert("heartbeats".into(), count.into());
    extra.insert("spread_s".into(), ((last - first) as f64 / 1000.0).into());
    extra.insert("beat_phase_s".into(), beat_phase_s.into());
    extra.insert(
        "all_beaten_before_first_deadline".into(),
        (beats_done_ms < first).into(),
    );
    extra.insert("triggered_before_deadline".into(), early.into());
    if let Some(s) = server_summary {
        extra.insert("server_p50_ms".into(), s.p50_ms.into());
        extra.insert("server_p99_ms".into(), s.p99_ms.into());
        extra.insert("server_max_ms".into(), s.max_ms.into());
    }
    Ok(Report {
        workload: "heartbeat-precision".into(),
        ops: measured as u64,
        errors: (count - measured.min(count)) as u64 + early,
        seconds: (last - first) as f64 / 1000.0,
        throughput: None,
        latency: Summary::of_micros(&mut receipt_late),
        target: "p99 lateness<10ms",
        extra,
    })
}

/// `memory`: resident memory before and after opening many incidents.
pub async fn memory(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let schedules = server.team(&[HOUR_MS], 2).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib()?;
    let run = trigger_many(
        server,
        &schedules,
        plan.memory_incidents,
        plan.clients,
        "{ id }",
        false,
    )
    .await?;
    // Let the notifier record every delivery, then read again.
    let open = loop {
        let open = server.health().await?["incidentsOpen"]
            .as_u64()
            .unwrap_or(0);
        if open >= plan.memory_incidents as u64 {
            break open;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server.rss_kib()?;
    let per_incident = (after.saturating_sub(before) * 1024) as f64 / plan.memory_incidents as f64;
    let mut extra = Map::new();
    extra.insert("open".into(), open.into());
    extra.insert("rss_before_mib".into(), (before as f64 / 1024.0).into());
    extra.insert("rss_after_mib".into(), (after as f64 / 1024.0).into());
    extra.insert("bytes_per_incident".into(), per_incident.round().into());
    Ok(Report {
        workload: "memory".into(),
        ops: run.ok,
        errors: run.errors,
        seconds: run.elapsed.as_secs_f64(),
        throughput: None,
        latency: None,
        target: "<=600 B/incident",
        extra,
    })
}

/// An Events API integration on a fresh team's schedule: its routing key.
async fn events_integration(server: &Server) -> anyhow::Result<String> {
    let schedules = server.team(&[HOUR_MS], 2).await?;
    let data = server
        .gql(
            "mutation($s: ID!) { createIntegration(input: {scheduleId: $s, name: \"bench\", kind: EVENTS_API_V2}) { key } }",
            json!({ "s": schedules[0] }),
        )
        .await?;
    data["createIntegration"]["key"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no key in {data}"))
}

fn enqueue_request(server: &Server, key: &str, dedup_key: Option<&str>) -> Vec<u8> {
    let mut event = json!({
        "routing_key": key,
        "event_action": "trigger",
        "payload": {
            "summary": "bench: latency high on api-1",
            "source": "api-1.bench",
            "severity": "critical",
            "component": "api",
            "custom_details": { "p99_ms": 950, "region": "eu-1" },
        },
    });
    if let Some(dedup_key) = dedup_key {
        event["dedup_key"] = json!(dedup_key);
    }
    post_json(server.addr, "/v2/enqueue", &event.to_string())
}

/// `enqueue`: Events API v2 triggers (`POST /v2/enqueue`), each without a dedup key, so
/// each gets a fresh one and opens its own incident, over keep-alive connections.
pub async fn enqueue(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let key = events_integration(server).await?;
    let request = enqueue_request(server, &key, None);
    let run = closed_loop(server.addr, plan.clients, repeat(request, plan.duration)).await?;
    let mut extra = Map::new();
    extra.insert("clients".into(), plan.clients.into());
    Ok(http_report("enqueue", run, ">= trigger", extra))
}

/// `alert-storm`: `storm_events` Events API triggers over `storm_keys` dedup keys (each
/// key gets the same share), then checks the outcome exactly: one incident per key, each
/// with its share as `alertCount` and exactly one page.
pub async fn alert_storm(server: &Server, plan: &Plan) -> anyhow::Result<Report> {
    let key = events_integration(server).await?;
    let keys = plan.storm_keys.max(1);
    let events = plan.storm_events / keys * keys;
    let sequences: Vec<Vec<Vec<u8>>> = (0..keys)
        .map(|k| vec![enqueue_request(server, &key, Some(&format!("storm-{k}")))])
        .collect();
    let run = closed_loop(
        server.addr,
        plan.clients,
        Work {
            sequences: Arc::new(sequences),
            items: Some(events),
            duration: None,
            keep_bodies: false,
        },
    )
    .await?;
    let share = (events / keys) as u64;
    let mut incidents = 0usize;
    let mut pages = 0usize;
    let mut wrong_counts = 0usize;
    let mut after: Option<String> = None;
    loop {
        let data = server
            .gql(
                "query($a: String) { incidents(first: 500, after: $a) { totalCount pageInfo { hasNextPage endCursor } nodes { dedupKey alertCount notifications { id } } } }",
                json!({ "a": after }),
            )
            .await?;
        let page = &data["incidents"];
        for node in page["nodes"].as_array().context("no nodes")? {
            incidents += 1;
            pages += node["notifications"].as_array().map_or(0, Vec::len);
            if node["alertCount"].as_u64() != Some(share) {
                wrong_counts += 1;
            }
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    if incidents != keys || pages != keys || wrong_counts != 0 || run.errors != 0 {
        bail!(
            "alert-storm: {incidents} incidents (expected {keys}), {pages} pages (expected {keys}), {wrong_counts} with an alertCount other than {share}, {} failed events",
            run.errors
        );
    }
    let mut extra = Map::new();
    extra.insert("clients".into(), plan.clients.into());
    extra.insert("events".into(), events.into());
    extra.insert("dedup_keys".into(), keys.into());
    extra.insert("incidents".into(), incidents.into());
    extra.insert("first_pages".into(), pages.into());
    extra.insert("alert_count_each".into(), share.into());
    Ok(http_report("alert-storm", run, "exact counts", extra))
}
