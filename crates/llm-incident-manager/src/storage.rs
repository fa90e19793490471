//! Incident storage in an embedded SQLite database (rusqlite, bundled
//! SQLite): a file when configured, in memory otherwise. Every operation is
//! recorded by the storage tracker, and `storage_size_bytes` follows the
//! database's real size (page count × page size), read again at most
//! [`SIZE_REFRESH_INTERVAL`] after a write by [`Storage::run_size_refresh`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use rusqlite::{Connection, params};

use crate::domain::{Incident, Status};
use incident_metrics::base::prometheus_client::metrics::gauge::Gauge;
use incident_metrics::catalog::storage::StorageOperation as StorageOp;

use crate::telemetry::Telemetry;

/// The backend label value.
pub const BACKEND: &str = "sqlite";

/// How long `storage_size_bytes` may lag the writes, at most.
///
/// Reading the size after every write, inside the write's lock, made the
/// lock's critical section longer and cost the service about 5% of its
/// CPU per request under load (the load generator, with the read and
/// without it); once a second costs nothing measurable, and a scrape
/// interval is 15 s or more.
pub const SIZE_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

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
    /// Set by every write, cleared by [`Storage::refresh_size`].
    size_stale: AtomicBool,
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
            size_stale: AtomicBool::new(false),
        };
        {
            let conn = storage.lock()?;
            storage.record(StorageOp::Other, || Ok(conn.execute_batch(SCHEMA)?))?;
            storage.written();
        }
        storage.refresh_size()?;
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

    /// Notes a write: `storage_size_bytes` is read again at the next
    /// [`refresh_size`](Self::refresh_size).
    fn written(&self) {
        if self.telemetry.enabled() {
            self.size_stale.store(true, Ordering::Relaxed);
        }
    }

    /// Sets `storage_size_bytes` to the database's size if anything was
    /// written since the last call (nothing to do otherwise).
    ///
    /// # Errors
    ///
    /// When SQLite cannot tell the size; the next call tries again.
    pub fn refresh_size(&self) -> Result<(), StorageError> {
        if !self.size_stale.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        // A write after the swap marks the size stale again: the next call
        // reads it, so the gauge never keeps a size older than the last write
        // for longer than one interval.
        let size = self.lock().and_then(|conn| size_of(&conn));
        match size {
            Ok(size) => {
                self.size_gauge.set(size);
                Ok(())
            }
            Err(e) => {
                self.size_stale.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Keeps `storage_size_bytes` within `interval` of the writes until
    /// `stop` turns true; a failed read is counted in `errors_total`
    /// (`component="storage"`, `error_type="size"`) and tried again.
    pub async fn run_size_refresh(
        self: Arc<Self>,
        interval: Duration,
        stop: watch::Receiver<bool>,
    ) {
        crate::periodic::every(interval, stop, || {
            if self.refresh_size().is_err() {
                self.telemetry.error("storage", "size");
            }
        })
        .await;
    }

    /// Stores a new incident.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn insert(&self, incident: &Incident) -> Result<(), StorageError> {
        let conn = self.lock()?;
        self.record(StorageOp::Insert, || q_insert(&conn, incident))?;
        self.written();
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
        self.written();
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
            self.written();
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

    /// The `limit` most recent incidents from `source` created at or after
    /// `since_ms`, oldest first.
    ///
    /// # Errors
    ///
    /// When SQLite fails or a record is corrupt.
    pub fn recent_from_source(
        &self,
        source: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<Incident>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.lock()?;
        let mut recent = self.record(StorageOp::Query, || {
            query(
                &conn,
                "SELECT data, dedup_key FROM incidents WHERE source = ?1 AND created_at_ms >= ?2
                 ORDER BY created_at_ms DESC, rowid DESC LIMIT ?3",
                params![source, since_ms, limit],
            )
        })?;
        recent.reverse();
        Ok(recent)
    }
}

fn q_insert(conn: &Connection, incident: &Incident) -> Result<(), StorageError> {
    let data = serde_json::to_string(incident)?;
    conn.prepare_cached(
        "INSERT INTO incidents (id, dedup_key, source, status, severity, created_at_ms, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        incident.id,
        incident.dedup_key,
        incident.source,
        incident.status.as_str(),
        incident.severity.as_str(),
        incident.created_at_ms,
        data
    ])?;
    Ok(())
}

fn q_update(conn: &Connection, incident: &Incident) -> Result<(), StorageError> {
    let data = serde_json::to_string(incident)?;
    conn.prepare_cached("UPDATE incidents SET status = ?2, data = ?3 WHERE id = ?1")?
        .execute(params![incident.id, incident.status.as_str(), data])?;
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
    // Each statement is compiled once per connection and kept (rusqlite's
    // statement cache): compiling it again on every call was the largest
    // single cost of a request under load.
    let mut stmt = conn.prepare_cached(sql)?;
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

/// The database's size in bytes (page count × page size), by two cached
/// statements.
fn size_of(conn: &Connection) -> Result<i64, StorageError> {
    let pages: i64 = conn
        .prepare_cached("PRAGMA page_count")?
        .query_row([], |r| r.get(0))?;
    let size: i64 = conn
        .prepare_cached("PRAGMA page_size")?
        .query_row([], |r| r.get(0))?;
    Ok(pages * size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LlmConfig;
    use crate::domain::Severity;
    use incident_metrics::{MetricsConfig, MetricsRegistry};

    fn storage(enabled: bool) -> (Storage, Gauge) {
        let metrics = MetricsRegistry::new(&MetricsConfig::new()).unwrap();
        let telemetry = Telemetry::new(metrics.metrics().clone(), &LlmConfig::default())
            .unwrap()
            .with_enabled(enabled);
        // The same series as the store's own handle.
        let gauge = metrics.metrics().storage.size_bytes.get_or_create(
            &incident_metrics::catalog::storage::BackendLabels {
                backend: BACKEND.into(),
            },
        );
        (Storage::open(None, telemetry).unwrap(), gauge)
    }

    fn incident(n: usize) -> Incident {
        Incident {
            id: format!("id-{n}"),
            title: format!("title {n}"),
            // Large enough that a few dozen rows take new pages.
            description: "x".repeat(4000),
            severity: Severity::High,
            status: Status::Open,
            source: "test".to_owned(),
            fingerprint: None,
            dedup_key: format!("key-{n}"),
            created_at_ms: 0,
            updated_at_ms: 0,
            resolved_at_ms: None,
            escalation_level: 0,
            correlated_ids: Vec::new(),
            classification: None,
            summary: None,
            duplicate_count: 0,
            annotations: Vec::new(),
        }
    }

    #[test]
    fn the_size_gauge_follows_the_writes_at_each_refresh() {
        let (storage, gauge) = storage(true);
        let opened = storage.size_bytes().unwrap();
        assert_eq!(gauge.get(), opened, "set when the store opens");

        for n in 0..50 {
            storage.insert(&incident(n)).unwrap();
        }
        let grown = storage.size_bytes().unwrap();
        assert!(grown > opened, "{grown} > {opened}");
        assert_eq!(gauge.get(), opened, "writes only mark the size stale");

        storage.refresh_size().unwrap();
        assert_eq!(gauge.get(), grown);

        // Nothing written: nothing read. (A changed gauge would stay changed.)
        gauge.set(-1);
        storage.refresh_size().unwrap();
        assert_eq!(gauge.get(), -1);
        storage
            .modify("id-3", |i| {
                i.summary = Some("y".repeat(8000));
                true
            })
            .unwrap();
        storage.refresh_size().unwrap();
        assert_eq!(gauge.get(), storage.size_bytes().unwrap());
    }

    #[tokio::test]
    async fn the_refresh_task_follows_the_writes_and_stops_when_told() {
        let (storage, gauge) = storage(true);
        let storage = Arc::new(storage);
        let (stop, stop_rx) = watch::channel(false);
        let interval = Duration::from_millis(20);
        let task = tokio::spawn(Arc::clone(&storage).run_size_refresh(interval, stop_rx));
        for n in 0..50 {
            storage.insert(&incident(n)).unwrap();
        }
        let grown = storage.size_bytes().unwrap();
        // Bounded wait: a few intervals are enough on an idle machine.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while gauge.get() != grown && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(interval).await;
        }
        assert_eq!(gauge.get(), grown);
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the task stops when told")
            .unwrap();
    }

    #[test]
    fn with_metrics_off_nothing_is_marked_or_read() {
        let (storage, _) = storage(false);
        storage.insert(&incident(0)).unwrap();
        assert!(!storage.size_stale.load(Ordering::Relaxed));
    }
}
