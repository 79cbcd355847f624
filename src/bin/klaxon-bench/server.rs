//! The server under test: spawned from the `klaxon` binary (one fresh server per
//! workload) or an already running one at `--url`; plus the setup every workload needs.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use crate::http::{Conn, get, post_graphql};

/// A server to drive.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id, when known (needed for `memory`).
    pub pid: Option<u32>,
    /// The process, when this driver started it; killed on drop.
    child: Option<Child>,
    /// A fresh directory substituted for `{dir}` in the server's arguments; removed on drop.
    dir: Option<PathBuf>,
}

impl Server {
    /// Starts `bin serve --listen 127.0.0.1:0 ARGS..` and waits for its ready line.
    /// `{dir}` in `args` becomes a fresh empty directory (e.g. `--data-dir {dir}`), so
    /// every workload starts a durable server from nothing.
    pub fn spawn(bin: &Path, args: &str) -> anyhow::Result<Server> {
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let dir = args.contains("{dir}").then(|| {
            let n = SERVERS.fetch_add(1, Ordering::Relaxed);
            std::env::temp_dir().join(format!("klaxon-bench-{}-{n}", std::process::id()))
        });
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        let args: Vec<String> = args
            .split_whitespace()
            .map(|arg| match &dir {
                Some(dir) => arg.replace("{dir}", &dir.to_string_lossy()),
                None => arg.to_owned(),
            })
            .collect();
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .env(
                "KLAXON_ADMIN_TOKEN",
                super::http::TOKEN.get_or_init(bench_token),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("could not start {}", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (ready_tx, ready_rx) = mpsc::channel();
        // Drain the server's log for its whole life, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some(url) = line.strip_prefix("klaxon listening on ") {
                    let _ = ready_tx.send(url.trim().to_owned());
                    break;
                }
                line.clear();
            }
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let url = match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(waited) => {
                let _ = child.kill();
                let _ = child.wait();
                if let Some(dir) = &dir {
                    let _ = std::fs::remove_dir_all(dir);
                }
                match waited {
                    mpsc::RecvTimeoutError::Timeout => {
                        bail!("{} did not print its ready line within 60 s", bin.display())
                    }
                    mpsc::RecvTimeoutError::Disconnected => bail!(
                        "{} exited before it was ready (its errors are above)",
                        bin.display()
                    ),
                }
            }
        };
        Ok(Server {
            addr: parse_url(&url)?,
            pid: Some(child.id()),
            child: Some(child),
            dir,
        })
    }

    /// A server someone else runs.
    pub fn target(url: &str, pid: Option<u32>) -> anyhow::Result<Server> {
        Ok(Server {
            addr: parse_url(url)?,
            pid,
            child: None,
            dir: None,
        })
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self
            .pid
            .context("the server's pid is unknown: pass --server-pid with --url")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("could not read /proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS line")
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> anyhow::Result<Value> {
        let mut conn = Conn::connect(self.addr).await?;
        let (status, body) = conn.roundtrip(&get(self.addr, "/healthz")).await?;
        if status != 200 {
            bail!("/healthz answered {status}");
        }
        Ok(serde_json::from_slice(body)?)
    }

    /// One GraphQL request (setup only: a new connection each time); returns `data`.
    pub async fn gql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let mut conn = Conn::connect(self.addr).await?;
        let (_, response) = conn.roundtrip(&post_graphql(self.addr, &body)).await?;
        let mut response: Value = serde_json::from_slice(response)?;
        if let Some(errors) = response.get("errors") {
            bail!("GraphQL errors: {errors}");
        }
        Ok(response["data"].take())
    }

    /// Two users, one service, and one schedule per entry of `initial_timeouts_ms`: the
    /// first user on call around now (`shifts` one-day shifts, alternating users), the
    /// second user at escalation level 1 (one hour).
    pub async fn team(
        &self,
        initial_timeouts_ms: &[u32],
        shifts: usize,
    ) -> anyhow::Result<Vec<String>> {
        let mut users = Vec::new();
        // Emails are unique per server: a suffix per run lets workloads share one `--url`.
        let run = uuid::Uuid::new_v4().simple().to_string();
        let run = &run[..8];
        for name in ["Bench Alice", "Bench Bob"] {
            let email = format!(
                "{}+{run}@example.com",
                name.replace(' ', ".").to_lowercase()
            );
            let data = self
                .gql(
                    "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                    json!({ "i": { "name": name, "email": email } }),
                )
                .await?;
            users.push(id_of(&data["createUser"])?);
        }
        let data = self
            .gql(
                "mutation($i: CreateServiceInput!) { createService(input: $i) { id } }",
                json!({ "i": { "name": "bench" } }),
            )
            .await?;
        let service = id_of(&data["createService"])?;
        let first = Utc::now() - TimeDelta::hours(12);
        let rotation: Vec<Value> = (0..shifts.max(1))
            .map(|i| {
                let start = first + TimeDelta::days(i as i64);
                json!({
                    "userId": users[i % 2],
                    "startTime": start.to_rfc3339(),
                    "endTime": (start + TimeDelta::days(1)).to_rfc3339(),
                })
            })
            .collect();
        let mut schedules = Vec::new();
        for (i, timeout) in initial_timeouts_ms.iter().enumerate() {
            let input = json!({
                "name": format!("bench-{i}"),
                "serviceId": service,
                "rotation": rotation,
                "escalationPolicy": {
                    "initialTimeoutMs": timeout,
                    "escalationLevels": [{ "userId": users[1], "timeoutMs": 3_600_000 }],
                },
            });
            let data = self
                .gql(
                    "mutation($i: CreateScheduleInput!) { createSchedule(input: $i) { id } }",
                    json!({ "i": input }),
                )
                .await?;
            schedules.push(id_of(&data["createSchedule"])?);
        }
        Ok(schedules)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn id_of(object: &Value) -> anyhow::Result<String> {
    object["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no id in {object}"))
}

fn parse_url(url: &str) -> anyhow::Result<SocketAddr> {
    let host = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: expected http://HOST:PORT"))?
        .trim_end_matches('/');
    host.to_socket_addrs()
        .with_context(|| format!("{url}: cannot resolve"))?
        .next()
        .with_context(|| format!("{url}: no address"))
}

/// A token for the servers this run starts: fixed length, unique per run.
fn bench_token() -> String {
    format!(
        "klaxon-bench-{:032x}",
        std::process::id() as u128 * 0x9e37_79b9_7f4a_7c15
    )
}
