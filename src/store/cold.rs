//! Cold history: resolved incidents older than the hot retention, out of memory and read
//! from disk through an index.
//!
//! The journal stays the source of truth. Retiring incidents is itself an event
//! (`Event::IncidentsRetired`), and the journal writes each retired incident's final state
//! into the `cold_incidents` table in the same transaction as that record. So every reader
//! of the journal (start-up, the snapshot builder, a backup) finds a retired incident's
//! row exactly when it finds its retirement.
//!
//! Invariants:
//! - An incident is in memory, or it has a *live* cold row (the newest row for its id),
//!   or both (it was read back, "thawed", because a change came for it). Never neither.
//! - A cold row holds the incident as of the journal position of its retirement
//!   (`retired`). A change to a retired incident first thaws it (the live row), so the row
//!   equals the fold of the journal up to that change. Replaying a change after position
//!   `p` thaws the newest row retired *before* `p`, so a row written by a later
//!   retirement is never folded twice.
//! - Only resolved incidents whose pages are all settled are retired: nothing that arrives
//!   without the incident's lock (a delivery record) can be lost to a retirement.
//!
//! This module owns the table's row shape and the blocking reads; [`super::sqlite`] owns
//! the writes (inside the journal writer's transactions) and the schema. The same table
//! in PostgreSQL is [`super::pg_cold`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter, types::Value};

use super::IncidentFilter;
use super::codec::{self, CodecError, SCHEMA_VERSION};
use crate::domain::{Incident, IncidentId, IncidentState};

/// The table, its indexes: created with layout 2 (and added to a layout-1 file).
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS cold_incidents (
        id BLOB NOT NULL,             -- incident id, 16 bytes
        retired INTEGER NOT NULL,     -- journal position of its IncidentsRetired record
        seq INTEGER NOT NULL,         -- the incident's creation order (lists, cursors)
        live INTEGER NOT NULL,        -- 1: the newest row of this incident
        service BLOB NOT NULL,
        severity TEXT NOT NULL,       -- low / medium / high
        title TEXT NOT NULL,          -- lower-cased, for search
        description TEXT NOT NULL,    -- lower-cased, for search ('' when none)
        version INTEGER NOT NULL,     -- record schema version
        payload BLOB NOT NULL,        -- the encoded Incident
        crc INTEGER NOT NULL,         -- crc32 of (retired, version, payload)
        PRIMARY KEY (id, retired)
    );
    CREATE INDEX IF NOT EXISTS cold_live_seq ON cold_incidents (seq) WHERE live = 1;
    CREATE INDEX IF NOT EXISTS cold_live_service ON cold_incidents (service, seq) WHERE live = 1;
    CREATE INDEX IF NOT EXISTS cold_live_severity ON cold_incidents (severity, seq) WHERE live = 1;
";

/// Why the cold index could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ColdError {
    /// SQLite refused.
    #[error("cold history {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// PostgreSQL refused or could not be reached.
    #[error("cold history in PostgreSQL at {db}: {reason}")]
    Postgres {
        /// The database, without its password.
        db: String,
        /// What went wrong.
        reason: String,
    },
    /// A row failed its checksum or did not decode.
    #[error("cold history {path}: the row of incident {id} is damaged ({reason})")]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// The incident.
        id: IncidentId,
        /// What is wrong.
        reason: String,
    },
}

/// One retired incident, encoded for the table.
#[derive(Clone, Debug)]
pub struct ColdRow {
    /// The incident.
    pub id: IncidentId,
    /// Its creation order.
    pub seq: u64,
    /// Its service.
    pub service: [u8; 16],
    /// Its severity, as stored.
    pub severity: &'static str,
    /// Lower-cased title.
    pub title: String,
    /// Lower-cased description.
    pub description: String,
    /// The encoded incident.
    pub payload: Vec<u8>,
}

impl ColdRow {
    /// Encodes `incident` for the table.
    pub fn of(incident: &Incident) -> Result<Self, CodecError> {
        Ok(Self {
            id: incident.id,
            seq: incident.seq,
            service: *incident.service_id.0.as_bytes(),
            severity: severity_word(incident.severity),
            title: incident.title.to_lowercase(),
            description: incident
                .description()
                .map(str::to_lowercase)
                .unwrap_or_default(),
            payload: codec::encode_incident(incident)?,
        })
    }

    /// Writes the row as the live one for its incident, retired at `position` (inside the
    /// journal writer's transaction that holds the retirement record).
    pub fn insert(&self, tx: &Connection, position: u64) -> rusqlite::Result<()> {
        let id = self.id.0.as_bytes().as_slice();
        tx.prepare_cached("UPDATE cold_incidents SET live = 0 WHERE id = ?1 AND live = 1")?
            .execute([id])?;
        let crc = codec::checksum(position, SCHEMA_VERSION, &self.payload);
        tx.prepare_cached(
            "INSERT OR REPLACE INTO cold_incidents \
             (id, retired, seq, live, service, severity, title, description, version, payload, crc) \
             VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(rusqlite::params![
            id,
            position as i64,
            self.seq as i64,
            self.service.as_slice(),
            self.severity,
            self.title,
            self.description,
            SCHEMA_VERSION,
            self.payload,
            i64::from(crc),
        ])?;
        Ok(())
    }
}

pub(super) fn severity_word(severity: crate::domain::Severity) -> &'static str {
    match severity {
        crate::domain::Severity::Low => "low",
        crate::domain::Severity::Medium => "medium",
        crate::domain::Severity::High => "high",
    }
}

/// Reads retired incidents. Blocking: the store calls it from `spawn_blocking`.
pub trait ColdIndex: Send + Sync + std::fmt::Debug + 'static {
    /// The live row of `id`, and the journal position it was retired at (the position
    /// the incident reflects: a thawed slot's basis on a shared journal).
    fn get(&self, id: IncidentId) -> Result<Option<(Incident, u64)>, ColdError>;
    /// The live rows of the incidents numbered `seqs` (missing ones left out), in no
    /// particular order.
    fn get_by_seqs(&self, seqs: &[u64]) -> Result<Vec<Incident>, ColdError>;
    /// Live rows matching `filter` with `seq < upper`, newest first, at most `limit`.
    fn page(
        &self,
        filter: &IncidentFilter,
        upper: u64,
        limit: usize,
    ) -> Result<Vec<Incident>, ColdError>;
    /// How many live rows match `filter`.
    fn count(&self, filter: &IncidentFilter) -> Result<u64, ColdError>;
}

/// The cold index in the SQLite data directory, read through a few read-only connections
/// of its own (WAL: readers never wait for the journal writer).
#[derive(Debug)]
pub struct SqliteCold {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// Connections kept open between reads.
const IDLE_READERS: usize = 4;

impl SqliteCold {
    /// Reads `path` (the journal's database file).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn err(&self) -> impl FnOnce(rusqlite::Error) -> ColdError + '_ {
        move |source| ColdError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn with<R>(
        &self,
        read: impl FnOnce(&Connection) -> Result<R, ColdError>,
    ) -> Result<R, ColdError> {
        let pooled = match self.idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(self.err())?;
                conn.busy_timeout(Duration::from_secs(10))
                    .map_err(self.err())?;
                conn
            }
        };
        let result = read(&conn);
        let mut idle = match self.idle.lock() {
            Ok(idle) => idle,
            Err(poisoned) => poisoned.into_inner(),
        };
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    fn decode(&self, row: &rusqlite::Row<'_>) -> Result<(Incident, u64), ColdError> {
        decode_row(&self.path, row)
    }

    /// The live row of each `key` in `column` (`id` or `seq`), missing ones left out, each
    /// with its `retired`.
    fn live_rows(
        &self,
        column: &str,
        keys: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<(Incident, u64)>, ColdError> {
        self.with(|conn| {
            let mut statement = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM cold_incidents WHERE {column} = ?1 AND live = 1"
                ))
                .map_err(self.err())?;
            let mut found = Vec::new();
            for key in keys {
                let mut rows = statement.query([key]).map_err(self.err())?;
                if let Some(row) = rows.next().map_err(self.err())? {
                    found.push(self.decode(row)?);
                }
            }
            Ok(found)
        })
    }
}

/// Decodes `(id, retired, version, payload, crc)`: the incident and its `retired`.
fn decode_row(path: &Path, row: &rusqlite::Row<'_>) -> Result<(Incident, u64), ColdError> {
    let sqlite = |source| ColdError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let raw: Vec<u8> = row.get(0).map_err(sqlite)?;
    let Ok(id) = uuid::Uuid::from_slice(&raw).map(IncidentId) else {
        return Err(ColdError::Damaged {
            path: path.to_path_buf(),
            id: IncidentId(uuid::Uuid::nil()),
            reason: format!("an id of {} bytes", raw.len()),
        });
    };
    let retired: i64 = row.get(1).map_err(sqlite)?;
    let version: u32 = row.get(2).map_err(sqlite)?;
    let payload = row
        .get_ref(3)
        .and_then(|v| v.as_blob().map_err(Into::into))
        .map_err(sqlite)?;
    let crc: i64 = row.get(4).map_err(sqlite)?;
    codec::verify(retired as u64, version, payload, crc)
        .and_then(|()| codec::decode_incident(version, payload))
        .map(|incident| (incident, retired as u64))
        .map_err(|e| ColdError::Damaged {
            path: path.to_path_buf(),
            id,
            reason: e.to_string(),
        })
}

const COLUMNS: &str = "id, retired, version, payload, crc";

/// The WHERE clause (after `live = 1`) and its parameters for `filter`; `None` when no cold
/// incident can match (every retired incident is resolved).
fn conditions(filter: &IncidentFilter) -> Option<(String, Vec<Value>)> {
    if matches!(
        filter.state,
        Some(IncidentState::Triggered | IncidentState::Acknowledged)
    ) {
        return None;
    }
    let mut sql = String::new();
    let mut values = Vec::new();
    if let Some(service) = filter.service_id {
        sql.push_str(" AND service = ?");
        values.push(Value::Blob(service.0.as_bytes().to_vec()));
    }
    if let Some(severity) = filter.severity {
        sql.push_str(" AND severity = ?");
        values.push(Value::Text(severity_word(severity).to_owned()));
    }
    if let Some(search) = &filter.search {
        // `instr` on lower-cased text: the same test as the in-memory filter.
        let needle = search.to_lowercase();
        sql.push_str(" AND (instr(title, ?) > 0 OR instr(description, ?) > 0)");
        values.push(Value::Text(needle.clone()));
        values.push(Value::Text(needle));
    }
    Some((sql, values))
}

impl ColdIndex for SqliteCold {
    fn get(&self, id: IncidentId) -> Result<Option<(Incident, u64)>, ColdError> {
        let key = Value::Blob(id.0.as_bytes().to_vec());
        Ok(self.live_rows("id", [key])?.pop())
    }

    fn get_by_seqs(&self, seqs: &[u64]) -> Result<Vec<Incident>, ColdError> {
        let keys = seqs
            .iter()
            .filter_map(|seq| i64::try_from(*seq).ok())
            .map(Value::Integer);
        Ok(self
            .live_rows("seq", keys)?
            .into_iter()
            .map(|(incident, _)| incident)
            .collect())
    }

    fn page(
        &self,
        filter: &IncidentFilter,
        upper: u64,
        limit: usize,
    ) -> Result<Vec<Incident>, ColdError> {
        let Some((sql, mut values)) = conditions(filter) else {
            return Ok(Vec::new());
        };
        // Cursors are incident seqs, which fit SQLite's integers; a larger one means "from
        // the newest".
        values.push(Value::Integer(i64::try_from(upper).unwrap_or(i64::MAX)));
        values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        self.with(|conn| {
            let mut statement = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM cold_incidents WHERE live = 1{sql} AND seq < ? \
                     ORDER BY seq DESC LIMIT ?"
                ))
                .map_err(self.err())?;
            let mut rows = statement
                .query(params_from_iter(values))
                .map_err(self.err())?;
            let mut page = Vec::with_capacity(limit.min(256));
            while let Some(row) = rows.next().map_err(self.err())? {
                page.push(self.decode(row)?.0);
            }
            Ok(page)
        })
    }

    fn count(&self, filter: &IncidentFilter) -> Result<u64, ColdError> {
        let Some((sql, values)) = conditions(filter) else {
            return Ok(0);
        };
        self.with(|conn| {
            conn.prepare_cached(&format!(
                "SELECT COUNT(*) FROM cold_incidents WHERE live = 1{sql}"
            ))
            .map_err(self.err())?
            .query_row(params_from_iter(values), |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(self.err())
        })
    }
}

/// The row of `id` retired before journal position `before`, as a replay at that position
/// must see it (a later retirement's row already holds changes not yet replayed).
pub fn row_before(
    conn: &Connection,
    path: &Path,
    id: IncidentId,
    before: u64,
) -> Result<Option<Incident>, ColdError> {
    let sqlite = |source| ColdError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let mut statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM cold_incidents WHERE id = ?1 AND retired < ?2 \
             ORDER BY retired DESC LIMIT 1"
        ))
        .map_err(sqlite)?;
    let mut rows = statement
        .query(rusqlite::params![
            id.0.as_bytes().as_slice(),
            i64::try_from(before).unwrap_or(i64::MAX)
        ])
        .map_err(sqlite)?;
    match rows.next().map_err(sqlite)? {
        Some(row) => decode_row(path, row).map(|(incident, _)| Some(incident)),
        None => Ok(None),
    }
}

/// How many incidents have a live row.
pub fn live_count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM cold_incidents WHERE live = 1",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
}

/// The newest incident `seq` in the table (0 when empty). Every incident in the table has
/// exactly one live row and all its rows carry its one `seq`, so the live rows' maximum is
/// the table's: one step down the partial index `cold_live_seq`, where the unfiltered
/// `MAX(seq)` scanned the whole table (2.1 s over 3 million retired incidents).
pub fn max_seq(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM cold_incidents WHERE live = 1",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
}

/// Whether `id` has a live row.
pub fn has_live_row(conn: &Connection, id: IncidentId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM cold_incidents WHERE id = ?1 AND live = 1")?
        .query_row([id.0.as_bytes().as_slice()], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}
