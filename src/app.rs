//! Builds and runs a Klaxon server: store, escalation engine, notifier, HTTP router,
//! graceful shutdown. Tests call [`serve`] with a listener bound to port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::auth::{Gate, LoginQuota, SessionPolicy};
use crate::clock::{SharedClock, SystemClock};
use crate::engine::email::EmailNotifier;
use crate::engine::http_out::Outbound;
use crate::engine::notifier::{Channels, SlackNotifier, WebhookNotifier, run_pages};
use crate::engine::{LogNotifier, Notifier, run_escalations};
use crate::graphql::{PublicUrl, QueryLimits, build_schema};
use crate::http::conn::{self, ConnLimits};
use crate::http::{AppState, router, security};
use crate::store::sqlite::{DurableOptions, SqliteJournal};
use crate::store::{Journal, MemoryJournal, State, Store};

/// Where the state lives between runs.
#[derive(Clone, Debug, Default)]
pub enum Storage {
    /// Nothing is written anywhere (`--in-memory`): a restart starts empty.
    #[default]
    InMemory,
    /// Every change is journaled in a data directory before anyone hears of it, and
    /// start-up replays it.
    Durable(DurableOptions),
    /// The journal is in PostgreSQL, shared by every process on the same database.
    Postgres(PostgresOptions),
}

/// `--database-url` and what goes with it.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Where.
    pub url: DatabaseUrl,
    /// The engine holder stores a snapshot every this many events (0: never).
    pub snapshot_every: u64,
}

/// A `--database-url`. Its `Debug` hides it: it may carry a password.
#[derive(Clone)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

/// How long start-up keeps trying to reach PostgreSQL before it gives up.
const DATABASE_CONNECT_DEADLINE: Duration = Duration::from_secs(12);

/// Everything a server needs that is not code.
#[derive(Clone)]
pub struct Config {
    /// The clock all decisions use.
    pub clock: SharedClock,
    /// Load the demo team on an empty store.
    pub demo: bool,
    /// GraphQL document limits.
    pub limits: QueryLimits,
    /// Most concurrent WebSocket connections.
    pub max_ws_connections: usize,
    /// Most concurrent subscriptions on one WebSocket connection.
    pub max_subscriptions_per_connection: usize,
    /// Incident updates buffered per subscriber before it is dropped as lagged.
    pub update_buffer: usize,
    /// WebSocket subscribers with the same document, variables and role share one
    /// execution (default true; false executes every subscription on its own).
    pub share_subscriptions: bool,
    /// In memory, or journaled to a data directory.
    pub storage: Storage,
    /// `KLAXON_ADMIN_TOKEN`: accepted as an ADMIN bearer token (at least 32 characters).
    pub admin_token: Option<String>,
    /// The address people reach this server at (links, feed URLs); default
    /// `http://<listen address>`. An https URL makes session cookies `Secure`.
    pub public_url: Option<String>,
    /// Session idle and absolute limits.
    pub sessions: SessionPolicy,
    /// Login attempt limits.
    pub login_quota: LoginQuota,
    /// A connection's request headers must be complete within this (default 10 s),
    /// counted from the connection's opening or a later request's first byte.
    pub header_timeout: Duration,
    /// A keep-alive connection without a request for this long is closed (default 60 s).
    /// WebSockets are not idle HTTP connections: this never closes them.
    pub idle_timeout: Duration,
    /// Most open connections, WebSockets included (default 25,000); past it a new one
    /// gets a 503 and is closed.
    pub max_connections: usize,
    /// Origins (`scheme://host[:port]`) allowed to call `/graphql` and `/api` from a
    /// browser on another origin (default none).
    pub cors_origins: Vec<String>,
    /// What monitors may send: per-key rate and burst, concurrent events.
    pub ingest_limits: crate::http::ingest::IngestLimits,
    /// Email pages: `--smtp-url` and `--smtp-from` (none: pages go to the log).
    pub smtp: Option<SmtpSettings>,
    /// Page retries and the storm limit per contact method.
    pub delivery: crate::engine::notifier::DeliveryPolicy,
    /// How outbound webhook deliveries are retried.
    pub webhook_retry: crate::domain::webhook::RetryPolicy,
    /// Resolved incidents older than this leave memory for the cold index (durable
    /// storage only; `None` keeps every incident in memory). Default 7 days.
    pub hot_retention: Option<Duration>,
}

/// Where email pages are sent from.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// `smtp://[user:pass@]host:port` (STARTTLS when offered) or `smtps://...`.
    pub url: String,
    /// The From address, e.g. `Klaxon <klaxon@example.com>`.
    pub from: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            demo: false,
            limits: QueryLimits::default(),
            max_ws_connections: 20_000,
            max_subscriptions_per_connection: 100,
            update_buffer: crate::store::UPDATE_BUFFER,
            share_subscriptions: true,
            storage: Storage::InMemory,
            admin_token: None,
            public_url: None,
            sessions: SessionPolicy::default(),
            login_quota: LoginQuota::default(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 25_000,
            cors_origins: Vec::new(),
            ingest_limits: crate::http::ingest::IngestLimits::default(),
            smtp: None,
            delivery: Default::default(),
            webhook_retry: crate::domain::webhook::RetryPolicy::default(),
            hot_retention: Some(Duration::from_secs(7 * 86_400)),
        }
    }
}

/// The store with its background tasks running: the escalation engine and the notifier.
pub struct Core {
    /// The store the tasks serve.
    pub store: Store,
    stop: watch::Sender<bool>,
    engine: JoinHandle<()>,
    pages: JoinHandle<()>,
    webhooks: Option<JoinHandle<()>>,
}

impl Core {
    /// Starts the engine and notifier over `state` (empty or replayed), then re-arms every
    /// pending escalation and re-queues every undelivered page.
    pub fn start(state: State, journal: Arc<dyn Journal>, config: &Config) -> Core {
        let email = config.smtp.as_ref().and_then(|smtp| {
            EmailNotifier::new(&smtp.url, &smtp.from)
                .map_err(|error| tracing::error!(%error, "email pages are off"))
                .ok()
        });
        let outbound = Outbound::new();
        let outbound_for_webhooks = outbound.clone();
        let channels = Arc::new(Channels {
            public_url: config
                .public_url
                .clone()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_owned(),
            log: LogNotifier,
            email: email.map(|e| Arc::new(e) as Arc<dyn Notifier>),
            slack: SlackNotifier::new(outbound.clone()),
            webhook: WebhookNotifier::new(outbound),
            policy: config.delivery,
        });
        let default_channel = if channels.email.is_some() {
            "email"
        } else {
            "log"
        };
        let (store, outlets) = Store::new(
            state,
            journal,
            config.clock.clone(),
            default_channel,
            config.update_buffer,
        );
        store.set_channels(channels.clone());
        let notifier = channels;
        // Queued before the engine starts, so it sees every replayed deadline at once and
        // the overdue ones fire as one batch, in deadline order.
        store.resume();
        // A shared journal: fold the other processes' changes, compete for the engine.
        store.start_shared();
        let (stop, stop_rx) = watch::channel(false);
        let engine = tokio::spawn(run_escalations(store.clone(), outlets.timers, stop_rx));
        let pages = tokio::spawn(run_pages(store.clone(), notifier, outlets.pages));
        let webhooks = Some(tokio::spawn(crate::engine::webhooks::run_webhooks(
            store.clone(),
            outbound_for_webhooks,
            config.webhook_retry,
            outlets.webhooks,
        )));
        // Not aborted on stop: it ends at the stop signal, never between a retirement's
        // record and its fold.
        if let Some(window) = config.hot_retention {
            tokio::spawn(crate::engine::retention::run_retention(
                store.clone(),
                window,
                stop.subscribe(),
            ));
        }
        Core {
            store,
            stop,
            engine,
            pages,
            webhooks,
        }
    }

    /// Flips to true when [`Core::stop`] is called.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Stops the background tasks.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        self.engine.abort();
        self.pages.abort();
        if let Some(webhooks) = self.webhooks {
            webhooks.abort();
        }
    }
}

/// A running server's handles, for tests and `main`.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The store behind it.
    pub store: Store,
    /// Its authentication (tests mint one-time links with it).
    pub gate: Gate,
}

/// Opens the journal and replays it into the serving state (blocking work, off the
/// runtime's threads). A data directory that is locked, damaged or unreadable is an error
/// here, before the server listens: never a silent start from partial state.
pub async fn open_storage(storage: &Storage) -> std::io::Result<(Arc<dyn Journal>, State)> {
    match storage {
        Storage::InMemory => Ok((Arc::new(MemoryJournal), State::default())),
        Storage::Durable(options) => {
            let options = options.clone();
            let opened = tokio::task::spawn_blocking(move || SqliteJournal::open(&options))
                .await
                .map_err(std::io::Error::other)?;
            let (journal, state, report) = opened.map_err(std::io::Error::other)?;
            tracing::info!(
                snapshot = ?report.snapshot,
                replayed = report.replayed,
                position = report.last,
                elapsed_ms = report.elapsed.as_millis() as u64,
                "journal loaded"
            );
            Ok((Arc::new(journal), state))
        }
        Storage::Postgres(options) => {
            let started = std::time::Instant::now();
            let journal = crate::store::postgres::PgJournal::connect(
                &options.url.0,
                DATABASE_CONNECT_DEADLINE,
            )
            .await
            .map_err(std::io::Error::other)?;
            journal.set_snapshot_every(options.snapshot_every);
            let (state, loaded) = journal.load().await.map_err(std::io::Error::other)?;
            tracing::info!(
                db = journal.name(),
                snapshot = ?loaded.snapshot,
                replayed = loaded.replayed,
                position = loaded.last,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "shared journal loaded"
            );
            Ok((Arc::new(journal), state))
        }
    }
}

/// Prints, once, how a person gets in: the demo's one-time login links, or the one-time
/// setup link while no admin can log in. Links are secrets: they go to stdout (the
/// operator's terminal), never to the log.
fn announce_ways_in(gate: &Gate, public_url: &str, demo: Option<&crate::demo::DemoTeam>) {
    if let Some(team) = demo {
        for user in [&team.admin, &team.responder, &team.viewer] {
            let token = gate.login_link(user.id);
            println!(
                "klaxon demo: log in as {} ({}) at {public_url}/auth/link/{token} (one use, 60 minutes)",
                user.name,
                user.role.as_str()
            );
        }
    }
    if let Some(token) = gate.setup_link() {
        println!(
            "klaxon: no admin can log in yet. Create the first one at {public_url}/setup?token={token} (one use, 60 minutes; restart for a new link), or set KLAXON_ADMIN_TOKEN for automation"
        );
    }
}

/// Serves on `listener` until `shutdown` resolves, then closes WebSockets, lets in-flight
/// requests finish, and stops the background tasks.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Running),
) -> std::io::Result<()> {
    let cors_origins = config
        .cors_origins
        .iter()
        .map(|o| security::parse_origin(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    conn::raise_open_files_limit(config.max_connections);
    if let Some(token) = &config.admin_token {
        if token.chars().count() < crate::auth::MIN_BOOTSTRAP_TOKEN_CHARS {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "KLAXON_ADMIN_TOKEN must be at least {} characters",
                    crate::auth::MIN_BOOTSTRAP_TOKEN_CHARS
                ),
            ));
        }
    }
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    if let Some(smtp) = &config.smtp {
        EmailNotifier::new(&smtp.url, &smtp.from)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    }
    let mut config = config;
    config.public_url = Some(public_url.clone());
    let (journal, state) = open_storage(&config.storage).await?;
    let core = Core::start(state, journal, &config);
    let store = core.store.clone();
    store.set_public_url(config.public_url.as_deref());
    let metrics = Arc::new(crate::metrics::Metrics::new());
    store.set_metrics(metrics.clone());
    if let Err(e) = store.ensure_link_key().await {
        tracing::error!(error = %e, "could not make the email link key");
    }
    if let Err(e) = store.ensure_calendar_keys().await {
        tracing::error!(error = %e, "could not give old schedules calendar keys");
    }
    let sessions = SessionPolicy {
        secure_cookie: public_url.starts_with("https://"),
        ..config.sessions
    };
    let gate = Gate::new(
        store.clone(),
        config.admin_token.as_deref(),
        sessions,
        config.login_quota,
    );
    let demo = if config.demo {
        crate::demo::load(&store).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not load the demo team");
            None
        })
    } else {
        None
    };

    let (closing_tx, closing_rx) = watch::channel(false);
    let schema = build_schema(gate.clone(), PublicUrl(public_url.clone()), config.limits);
    let fanout = config.share_subscriptions.then(|| {
        crate::http::fanout::Hub::new(schema.clone(), store.clone(), config.update_buffer)
    });
    let state = AppState::new(crate::http::AppStateInner {
        schema,
        store: store.clone(),
        ws_connections: Arc::new(Semaphore::new(config.max_ws_connections)),
        max_ws_connections: config.max_ws_connections,
        subscriptions_per_connection: config.max_subscriptions_per_connection,
        shutdown: closing_rx,
        gate: gate.clone(),
        cors_origins: cors_origins.into(),
        metrics,
        ingest: Arc::new(crate::http::ingest::IngestGate::new(config.ingest_limits)),
        fanout,
    });
    let running = Running {
        addr,
        store,
        gate: gate.clone(),
    };
    on_ready(&running);
    announce_ways_in(&gate, &public_url, demo.as_ref());

    let app = router(state);
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: closing WebSockets, finishing in-flight requests");
        let _ = closing_tx.send(true);
    };
    let limits = ConnLimits {
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections,
    };
    conn::serve(listener, app, limits, signal).await?;
    core.stop();
    Ok(())
}
