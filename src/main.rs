//! The `klaxon` binary: parse the command line, set up logging, run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use klaxon::app::{self, Config, Storage};
use klaxon::store::sqlite::{self, DurableOptions};

/// mimalloc instead of glibc's malloc: a trigger allocates a few hundred small objects
/// across worker threads; with mimalloc the server spends 10-20 % less CPU per event
/// (BENCHMARKS.md, "Where an event's CPU goes").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// On-call and incident response server.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `klaxon` alone is `klaxon serve`, with the same options.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<ServeArgs>),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Write a consistent copy of the data directory into PATH (a new directory), while
    /// the server runs. `klaxon serve --data-dir PATH` starts from the copy.
    Backup(BackupArgs),
}

#[derive(clap::Args)]
struct BackupArgs {
    /// The directory to create the copy in.
    path: PathBuf,
    /// The data directory to copy.
    #[arg(long, env = "KLAXON_DATA_DIR", default_value = "./klaxon-data")]
    data_dir: PathBuf,
}

/// Whether commits wait for the disk.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Fsync {
    /// Every commit is on disk before any client hears of it (the default).
    On,
    /// UNSAFE: commits reach the OS but not necessarily the disk. A process crash loses
    /// nothing; a power loss or kernel crash can lose recent answered changes.
    Off,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "KLAXON_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Start with a small demo team (only when the store is empty).
    #[arg(long)]
    demo: bool,
    /// Where the journal lives (created if missing).
    #[arg(long, env = "KLAXON_DATA_DIR", default_value = "./klaxon-data")]
    data_dir: PathBuf,
    /// Keep everything in memory (nothing is written to disk; a restart starts empty).
    #[arg(long)]
    in_memory: bool,
    /// Keep the journal in PostgreSQL instead of the data directory, e.g.
    /// postgres://klaxon:PASSWORD@db:5432/klaxon. Any number of klaxon processes on the
    /// same database serve the same state; one of them runs the timers and sends pages.
    #[arg(
        long,
        env = "KLAXON_DATABASE_URL",
        conflicts_with = "in_memory",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// Wait for the disk on every commit. `off` is unsafe: see docs/durability.md.
    #[arg(long, env = "KLAXON_FSYNC", value_enum, default_value = "on")]
    fsync: Fsync,
    /// Snapshot the state every this many journaled events (0: never).
    #[arg(long, env = "KLAXON_SNAPSHOT_EVERY", default_value_t = 1_000_000)]
    snapshot_every: u64,
    /// Most concurrent WebSocket connections.
    #[arg(long, env = "KLAXON_MAX_WS_CONNECTIONS", default_value_t = 20_000)]
    max_ws_connections: usize,
    /// Most concurrent subscriptions per WebSocket connection.
    #[arg(long, env = "KLAXON_MAX_SUBSCRIPTIONS", default_value_t = 100)]
    max_subscriptions_per_connection: usize,
    /// Execute every WebSocket subscription on its own, instead of once per group of
    /// subscribers with the same document, variables and role (for comparison).
    #[arg(long, env = "KLAXON_UNSHARED_SUBSCRIPTIONS")]
    unshared_subscriptions: bool,
    /// Let the kernel back this process's memory with transparent huge pages. Off by
    /// default: with them, 2 MiB pages mostly empty count as resident (a million resolved
    /// incidents read 131 MiB of anonymous memory with them, 98 without) and events cost no
    /// less CPU (BENCHMARKS.md, "Resident memory on a year of history").
    #[arg(long, env = "KLAXON_TRANSPARENT_HUGE_PAGES")]
    transparent_huge_pages: bool,
    /// The address people and monitors reach this server at, for links and feed URLs
    /// (default http://<listen address>). An https URL makes session cookies Secure.
    #[arg(long, env = "KLAXON_PUBLIC_URL")]
    public_url: Option<String>,
    /// Resolved incidents older than this leave memory; they stay on disk and every query
    /// still answers them (e.g. 12h, 7d; `off` keeps all in memory). With --data-dir only.
    #[arg(long, env = "KLAXON_HOT_RETENTION", default_value = "7d", value_parser = retention)]
    hot_retention: Retention,
    /// A login session unused this long ends (e.g. 30m, 12h, 7d).
    #[arg(long, env = "KLAXON_SESSION_IDLE", default_value = "7d", value_parser = duration)]
    session_idle: chrono::Duration,
    /// A login session ends this long after login, whatever its use.
    #[arg(long, env = "KLAXON_SESSION_LIFETIME", default_value = "30d", value_parser = duration)]
    session_lifetime: chrono::Duration,
    /// Close a connection whose request headers are not complete within this many ms.
    #[arg(long, env = "KLAXON_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Close a keep-alive connection idle for this many ms (WebSockets are never idle).
    #[arg(long, env = "KLAXON_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Most open connections, WebSockets included; past it, new ones get a 503.
    #[arg(long, env = "KLAXON_MAX_CONNECTIONS", default_value_t = 25_000)]
    max_connections: usize,
    /// An origin (scheme://host[:port]) allowed to call /graphql and /api from a browser
    /// page on another origin. Repeatable; the variable takes a comma-separated list.
    #[arg(
        long = "cors-origin",
        env = "KLAXON_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = klaxon::http::security::parse_origin
    )]
    cors_origins: Vec<String>,
    /// Events per minute one integration key may send once its burst is spent.
    #[arg(long, env = "KLAXON_INGEST_RATE_PER_MINUTE", default_value_t = 120)]
    ingest_rate_per_minute: u32,
    /// Events one integration key may send at once.
    #[arg(long, env = "KLAXON_INGEST_BURST", default_value_t = 1_000)]
    ingest_burst: u32,
    /// Monitor events processed at once, over all keys; past it, 429 with Retry-After.
    #[arg(long, env = "KLAXON_INGEST_CONCURRENCY", default_value_t = 256)]
    ingest_concurrency: usize,
    /// Send email pages through this SMTP server: smtp://[user:pass@]host[:port] (STARTTLS
    /// when the server offers it) or smtps://... (TLS from the start). Unset: pages go to
    /// the log.
    #[arg(long, env = "KLAXON_SMTP_URL")]
    smtp_url: Option<String>,
    /// The From address of email pages.
    #[arg(
        long,
        env = "KLAXON_SMTP_FROM",
        default_value = "Klaxon <klaxon@localhost>"
    )]
    smtp_from: String,
    /// Attempts per page (per contact method) before it is shown as failed.
    #[arg(long, env = "KLAXON_PAGE_ATTEMPTS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    page_attempts: u32,
    /// The wait in ms before a page's second attempt; doubled before each later one.
    #[arg(long, env = "KLAXON_PAGE_RETRY_MS", default_value_t = 2_000)]
    page_retry_ms: u64,
    /// Most messages per contact method per minute; past it, pages are bundled into one
    /// message ("and 14 more incidents") rather than dropped.
    #[arg(long, env = "KLAXON_PAGES_PER_MINUTE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pages_per_minute: u32,
    /// The window --pages-per-minute counts over, in ms (a minute; shorter for tests and
    /// benchmarks).
    #[arg(long, env = "KLAXON_PAGES_WINDOW_MS", default_value_t = 60_000, hide = true, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pages_window_ms: u64,
    /// Outbound webhooks: the wait (ms) after a delivery's first failed attempt; each
    /// further one doubles it (up to 5 minutes), with ±20 % jitter.
    #[arg(long, env = "KLAXON_WEBHOOK_RETRY_BASE_MS", default_value_t = 5_000)]
    webhook_retry_base_ms: u64,
    /// Outbound webhooks: how long (ms) a delivery is retried before it is given up.
    #[arg(
        long,
        env = "KLAXON_WEBHOOK_RETRY_WINDOW_MS",
        default_value_t = 1_200_000
    )]
    webhook_retry_window_ms: u64,
}

/// `90s`, `30m`, `12h`, `7d`: a number and a unit.
/// `--hot-retention`: a duration, or `off`.
#[derive(Clone, Copy, Debug)]
struct Retention(Option<Duration>);

fn retention(raw: &str) -> Result<Retention, String> {
    if raw.trim().eq_ignore_ascii_case("off") {
        return Ok(Retention(None));
    }
    let window = duration(raw)?
        .to_std()
        .map_err(|_| format!("'{raw}' is out of range"))?;
    Ok(Retention(Some(window)))
}

fn duration(raw: &str) -> Result<chrono::Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("'{raw}' needs a unit: s, m, h or d (e.g. 12h)"))?;
    let (number, unit) = raw.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a number and a unit (e.g. 12h)"))?;
    let d = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => return Err(format!("'{raw}': the unit must be s, m, h or d")),
    };
    d.filter(|d| *d > chrono::Duration::zero())
        .ok_or_else(|| format!("'{raw}' must be a positive duration"))
}

fn main() -> anyhow::Result<()> {
    // First, before the runtime and the state allocate: memory faulted in while huge pages
    // are allowed stays in 2 MiB pages.
    set_transparent_huge_pages(false);
    let cli = Cli::parse();
    let serve_args = match &cli.command {
        Some(Command::Serve(args)) => Some(&**args),
        None => Some(&cli.serve),
        _ => None,
    };
    if serve_args.is_some_and(|args| args.transparent_huge_pages) {
        set_transparent_huge_pages(true);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Schema) => {
            print!("{}", klaxon::graphql::sdl());
            Ok(())
        }
        Some(Command::Backup(args)) => {
            let copy = sqlite::backup(&args.data_dir, &args.path)
                .with_context(|| format!("backup of {} failed", args.data_dir.display()))?;
            println!("backup written to {}", copy.display());
            Ok(())
        }
        Some(Command::Serve(args)) => serve(*args).await,
        None => serve(cli.serve).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let addr: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {}: expected HOST:PORT", args.listen))?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr}"))?;
    let storage = if args.in_memory {
        Storage::InMemory
    } else if let Some(url) = args.database_url.filter(|u| !u.trim().is_empty()) {
        klaxon::store::postgres::parse_url(&url).map_err(anyhow::Error::msg)?;
        Storage::Postgres(klaxon::app::PostgresOptions {
            url: klaxon::app::DatabaseUrl(url),
            snapshot_every: args.snapshot_every,
        })
    } else {
        Storage::Durable(DurableOptions {
            fsync: args.fsync == Fsync::On,
            snapshot_every: args.snapshot_every,
            ..DurableOptions::new(&args.data_dir)
        })
    };
    let admin_token = std::env::var("KLAXON_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    if let Some(token) = &admin_token {
        anyhow::ensure!(
            token.chars().count() >= klaxon::auth::MIN_BOOTSTRAP_TOKEN_CHARS,
            "KLAXON_ADMIN_TOKEN must be at least {} characters",
            klaxon::auth::MIN_BOOTSTRAP_TOKEN_CHARS
        );
    }
    anyhow::ensure!(
        args.session_idle <= args.session_lifetime,
        "--session-idle must not be longer than --session-lifetime"
    );
    let config = Config {
        demo: args.demo,
        admin_token,
        public_url: args.public_url,
        sessions: klaxon::auth::SessionPolicy {
            idle: args.session_idle,
            lifetime: args.session_lifetime,
            secure_cookie: false,
        },
        max_ws_connections: args.max_ws_connections,
        max_subscriptions_per_connection: args.max_subscriptions_per_connection,
        share_subscriptions: !args.unshared_subscriptions,
        storage,
        header_timeout: Duration::from_millis(args.header_timeout_ms),
        idle_timeout: Duration::from_millis(args.idle_timeout_ms),
        max_connections: args.max_connections,
        cors_origins: args.cors_origins,
        ingest_limits: klaxon::http::ingest::IngestLimits {
            per_minute: args.ingest_rate_per_minute,
            burst: args.ingest_burst,
            concurrency: args.ingest_concurrency,
        },
        smtp: args.smtp_url.map(|url| klaxon::app::SmtpSettings {
            url,
            from: args.smtp_from,
        }),
        delivery: klaxon::engine::notifier::DeliveryPolicy {
            attempts: args.page_attempts,
            retry_base: Duration::from_millis(args.page_retry_ms),
            per_minute: args.pages_per_minute as usize,
            window: Duration::from_millis(args.pages_window_ms),
        },
        webhook_retry: klaxon::domain::webhook::RetryPolicy::with(
            args.webhook_retry_base_ms,
            args.webhook_retry_window_ms,
        ),
        hot_retention: args.hot_retention.0,
        ..Config::default()
    };
    app::serve(listener, config, shutdown_signal(), |running| {
        // A plain line on stdout, so scripts and tests can find the port.
        println!("klaxon listening on http://{}", running.addr);
        tracing::info!(addr = %running.addr, "ready: web UI at /, GraphiQL at /graphql");
    })
    .await
    .context("klaxon stopped")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Whether the kernel may back this process's memory with transparent huge pages (all its
/// threads; memory faulted in from now on). Where the call is refused or missing, things
/// stay as the system sets them.
fn set_transparent_huge_pages(allowed: bool) {
    #[cfg(target_os = "linux")]
    {
        let disable: libc::c_ulong = if allowed { 0 } else { 1 };
        let zero: libc::c_ulong = 0;
        // SAFETY: PR_SET_THP_DISABLE only sets a flag on this process; no memory is passed.
        // Every argument is an unsigned long, as the variadic call expects.
        let refused =
            unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, disable, zero, zero, zero) } != 0;
        if refused {
            eprintln!(
                "klaxon: transparent huge pages stay as the system sets them ({})",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = allowed;
}
