//! `klaxon-bench`: Klaxon's load driver. Starts a fresh `klaxon` server per workload (or
//! targets `--url`), drives it, and prints throughput and latency percentiles per
//! workload as an aligned table, and as JSON with `--json`.
//!
//! # Layout
//! - `http`: a lean HTTP/1.1 keep-alive client over pre-serialized requests (like wrk).
//! - `ws`: a minimal WebSocket client speaking graphql-transport-ws.
//! - `server`: spawning or targeting the server, setup through GraphQL, `/healthz`, VmRSS.
//! - `workloads`: trigger, oncall-read, ack-resolve, fanout, escalation-precision,
//!   heartbeat-precision, memory, enqueue, alert-storm.
//! - `paging`: page-webhook, page-email, page-storm (with a local SMTP server).
//! - `stats`: percentiles and the table.

mod history;
mod http;
mod paging;
mod server;
mod stats;
mod workloads;
mod ws;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use serde_json::json;

use server::Server;
use stats::Report;
use workloads::Plan;

/// Load driver for Klaxon: throughput and latency per workload.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Workloads to run, in order (default: all).
    #[arg(value_enum)]
    workloads: Vec<Workload>,
    /// Drive a running server instead of starting one per workload.
    #[arg(long)]
    url: Option<String>,
    /// Bearer token for `--url` (a started server gets its own `KLAXON_ADMIN_TOKEN`).
    #[arg(long, env = "KLAXON_BENCH_TOKEN")]
    token: Option<String>,
    /// The running server's pid, for `memory` with `--url`.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The server binary to start (default: `klaxon` next to this binary).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Arguments for each started server after `serve --listen 127.0.0.1:0`; `{dir}`
    /// becomes a fresh empty directory per server, e.g. "--data-dir {dir}".
    #[arg(long, default_value = "--in-memory", allow_hyphen_values = true)]
    server_args: String,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds per timed HTTP workload (trigger, oncall-read).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// CI smoke: 2 s per workload and small sizes. Checks that everything runs, not speed.
    #[arg(long)]
    smoke: bool,
    /// Incidents acknowledged then resolved (default 30000; smoke 1000).
    #[arg(long)]
    ack_incidents: Option<usize>,
    /// Subscriber counts for fanout, comma-separated (default 1000,10000,30000; smoke 100).
    /// Where the open-files limit is below one WebSocket per subscriber, subscriptions
    /// share connections (as many per connection as needed; the report says how many).
    #[arg(long, value_delimiter = ',')]
    subscribers: Option<Vec<usize>>,
    /// Mutations per fanout size (default 20; smoke 5).
    #[arg(long)]
    rounds: Option<usize>,
    /// Pending escalations (default 100000; smoke 1000).
    #[arg(long)]
    pending: Option<usize>,
    /// Spread of the escalation deadlines, in ms (default 60000; smoke 1000).
    #[arg(long)]
    spread_ms: Option<u32>,
    /// Earliest escalation timeout, in ms: room to trigger them all before the first
    /// deadline (default 20000; smoke 1000).
    #[arg(long)]
    escalation_base_ms: Option<u32>,
    /// Heartbeats for heartbeat-precision (default 10000; smoke 500); their deadlines are
    /// spread over --spread-ms after --escalation-base-ms.
    #[arg(long)]
    heartbeats: Option<usize>,
    /// Open incidents for memory (default 100000; smoke 1000).
    #[arg(long)]
    memory_incidents: Option<usize>,
    /// Events API triggers sent by alert-storm (default 100000; smoke 2000).
    #[arg(long)]
    storm_events: Option<usize>,
    /// Distinct dedup keys they fold into (default 1000; smoke 100).
    #[arg(long)]
    storm_keys: Option<usize>,
    /// Pages for page-webhook (default 10000; smoke 200).
    #[arg(long)]
    pages: Option<usize>,
    /// Emails for page-email (default 1000; smoke 50).
    #[arg(long)]
    emails: Option<usize>,
    /// Concurrent triggering clients for page-webhook and page-email.
    #[arg(long, default_value_t = 8)]
    page_clients: usize,
    /// Triggers per second for page-email (open loop).
    #[arg(long, default_value_t = 100.0)]
    email_rate: f64,
    /// Triggers for page-storm (default 10000; smoke 500).
    #[arg(long)]
    storm_pages: Option<usize>,
    /// Resolved incidents in the `history` workload's year (default 3000000; smoke 2000).
    #[arg(long)]
    history_resolved: Option<usize>,
    /// Open incidents at the end of that year (default 10000; smoke 100).
    #[arg(long)]
    history_open: Option<usize>,
    /// Keep the `history` workload's data directory (its path is printed), e.g. to time
    /// `klaxon serve --data-dir` on it again or profile its start-up.
    #[arg(long)]
    keep_history: bool,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Driver threads (the server gets the rest of the machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    Trigger,
    OncallRead,
    AckResolve,
    Fanout,
    EscalationPrecision,
    HeartbeatPrecision,
    Memory,
    Enqueue,
    AlertStorm,
    PageWebhook,
    PageEmail,
    PageStorm,
    History,
}

impl Cli {
    fn plan(&self) -> Plan {
        let pick = |value: Option<usize>, full: usize, smoke: usize| {
            value.unwrap_or(if self.smoke { smoke } else { full })
        };
        Plan {
            clients: self.clients,
            duration: Duration::from_secs_f64(if self.smoke { 2.0 } else { self.duration }),
            ack_incidents: pick(self.ack_incidents, 30_000, 1_000),
            subscribers: self.subscribers.clone().unwrap_or(if self.smoke {
                vec![100]
            } else {
                vec![1_000, 10_000, 30_000]
            }),
            rounds: pick(self.rounds, 20, 5),
            pending: pick(self.pending, 100_000, 1_000),
            spread_ms: self
                .spread_ms
                .unwrap_or(if self.smoke { 1_000 } else { 60_000 }),
            escalation_base_ms: self.escalation_base_ms.unwrap_or(if self.smoke {
                1_000
            } else {
                20_000
            }),
            memory_incidents: pick(self.memory_incidents, 100_000, 1_000),
            storm_events: pick(self.storm_events, 100_000, 2_000),
            storm_keys: pick(self.storm_keys, 1_000, 100),
            heartbeats: pick(self.heartbeats, 10_000, 500),
            pages: pick(self.pages, 10_000, 200),
            emails: pick(self.emails, 1_000, 50),
            page_clients: self.page_clients,
            email_rate: self.email_rate,
            storm_pages: pick(self.storm_pages, 10_000, 500),
            history_resolved: pick(self.history_resolved, 3_000_000, 2_000),
            history_open: pick(self.history_open, 10_000, 100),
            keep_history: self.keep_history,
            // The bundle leaves when the minute has room again (2 s windows in smoke).
            storm_wait: Duration::from_secs(if self.smoke { 15 } else { 75 }),
        }
    }

    /// The `klaxon` binary to start.
    fn server_bin(&self) -> anyhow::Result<PathBuf> {
        Ok(match &self.server_bin {
            Some(bin) => bin.clone(),
            None => std::env::current_exe()?
                .parent()
                .context("no directory for this binary")?
                .join("klaxon"),
        })
    }

    fn server(&self, workload: Workload) -> anyhow::Result<Server> {
        if let Some(url) = &self.url {
            return Server::target(url, self.server_pid);
        }
        let bin = self.server_bin()?;
        // Ingestion workloads measure the server, not its per-key rate limit.
        let args = match workload {
            Workload::Enqueue | Workload::AlertStorm => format!(
                "{} --ingest-rate-per-minute 1000000000 --ingest-burst 1000000000",
                self.server_args
            ),
            // Past the default caps (20,000 WebSockets, 25,000 connections) for fanout-30000.
            Workload::Fanout => format!(
                "{} --max-ws-connections 100000 --max-connections 100000",
                self.server_args
            ),
            Workload::PageWebhook => format!("{} --pages-per-minute 1000000", self.server_args),
            // Every incident's page delivered, as the workload says: 100,000 pages to the
            // team's two people would otherwise wait in the storm gate for its minute,
            // and be counted as the incidents' memory.
            Workload::Memory => format!("{} --pages-per-minute 1000000", self.server_args),
            Workload::PageEmail => format!(
                "{} --smtp-url {} --pages-per-minute 1000000",
                self.server_args,
                paging::smtp_url()?
            ),
            Workload::PageStorm => format!(
                "{} --smtp-url {}{}",
                self.server_args,
                paging::smtp_url()?,
                if self.smoke {
                    " --pages-window-ms 2000"
                } else {
                    ""
                }
            ),
            _ => self.server_args.clone(),
        };
        Server::spawn(&bin, &args)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(token) = &cli.token {
        let _ = http::TOKEN.set(token.clone());
    }
    let open_files = raise_open_files_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    let reports = runtime.block_on(run(&cli, open_files));
    paging::stop_smtp();
    let reports = reports?;
    print!("{}", stats::table(&reports));
    if let Some(path) = &cli.json {
        let document = json!({
            "machine": {
                "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
                "os": std::env::consts::OS,
                "arch": std::env::consts::ARCH,
            },
            "smoke": cli.smoke,
            "server_args": cli.server_args,
            "target_url": cli.url,
            "workloads": reports,
        });
        std::fs::write(path, serde_json::to_string_pretty(&document)? + "\n")
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    // A failed operation means something broke (slowness never fails a run).
    let failed: u64 = reports.iter().map(|r| r.errors).sum();
    if failed > 0 {
        anyhow::bail!("{failed} operations failed (see the errors column)");
    }
    Ok(())
}

async fn run(cli: &Cli, open_files: Option<u64>) -> anyhow::Result<Vec<Report>> {
    let plan = cli.plan();
    let workloads = if cli.workloads.is_empty() {
        Workload::value_variants().to_vec()
    } else {
        cli.workloads.clone()
    };
    let mut reports = Vec::new();
    for workload in workloads {
        let sizes = match workload {
            Workload::Fanout => plan.subscribers.clone(),
            _ => vec![0],
        };
        for size in sizes {
            let per_connection = if workload == Workload::Fanout {
                per_connection(size, open_files)
            } else {
                1
            };
            if per_connection > 1 {
                eprintln!(
                    "klaxon-bench: fanout-{size}: the open-files limit here is {} (ulimit -Hn), \
                     below one WebSocket per subscriber in the driver and in the server: \
                     {per_connection} subscriptions share each of {} connections",
                    open_files.unwrap_or(0),
                    size.div_ceil(per_connection)
                );
            }
            // `history` fills a data directory first, then starts its own server on it.
            if workload == Workload::History {
                if cli.url.is_some() {
                    anyhow::bail!(
                        "history starts its own server on a generated data directory: drop --url"
                    );
                }
                eprintln!("klaxon-bench: History");
                let report = history::history(&cli.server_bin()?, &plan)
                    .await
                    .context("workload History failed")?;
                reports.push(report);
                continue;
            }
            // A fresh server per workload, so one's leftovers never weigh on the next.
            let server = cli.server(workload)?;
            eprintln!(
                "klaxon-bench: {workload:?} {}",
                if size > 0 {
                    size.to_string()
                } else {
                    String::new()
                }
            );
            let report = match workload {
                Workload::Trigger => workloads::trigger(&server, &plan).await,
                Workload::OncallRead => workloads::oncall_read(&server, &plan).await,
                Workload::AckResolve => workloads::ack_resolve(&server, &plan).await,
                Workload::Fanout => workloads::fanout(&server, &plan, size, per_connection).await,
                Workload::EscalationPrecision => {
                    workloads::escalation_precision(&server, &plan).await
                }
                Workload::HeartbeatPrecision => {
                    workloads::heartbeat_precision(&server, &plan).await
                }
                Workload::Memory => workloads::memory(&server, &plan).await,
                Workload::Enqueue => workloads::enqueue(&server, &plan).await,
                Workload::AlertStorm => workloads::alert_storm(&server, &plan).await,
                Workload::PageWebhook => paging::page_webhook(&server, &plan).await,
                Workload::PageEmail => paging::page_email(&server, &plan).await,
                Workload::PageStorm => paging::page_storm(&server, &plan).await,
                Workload::History => unreachable!("handled above"),
            }
            .with_context(|| format!("workload {workload:?} failed"))?;
            reports.push(report);
        }
    }
    Ok(reports)
}

/// How many subscriptions each fanout WebSocket carries: one while the open-files limit
/// leaves room for a connection per subscriber (plus 512 for everything else), else the
/// fewest that fit.
fn per_connection(subscribers: usize, open_files: Option<u64>) -> usize {
    let room = open_files.map_or(usize::MAX, |limit| {
        usize::try_from(limit.saturating_sub(512))
            .unwrap_or(usize::MAX)
            .max(1)
    });
    subscribers.div_ceil(room).max(1)
}

/// Thousands of WebSockets need thousands of descriptors: lift the soft limit to the hard
/// one (a spawned server inherits it). Returns the soft limit now in force.
fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
    Some(limit.rlim_cur as u64)
}

#[cfg(test)]
mod tests {
    use super::per_connection;

    #[test]
    fn subscriptions_share_connections_only_past_the_open_files_limit() {
        assert_eq!(per_connection(10_000, Some(20_000)), 1);
        assert_eq!(per_connection(10_000, None), 1);
        // 30,000 subscribers under a hard limit of 20,000: two per connection.
        assert_eq!(per_connection(30_000, Some(20_000)), 2);
        assert_eq!(per_connection(30_000, Some(1_024)), 59);
        // A limit below the reserve still gives a usable answer.
        assert_eq!(per_connection(100, Some(10)), 100);
    }
}
