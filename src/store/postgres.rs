//! The journal in PostgreSQL (`--database-url`): one ordered event log shared by every
//! `klaxon serve` process on the same database.
//!
//! Tables (migrations are versioned in `klaxon_meta` and run at start-up under an advisory
//! lock, so two processes starting together migrate once):
//! - `klaxon_events(pos, version, body, checksum)`: every accepted event, `pos` 1, 2, 3...
//!   with no gaps. Appends hold the one row of `klaxon_head` (`FOR UPDATE`) until they
//!   commit, so positions are handed out, and become visible, in order: a reader that has
//!   seen position `n` has seen everything before it. Each process batches its appends
//!   (one transaction, one WAL flush for every event waiting), as the SQLite writer does.
//! - `klaxon_keys(key, pos)`: per conflict key (an incident, a dedup key, the
//!   configuration) the position of its latest event. An append names the position its
//!   decision was based on for each key it checks; if the key moved since, the append is
//!   refused as a [`Conflict`] and nothing is written (optimistic concurrency: the loser
//!   catches up and decides again).
//! - `klaxon_snapshots`, `klaxon_snapshot_heads` (schema 2): snapshots of the hot state;
//!   `klaxon_cold_incidents` (schema 3, [`super::pg_cold`]): retired incidents, written in
//!   the transaction of their `IncidentsRetired` record.
//!
//! Each row's checksum covers its position, version and bytes ([`codec::checksum`]), so a
//! damaged or misplaced row refuses to load rather than folding into wrong state.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::future::BoxFuture;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_postgres::NoTls;

use super::codec;
use super::journal::{Journal, JournalError};
use super::state::Applied;
use crate::domain::Event;

/// The schema this binary writes. A database at a newer version is refused.
pub const PG_SCHEMA_VERSION: i32 = 3;
/// Advisory lock key held while migrating ("klaxon" + 1).
const MIGRATION_LOCK: i64 = 0x6b6c_6178_6f6e_0001;
/// Advisory lock key of the engine holder ("klaxon" + 2).
pub const ENGINE_LOCK: i64 = 0x6b6c_6178_6f6e_0002;
/// Advisory lock key of configuration changes ("klaxon" + 3).
const CONFIG_LOCK: i64 = 0x6b6c_6178_6f6e_0003;
/// The NOTIFY channel appends signal on.
const CHANNEL: &str = "klaxon_events";
/// Most events one append transaction carries.
const BATCH: usize = 256;
/// Most rows one read of the log returns.
pub const READ_BATCH: i64 = 512;

const MIGRATION_1: &str = r#"
CREATE TABLE klaxon_head (
    id integer PRIMARY KEY CHECK (id = 1),
    pos bigint NOT NULL
);
INSERT INTO klaxon_head VALUES (1, 0);
CREATE TABLE klaxon_events (
    pos bigint PRIMARY KEY,
    version integer NOT NULL,
    body bytea NOT NULL,
    checksum bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE klaxon_keys (
    key text PRIMARY KEY,
    pos bigint NOT NULL
);
"#;

const MIGRATION_2: &str = r#"
CREATE TABLE klaxon_snapshots (
    pos bigint NOT NULL,
    idx integer NOT NULL,
    version integer NOT NULL,
    body bytea NOT NULL,
    checksum bigint NOT NULL,
    PRIMARY KEY (pos, idx)
);
CREATE TABLE klaxon_snapshot_heads (
    pos bigint PRIMARY KEY,
    chunks integer NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
);
"#;

/// The checksum position of chunk `idx` of the snapshot at `pos` (chunks < 2^20).
fn chunk_position(pos: u64, idx: u32) -> u64 {
    (pos << 20) | u64::from(idx & 0xF_FFFF)
}

/// How [`PgJournal::load_quiet`] folds the log.
#[derive(Clone, Copy)]
enum Fold {
    /// As a serving process does: from the newest snapshot, retired incidents read back
    /// when a change comes for them.
    Serving,
    /// From the first event, every `IncidentsRetired` skipped: a server that never evicted.
    NeverEvicted,
}

/// What start-up (or a snapshot build) loaded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Loaded {
    /// The snapshot used, by the journal position it covers.
    pub snapshot: Option<u64>,
    /// Events folded after it.
    pub replayed: u64,
    /// The last position folded.
    pub last: u64,
}

/// An append was refused: `key` changed at `pos`, after the state the decision read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    /// The position of the newer event; catch up past it, then decide again.
    pub pos: u64,
}

/// Why an append did not happen.
#[derive(Debug)]
pub enum AppendError {
    /// Another process changed what the decision read.
    Conflict(Conflict),
    /// The database refused or could not be reached.
    Failed(JournalError),
}

/// One event for the writer.
struct Append {
    version: u32,
    body: Vec<u8>,
    /// Keys this event moves.
    writes: Vec<String>,
    /// (key, the position the decision read it at).
    checks: Vec<(String, u64)>,
    /// For an `IncidentsRetired` record: the retired incidents' cold rows, written in the
    /// same transaction at its position.
    cold: Vec<super::cold::ColdRow>,
    reply: oneshot::Sender<Result<oneshot::Receiver<Option<Applied>>, AppendError>>,
}

/// A readable description of a URL without its password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    let user = config.get_user().unwrap_or("(default user)");
    format!("postgres://{user}@{host}:{port}/{db}")
}

/// Parses `--database-url`. Only `postgres://` and `postgresql://` URLs are accepted.
pub fn parse_url(url: &str) -> Result<tokio_postgres::Config, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(format!(
            "--database-url must be a PostgreSQL URL such as postgres://user:password@host:5432/klaxon (got {:?})",
            url.chars().take(40).collect::<String>()
        ));
    }
    let mut config = tokio_postgres::Config::from_str(url)
        .map_err(|e| format!("--database-url is not a valid PostgreSQL URL: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.application_name("klaxon");
    Ok(config)
}

/// The positions a process has folded and seen, shared with its tasks.
#[derive(Debug, Default)]
pub struct Positions {
    /// Everything up to here is applied to this process's state.
    folded: AtomicU64,
    /// The newest position this process knows exists.
    head: AtomicU64,
    /// Wakes waiters when `folded` moves.
    moved: Notify,
}

impl Positions {
    /// Applied up to here.
    pub fn folded(&self) -> u64 {
        self.folded.load(Ordering::Acquire)
    }

    /// The newest position seen.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire).max(self.folded())
    }

    fn saw_head(&self, pos: u64) {
        self.head.fetch_max(pos, Ordering::AcqRel);
    }

    /// Records that everything up to `pos` is applied.
    pub fn set_folded(&self, pos: u64) {
        self.folded.store(pos, Ordering::Release);
        self.saw_head(pos);
        self.moved.notify_waiters();
    }

    /// Waits until everything up to `pos` is applied here.
    pub async fn wait_folded(&self, pos: u64) {
        loop {
            let moved = self.moved.notified();
            if self.folded() >= pos {
                return;
            }
            moved.await;
        }
    }
}

/// The PostgreSQL journal of one process.
pub struct PgJournal {
    pool: Pool,
    config: tokio_postgres::Config,
    name: String,
    writer: mpsc::Sender<Append>,
    /// Local appends waiting for the fold to apply them: position → the committer.
    pending: Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Option<Applied>>>>>,
    /// What this process has applied.
    pub positions: Arc<Positions>,
    /// Wakes the fold (a notification, a local append).
    pub wake: Arc<Notify>,
    /// Whether this process holds the engine lock.
    engine: Arc<AtomicBool>,
    /// The engine holder stores a snapshot every this many events (0: never).
    snapshot_every: AtomicU64,
    /// The session that holds [`CONFIG_LOCK`] for this process's configuration changes
    /// (one at a time: the store's configuration mutex is held around it).
    config_session: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
    /// Retired incidents, read back.
    cold: Arc<super::pg_cold::PgCold>,
}

impl std::fmt::Debug for PgJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgJournal").field("db", &self.name).finish()
    }
}

/// A row of the log, checked and decoded.
pub struct LoggedEvent {
    /// Its position.
    pub pos: u64,
    /// The event.
    pub event: Event,
    /// For an event this process appended: who waits for it to be applied.
    pub waiter: Option<oneshot::Sender<Option<Applied>>>,
}

fn db_error(what: &str, e: impl std::fmt::Display) -> JournalError {
    JournalError(format!("PostgreSQL: {what}: {e}"))
}

impl PgJournal {
    /// Connects (within `deadline`), migrates, and starts the batching writer. The state is
    /// not read here: see [`PgJournal::read_after`].
    pub async fn connect(url: &str, deadline: Duration) -> Result<PgJournal, String> {
        let config = parse_url(url)?;
        let name = describe(&config);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| format!("PostgreSQL at {name}: {e}"))?;
        let started = tokio::time::Instant::now();
        let mut client = loop {
            match pool.get().await {
                Ok(client) => break client,
                // Another attempt only while even a slow one (the 5 s connect timeout) ends
                // before the deadline.
                Err(e) if started.elapsed() + Duration::from_secs(6) < deadline => {
                    tracing::warn!(db = %name, error = %e, "PostgreSQL is not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    return Err(format!(
                        "could not connect to PostgreSQL at {name} (--database-url): {e}. Check that the server is running and the URL, user and password are right."
                    ));
                }
            }
        };
        migrate(&mut client, &name).await?;
        drop(client);
        let (writer, queue) = mpsc::channel(4096);
        let journal = PgJournal {
            cold: Arc::new(super::pg_cold::PgCold::new(pool.clone(), name.clone())),
            pool,
            config,
            name,
            writer,
            pending: Default::default(),
            positions: Arc::default(),
            wake: Arc::new(Notify::new()),
            engine: Arc::new(AtomicBool::new(false)),
            snapshot_every: AtomicU64::new(1_000_000),
            config_session: tokio::sync::Mutex::new(None),
        };
        tokio::spawn(run_writer(
            journal.pool.clone(),
            queue,
            journal.pending.clone(),
            journal.wake.clone(),
        ));
        Ok(journal)
    }

    /// Loads the state (start-up): the newest snapshot, if one is usable, then every event
    /// after it, every row checked, in order. A damaged snapshot is skipped (with a
    /// warning) for the full log; a damaged event row is an error.
    pub async fn load(&self) -> Result<(super::State, Loaded), String> {
        let (state, loaded) = self.load_quiet(Fold::Serving).await?;
        state.number_in_fold();
        self.count_cold(&state, loaded.last).await?;
        self.positions.set_folded(loaded.last);
        Ok((state, loaded))
    }

    /// The whole log folded as if no incident had ever been retired (every
    /// `IncidentsRetired` record skipped, no snapshot): what a server that never evicted
    /// would hold. For checking that retention loses nothing.
    pub async fn load_never_evicted(&self) -> Result<super::State, String> {
        self.load_quiet(Fold::NeverEvicted)
            .await
            .map(|(state, _)| state)
    }

    /// After start-up's load at position `last`: how many incidents are only in the cold
    /// table, and which in memory were retired once (thawed; lists skip their cold row).
    /// On a shared log every incident's `seq` is given by the fold, one more than the
    /// highest, so the incidents ever triggered are exactly `max_seq`.
    async fn count_cold(&self, state: &super::State, last: u64) -> Result<(), String> {
        let resolved = state.resolved_in_memory();
        let thawed = self
            .cold
            .retired_among(&resolved, last)
            .await
            .map_err(|e| e.to_string())?;
        state.thawed.clear();
        for id in thawed {
            state.thawed.insert(id, ());
        }
        let ever = state.max_seq.load(Ordering::Relaxed);
        state.set_retired(ever.saturating_sub(state.incidents.len() as u64));
        Ok(())
    }

    /// Brings back into `state` every retired incident `event` (at `pos`) changes, each as
    /// its row retired before `pos`.
    pub async fn thaw_for(
        &self,
        state: &super::State,
        event: &Event,
        pos: u64,
    ) -> Result<(), String> {
        let missing: Vec<_> = state.missing_incidents(event).collect();
        for id in missing {
            let row = self
                .cold
                .row_before(id, pos)
                .await
                .map_err(|e| e.to_string())?;
            if let Some((incident, retired)) = row {
                state.thaw_at(incident, retired);
            }
        }
        Ok(())
    }

    async fn load_quiet(&self, fold: Fold) -> Result<(super::State, Loaded), String> {
        let mut loaded = Loaded::default();
        let mut state = super::State::default();
        let snapshot = match fold {
            Fold::Serving => self.load_snapshot().await,
            Fold::NeverEvicted => Ok(None),
        };
        match snapshot {
            Ok(Some((restored, pos))) => {
                state = restored;
                loaded.snapshot = Some(pos);
                loaded.last = pos;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(db = %self.name, error = %e, "the newest snapshot is unusable; folding the whole journal");
            }
        }
        state.number_in_fold();
        loop {
            let events = self.read_rows(loaded.last, false).await.map_err(|e| e.0)?;
            let Some(end) = events.last().map(|e| e.pos) else {
                break;
            };
            loaded.replayed += events.len() as u64;
            for logged in events {
                match (fold, &logged.event) {
                    (Fold::NeverEvicted, Event::IncidentsRetired { .. }) => continue,
                    (Fold::NeverEvicted, _) => {}
                    (Fold::Serving, event) => self.thaw_for(&state, event, logged.pos).await?,
                }
                state.apply_at(&logged.event, logged.pos);
            }
            loaded.last = end;
        }
        Ok((state, loaded))
    }

    /// The newest complete snapshot, restored into a fresh state, with its position.
    async fn load_snapshot(&self) -> Result<Option<(super::State, u64)>, String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        let Some(head) = client
            .query_opt(
                "SELECT pos, chunks FROM klaxon_snapshot_heads ORDER BY pos DESC LIMIT 1",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let pos = head.get::<_, i64>(0) as u64;
        let chunks = head.get::<_, i32>(1);
        let rows = client
            .query(
                "SELECT idx, version, body, checksum FROM klaxon_snapshots WHERE pos = $1 ORDER BY idx",
                &[&(pos as i64)],
            )
            .await
            .map_err(|e| e.to_string())?;
        if rows.len() != chunks as usize {
            return Err(format!(
                "snapshot {pos} has {} of its {chunks} chunks",
                rows.len()
            ));
        }
        let mut decoded = Vec::with_capacity(rows.len());
        for (expected, row) in (0..).zip(rows) {
            let idx: i32 = row.get(0);
            let version: i32 = row.get(1);
            let body: &[u8] = row.get(2);
            let checksum: i64 = row.get(3);
            if idx != expected {
                return Err(format!("snapshot {pos} misses chunk {expected}"));
            }
            codec::verify(
                chunk_position(pos, idx as u32),
                version as u32,
                body,
                checksum,
            )
            .map_err(|e| format!("snapshot {pos} chunk {idx}: {e}"))?;
            decoded.push(
                codec::decode_chunk(version as u32, body)
                    .map_err(|e| format!("snapshot {pos} chunk {idx}: {e}"))?,
            );
        }
        let restored = tokio::task::spawn_blocking(move || {
            let state = super::State::default();
            // Every restored incident reflects the log up to the snapshot.
            state.set_position(pos);
            for chunk in decoded {
                super::sqlite::restore_chunk(&state, chunk);
            }
            state
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(Some((restored, pos)))
    }

    /// The position of the newest snapshot (0: none).
    async fn newest_snapshot(&self) -> Result<u64, String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        let row = client
            .query_one(
                "SELECT coalesce(max(pos), 0) FROM klaxon_snapshot_heads",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Builds a snapshot of the log as it is now, from the database (a second fold, so the
    /// serving state is never paused), and stores it; keeps the previous one too. Returns
    /// its position (or the newest's, when nothing is newer).
    pub async fn snapshot_now(&self) -> Result<u64, String> {
        let (state, loaded) = self.load_quiet(Fold::Serving).await?;
        if loaded.snapshot == Some(loaded.last) || loaded.last == 0 {
            return Ok(loaded.last);
        }
        let pos = loaded.last;
        let encoded = tokio::task::spawn_blocking(move || {
            super::sqlite::chunks_of(&state)
                .iter()
                .map(codec::encode_chunk)
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let version = codec::SCHEMA_VERSION;
        let idx: Vec<i32> = (0..encoded.len() as i32).collect();
        let versions = vec![version as i32; encoded.len()];
        let checksums: Vec<i64> = encoded
            .iter()
            .zip(0u32..)
            .map(|(body, i)| i64::from(codec::checksum(chunk_position(pos, i), version, body)))
            .collect();
        let positions = vec![pos as i64; encoded.len()];
        let mut client = self.pool.get().await.map_err(|e| e.to_string())?;
        let tx = client.transaction().await.map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO klaxon_snapshots (pos, idx, version, body, checksum) SELECT * FROM unnest($1::bigint[], $2::integer[], $3::integer[], $4::bytea[], $5::bigint[]) ON CONFLICT DO NOTHING",
            &[&positions, &idx, &versions, &encoded, &checksums],
        )
        .await
        .map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO klaxon_snapshot_heads (pos, chunks) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&(pos as i64), &(encoded.len() as i32)],
        )
        .await
        .map_err(|e| e.to_string())?;
        // Keep this one and the one before it.
        tx.execute(
            "DELETE FROM klaxon_snapshots WHERE pos < (SELECT coalesce(max(pos), 0) FROM klaxon_snapshot_heads WHERE pos < $1)",
            &[&(pos as i64)],
        )
        .await
        .map_err(|e| e.to_string())?;
        tx.execute(
            "DELETE FROM klaxon_snapshot_heads WHERE pos < (SELECT coalesce(max(pos), 0) FROM klaxon_snapshot_heads WHERE pos < $1)",
            &[&(pos as i64)],
        )
        .await
        .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        Ok(pos)
    }

    /// On the engine holder, takes a snapshot whenever `every` events have been journaled
    /// since the newest one (checked every few seconds). `every` 0: never.
    pub async fn run_snapshots(&self) {
        let every = self.snapshot_every.load(Ordering::Relaxed);
        if every == 0 {
            return;
        }
        let mut newest = None;
        loop {
            tokio::time::sleep(Duration::from_secs(3)).await;
            if !self.holds_engine() {
                continue;
            }
            let since = match newest {
                Some(pos) => pos,
                None => match self.newest_snapshot().await {
                    Ok(pos) => pos,
                    Err(_) => continue,
                },
            };
            newest = Some(since);
            if self.positions.head().saturating_sub(since) < every {
                continue;
            }
            let started = std::time::Instant::now();
            match self.snapshot_now().await {
                Ok(pos) => {
                    newest = Some(pos);
                    tracing::info!(db = %self.name, position = pos, elapsed_ms = started.elapsed().as_millis() as u64, "snapshot stored");
                }
                Err(e) => {
                    newest = None;
                    tracing::warn!(db = %self.name, error = %e, "could not store a snapshot; retrying later");
                }
            }
        }
    }

    /// Takes the cluster-wide configuration lock (a session advisory lock on a connection
    /// of its own), then waits until this process has applied everything before it: the
    /// configuration read after this is the newest, and stays so until
    /// [`PgJournal::unlock_config`]. Called with the store's configuration mutex held.
    pub async fn lock_config(&self) -> Result<(), JournalError> {
        let mut session = self.config_session.lock().await;
        if session.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, connection) =
                tokio::time::timeout(Duration::from_secs(10), self.config.connect(NoTls))
                    .await
                    .map_err(|_| db_error("no connection", "timed out"))?
                    .map_err(|e| db_error("no connection", e))?;
            tokio::spawn(connection);
            *session = Some(client);
        }
        let Some(client) = session.as_ref() else {
            return Err(db_error("no connection", "none"));
        };
        let locked = tokio::time::timeout(
            Duration::from_secs(10),
            client.execute("SELECT pg_advisory_lock($1)", &[&CONFIG_LOCK]),
        )
        .await;
        match locked {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                *session = None;
                return Err(db_error("taking the configuration lock", e));
            }
            Err(_) => {
                // The lock may be granted after we stop waiting: a new session drops it.
                *session = None;
                return Err(db_error(
                    "taking the configuration lock",
                    "another process held it for 10 s",
                ));
            }
        }
        drop(session);
        let caught_up = async {
            let head = self.head().await?;
            self.positions.wait_folded(head).await;
            Ok::<(), JournalError>(())
        };
        let outcome = match tokio::time::timeout(Duration::from_secs(10), caught_up).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JournalError(
                "this process fell behind the shared journal; try again".into(),
            )),
        };
        if outcome.is_err() {
            self.unlock_config().await;
        }
        outcome
    }

    /// Lets go of the configuration lock taken by [`PgJournal::lock_config`].
    pub async fn unlock_config(&self) {
        let mut session = self.config_session.lock().await;
        let failed = match session.as_ref() {
            Some(client) => client
                .execute("SELECT pg_advisory_unlock($1)", &[&CONFIG_LOCK])
                .await
                .is_err(),
            None => false,
        };
        if failed {
            // Ending the session releases it.
            *session = None;
        }
    }

    /// Sets how many events pass between snapshots (0: never).
    pub fn set_snapshot_every(&self, every: u64) {
        self.snapshot_every.store(every, Ordering::Relaxed);
    }

    /// The database, without its password.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends `event` with its `writes` and `checks` (and, for an `IncidentsRetired`
    /// record, its cold rows, written in the same transaction); on success the receiver
    /// yields what the fold applied.
    pub async fn append_checked(
        &self,
        event: &Event,
        writes: Vec<String>,
        checks: Vec<(String, u64)>,
        cold: Vec<super::cold::ColdRow>,
    ) -> Result<oneshot::Receiver<Option<Applied>>, AppendError> {
        let body = codec::encode_event(event)
            .map_err(|e| AppendError::Failed(JournalError(e.to_string())))?;
        let (reply, answer) = oneshot::channel();
        let append = Append {
            version: codec::SCHEMA_VERSION,
            body,
            writes,
            checks,
            cold,
            reply,
        };
        if self.writer.send(append).await.is_err() {
            return Err(AppendError::Failed(JournalError(
                "the PostgreSQL writer stopped".into(),
            )));
        }
        answer.await.unwrap_or_else(|_| {
            Err(AppendError::Failed(JournalError(
                "the PostgreSQL writer stopped".into(),
            )))
        })
    }

    /// Up to [`READ_BATCH`] events after `pos`, in order, checked. A row that fails its
    /// checksum or does not decode is an error naming its position.
    pub async fn read_after(&self, pos: u64) -> Result<Vec<LoggedEvent>, JournalError> {
        self.read_rows(pos, true).await
    }

    /// [`PgJournal::read_after`]; `take_waiters` false leaves this process's committers
    /// to the fold (a snapshot build reads the log too).
    async fn read_rows(
        &self,
        pos: u64,
        take_waiters: bool,
    ) -> Result<Vec<LoggedEvent>, JournalError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| db_error("no connection", e))?;
        let rows = client
            .query(
                "SELECT pos, version, body, checksum FROM klaxon_events WHERE pos > $1 ORDER BY pos LIMIT $2",
                &[&(pos as i64), &READ_BATCH],
            )
            .await
            .map_err(|e| db_error("reading the journal", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (expected, row) in (pos + 1..).zip(rows) {
            let at: i64 = row.get(0);
            let version: i32 = row.get(1);
            let body: &[u8] = row.get(2);
            let checksum: i64 = row.get(3);
            let at = at as u64;
            if at != expected {
                return Err(JournalError(format!(
                    "the journal in {} has a gap: position {expected} is missing (found {at}); the database was changed by something other than Klaxon. Restore it from a backup.",
                    self.name
                )));
            }
            codec::verify(at, version as u32, body, checksum).map_err(|e| {
                JournalError(format!(
                    "journal row {at} in {} is damaged ({e}); refusing to fold it. Restore the database from a backup.",
                    self.name
                ))
            })?;
            let event = codec::decode_event(version as u32, body).map_err(|e| {
                JournalError(format!(
                    "journal row {at} in {} cannot be read by this binary ({e}); run a newer klaxon.",
                    self.name
                ))
            })?;
            let waiter = if take_waiters {
                self.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&at)
            } else {
                None
            };
            out.push(LoggedEvent {
                pos: at,
                event,
                waiter,
            });
        }
        if let Some(last) = out.last() {
            self.positions.saw_head(last.pos);
        }
        Ok(out)
    }

    /// The newest position in the database.
    pub async fn head(&self) -> Result<u64, JournalError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| db_error("no connection", e))?;
        let row = client
            .query_one("SELECT pos FROM klaxon_head WHERE id = 1", &[])
            .await
            .map_err(|e| db_error("reading the head", e))?;
        let head = row.get::<_, i64>(0) as u64;
        self.positions.saw_head(head);
        Ok(head)
    }

    /// Whether this process holds the engine lock.
    pub fn holds_engine(&self) -> bool {
        self.engine.load(Ordering::Acquire)
    }

    fn set_engine(&self, held: bool) {
        self.engine.store(held, Ordering::Release);
    }

    /// Keeps a connection that LISTENs for appends and wakes the fold on each; reconnects
    /// (waking the fold, which then reads by position) when it drops. Runs forever.
    pub async fn run_listener(&self) {
        loop {
            match self.config.connect(NoTls).await {
                Ok((client, mut connection)) => {
                    let wake = self.wake.clone();
                    let positions = self.positions.clone();
                    let driver = tokio::spawn(async move {
                        loop {
                            let message =
                                futures_util::future::poll_fn(|cx| connection.poll_message(cx))
                                    .await;
                            match message {
                                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                                    // The payload is a hint only: the fold reads by position.
                                    if let Ok(pos) = n.payload().parse::<u64>() {
                                        positions.saw_head(pos);
                                    }
                                    wake.notify_one();
                                }
                                Some(Ok(_)) => {}
                                Some(Err(_)) | None => break,
                            }
                        }
                    });
                    if client
                        .batch_execute(&format!("LISTEN {CHANNEL}"))
                        .await
                        .is_ok()
                    {
                        // Anything appended while we were not listening is read now.
                        self.wake.notify_one();
                        let _ = driver.await;
                    } else {
                        driver.abort();
                    }
                    tracing::warn!(db = %self.name, "the PostgreSQL notification connection dropped; reconnecting");
                }
                Err(e) => {
                    tracing::warn!(db = %self.name, error = %e, "cannot listen for PostgreSQL notifications; retrying");
                }
            }
            self.wake.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Competes for the engine lock on a connection of its own, forever: holds it while
    /// the connection lives, checks the connection every second, and lets go (stops being
    /// the holder) as soon as the check fails. `on_won` runs each time the lock is won,
    /// after this process has caught up with the head.
    pub async fn run_election(&self, on_won: impl Fn()) {
        loop {
            let connected = self.config.connect(NoTls).await;
            let (client, connection) = match connected {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(db = %self.name, error = %e, "engine election: cannot connect; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let driver = tokio::spawn(connection);
            let mut holds = false;
            loop {
                let won = tokio::time::timeout(
                    Duration::from_secs(3),
                    client.query_one("SELECT pg_try_advisory_lock($1)", &[&ENGINE_LOCK]),
                )
                .await;
                match won {
                    Ok(Ok(row)) if row.get::<_, bool>(0) => {
                        holds = true;
                        break;
                    }
                    Ok(Ok(_)) => tokio::time::sleep(Duration::from_millis(500)).await,
                    _ => break,
                }
            }
            if holds {
                // Caught up first, so the timers and pages it re-arms are the latest.
                match self.head().await {
                    Ok(head) => self.positions.wait_folded(head).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "engine election: could not read the head")
                    }
                }
                tracing::info!(db = %self.name, "this process now runs the escalation engine and sends pages");
                self.set_engine(true);
                on_won();
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let alive = tokio::time::timeout(
                        Duration::from_secs(3),
                        client.simple_query("SELECT 1"),
                    )
                    .await;
                    if !matches!(alive, Ok(Ok(_))) {
                        break;
                    }
                }
                self.set_engine(false);
                tracing::warn!(db = %self.name, "lost the engine lock (its connection failed); standing by");
            }
            driver.abort();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Journal for PgJournal {
    fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(async move {
            match self
                .append_checked(event, Vec::new(), Vec::new(), Vec::new())
                .await
            {
                Ok(applied) => {
                    let _ = applied.await;
                    Ok(())
                }
                Err(AppendError::Failed(e)) => Err(e),
                Err(AppendError::Conflict(c)) => {
                    Err(JournalError(format!("conflict at position {}", c.pos)))
                }
            }
        })
    }

    fn postgres(&self) -> Option<&PgJournal> {
        Some(self)
    }

    fn cold(&self) -> Option<Arc<dyn super::cold::ColdIndex>> {
        Some(self.cold.clone())
    }
}

/// Creates or upgrades the schema under the migration lock; refuses a newer schema.
async fn migrate(client: &mut deadpool_postgres::Object, name: &str) -> Result<(), String> {
    let fail = |what: &str, e: tokio_postgres::Error| format!("PostgreSQL at {name}: {what}: {e}");
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| fail("taking the migration lock", e))?;
    let result = migrate_locked(client, name).await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    result
}

async fn migrate_locked(client: &mut deadpool_postgres::Object, name: &str) -> Result<(), String> {
    let fail = |what: &str, e: tokio_postgres::Error| format!("PostgreSQL at {name}: {what}: {e}");
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS klaxon_meta (id integer PRIMARY KEY CHECK (id = 1), schema_version integer NOT NULL)",
        )
        .await
        .map_err(|e| fail("creating klaxon_meta", e))?;
    let version: i32 = client
        .query_opt("SELECT schema_version FROM klaxon_meta WHERE id = 1", &[])
        .await
        .map_err(|e| fail("reading the schema version", e))?
        .map_or(0, |row| row.get(0));
    if version > PG_SCHEMA_VERSION {
        return Err(format!(
            "the Klaxon schema in {name} is version {version}, newer than this binary's ({PG_SCHEMA_VERSION}): a newer klaxon wrote it. Run that version (or newer); nothing was changed."
        ));
    }
    let steps: [&str; 3] = [MIGRATION_1, MIGRATION_2, super::pg_cold::MIGRATION_3];
    for (index, step) in steps.iter().enumerate().skip(version as usize) {
        let to = index as i32 + 1;
        let tx = client
            .transaction()
            .await
            .map_err(|e| fail("starting a migration", e))?;
        tx.batch_execute(step)
            .await
            .map_err(|e| fail(&format!("migrating to schema {to}"), e))?;
        tx.execute(
            "INSERT INTO klaxon_meta (id, schema_version) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET schema_version = EXCLUDED.schema_version",
            &[&to],
        )
        .await
        .map_err(|e| fail("recording the schema version", e))?;
        tx.commit()
            .await
            .map_err(|e| fail(&format!("committing schema {to}"), e))?;
        tracing::info!(db = %name, schema = to, "PostgreSQL schema migrated");
    }
    Ok(())
}

/// The batching writer: takes every append waiting, writes them in one transaction that
/// holds the head row, answers each with its position (or its conflict, or the error).
async fn run_writer(
    pool: Pool,
    mut queue: mpsc::Receiver<Append>,
    pending: Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Option<Applied>>>>>,
    wake: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let appends: Vec<Append> = std::mem::take(&mut batch);
        match write_batch(&pool, &appends, &pending).await {
            Ok(outcomes) => {
                for (append, outcome) in appends.into_iter().zip(outcomes) {
                    let _ = append.reply.send(outcome);
                }
                wake.notify_one();
            }
            Err((e, positions_tried)) => {
                {
                    let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
                    for pos in positions_tried {
                        pending.remove(&pos);
                    }
                }
                for append in appends {
                    let _ = append.reply.send(Err(AppendError::Failed(e.clone_error())));
                }
                // If the commit did land, the fold finds the rows by position.
                wake.notify_one();
            }
        }
    }
}

impl JournalError {
    fn clone_error(&self) -> JournalError {
        JournalError(self.0.clone())
    }
}

type Outcome = Result<oneshot::Receiver<Option<Applied>>, AppendError>;

async fn write_batch(
    pool: &Pool,
    appends: &[Append],
    pending: &std::sync::Mutex<HashMap<u64, oneshot::Sender<Option<Applied>>>>,
) -> Result<Vec<Outcome>, (JournalError, Vec<u64>)> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| (db_error("no connection", e), Vec::new()))?;
    let tx = client
        .transaction()
        .await
        .map_err(|e| (db_error("starting an append", e), Vec::new()))?;
    let head: i64 = tx
        .query_one("SELECT pos FROM klaxon_head WHERE id = 1 FOR UPDATE", &[])
        .await
        .map_err(|e| (db_error("locking the head", e), Vec::new()))?
        .get(0);
    let mut head = head as u64;
    // The latest position of every key a decision read.
    let check_keys: Vec<&str> = appends
        .iter()
        .flat_map(|a| a.checks.iter().map(|(k, _)| k.as_str()))
        .collect();
    let mut latest: HashMap<String, u64> = HashMap::new();
    if !check_keys.is_empty() {
        let rows = tx
            .query(
                "SELECT key, pos FROM klaxon_keys WHERE key = ANY($1)",
                &[&check_keys],
            )
            .await
            .map_err(|e| (db_error("checking for conflicts", e), Vec::new()))?;
        for row in rows {
            latest.insert(row.get::<_, String>(0), row.get::<_, i64>(1) as u64);
        }
    }
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(appends.len());
    let mut at: Vec<i64> = Vec::new();
    let mut versions: Vec<i32> = Vec::new();
    let mut bodies: Vec<&[u8]> = Vec::new();
    let mut checksums: Vec<i64> = Vec::new();
    let mut key_names: Vec<&str> = Vec::new();
    let mut key_pos: Vec<i64> = Vec::new();
    let mut receivers = Vec::new();
    let mut rx_by_pos = HashMap::new();
    let mut retirements: Vec<(u64, &[super::cold::ColdRow])> = Vec::new();
    for append in appends {
        let conflict = append.checks.iter().find_map(|(key, basis)| {
            latest
                .get(key)
                .filter(|&&pos| pos > *basis)
                .map(|&pos| Conflict { pos })
        });
        if let Some(conflict) = conflict {
            outcomes.push(Some(Err(AppendError::Conflict(conflict))));
            continue;
        }
        head += 1;
        at.push(head as i64);
        if !append.cold.is_empty() {
            retirements.push((head, &append.cold));
        }
        versions.push(append.version as i32);
        bodies.push(&append.body);
        checksums.push(i64::from(codec::checksum(
            head,
            append.version,
            &append.body,
        )));
        for key in &append.writes {
            // A later event of the same batch moves the same key further.
            if let Some(i) = key_names.iter().position(|k| k == key) {
                key_pos[i] = head as i64;
            } else {
                key_names.push(key);
                key_pos.push(head as i64);
            }
            latest.insert(key.clone(), head);
        }
        let (tx_applied, rx_applied) = oneshot::channel();
        receivers.push((head, tx_applied));
        rx_by_pos.insert(head, rx_applied);
        outcomes.push(None);
    }
    // Registered before the commit, so the fold (which may read the rows the moment they
    // commit) always finds its committer.
    {
        let mut map = pending.lock().unwrap_or_else(|e| e.into_inner());
        for (pos, sender) in receivers {
            map.insert(pos, sender);
        }
    }
    let tried: Vec<u64> = at.iter().map(|&p| p as u64).collect();
    let fail = |what: &str, e: tokio_postgres::Error| (db_error(what, e), tried.clone());
    if !at.is_empty() {
        tx.execute(
            "INSERT INTO klaxon_events (pos, version, body, checksum) SELECT * FROM unnest($1::bigint[], $2::integer[], $3::bytea[], $4::bigint[])",
            &[&at, &versions, &bodies, &checksums],
        )
        .await
        .map_err(|e| fail("appending", e))?;
        for (pos, rows) in retirements {
            super::pg_cold::insert_rows(&tx, rows, pos)
                .await
                .map_err(|e| fail("writing retired incidents", e))?;
        }
        if !key_names.is_empty() {
            tx.execute(
                "INSERT INTO klaxon_keys (key, pos) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT (key) DO UPDATE SET pos = EXCLUDED.pos",
                &[&key_names, &key_pos],
            )
            .await
            .map_err(|e| fail("recording keys", e))?;
        }
        tx.execute(
            "UPDATE klaxon_head SET pos = $1 WHERE id = 1",
            &[&(head as i64)],
        )
        .await
        .map_err(|e| fail("moving the head", e))?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &head.to_string()])
            .await
            .map_err(|e| fail("notifying", e))?;
    }
    tx.commit().await.map_err(|e| fail("committing", e))?;
    let mut next = at.iter();
    Ok(outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Some(done) => done,
            None => {
                let pos = next.next().map(|&p| p as u64).unwrap_or(0);
                rx_by_pos.remove(&pos).ok_or_else(|| {
                    AppendError::Failed(JournalError("internal: lost an append".into()))
                })
            }
        })
        .collect())
}
