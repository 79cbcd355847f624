//! Cold history in PostgreSQL: `klaxon_cold_incidents`, the same rows as the SQLite
//! `cold_incidents` (see [`super::cold`] for the invariants), written by the journal
//! writer in the transaction that appends their `IncidentsRetired` record, so every
//! process (and every backup) finds a retired incident's row exactly when it finds its
//! retirement.
//!
//! On a shared log every process folds the retirement and drops the incidents from memory.
//! A change to a retired incident is decided on its live row (read back with the position
//! it was retired at, the basis of the decision); every other process folding that change
//! reads back the row retired before the change's position ([`PgCold::row_before`]), as
//! start-up replay does.

use std::path::PathBuf;

use deadpool_postgres::Pool;
use tokio_postgres::types::ToSql;

use super::IncidentFilter;
use super::codec::{self, SCHEMA_VERSION};
use super::cold::{ColdError, ColdIndex, ColdRow};
use crate::domain::{Incident, IncidentId, IncidentState};

/// Schema 3: the cold table and its partial indexes (live rows by seq, per service, per
/// severity; at most one live row per incident).
pub const MIGRATION_3: &str = r#"
CREATE TABLE klaxon_cold_incidents (
    id bytea NOT NULL,
    retired bigint NOT NULL,
    seq bigint NOT NULL,
    live boolean NOT NULL,
    service bytea NOT NULL,
    severity text NOT NULL,
    title text NOT NULL,
    description text NOT NULL,
    version integer NOT NULL,
    payload bytea NOT NULL,
    checksum bigint NOT NULL,
    PRIMARY KEY (id, retired)
);
CREATE UNIQUE INDEX klaxon_cold_live_id ON klaxon_cold_incidents (id) WHERE live;
CREATE INDEX klaxon_cold_live_seq ON klaxon_cold_incidents (seq) WHERE live;
CREATE INDEX klaxon_cold_live_service ON klaxon_cold_incidents (service, seq) WHERE live;
CREATE INDEX klaxon_cold_live_severity ON klaxon_cold_incidents (severity, seq) WHERE live;
"#;

const COLUMNS: &str = "id, retired, version, payload, checksum";

/// Writes `rows` as the live rows of their incidents, retired at `pos` (inside the append
/// transaction that holds the retirement record at `pos`).
pub async fn insert_rows(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[ColdRow],
    pos: u64,
) -> Result<(), tokio_postgres::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&[u8]> = rows.iter().map(|r| r.id.0.as_bytes().as_slice()).collect();
    tx.execute(
        "UPDATE klaxon_cold_incidents SET live = false WHERE id = ANY($1) AND live",
        &[&ids],
    )
    .await?;
    let retired = vec![pos as i64; rows.len()];
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq as i64).collect();
    let services: Vec<&[u8]> = rows.iter().map(|r| r.service.as_slice()).collect();
    let severities: Vec<&str> = rows.iter().map(|r| r.severity).collect();
    let titles: Vec<&str> = rows.iter().map(|r| r.title.as_str()).collect();
    let descriptions: Vec<&str> = rows.iter().map(|r| r.description.as_str()).collect();
    let versions = vec![SCHEMA_VERSION as i32; rows.len()];
    let payloads: Vec<&[u8]> = rows.iter().map(|r| r.payload.as_slice()).collect();
    let checksums: Vec<i64> = rows
        .iter()
        .map(|r| i64::from(codec::checksum(pos, SCHEMA_VERSION, &r.payload)))
        .collect();
    tx.execute(
        "INSERT INTO klaxon_cold_incidents \
         (id, retired, seq, live, service, severity, title, description, version, payload, checksum) \
         SELECT u.id, u.retired, u.seq, true, u.service, u.severity, u.title, u.description, u.version, u.payload, u.checksum \
         FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::integer[], $9::bytea[], $10::bigint[]) \
         AS u(id, retired, seq, service, severity, title, description, version, payload, checksum)",
        &[
            &ids,
            &retired,
            &seqs,
            &services,
            &severities,
            &titles,
            &descriptions,
            &versions,
            &payloads,
            &checksums,
        ],
    )
    .await?;
    Ok(())
}

/// Reads retired incidents back from PostgreSQL. The [`ColdIndex`] methods block (the store
/// calls them on the blocking pool); the async ones serve the fold and start-up.
#[derive(Debug)]
pub struct PgCold {
    pool: Pool,
    name: String,
    runtime: tokio::runtime::Handle,
}

impl PgCold {
    /// Reads through `pool`; `name` is the database as logs show it (no password).
    pub fn new(pool: Pool, name: String) -> Self {
        Self {
            pool,
            name,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn failed(&self, e: impl std::fmt::Display) -> ColdError {
        ColdError::Postgres {
            db: self.name.clone(),
            reason: e.to_string(),
        }
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, ColdError> {
        let client = self.pool.get().await.map_err(|e| self.failed(e))?;
        let statement = client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.failed(e))?;
        client
            .query(&statement, params)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Decodes `(id, retired, version, payload, checksum)`, checked; with its position.
    fn decode(&self, row: &tokio_postgres::Row) -> Result<(Incident, u64), ColdError> {
        let raw: &[u8] = row.get(0);
        let damaged = |id, reason: String| ColdError::Damaged {
            path: PathBuf::from(&self.name),
            id,
            reason,
        };
        let Ok(id) = uuid::Uuid::from_slice(raw).map(IncidentId) else {
            return Err(damaged(
                IncidentId(uuid::Uuid::nil()),
                format!("an id of {} bytes", raw.len()),
            ));
        };
        let retired: i64 = row.get(1);
        let version: i32 = row.get(2);
        let payload: &[u8] = row.get(3);
        let checksum: i64 = row.get(4);
        codec::verify(retired as u64, version as u32, payload, checksum)
            .and_then(|()| codec::decode_incident(version as u32, payload))
            .map(|incident| (incident, retired as u64))
            .map_err(|e| damaged(id, e.to_string()))
    }

    /// The live row of `id` and the position it was retired at.
    async fn live_row(&self, id: IncidentId) -> Result<Option<(Incident, u64)>, ColdError> {
        let key: &[u8] = id.0.as_bytes();
        let rows = self
            .query(
                &format!("SELECT {COLUMNS} FROM klaxon_cold_incidents WHERE id = $1 AND live"),
                &[&key],
            )
            .await?;
        rows.first().map(|row| self.decode(row)).transpose()
    }

    /// The row of `id` retired before journal position `before`, as a fold at that position
    /// must see it (a later retirement's row already holds changes not yet folded).
    pub async fn row_before(
        &self,
        id: IncidentId,
        before: u64,
    ) -> Result<Option<(Incident, u64)>, ColdError> {
        let key: &[u8] = id.0.as_bytes();
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let rows = self
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM klaxon_cold_incidents WHERE id = $1 AND retired < $2 \
                     ORDER BY retired DESC LIMIT 1"
                ),
                &[&key, &before],
            )
            .await?;
        rows.first().map(|row| self.decode(row)).transpose()
    }

    /// Which of `ids` had a row by journal position `upto` (retired once, so in memory they
    /// are thawed).
    pub async fn retired_among(
        &self,
        ids: &[IncidentId],
        upto: u64,
    ) -> Result<Vec<IncidentId>, ColdError> {
        let keys: Vec<&[u8]> = ids.iter().map(|id| id.0.as_bytes().as_slice()).collect();
        let upto = i64::try_from(upto).unwrap_or(i64::MAX);
        let rows = self
            .query(
                "SELECT DISTINCT id FROM klaxon_cold_incidents WHERE id = ANY($1) AND retired <= $2",
                &[&keys, &upto],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| uuid::Uuid::from_slice(row.get::<_, &[u8]>(0)).ok())
            .map(IncidentId)
            .collect())
    }

    async fn live_rows_by_seq(&self, seqs: &[u64]) -> Result<Vec<Incident>, ColdError> {
        let seqs: Vec<i64> = seqs.iter().filter_map(|s| i64::try_from(*s).ok()).collect();
        let rows = self
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM klaxon_cold_incidents WHERE seq = ANY($1) AND live"
                ),
                &[&seqs],
            )
            .await?;
        rows.iter()
            .map(|row| self.decode(row).map(|(i, _)| i))
            .collect()
    }

    async fn page_async(
        &self,
        filter: &IncidentFilter,
        upper: u64,
        limit: usize,
    ) -> Result<Vec<Incident>, ColdError> {
        let Some(mut conditions) = Conditions::of(filter) else {
            return Ok(Vec::new());
        };
        let upper = i64::try_from(upper).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let at_upper = conditions.bind(upper);
        let at_limit = conditions.bind(limit);
        let sql = format!(
            "SELECT {COLUMNS} FROM klaxon_cold_incidents WHERE live{} AND seq < {at_upper} \
             ORDER BY seq DESC LIMIT {at_limit}",
            conditions.sql
        );
        let rows = self.query(&sql, &conditions.params()).await?;
        rows.iter()
            .map(|row| self.decode(row).map(|(i, _)| i))
            .collect()
    }

    async fn count_async(&self, filter: &IncidentFilter) -> Result<u64, ColdError> {
        let Some(conditions) = Conditions::of(filter) else {
            return Ok(0);
        };
        let sql = format!(
            "SELECT count(*) FROM klaxon_cold_incidents WHERE live{}",
            conditions.sql
        );
        let rows = self.query(&sql, &conditions.params()).await?;
        Ok(rows
            .first()
            .map_or(0, |row| row.get::<_, i64>(0).max(0) as u64))
    }
}

/// The WHERE clause (after `live`) and its parameters for a filter.
struct Conditions {
    sql: String,
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Conditions {
    /// `None` when no cold incident can match (every retired incident is resolved).
    fn of(filter: &IncidentFilter) -> Option<Self> {
        if matches!(
            filter.state,
            Some(IncidentState::Triggered | IncidentState::Acknowledged)
        ) {
            return None;
        }
        let mut conditions = Self {
            sql: String::new(),
            values: Vec::new(),
        };
        if let Some(service) = filter.service_id {
            let at = conditions.bind(service.0.as_bytes().to_vec());
            conditions.sql.push_str(&format!(" AND service = {at}"));
        }
        if let Some(severity) = filter.severity {
            let word = super::cold::severity_word(severity).to_owned();
            let at = conditions.bind(word);
            conditions.sql.push_str(&format!(" AND severity = {at}"));
        }
        if let Some(search) = &filter.search {
            // `strpos` on lower-cased text: the same test as the in-memory filter.
            let at = conditions.bind(search.to_lowercase());
            conditions.sql.push_str(&format!(
                " AND (strpos(title, {at}) > 0 OR strpos(description, {at}) > 0)"
            ));
        }
        Some(conditions)
    }

    /// Adds a parameter; returns its placeholder.
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

impl ColdIndex for PgCold {
    fn get(&self, id: IncidentId) -> Result<Option<(Incident, u64)>, ColdError> {
        self.runtime.block_on(self.live_row(id))
    }

    fn get_by_seqs(&self, seqs: &[u64]) -> Result<Vec<Incident>, ColdError> {
        self.runtime.block_on(self.live_rows_by_seq(seqs))
    }

    fn page(
        &self,
        filter: &IncidentFilter,
        upper: u64,
        limit: usize,
    ) -> Result<Vec<Incident>, ColdError> {
        self.runtime.block_on(self.page_async(filter, upper, limit))
    }

    fn count(&self, filter: &IncidentFilter) -> Result<u64, ColdError> {
        self.runtime.block_on(self.count_async(filter))
    }
}
