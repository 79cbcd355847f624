//! The durable journal: an embedded SQLite file under `--data-dir`, with group commit,
//! periodic snapshots, damage detection on load, a lock file and online backup.
//!
//! This module owns the data directory: `klaxon.db` (events, snapshots) and `klaxon.lock`.
//! One writer thread owns the only writing connection; callers hand it encoded events and
//! wait for the commit that contains them. It never applies an event to the serving state
//! itself except while loading (through [`State::apply`], the one fold), and it never
//! answers an append before the transaction holding it is committed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use super::codec::{self, CodecError, SCHEMA_VERSION, SnapshotChunk};
use super::journal::{Journal, JournalError};
use super::state::State;
use crate::domain::{Actor, Event, IncidentChange, IncidentChangeKind};

/// The database file inside the data directory.
pub const DB_FILE: &str = "klaxon.db";
/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "klaxon.lock";
/// Marks the file as Klaxon's (`PRAGMA application_id`): 'KLXN'.
const APPLICATION_ID: i64 = 0x4b4c_584e;
/// Table layout version (`PRAGMA user_version`); the record encoding has its own version.
/// Layout 2 added `cold_incidents` (see `store::cold`); a layout-1 file gains it on open.
const LAYOUT_VERSION: i64 = 2;
/// Most events in one commit; bounds a commit's latency under a flood.
const MAX_BATCH: usize = 4096;
/// Entities per snapshot chunk: a chunk is written inside one ordinary group commit.
const CHUNK_ENTITIES: usize = 2048;

/// How the durable journal is set up.
#[derive(Clone, Debug)]
pub struct DurableOptions {
    /// The data directory (created if missing).
    pub data_dir: PathBuf,
    /// Fsync every commit (`synchronous=FULL`). Off trades the last commits before a power
    /// loss (not a process crash) for speed: only for tests and throwaway setups.
    pub fsync: bool,
    /// Take a snapshot every this many events (0: never automatically).
    pub snapshot_every: u64,
    /// Start from the newest snapshot; `false` replays the whole journal (for measuring).
    pub use_snapshots: bool,
    /// Fold as if no incident had ever been retired: every incident stays in memory. With
    /// `use_snapshots: false` this is the state of a server that never evicted (the
    /// retention property test compares against it).
    pub keep_retired: bool,
}

impl DurableOptions {
    /// Safe defaults for `data_dir`: fsync on, a snapshot every 100,000 events.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            fsync: true,
            snapshot_every: 1_000_000,
            use_snapshots: true,
            keep_retired: false,
        }
    }
}

/// Why the data directory could not be opened, loaded, or copied.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Another process holds the data directory.
    #[error(
        "data directory {dir} is in use by {holder} (lock file {lock}); stop it or use another --data-dir"
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it, as well as can be told ("process 1234").
        holder: String,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// SQLite refused (including its own corruption detection).
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A record other than the last one is damaged: start-up stops rather than load part.
    #[error(
        "{path}: journal record {position} is damaged ({reason}); refusing to start with a partial history. Restore from a backup, or move the file aside"
    )]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// The record's sequence number (its position in the journal).
        position: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The file is not a Klaxon journal, or a newer layout.
    #[error("{path}: {reason}")]
    Format {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A backup target that already holds data.
    #[error("{0} already holds a Klaxon database; choose an empty or new directory")]
    BackupExists(PathBuf),
}

/// What loading the journal found.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// The journal position the snapshot used covers, if one was used.
    pub snapshot: Option<u64>,
    /// Events replayed after the snapshot.
    pub replayed: u64,
    /// The last journal position loaded.
    pub last: u64,
    /// A torn last record that was dropped, if any.
    pub dropped_tail: Option<u64>,
    /// How long loading took.
    pub elapsed: Duration,
}

/// A request to the writer thread.
enum Request {
    /// Append one encoded event, and with it the cold rows of the incidents an
    /// `IncidentsRetired` record retires (empty for every other event); answered with its
    /// position after the commit.
    Append {
        /// Encoded event.
        payload: Vec<u8>,
        /// Cold rows written in the same transaction.
        cold: Vec<super::cold::ColdRow>,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Store one snapshot chunk (snapshot thread → writer).
    Chunk {
        /// The position the snapshot covers.
        snapshot: u64,
        /// Chunk number.
        index: u64,
        /// Encoded chunk.
        payload: Vec<u8>,
        /// Answered after the commit.
        reply: mpsc::SyncSender<Result<(), String>>,
    },
    /// Seal a snapshot (all chunks stored) and drop older ones.
    Seal {
        /// The position the snapshot covers.
        snapshot: u64,
        /// How many chunks it has.
        chunks: u64,
        /// Answered after the commit.
        reply: mpsc::SyncSender<Result<(), String>>,
    },
    /// Commit what is queued, then stop (the journal is being dropped). Needed because
    /// the writer and snapshot threads hold senders too, so the channel never closes.
    Shutdown,
}

/// The durable journal. Dropping it stops the writer thread (after the commits in flight)
/// and releases the lock file.
pub struct SqliteJournal {
    /// Feeds the writer thread. A std channel: senders never block and the writer is a
    /// plain thread, not a task.
    requests: mpsc::Sender<Request>,
    /// Shared with the writer and snapshot threads.
    inner: Arc<Inner>,
    /// The writer thread, joined on drop so the last commit finishes.
    writer: Option<std::thread::JoinHandle<()>>,
    /// Held for the journal's lifetime: the advisory lock on `klaxon.lock`.
    _lock: File,
    /// Reads retired incidents back.
    cold: Arc<super::cold::SqliteCold>,
}

/// What the writer and snapshot threads share.
struct Inner {
    /// The database file.
    db_path: PathBuf,
    /// Snapshot cadence (0: never automatically).
    snapshot_every: u64,
    /// One snapshot at a time.
    snapshotting: AtomicBool,
    /// Where the writer times its commits, once the server's metrics exist.
    commits: std::sync::OnceLock<prometheus_client::metrics::histogram::Histogram>,
}

impl std::fmt::Debug for SqliteJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteJournal")
            .field("db", &self.inner.db_path)
            .finish()
    }
}

fn sqlite_err(path: &Path) -> impl FnOnce(rusqlite::Error) -> StorageError + '_ {
    move |source| StorageError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes the data directory's lock and records our PID in it.
fn lock_data_dir(dir: &Path) -> Result<File, StorageError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim().parse::<u32>() {
                Ok(pid) => format!("process {pid}"),
                Err(_) => "another process".to_string(),
            };
            return Err(StorageError::Locked {
                dir: dir.to_path_buf(),
                lock: path,
                holder,
            });
        }
        Err(fs4::TryLockError::Error(source)) => return Err(StorageError::Io { path, source }),
    }
    // The lock is ours: the PID in the file is only a message for whoever is refused.
    file.set_len(0).map_err(io_err(&path))?;
    file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
    writeln!(file, "{}", std::process::id()).map_err(io_err(&path))?;
    file.sync_all().map_err(io_err(&path))?;
    Ok(file)
}

fn open_connection(path: &Path, fsync: bool) -> Result<Connection, StorageError> {
    let conn = Connection::open(path).map_err(sqlite_err(path))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sqlite_err(path))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sqlite_err(path))?;
    conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "OFF" })
        .map_err(sqlite_err(path))?;
    Ok(conn)
}

fn init_schema(conn: &Connection, path: &Path) -> Result<(), StorageError> {
    let app: i64 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(sqlite_err(path))?;
    let layout: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sqlite_err(path))?;
    if app == 0 && layout == 0 {
        conn.execute_batch(&format!(
            "BEGIN;
             CREATE TABLE IF NOT EXISTS events (
                 seq INTEGER PRIMARY KEY,      -- journal position, 1, 2, 3, ...
                 version INTEGER NOT NULL,     -- record schema version
                 payload BLOB NOT NULL,        -- encoded Event
                 crc INTEGER NOT NULL          -- crc32 of (seq, version, payload)
             );
             CREATE TABLE IF NOT EXISTS snapshot_chunks (
                 snapshot INTEGER NOT NULL,    -- the position the snapshot covers
                 idx INTEGER NOT NULL,
                 version INTEGER NOT NULL,
                 payload BLOB NOT NULL,        -- encoded SnapshotChunk
                 crc INTEGER NOT NULL,         -- crc32 of (idx, version, payload)
                 PRIMARY KEY (snapshot, idx)
             );
             CREATE TABLE IF NOT EXISTS snapshots (
                 seq INTEGER PRIMARY KEY,      -- covers events 1..=seq
                 chunks INTEGER NOT NULL,      -- written last: a sealed snapshot is complete
                 version INTEGER NOT NULL
             );
             {cold}
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {LAYOUT_VERSION};
             COMMIT;",
            cold = super::cold::SCHEMA
        ))
        .map_err(sqlite_err(path))?;
        return Ok(());
    }
    if app != APPLICATION_ID {
        return Err(StorageError::Format {
            path: path.to_path_buf(),
            reason: format!("not a Klaxon journal (application_id {app:#x})"),
        });
    }
    if layout > LAYOUT_VERSION {
        return Err(StorageError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "table layout {layout} is newer than this build understands (up to {LAYOUT_VERSION})"
            ),
        });
    }
    if layout < 2 {
        // Layout 1 → 2: the cold index, empty (nothing was retired before it existed).
        conn.execute_batch(&format!(
            "BEGIN; {cold} PRAGMA user_version = 2; COMMIT;",
            cold = super::cold::SCHEMA
        ))
        .map_err(sqlite_err(path))?;
    }
    Ok(())
}

impl SqliteJournal {
    /// Opens (or creates) the data directory: takes the lock, loads the newest snapshot,
    /// replays the events after it into a fresh [`State`], drops a torn last record, and
    /// starts the writer thread. Blocking: call it from `spawn_blocking` or before serving.
    pub fn open(options: &DurableOptions) -> Result<(Self, State, LoadReport), StorageError> {
        let started = Instant::now();
        let dir = &options.data_dir;
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock = lock_data_dir(dir)?;
        let db_path = dir.join(DB_FILE);
        let conn = open_connection(&db_path, options.fsync)?;
        init_schema(&conn, &db_path)?;
        let (state, mut report) =
            load(&conn, &db_path, options.use_snapshots, options.keep_retired)?;
        if let Some(torn) = report.dropped_tail {
            // Removed before anything is appended, so the next event takes its place.
            conn.execute("DELETE FROM events WHERE seq = ?1", [torn as i64])
                .map_err(sqlite_err(&db_path))?;
        }
        let last_snapshot: u64 = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM snapshots", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(sqlite_err(&db_path))? as u64;
        report.elapsed = started.elapsed();

        let inner = Arc::new(Inner {
            db_path: db_path.clone(),
            snapshot_every: options.snapshot_every,
            snapshotting: AtomicBool::new(false),
            commits: std::sync::OnceLock::new(),
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            conn,
            inner: inner.clone(),
            next: report.last + 1,
            last_snapshot,
            requests: tx.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("klaxon-journal".into())
            .spawn(move || writer.run(rx))
            .map_err(io_err(&db_path))?;
        Ok((
            Self {
                requests: tx,
                inner,
                writer: Some(handle),
                _lock: lock,
                cold: Arc::new(super::cold::SqliteCold::new(&db_path)),
            },
            state,
            report,
        ))
    }

    /// Appends `event` (and `cold` rows in the same commit); resolves after the commit.
    async fn append_with(
        &self,
        event: &Event,
        cold: Vec<super::cold::ColdRow>,
    ) -> Result<(), JournalError> {
        // Encoding happens on the caller's thread, so the writer only writes.
        let payload = codec::encode_event(event).map_err(|e| JournalError(e.to_string()))?;
        let (reply, answer) = oneshot::channel();
        // No lock on this path: std's Sender is Sync, and every append shares it.
        self.requests
            .send(Request::Append {
                payload,
                cold,
                reply,
            })
            .map_err(|_| JournalError("the journal writer has stopped".into()))?;
        match answer.await {
            Ok(Ok(_position)) => Ok(()),
            Ok(Err(e)) => Err(JournalError(e)),
            Err(_) => Err(JournalError("the journal writer has stopped".into())),
        }
    }

    /// Writes a snapshot of everything journaled so far and returns the position it covers.
    /// Blocking; the periodic snapshots run this on their own thread. Appends go on
    /// meanwhile: the snapshot is built from the file, not from the live state.
    pub fn snapshot_now(&self) -> Result<u64, StorageError> {
        take_snapshot(&self.inner.db_path, &self.requests)
    }
}

impl Drop for SqliteJournal {
    fn drop(&mut self) {
        // The writer finishes what is queued before the shutdown request, then exits; a
        // snapshot thread still running finds the writer gone and gives up.
        let _ = self.requests.send(Request::Shutdown);
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
}

impl Journal for SqliteJournal {
    fn append<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(self.append_with(event, Vec::new()))
    }

    fn retire<'a>(
        &'a self,
        event: &'a Event,
        rows: Vec<super::cold::ColdRow>,
    ) -> BoxFuture<'a, Result<(), JournalError>> {
        Box::pin(self.append_with(event, rows))
    }

    fn cold(&self) -> Option<Arc<dyn super::cold::ColdIndex>> {
        Some(self.cold.clone())
    }

    fn observe_commits(&self, histogram: prometheus_client::metrics::histogram::Histogram) {
        let _ = self.inner.commits.set(histogram);
    }
}

/// The writer thread's state.
struct Writer {
    /// The only writing connection.
    conn: Connection,
    /// Shared settings.
    inner: Arc<Inner>,
    /// The next journal position.
    next: u64,
    /// The position of the newest sealed snapshot.
    last_snapshot: u64,
    /// For handing to a snapshot thread.
    requests: mpsc::Sender<Request>,
}

/// What a commit owes its waiters.
enum Waiter {
    Append(oneshot::Sender<Result<u64, String>>, u64),
    Done(mpsc::SyncSender<Result<(), String>>),
}

impl Writer {
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // Blocks until there is work; then takes whatever else is already queued, so every
        // writer that arrived during the previous commit shares this one (group commit).
        let mut stopping = false;
        while !stopping {
            let Ok(first) = requests.recv() else { break };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            let before = batch.len();
            batch.retain(|r| !matches!(r, Request::Shutdown));
            stopping = batch.len() != before;
            let started = std::time::Instant::now();
            self.commit(&mut batch);
            if let Some(commits) = self.inner.commits.get() {
                commits.observe(started.elapsed().as_secs_f64());
            }
            if !stopping {
                self.maybe_snapshot();
            }
        }
        // Every sender is gone: checkpoint so the WAL does not outgrow the database.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }

    fn commit(&mut self, batch: &mut Vec<Request>) {
        let start = self.next;
        let mut waiters = Vec::with_capacity(batch.len());
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.unchecked_transaction()?;
            {
                let mut insert_event = tx.prepare_cached(
                    "INSERT INTO events (seq, version, payload, crc) VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut next = start;
                for request in batch.drain(..) {
                    match request {
                        Request::Append {
                            payload,
                            cold,
                            reply,
                        } => {
                            let crc = codec::checksum(next, SCHEMA_VERSION, &payload);
                            insert_event.execute(params![
                                next as i64,
                                SCHEMA_VERSION,
                                payload,
                                i64::from(crc)
                            ])?;
                            for row in &cold {
                                row.insert(&tx, next)?;
                            }
                            waiters.push(Waiter::Append(reply, next));
                            next += 1;
                        }
                        Request::Chunk {
                            snapshot,
                            index,
                            payload,
                            reply,
                        } => {
                            let crc = codec::checksum(index, SCHEMA_VERSION, &payload);
                            tx.execute(
                                "INSERT OR REPLACE INTO snapshot_chunks (snapshot, idx, version, payload, crc) VALUES (?1, ?2, ?3, ?4, ?5)",
                                params![snapshot as i64, index as i64, SCHEMA_VERSION, payload, i64::from(crc)],
                            )?;
                            waiters.push(Waiter::Done(reply));
                        }
                        Request::Shutdown => {}
                        Request::Seal {
                            snapshot,
                            chunks,
                            reply,
                        } => {
                            tx.execute(
                                "INSERT OR REPLACE INTO snapshots (seq, chunks, version) VALUES (?1, ?2, ?3)",
                                params![snapshot as i64, chunks as i64, SCHEMA_VERSION],
                            )?;
                            // Only the newest snapshot is kept; the events stay (they are
                            // the history, and the fallback if a snapshot is ever damaged).
                            tx.execute("DELETE FROM snapshots WHERE seq < ?1", [snapshot as i64])?;
                            tx.execute(
                                "DELETE FROM snapshot_chunks WHERE snapshot < ?1",
                                [snapshot as i64],
                            )?;
                            self.last_snapshot = self.last_snapshot.max(snapshot);
                            waiters.push(Waiter::Done(reply));
                        }
                    }
                }
                self.next = next;
            }
            tx.commit()
        })();
        match result {
            Ok(()) => {
                for waiter in waiters {
                    match waiter {
                        // A waiter that gave up (client gone) is not an error.
                        Waiter::Append(reply, position) => {
                            let _ = reply.send(Ok(position));
                        }
                        Waiter::Done(reply) => {
                            let _ = reply.send(Ok(()));
                        }
                    }
                }
            }
            Err(error) => {
                // The transaction rolled back: nothing in it happened.
                self.next = start;
                tracing::error!(%error, "journal commit failed");
                let message = format!("journal write failed: {error}");
                for waiter in waiters {
                    match waiter {
                        Waiter::Append(reply, _) => {
                            let _ = reply.send(Err(message.clone()));
                        }
                        Waiter::Done(reply) => {
                            let _ = reply.send(Err(message.clone()));
                        }
                    }
                }
                for request in batch.drain(..) {
                    if let Request::Append { reply, .. } = request {
                        let _ = reply.send(Err(message.clone()));
                    }
                }
            }
        }
    }

    fn maybe_snapshot(&mut self) {
        let every = self.inner.snapshot_every;
        let written = self.next.saturating_sub(1);
        if every == 0 || written < self.last_snapshot + every {
            return;
        }
        if self.inner.snapshotting.swap(true, Ordering::AcqRel) {
            return;
        }
        let inner = self.inner.clone();
        let sender = self.requests.clone();
        let spawned = std::thread::Builder::new()
            .name("klaxon-snapshot".into())
            .spawn(move || {
                match take_snapshot(&inner.db_path, &sender) {
                    Ok(position) => tracing::info!(position, "snapshot written"),
                    Err(error) => tracing::error!(%error, "snapshot failed"),
                }
                inner.snapshotting.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.inner.snapshotting.store(false, Ordering::Release);
        }
        // Do not try again for another interval even if this one fails.
        self.last_snapshot = written;
    }
}

/// Builds a snapshot from the file (newest snapshot + events after it, read in one read
/// transaction, so it is exactly the state at one journal position) and stores it through
/// the writer, one chunk per commit.
fn take_snapshot(db_path: &Path, writer: &mpsc::Sender<Request>) -> Result<u64, StorageError> {
    let conn = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(db_path))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sqlite_err(db_path))?;
    let tx = conn.unchecked_transaction().map_err(sqlite_err(db_path))?;
    let (state, report) = load(&tx, db_path, true, false)?;
    drop(tx);
    let position = report.last;
    let chunks = chunks_of(&state);
    let closed = || StorageError::Format {
        path: db_path.to_path_buf(),
        reason: "the journal writer stopped during a snapshot".into(),
    };
    let total = chunks.len() as u64;
    for (index, chunk) in chunks.into_iter().enumerate() {
        let payload = codec::encode_chunk(&chunk).map_err(|e| StorageError::Format {
            path: db_path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let (reply, answer) = mpsc::sync_channel(1);
        writer
            .send(Request::Chunk {
                snapshot: position,
                index: index as u64,
                payload,
                reply,
            })
            .map_err(|_| closed())?;
        answer
            .recv()
            .map_err(|_| closed())?
            .map_err(|reason| StorageError::Format {
                path: db_path.to_path_buf(),
                reason,
            })?;
    }
    let (reply, answer) = mpsc::sync_channel(1);
    writer
        .send(Request::Seal {
            snapshot: position,
            chunks: total,
            reply,
        })
        .map_err(|_| closed())?;
    answer
        .recv()
        .map_err(|_| closed())?
        .map_err(|reason| StorageError::Format {
            path: db_path.to_path_buf(),
            reason,
        })?;
    Ok(position)
}

/// Splits a state into snapshot chunks of at most [`CHUNK_ENTITIES`] entities, in a stable
/// order (by id), so two snapshots of one state are byte-identical.
pub fn chunks_of(state: &State) -> Vec<SnapshotChunk> {
    let mut users: Vec<_> = state.users.iter().map(|u| (**u).clone()).collect();
    users.sort_by_key(|u| u.id);
    let mut services: Vec<_> = state.services.iter().map(|s| (**s).clone()).collect();
    services.sort_by_key(|s| s.id);
    let mut schedules: Vec<_> = state.schedules.iter().map(|s| (**s).clone()).collect();
    schedules.sort_by_key(|s| s.id);
    let mut incidents: Vec<_> = state
        .incidents
        .iter()
        .map(|slot| (*slot.current()).clone())
        .collect();
    incidents.sort_by_key(|i| i.seq);
    let mut api_tokens: Vec<_> = state.api_tokens.iter().map(|t| (**t).clone()).collect();
    api_tokens.sort_by_key(|t| t.id);
    let mut sessions: Vec<_> = state.sessions.iter().map(|s| (**s).clone()).collect();
    sessions.sort_by_key(|s| s.id);
    let mut integrations: Vec<_> = state.integrations.iter().map(|i| (**i).clone()).collect();
    integrations.sort_by_key(|i| i.id);
    let mut heartbeats: Vec<_> = state.heartbeats.iter().map(|h| (**h).clone()).collect();
    heartbeats.sort_by_key(|h| h.id);
    let mut contact_methods = Vec::new();
    let mut notification_rules = Vec::new();
    for contacts in state.contacts.iter() {
        contact_methods.extend(contacts.methods.iter().cloned());
        notification_rules.extend(contacts.rules.iter().cloned());
    }
    contact_methods.sort_by_key(|m| m.id);
    notification_rules.sort_by_key(|r| r.id);
    let mut webhooks: Vec<_> = state
        .webhooks
        .webhooks
        .iter()
        .map(|w| (**w).clone())
        .collect();
    webhooks.sort_by_key(|w| w.id);
    let mut webhook_deliveries: Vec<_> = state
        .webhooks
        .deliveries
        .iter()
        .map(|d| (**d).clone())
        .collect();
    webhook_deliveries.sort_by_key(|d| d.seq);
    let retired_summaries = {
        let order = super::state::read(&state.order);
        state.analytics.retired(|seq| order.contains_key(&seq))
    };

    // Configuration first, so every incident chunk refers to entities already loaded.
    let mut chunks = Vec::new();
    let mut current = SnapshotChunk {
        link_key: state.link_key.get().cloned(),
        ..SnapshotChunk::default()
    };
    macro_rules! push_all {
        ($field:ident, $items:expr) => {
            for item in $items {
                current.$field.push(item);
                if current.len() >= CHUNK_ENTITIES {
                    chunks.push(std::mem::take(&mut current));
                }
            }
        };
    }
    push_all!(users, users);
    push_all!(services, services);
    push_all!(schedules, schedules);
    push_all!(integrations, integrations);
    // Retired summaries before the incidents in memory: they are older, so both load as
    // appends to the analytics index (the other way round, each of millions of summaries
    // was inserted before the hot week's, moving a run's tail every time).
    push_all!(retired_summaries, retired_summaries);
    push_all!(incidents, incidents);
    push_all!(api_tokens, api_tokens);
    push_all!(sessions, sessions);
    push_all!(heartbeats, heartbeats);
    push_all!(contact_methods, contact_methods);
    push_all!(notification_rules, notification_rules);
    // After the incidents: see `restore_chunk`.
    push_all!(webhooks, webhooks);
    push_all!(webhook_deliveries, webhook_deliveries);
    current.webhook_delivery_seq = state.webhooks.last_seq();
    if !current.is_empty() || current.webhook_delivery_seq > 0 {
        chunks.push(current);
    }
    chunks
}

/// Restores one snapshot chunk into `state` through [`State::apply`]: an entity's latest
/// version is the same event that created it, so the one fold serves here too.
pub fn restore_chunk(state: &State, chunk: SnapshotChunk) {
    let actor = Actor::system();
    for user in chunk.users {
        state.apply(&Event::UserCreated {
            user,
            actor: actor.clone(),
        });
    }
    for service in chunk.services {
        state.apply(&Event::ServiceCreated {
            service,
            actor: actor.clone(),
        });
    }
    for schedule in chunk.schedules {
        state.apply(&Event::ScheduleCreated {
            schedule,
            actor: actor.clone(),
        });
    }
    for integration in chunk.integrations {
        state.apply(&Event::IntegrationCreated {
            integration,
            actor: actor.clone(),
        });
    }
    // Retired summaries before the incidents, as `chunks_of` orders them: older first, so
    // a chunk holding both appends to the analytics index too. A retired incident's seq
    // stays taken: new incidents sort after it.
    if let Some(newest) = chunk.retired_summaries.iter().map(|s| s.seq).max() {
        state
            .max_seq
            .fetch_max(newest, std::sync::atomic::Ordering::Relaxed);
    }
    state.analytics.restore_all(chunk.retired_summaries);
    for incident in chunk.incidents {
        state.apply(&Event::Incident(IncidentChange {
            incident_id: incident.id,
            at: incident.triggered_at,
            kind: IncidentChangeKind::Triggered(Box::new(incident)),
            actor: actor.clone(),
        }));
    }
    for token in chunk.api_tokens {
        state.apply(&Event::ApiTokenCreated { token });
    }
    for session in chunk.sessions {
        state.apply(&Event::SessionStarted { session });
    }
    for heartbeat in chunk.heartbeats {
        state.apply(&Event::HeartbeatCreated {
            heartbeat,
            actor: actor.clone(),
        });
    }
    // Methods before rules: a chunk boundary may split them, but chunks load in order.
    for method in chunk.contact_methods {
        state.apply(&Event::ContactMethodAdded {
            method,
            actor: actor.clone(),
        });
    }
    for rule in chunk.notification_rules {
        state.apply(&Event::NotificationRuleAdded {
            rule,
            actor: actor.clone(),
        });
    }
    if let Some(key) = chunk.link_key {
        state.apply(&Event::LinkKeyCreated { key });
    }
    // Webhooks come after every incident (`chunks_of` puts them last, and here they follow
    // the chunk's incidents): restoring an incident must not decide deliveries.
    for webhook in chunk.webhooks {
        state.apply(&Event::WebhookCreated {
            webhook,
            actor: actor.clone(),
        });
    }
    for delivery in chunk.webhook_deliveries {
        state.webhooks.restore(delivery);
    }
    state.webhooks.restore_seq(chunk.webhook_delivery_seq);
}

/// Loads the newest sealed snapshot into a fresh state; `None` when there is none or it is
/// unusable (then the caller replays from the start, which is slower but complete).
fn load_snapshot(conn: &Connection, db_path: &Path) -> Result<Option<(State, u64)>, StorageError> {
    let newest: Option<(i64, i64, i64)> = conn
        .query_row(
            "SELECT seq, chunks, version FROM snapshots ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sqlite_err(db_path))?;
    let Some((position, chunks, _version)) = newest else {
        return Ok(None);
    };
    let position = position as u64;
    let mut statement = conn
        .prepare(
            "SELECT idx, version, payload, crc FROM snapshot_chunks WHERE snapshot = ?1 ORDER BY idx",
        )
        .map_err(sqlite_err(db_path))?;
    let mut rows = statement
        .query([position as i64])
        .map_err(sqlite_err(db_path))?;
    let state = State::default();
    let mut seen: i64 = 0;
    let problem = loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        };
        let parsed: rusqlite::Result<(i64, u32, Vec<u8>, i64)> =
            (|| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))();
        let (index, version, payload, crc) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => break Some(e.to_string()),
        };
        if index != seen {
            break Some(format!("chunk {seen} missing"));
        }
        let decoded = codec::verify(index as u64, version, &payload, crc)
            .and_then(|()| codec::decode_chunk(version, &payload));
        match decoded {
            Ok(chunk) => restore_chunk(&state, chunk),
            Err(e) => break Some(format!("chunk {index}: {e}")),
        }
        seen += 1;
    };
    let problem =
        problem.or_else(|| (seen != chunks).then(|| format!("{seen} of {chunks} chunks present")));
    if let Some(problem) = problem {
        tracing::warn!(
            file = %db_path.display(),
            snapshot = position,
            %problem,
            "snapshot unusable: replaying the whole journal instead"
        );
        return Ok(None);
    }
    Ok(Some((state, position)))
}

/// Loads the state: newest snapshot (if `use_snapshots`), then every event after it, each
/// checked. A damaged last record is reported in `dropped_tail` (not applied); damage
/// anywhere else is an error naming the file and position.
fn load(
    conn: &Connection,
    db_path: &Path,
    use_snapshots: bool,
    keep_retired: bool,
) -> Result<(State, LoadReport), StorageError> {
    let started = Instant::now();
    let mut report = LoadReport::default();
    let (state, from) = match use_snapshots {
        true => match load_snapshot(conn, db_path)? {
            Some((state, position)) => {
                report.snapshot = Some(position);
                (state, position)
            }
            None => (State::default(), 0),
        },
        false => (State::default(), 0),
    };
    let last: u64 = conn
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(sqlite_err(db_path))? as u64;
    let mut statement = conn
        .prepare("SELECT seq, version, payload, crc FROM events WHERE seq > ?1 ORDER BY seq")
        .map_err(sqlite_err(db_path))?;
    let mut rows = statement
        .query([from as i64])
        .map_err(sqlite_err(db_path))?;
    let mut expected = from + 1;
    report.last = from;
    while let Some(row) = rows.next().map_err(sqlite_err(db_path))? {
        let position = row.get::<_, i64>(0).map_err(sqlite_err(db_path))? as u64;
        if position != expected {
            return Err(StorageError::Damaged {
                path: db_path.to_path_buf(),
                position: expected,
                reason: format!("missing (the next record is {position})"),
            });
        }
        let decoded = (|| -> Result<Event, CodecError> {
            let version: u32 = row.get(1).map_err(|e| CodecError::Decode(e.to_string()))?;
            let payload = row
                .get_ref(2)
                .and_then(|v| v.as_blob().map_err(Into::into))
                .map_err(|e| CodecError::Decode(e.to_string()))?;
            let crc: i64 = row.get(3).map_err(|e| CodecError::Decode(e.to_string()))?;
            codec::verify(position, version, payload, crc)?;
            codec::decode_event(version, payload)
        })();
        match decoded {
            Ok(Event::IncidentsRetired { .. }) if keep_retired => {
                report.replayed += 1;
                report.last = position;
            }
            Ok(event) => {
                // A change to a retired incident: bring back its row as of this position.
                for id in state.missing_incidents(&event) {
                    let row =
                        super::cold::row_before(conn, db_path, id, position).map_err(|e| {
                            StorageError::Damaged {
                                path: db_path.to_path_buf(),
                                position,
                                reason: e.to_string(),
                            }
                        })?;
                    if let Some(incident) = row {
                        state.thaw(incident);
                    }
                }
                state.apply(&event);
                report.replayed += 1;
                report.last = position;
            }
            Err(CodecError::UnknownVersion(version)) => {
                return Err(StorageError::Format {
                    path: db_path.to_path_buf(),
                    reason: format!(
                        "journal record {position} has schema version {version}, newer than this build understands (up to {SCHEMA_VERSION}); run a newer Klaxon"
                    ),
                });
            }
            Err(error) if position == last => {
                // Power lost mid-write: everything before it is intact and it was never
                // acknowledged as durable, so it is dropped, loudly.
                tracing::warn!(
                    file = %db_path.display(),
                    position,
                    %error,
                    "dropping a torn last journal record"
                );
                report.dropped_tail = Some(position);
            }
            Err(error) => {
                return Err(StorageError::Damaged {
                    path: db_path.to_path_buf(),
                    position,
                    reason: error.to_string(),
                });
            }
        }
        expected += 1;
    }
    if !keep_retired {
        count_cold(conn, db_path, &state)?;
    }
    report.elapsed = started.elapsed();
    Ok((state, report))
}

/// After loading: which incidents in memory also have a live cold row (thawed), and how
/// many are only cold.
fn count_cold(conn: &Connection, db_path: &Path, state: &State) -> Result<(), StorageError> {
    let live = super::cold::live_count(conn).map_err(sqlite_err(db_path))?;
    let newest = super::cold::max_seq(conn).map_err(sqlite_err(db_path))?;
    state
        .max_seq
        .fetch_max(newest, std::sync::atomic::Ordering::Relaxed);
    state.thawed.clear();
    if live > 0 {
        for id in state.resolved_in_memory() {
            if super::cold::has_live_row(conn, id).map_err(sqlite_err(db_path))? {
                state.thawed.insert(id, ());
            }
        }
    }
    state.set_retired(live.saturating_sub(state.thawed.len() as u64));
    Ok(())
}

/// Writes a consistent copy of the data directory `data_dir` into `target` (a directory,
/// created if needed) while a server may be running on it. The copy is a complete data
/// directory: `klaxon serve --data-dir TARGET` starts from it.
pub fn backup(data_dir: &Path, target: &Path) -> Result<PathBuf, StorageError> {
    let source = data_dir.join(DB_FILE);
    if !source.exists() {
        return Err(StorageError::Io {
            path: source,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no Klaxon database here"),
        });
    }
    std::fs::create_dir_all(target).map_err(io_err(target))?;
    let dest = target.join(DB_FILE);
    if dest.exists() {
        return Err(StorageError::BackupExists(target.to_path_buf()));
    }
    let conn = Connection::open_with_flags(&source, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(sqlite_err(&source))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(sqlite_err(&source))?;
    // VACUUM INTO reads inside one read transaction: a consistent copy at one commit, while
    // the server keeps writing to the WAL.
    let dest_text = dest.to_string_lossy().to_string();
    conn.execute("VACUUM INTO ?1", [dest_text])
        .map_err(sqlite_err(&source))?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::tests::sample_events;

    fn options(dir: &Path) -> DurableOptions {
        DurableOptions {
            fsync: false,
            snapshot_every: 0,
            ..DurableOptions::new(dir)
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    fn write(dir: &Path, events: &[Event]) {
        let (journal, _, _) = SqliteJournal::open(&options(dir)).unwrap();
        block_on(async {
            for event in events {
                journal.append(event).await.unwrap();
            }
        });
    }

    fn digest(state: &State) -> Vec<u8> {
        chunks_of(state)
            .iter()
            .flat_map(|c| codec::encode_chunk(c).unwrap())
            .collect()
    }

    fn fold(events: &[Event]) -> State {
        let state = State::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    #[test]
    fn reopening_replays_to_the_same_state() {
        let dir = tempfile::tempdir().unwrap();
        let events = sample_events();
        write(dir.path(), &events);
        let (_, state, report) = SqliteJournal::open(&options(dir.path())).unwrap();
        assert_eq!(report.replayed, events.len() as u64);
        assert_eq!(digest(&state), digest(&fold(&events)));
    }

    #[test]
    fn a_snapshot_plus_the_tail_equals_the_full_replay() {
        let dir = tempfile::tempdir().unwrap();
        let events = sample_events();
        write(dir.path(), &events[..2]);
        {
            let (journal, _, _) = SqliteJournal::open(&options(dir.path())).unwrap();
            assert_eq!(journal.snapshot_now().unwrap(), 2);
            block_on(journal.append(&events[2])).unwrap();
            block_on(journal.append(&events[3])).unwrap();
        }
        let with = {
            let (_, with, report) = SqliteJournal::open(&options(dir.path())).unwrap();
            assert_eq!(report.snapshot, Some(2));
            assert_eq!(report.replayed, 2);
            with
        };
        let no_snapshot = DurableOptions {
            use_snapshots: false,
            ..options(dir.path())
        };
        let (_, without, report) = SqliteJournal::open(&no_snapshot).unwrap();
        assert_eq!(report.replayed, 4);
        assert_eq!(digest(&with), digest(&fold(&events)));
        assert_eq!(digest(&without), digest(&fold(&events)));
    }

    fn damage(dir: &Path, sql: &str) {
        let conn = Connection::open(dir.join(DB_FILE)).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    #[test]
    fn a_torn_last_record_is_dropped_and_the_rest_loads() {
        let dir = tempfile::tempdir().unwrap();
        let events = sample_events();
        write(dir.path(), &events);
        damage(
            dir.path(),
            "UPDATE events SET payload = substr(payload, 1, 5) WHERE seq = 4;",
        );
        let (journal, state, report) = SqliteJournal::open(&options(dir.path())).unwrap();
        assert_eq!(report.dropped_tail, Some(4));
        assert_eq!(report.replayed, 3);
        assert_eq!(digest(&state), digest(&fold(&events[..3])));
        // The next append takes the torn record's place.
        block_on(journal.append(&events[3])).unwrap();
        drop(journal);
        let (_, state, report) = SqliteJournal::open(&options(dir.path())).unwrap();
        assert_eq!(report.dropped_tail, None);
        assert_eq!(digest(&state), digest(&fold(&events)));
    }

    #[test]
    fn a_damaged_middle_record_stops_loading_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample_events());
        damage(
            dir.path(),
            "UPDATE events SET payload = substr(payload, 1, 20) || x'ff' || substr(payload, 22) WHERE seq = 2;",
        );
        let error = SqliteJournal::open(&options(dir.path())).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, StorageError::Damaged { position: 2, .. }),
            "{message}"
        );
        assert!(message.contains(DB_FILE), "{message}");
        assert!(message.contains("record 2"), "{message}");
    }

    #[test]
    fn a_missing_middle_record_stops_loading() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &sample_events());
        damage(dir.path(), "DELETE FROM events WHERE seq = 2;");
        let error = SqliteJournal::open(&options(dir.path())).unwrap_err();
        assert!(
            matches!(error, StorageError::Damaged { position: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_damaged_snapshot_falls_back_to_the_full_journal() {
        let dir = tempfile::tempdir().unwrap();
        let events = sample_events();
        write(dir.path(), &events);
        {
            let (journal, _, _) = SqliteJournal::open(&options(dir.path())).unwrap();
            journal.snapshot_now().unwrap();
        }
        damage(dir.path(), "UPDATE snapshot_chunks SET crc = crc + 1;");
        let (_, state, report) = SqliteJournal::open(&options(dir.path())).unwrap();
        assert_eq!(report.snapshot, None);
        assert_eq!(digest(&state), digest(&fold(&events)));
    }

    #[test]
    fn a_second_opener_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let (_journal, _, _) = SqliteJournal::open(&options(dir.path())).unwrap();
        let error = SqliteJournal::open(&options(dir.path())).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );
    }

    #[test]
    fn a_backup_is_a_complete_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let copy = tempfile::tempdir().unwrap();
        let events = sample_events();
        write(dir.path(), &events);
        let (_running, _, _) = SqliteJournal::open(&options(dir.path())).unwrap();
        backup(dir.path(), copy.path()).unwrap();
        let (_, state, _) = SqliteJournal::open(&options(copy.path())).unwrap();
        assert_eq!(digest(&state), digest(&fold(&events)));
        assert!(matches!(
            backup(dir.path(), copy.path()),
            Err(StorageError::BackupExists(_))
        ));
    }

    #[test]
    fn concurrent_appends_all_land_in_distinct_positions() {
        let dir = tempfile::tempdir().unwrap();
        let events = sample_events();
        let (journal, _, _) = SqliteJournal::open(&options(dir.path())).unwrap();
        let journal = Arc::new(journal);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
            .block_on(async {
                let mut tasks = Vec::new();
                for i in 0..200 {
                    let journal = journal.clone();
                    let event = events[i % events.len()].clone();
                    tasks.push(tokio::spawn(async move { journal.append(&event).await }));
                }
                for task in tasks {
                    task.await.unwrap().unwrap();
                }
            });
        drop(journal);
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let count: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 200);
    }
}
