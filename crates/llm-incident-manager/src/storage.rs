//! Incident storage in an embedded SQLite database (rusqlite, bundled
//! SQLite): a file when configured, in memory otherwise. Every operation is
//! recorded by the storage tracker, and `storage_size_bytes` follows the
//! database's real size (page count × page size).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use crate::domain::{Incident, Status};
use incident_metrics::base::prometheus_client::metrics::gauge::Gauge;
use incident_metrics::catalog::storage::StorageOperation as StorageOp;

use crate::telemetry::Telemetry;

/// The backend label value.
pub const BACKEND: &str = "sqlite";

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The connection's lock was poisoned by a panic.
    #[error("storage lock poisoned")]
    Poisoned,
}

impl StorageError {
    /// The `error_type` label value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Corrupt(_) => "corrupt_record",
            Self::Poisoned => "poisoned",
        }
    }
}

/// The incident store.
#[derive(Debug)]
pub struct Storage {
    conn: Mutex<Connection>,
    telemetry: Telemetry,
    size_gauge: Gauge,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_dedup ON incidents (dedup_key, status);
CREATE INDEX IF NOT EXISTS incidents_source ON incidents (source, created_at_ms);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, created_at_ms);
";

impl Storage {
    /// Opens (and creates) the database at `path`, or an in-memory one.
    ///
    /// # Errors
    ///
    /// When SQLite cannot open the file or create the schema.
    pub fn open(path: Option<&Path>, telemetry: Telemetry) -> Result<Self, StorageError> {
        let conn = match path {
            Some(path) => {
                let conn = Connection::open(path)?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let storage = Self {
            conn: Mutex::new(conn),
            // Detached (never exported) when recording is off.
            size_gauge: telemetry
                .recording()
                .map(|t| t.storage.size(BACKEND))
                .unwrap_or_default(),
            telemetry,
        };
        {
            let conn = storage.lock()?;
            storage.record(StorageOp::Other, || Ok(conn.execute_batch(SCHEMA)?))?;
        }
        {
            let conn = storage.lock()?;
            storage.refresh_size(&conn);
        }
        Ok(storage)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StorageError> {
        self.conn.lock().map_err(|_| {
            self.telemetry.error("storage", "poisoned");
            StorageError::Poisoned
        })
    }

    /// Runs one operation through the storage tracker.
    fn record<T>(
        &self,
        op: StorageOp,
        f: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let Some(trackers) = self.telemetry.recording() else {
            return f();
        };
        let tracker = trackers.storage.start(op, BACKEND);
        let result = f();
        match &result {
            Ok(_) => tracker.success(),
            Err(e) => tracker.error(e.kind()),
        }
        result
    }

    /// The database's size in bytes (page count × page size).
    pub fn size_bytes(&self) -> Result<i64, StorageError> {
        let conn = self.conn.lock().map_err(|_| StorageError::Poisoned)?;
        size_of(&conn)
    }

    /// Sets `storage_size_bytes` from `conn`, whose lock the caller already
    /// holds: taking the lock a second time per write doubled the waits on
    /// it under load (the load generator's profile showed them).
    fn refresh_size(&self, conn: &Connection) {
        if !self.telemetry.enabled() {
            return;
        }
        if let Ok(size) = size_of(conn) {
            self.size_gauge.set(size);
        }
    }

    /// Stores a new incident.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn insert(&self, incident: &Incident) -> Result<(), StorageError> {
        let conn = self.lock()?;
        self.record(StorageOp::Insert, || q_insert(&conn, incident))?;
        self.refresh_size(&conn);
        Ok(())
    }

    /// Stores `incident`, unless an open incident has the same deduplication
    /// key: then that one's duplicate count goes up and it is returned with
    /// `true`. Atomic: concurrent calls never create two open incidents with
    /// one key.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn create_or_dedup(&self, incident: Incident) -> Result<(Incident, bool), StorageError> {
        let conn = self.lock()?;
        let existing = self.record(StorageOp::Query, || {
            Ok(query(
                &conn,
                "SELECT data, dedup_key FROM incidents WHERE dedup_key = ?1 AND status = 'open'
                 ORDER BY created_at_ms LIMIT 1",
                params![incident.dedup_key],
            )?
            .into_iter()
            .next())
        })?;
        let result = match existing {
            Some(mut existing) => {
                existing.duplicate_count = existing.duplicate_count.saturating_add(1);
                existing.updated_at_ms = incident.created_at_ms;
                self.record(StorageOp::Update, || q_update(&conn, &existing))?;
                (existing, true)
            }
            None => {
                self.record(StorageOp::Insert, || q_insert(&conn, &incident))?;
                (incident, false)
            }
        };
        self.refresh_size(&conn);
        Ok(result)
    }

    /// Reads incident `id`, lets `change` edit it, and writes it back when
    /// `change` returns true, all under one lock. `None` when there is no
    /// such incident; otherwise the incident as stored and whether it changed.
    ///
    /// # Errors
    ///
    /// When SQLite fails or the record is corrupt.
    pub fn modify(
        &self,
        id: &str,
        change: impl FnOnce(&mut Incident) -> bool,
    ) -> Result<Option<(Incident, bool)>, StorageError> {
        let conn = self.lock()?;
        let found = self.record(StorageOp::Get, || q_get(&conn, id))?;
        let Some(mut incident) = found else {
            return Ok(None);
        };
        let changed = change(&mut incident);
        if changed {
            self.record(StorageOp::Update, || q_update(&conn, &incident))?;
            self.refresh_size(&conn);
        }
        Ok(Some((incident, changed)))
    }

    /// One incident by id.
    ///
    /// # Errors
    ///
    /// When SQLite fails or the record is corrupt.
    pub fn get(&self, id: &str) -> Result<Option<Incident>, StorageError> {
        let conn = self.lock()?;
        self.record(StorageOp::Get, || q_get(&conn, id))
    }

    /// Incidents, oldest first, optionally with one status.
    ///
    /// # Errors
    ///
    /// When SQLite fails or a record is corrupt.
    pub fn list(&self, status: Option<Status>) -> Result<Vec<Incident>, StorageError> {
        let conn = self.lock()?;
        self.record(StorageOp::List, || match status {
            Some(status) => query(
                &conn,
                "SELECT data, dedup_key FROM incidents WHERE status = ?1 ORDER BY created_at_ms, rowid",
                params![status.as_str()],
            ),
            None => query(
                &conn,
                "SELECT data, dedup_key FROM incidents ORDER BY created_at_ms, rowid",
                params![],
            ),
        })
    }

    /// Incidents from `source` created at or after `since_ms`.
    ///
    /// # Errors
    ///
    /// When SQLite fails or a record is corrupt.
    pub fn recent_from_source(
        &self,
        source: &str,
        since_ms: i64,
    ) -> Result<Vec<Incident>, StorageError> {
        let conn = self.lock()?;
        self.record(StorageOp::Query, || {
            query(
                &conn,
                "SELECT data, dedup_key FROM incidents WHERE source = ?1 AND created_at_ms >= ?2
                 ORDER BY created_at_ms, rowid",
                params![source, since_ms],
            )
        })
    }
}

fn q_insert(conn: &Connection, incident: &Incident) -> Result<(), StorageError> {
    let data = serde_json::to_string(incident)?;
    conn.execute(
        "INSERT INTO incidents (id, dedup_key, source, status, severity, created_at_ms, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            incident.id,
            incident.dedup_key,
            incident.source,
            incident.status.as_str(),
            incident.severity.as_str(),
            incident.created_at_ms,
            data
        ],
    )?;
    Ok(())
}

fn q_update(conn: &Connection, incident: &Incident) -> Result<(), StorageError> {
    let data = serde_json::to_string(incident)?;
    conn.execute(
        "UPDATE incidents SET status = ?2, data = ?3 WHERE id = ?1",
        params![incident.id, incident.status.as_str(), data],
    )?;
    Ok(())
}

fn q_get(conn: &Connection, id: &str) -> Result<Option<Incident>, StorageError> {
    Ok(query(
        conn,
        "SELECT data, dedup_key FROM incidents WHERE id = ?1",
        params![id],
    )?
    .into_iter()
    .next())
}

fn query(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Incident>, StorageError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map(params, |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (data, key) = row?;
        out.push(decode(&data, key)?);
    }
    Ok(out)
}

fn decode(data: &str, dedup_key: String) -> Result<Incident, StorageError> {
    let mut incident: Incident = serde_json::from_str(data)?;
    incident.dedup_key = dedup_key;
    Ok(incident)
}

/// The database's size in bytes (page count × page size).
fn size_of(conn: &Connection) -> Result<i64, StorageError> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(pages * size)
}
