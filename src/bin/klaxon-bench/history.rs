//! `history`: a year of resolved incidents behind today's open ones. The generator
//! (`klaxon::store::history`) journals them through the real store commands into a fresh
//! data directory, with daily retention cuts and a final snapshot; then a server starts on
//! it, and the workload reads its start-up time, its resident memory, and the latency of
//! cold reads: `incidents(first: 50, state: RESOLVED, after: <a cursor deep in the
//! history>)` and `incident(id)` of retired incidents, one keep-alive connection.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Map, json};

use crate::http::{Conn, find, post_graphql};
use crate::server::Server;
use crate::stats::{Report, Summary};
use crate::workloads::Plan;

pub async fn history(bin: &Path, plan: &Plan) -> anyhow::Result<Report> {
    let dir = std::env::temp_dir().join(format!("klaxon-bench-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let result = measure(bin, plan, &dir).await;
    if plan.keep_history {
        eprintln!("klaxon-bench: history: kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn measure(bin: &Path, plan: &Plan, dir: &Path) -> anyhow::Result<Report> {
    let history = klaxon::store::history::HistoryPlan {
        resolved: plan.history_resolved,
        open: plan.history_open,
        days: 365,
        hot_days: 7,
    };
    eprintln!(
        "klaxon-bench: history: journaling {} resolved and {} open incidents...",
        history.resolved, history.open
    );
    let generated = klaxon::store::history::generate(dir, &history)
        .await
        .map_err(|e| anyhow::anyhow!("generating the history failed: {e}"))?;
    let size: u64 = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let started = Instant::now();
    let server = Server::spawn(bin, &format!("--data-dir {}", dir.display()))?;
    let startup = started.elapsed();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let rss = server.rss_kib()?;
    let health = server.health().await?;
    let open = health["incidentsOpen"].as_u64().unwrap_or(0);
    if open != history.open as u64 {
        bail!(
            "the server has {open} open incidents, expected {}",
            history.open
        );
    }
    let mut conn = Conn::connect(server.addr).await?;
    let mut errors = 0u64;
    let mut pages = Vec::with_capacity(generated.cold_sample.len());
    let mut singles = Vec::with_capacity(generated.cold_sample.len());
    let phase = Instant::now();
    for (id, seq) in &generated.cold_sample {
        let body = json!({
            "query": "query($a: String) { incidents(first: 50, state: RESOLVED, after: $a) { totalCount nodes { id title state severity triggeredAt resolvedAt } } }",
            "variables": { "a": seq.to_string() },
        });
        let request = post_graphql(server.addr, &body.to_string());
        let sent = Instant::now();
        let (status, body) = conn.roundtrip(&request).await?;
        pages.push(sent.elapsed().as_micros() as i64);
        if status != 200 || find(body, b"\"errors\"").is_some() {
            errors += 1;
        }
        let body = json!({
            "query": "query($id: ID!) { incident(id: $id) { id title state timeline { kind at } notifications { delivered } } }",
            "variables": { "id": id.to_string() },
        });
        let request = post_graphql(server.addr, &body.to_string());
        let sent = Instant::now();
        let (status, body) = conn.roundtrip(&request).await?;
        singles.push(sent.elapsed().as_micros() as i64);
        if status != 200 || find(body, id.to_string().as_bytes()).is_none() {
            errors += 1;
        }
    }
    let seconds = phase.elapsed().as_secs_f64();
    let single = Summary::of_micros(&mut singles);
    let mut extra = Map::new();
    extra.insert("resolved".into(), history.resolved.into());
    extra.insert("open".into(), history.open.into());
    extra.insert("retired".into(), generated.retired.into());
    extra.insert("events".into(), generated.events.into());
    extra.insert(
        "generate_s".into(),
        round(generated.elapsed.as_secs_f64()).into(),
    );
    extra.insert("data_mib".into(), round(size as f64 / 1_048_576.0).into());
    extra.insert("startup_s".into(), round(startup.as_secs_f64()).into());
    extra.insert("rss_mib".into(), round(rss as f64 / 1024.0).into());
    if let Some(single) = &single {
        extra.insert("incident_p50_ms".into(), round(single.p50_ms).into());
        extra.insert("incident_p99_ms".into(), round(single.p99_ms).into());
    }
    let count = pages.len() + singles.len();
    Ok(Report {
        workload: "history".into(),
        ops: count as u64,
        errors,
        seconds,
        throughput: Some(count as f64 / seconds.max(1e-9)),
        latency: Summary::of_micros(&mut pages),
        target: "page p99<=20ms, incident p99<=5ms, rss<=250MB",
        extra,
    })
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
