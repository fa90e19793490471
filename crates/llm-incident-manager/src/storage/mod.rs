//! Incident storage in an embedded SQLite database (rusqlite, bundled
//! SQLite): a file by default (`data/incidents.db`), in memory only when
//! configured as `:memory:`.
//!
//! **Durability.** A file store runs in WAL mode with `synchronous=FULL`:
//! every commit is on disk (the WAL is synced) before the write that needed
//! it is answered, so an answered create survives a crash of the process,
//! SIGKILL, and a power loss of the machine (on a disk that honours
//! `fsync`). Writes go through one writer thread that commits the writes
//! waiting at once in one transaction (group commit), so that a busy service
//! pays one `fsync` per group rather than per write.
//!
//! **Outbox.** The work an incident owes (analysis, notifications,
//! playbooks) is stored by the same transaction as the incident
//! ([`NewWork`], [`Work`]); the workers of [`crate::outbox`] carry it out.
//!
//! Every statement is recorded by the storage tracker (and every commit as
//! the `commit` operation), and `storage_size_bytes` follows the database's
//! real size (page count × page size), read again at most
//! [`SIZE_REFRESH_INTERVAL`] after a write by [`Storage::run_size_refresh`].

mod outbox;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use incident_metrics::trackers::Trackers;
use rusqlite::{Connection, ErrorCode, OpenFlags, params};
use tokio::sync::watch;

use crate::config::StorageConfig;
use crate::domain::{Incident, Origin, Severity, Status};
use incident_metrics::base::prometheus_client::metrics::gauge::Gauge;
use incident_metrics::catalog::storage::StorageOperation as StorageOp;

pub use outbox::{NewWork, Work, WorkKind};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use writer::MAX_GROUP;

/// The backend label value.
pub const BACKEND: &str = "sqlite";

/// Statements each connection keeps compiled: more than the write
/// connection uses (its transaction control, the incident and outbox
/// statements, the size pragmas), so that none is compiled again
/// (rusqlite's default keeps 16).
const STATEMENT_CACHE: usize = 64;

/// The `[storage] path` (and `--db`) that keeps the store in memory.
pub const MEMORY: &str = crate::config::MEMORY_STORE;

/// How long `storage_size_bytes` may lag the writes, at most.
///
/// Reading the size after every write, inside the write's lock, made the
/// lock's critical section longer and cost the service about 5% of its
/// CPU per request under load (the load generator, with the read and
/// without it); once a second costs nothing measurable, and a scrape
/// interval is 15 s or more.
pub const SIZE_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Why a storage operation failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The store reached `[storage] max_size_bytes` (or the disk is full).
    #[error(
        "the incident store is full (storage.max_size_bytes, or the disk): resolve and prune \
         incidents, or raise the limit"
    )]
    Full,
    /// The file is not a store of this service; it was left as it was.
    #[error("{path} is not an llm-incident-manager store: {reason}")]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The file or its folder could not be opened or created.
    #[error("cannot open the store {path}: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(String),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The connection's lock was poisoned by a panic.
    #[error("storage lock poisoned")]
    Poisoned,
    /// The store was closed (the service is stopping).
    #[error("the store is closed")]
    Closed,
    /// The write's transaction was rolled back: nothing of it was stored.
    #[error("the write was rolled back: {0}")]
    RolledBack(String),
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Self::Full,
            _ => Self::Sqlite(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StorageError {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}

impl StorageError {
    /// The `error_type` label value.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::NotAStore { .. } => "not_a_store",
            Self::Open { .. } => "open",
            Self::Sqlite(_) => "sqlite",
            Self::Corrupt(_) => "corrupt_record",
            Self::Poisoned => "poisoned",
            Self::Closed => "closed",
            Self::RolledBack(_) => "rolled_back",
        }
    }
}

/// A position in a list of incidents: after the incident created at
/// `created_at_ms` with row `row`. Answered to clients as an opaque token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCursor {
    created_at_ms: i64,
    row: i64,
}

impl PageCursor {
    /// The token a client sends back.
    pub fn encode(self) -> String {
        format!("{:x}.{:x}", self.created_at_ms, self.row)
    }

    /// Reads a token made by [`encode`](Self::encode) (two groups of 1 to
    /// 16 hexadecimal digits joined by a `.`, as the OpenAPI document's
    /// pattern for `cursor` says); `None` for anything else.
    pub fn parse(token: &str) -> Option<Self> {
        let (created, row) = token.split_once('.')?;
        let number = |s: &str| -> Option<i64> {
            if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            // `encode` writes an i64's two's complement bits.
            let bits = u64::from_str_radix(s, 16).ok()?;
            Some(i64::from_ne_bytes(bits.to_ne_bytes()))
        };
        Some(Self {
            created_at_ms: number(created)?,
            row: number(row)?,
        })
    }
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// The incidents, oldest first.
    pub incidents: Vec<Incident>,
    /// Where the next page starts, while more remain.
    pub next: Option<PageCursor>,
}

/// The room kept past `storage.max_size_bytes` for the writes that are
/// not creates (acknowledge, resolve, the outbox's progress, pruning), so
/// that a full store can still be worked down: a tenth of the cap, at
/// least 1 MiB.
pub fn reserve_bytes(max_size_bytes: u64) -> u64 {
    (max_size_bytes / 10).max(1024 * 1024)
}

/// What the writer and the readers share.
#[derive(Debug)]
struct Shared {
    /// Creates stop at this many pages in use (`storage.max_size_bytes`).
    create_limit_pages: Option<i64>,
    telemetry: Trackers,
    size_gauge: Gauge,
    /// Set by every commit, cleared by [`Storage::refresh_size`].
    size_stale: AtomicBool,
}

impl Shared {
    /// Runs one operation through the storage tracker (a failure is also
    /// counted in `errors_total{component="storage", error_type}`).
    fn record<T>(
        &self,
        op: StorageOp,
        f: impl FnOnce() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let tracker = self.telemetry.storage.start(op, BACKEND);
        let result = f();
        match &result {
            Ok(_) => tracker.success(),
            Err(e) => tracker.error(e.kind()),
        }
        result
    }

    /// Notes a commit: `storage_size_bytes` is read again at the next
    /// refresh.
    fn written(&self) {
        if self.telemetry.enabled() {
            self.size_stale.store(true, Ordering::Relaxed);
        }
    }
}

/// One write transaction, as the closure given to [`Storage::write`] sees
/// it. Every statement is recorded by the storage tracker.
#[derive(Debug)]
pub struct Tx<'a> {
    conn: &'a Connection,
    shared: &'a Shared,
}

impl Tx<'_> {
    /// Refuses a create when the pages in use reach `storage.max_size_bytes`
    /// (the writes that work a store down have a reserve past it).
    ///
    /// # Errors
    ///
    /// [`StorageError::Full`] at the cap, or a SQLite error.
    pub fn ensure_room(&self) -> Result<(), StorageError> {
        let Some(limit) = self.shared.create_limit_pages else {
            return Ok(());
        };
        let pages: i64 = self
            .conn
            .prepare_cached("PRAGMA page_count")?
            .query_row([], |r| r.get(0))?;
        let free: i64 = self
            .conn
            .prepare_cached("PRAGMA freelist_count")?
            .query_row([], |r| r.get(0))?;
        if pages - free >= limit {
            self.shared
                .record(StorageOp::Insert, || Err(StorageError::Full))
        } else {
            Ok(())
        }
    }

    /// Stores a new incident.
    ///
    /// # Errors
    ///
    /// [`StorageError::Full`] past the size cap, or any SQLite error.
    pub fn insert(&self, incident: &Incident) -> Result<(), StorageError> {
        self.shared
            .record(StorageOp::Insert, || q_insert(self.conn, incident))
    }

    /// Writes back a changed incident.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert).
    pub fn update(&self, incident: &Incident) -> Result<(), StorageError> {
        self.shared
            .record(StorageOp::Update, || q_update(self.conn, incident))
    }

    /// One incident by id.
    ///
    /// # Errors
    ///
    /// When SQLite fails or the record is corrupt.
    pub fn get(&self, id: &str) -> Result<Option<Incident>, StorageError> {
        self.shared.record(StorageOp::Get, || q_get(self.conn, id))
    }

    /// The active (open or acknowledged) incident with this deduplication
    /// key, if any.
    ///
    /// # Errors
    ///
    /// When SQLite fails or the record is corrupt.
    pub fn active_duplicate(&self, dedup_key: &str) -> Result<Option<Incident>, StorageError> {
        self.shared.record(StorageOp::Query, || {
            Ok(query(
                self.conn,
                "SELECT data, dedup_key, escalate_at_ms FROM incidents
                 WHERE dedup_key = ?1 AND status IN ('open', 'acknowledged')
                 ORDER BY created_at_ms LIMIT 1",
                params![dedup_key],
            )?
            .into_iter()
            .next())
        })
    }

    /// The ids of the `limit` most recent incidents from `source` created
    /// at or after `since_ms`, oldest first.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn recent_from_source(
        &self,
        source: &str,
        since_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.shared.record(StorageOp::Query, || {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id FROM incidents WHERE source = ?1 AND created_at_ms >= ?2
                 ORDER BY created_at_ms DESC, rowid DESC LIMIT ?3",
            )?;
            let ids = stmt.query_map(params![source, since_ms, limit], |r| r.get(0))?;
            let mut ids: Vec<String> = ids.collect::<Result<_, _>>()?;
            ids.reverse();
            Ok(ids)
        })
    }

    /// Adds work to the outbox; its row id.
    ///
    /// # Errors
    ///
    /// As [`insert`](Self::insert); a repeated idempotency key is refused.
    pub fn enqueue(&self, work: &NewWork) -> Result<i64, StorageError> {
        self.shared.record(StorageOp::Insert, || {
            outbox::insert(self.conn, work, crate::domain::now_ms())
        })
    }

    /// Removes finished work; false when it was gone already.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn complete(&self, id: i64) -> Result<bool, StorageError> {
        self.shared
            .record(StorageOp::Delete, || outbox::delete(self.conn, id))
    }

    /// Removes every row of `kind` for `target` (a channel that is no longer
    /// configured); how many.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn discard(&self, kind: WorkKind, target: &str) -> Result<usize, StorageError> {
        self.shared.record(StorageOp::Delete, || {
            outbox::discard(self.conn, kind, target)
        })
    }

    /// Moves work on: its next step, its failed attempts, and when it is
    /// due again; false when it was gone.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn reschedule(
        &self,
        id: i64,
        step: u32,
        attempts: u32,
        due_at_ms: i64,
    ) -> Result<bool, StorageError> {
        self.shared.record(StorageOp::Update, || {
            outbox::reschedule(self.conn, id, step, attempts, due_at_ms)
        })
    }

    /// Deletes up to `limit` incidents resolved before `before_ms`; how
    /// many.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn prune_resolved(&self, before_ms: i64, limit: usize) -> Result<usize, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.shared.record(StorageOp::Delete, || {
            Ok(self
                .conn
                .prepare_cached(
                    "DELETE FROM incidents WHERE rowid IN (
                         SELECT rowid FROM incidents
                         WHERE resolved_at_ms IS NOT NULL AND resolved_at_ms < ?1
                         ORDER BY resolved_at_ms LIMIT ?2)",
                )?
                .execute(params![before_ms, limit])?)
        })
    }

    /// How many incidents are stored.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn count(&self) -> Result<u64, StorageError> {
        self.shared.record(StorageOp::Query, || {
            let n: i64 = self
                .conn
                .prepare_cached("SELECT COUNT(*) FROM incidents")?
                .query_row([], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}

/// The incident store. Writes go to one writer thread (group commit);
/// reads use a connection of their own (the same one, in memory).
#[derive(Debug)]
pub struct Storage {
    read: Arc<Mutex<Connection>>,
    shared: Arc<Shared>,
    writer: writer::Writer,
    path: PathBuf,
}

impl Storage {
    /// Opens the store `config` names: creates the file and its folder if
    /// missing, recognises or migrates an existing store, and refuses any
    /// other file without writing to it.
    ///
    /// # Errors
    ///
    /// [`StorageError::Open`] when the file or folder cannot be opened or
    /// created, [`StorageError::NotAStore`] for a file that is not a store
    /// of this service, or the SQLite error of a failed migration.
    pub fn open(config: &StorageConfig, telemetry: Trackers) -> Result<Self, StorageError> {
        let path = config.path.clone();
        let in_memory = path.as_os_str() == MEMORY;
        let open_failed = |reason: String| StorageError::Open {
            path: path.clone(),
            reason,
        };
        let write = if in_memory {
            Connection::open_in_memory()?
        } else {
            if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder)
                    .map_err(|e| open_failed(format!("cannot create its folder: {e}")))?;
            }
            Connection::open(&path).map_err(|e| open_failed(e.to_string()))?
        };
        write.busy_timeout(Duration::from_secs(5))?;
        write.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Reads only, until the file is known to be ours.
        schema::prepare(&write, &path)?;
        if !in_memory {
            write.pragma_update(None, "journal_mode", "WAL")?;
            write.pragma_update(None, "synchronous", "FULL")?;
        }
        let mut create_limit_pages = None;
        if let Some(max) = config.max_size_bytes {
            let page: i64 = write.pragma_query_value(None, "page_size", |r| r.get(0))?;
            let pages =
                |bytes: u64| (i64::try_from(bytes).unwrap_or(i64::MAX) / page.max(1)).max(1);
            create_limit_pages = Some(pages(max));
            write.pragma_update(
                None,
                "max_page_count",
                pages(max.saturating_add(reserve_bytes(max))),
            )?;
        }
        let write = Arc::new(Mutex::new(write));
        let read = if in_memory {
            Arc::clone(&write)
        } else {
            let read = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| open_failed(e.to_string()))?;
            read.busy_timeout(Duration::from_secs(5))?;
            read.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            read.pragma_update(None, "query_only", true)?;
            Arc::new(Mutex::new(read))
        };
        let shared = Arc::new(Shared {
            create_limit_pages,
            // Detached (never exported) when metrics are off.
            size_gauge: telemetry.storage.size(BACKEND),
            telemetry,
            size_stale: AtomicBool::new(true),
        });
        let writer = writer::Writer::start(write, Arc::clone(&shared))?;
        let storage = Self {
            read,
            shared,
            writer,
            path,
        };
        storage.refresh_size()?;
        Ok(storage)
    }

    /// The file of the store, or [`MEMORY`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store lives in memory only.
    pub fn in_memory(&self) -> bool {
        self.path.as_os_str() == MEMORY
    }

    /// Runs `f` in a write transaction, committed (with the writes waiting
    /// beside it) before the answer comes back. An error from `f` rolls
    /// back what `f` wrote, and only that.
    ///
    /// The write runs to its end even if the returned future is dropped.
    ///
    /// # Errors
    ///
    /// The error of `f`, or of the commit (then nothing of `f` is stored).
    pub async fn write<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> Result<T, StorageError> + Send + 'static,
    {
        let (job, answer) = writer::Write::new(f);
        self.writer.send(Box::new(job))?;
        answer.await.map_err(|_| StorageError::Closed)?
    }

    /// Stops taking writes and waits (blocking) until every write handed
    /// over is committed.
    pub fn close(&self) {
        self.writer.close();
    }

    fn read<T>(
        &self,
        op: StorageOp,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let conn = self.read.lock().map_err(|_| {
            self.shared.telemetry.errors.record("storage", "poisoned");
            StorageError::Poisoned
        })?;
        self.shared.record(op, || f(&conn))
    }

    /// The database's size in bytes (page count × page size).
    ///
    /// # Errors
    ///
    /// When SQLite cannot tell.
    pub fn size_bytes(&self) -> Result<i64, StorageError> {
        let conn = self.read.lock().map_err(|_| StorageError::Poisoned)?;
        size_of(&conn)
    }

    /// Sets `storage_size_bytes` to the database's size if anything was
    /// committed since the last call (nothing to do otherwise).
    ///
    /// # Errors
    ///
    /// When SQLite cannot tell the size; the next call tries again.
    pub fn refresh_size(&self) -> Result<(), StorageError> {
        if !self.shared.size_stale.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        // A commit after the swap marks the size stale again: the next call
        // reads it, so the gauge never keeps a size older than the last
        // commit for longer than one interval.
        match self.size_bytes() {
            Ok(size) => {
                self.shared.size_gauge.set(size);
                Ok(())
            }
            Err(e) => {
                self.shared.size_stale.store(true, Ordering::Relaxed);
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
                self.shared.telemetry.errors.record("storage", "size");
            }
        })
        .await;
    }

    /// One incident by id.
    ///
    /// # Errors
    ///
    /// When SQLite fails or the record is corrupt.
    pub fn get(&self, id: &str) -> Result<Option<Incident>, StorageError> {
        self.read(StorageOp::Get, |conn| q_get(conn, id))
    }

    /// One page of incidents, oldest first, optionally with one status:
    /// at most `limit` after `after`.
    ///
    /// # Errors
    ///
    /// When SQLite fails or a record is corrupt.
    pub fn list_page(
        &self,
        status: Option<Status>,
        after: Option<PageCursor>,
        limit: usize,
    ) -> Result<Page, StorageError> {
        let after = after.unwrap_or(PageCursor {
            created_at_ms: i64::MIN,
            row: i64::MIN,
        });
        let want = limit.max(1);
        let fetch = i64::try_from(want.saturating_add(1)).unwrap_or(i64::MAX);
        let rows = self.read(StorageOp::List, |conn| {
            let (sql, status) = match status {
                Some(status) => (
                    "SELECT data, dedup_key, escalate_at_ms, created_at_ms, rowid FROM incidents
                     WHERE status = ?1 AND (created_at_ms, rowid) > (?2, ?3)
                     ORDER BY created_at_ms, rowid LIMIT ?4",
                    status.as_str(),
                ),
                None => (
                    "SELECT data, dedup_key, escalate_at_ms, created_at_ms, rowid FROM incidents
                     WHERE ?1 = '' AND (created_at_ms, rowid) > (?2, ?3)
                     ORDER BY created_at_ms, rowid LIMIT ?4",
                    "",
                ),
            };
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query(params![status, after.created_at_ms, after.row, fetch])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let incident = decode(&row.get::<_, String>(0)?, row.get(1)?, row.get(2)?)?;
                let cursor = PageCursor {
                    created_at_ms: row.get(3)?,
                    row: row.get(4)?,
                };
                out.push((incident, cursor));
            }
            Ok(out)
        })?;
        let more = rows.len() > want;
        let mut incidents = Vec::with_capacity(want.min(rows.len()));
        let mut last = None;
        for (incident, cursor) in rows.into_iter().take(want) {
            incidents.push(incident);
            last = Some(cursor);
        }
        Ok(Page {
            incidents,
            next: if more { last } else { None },
        })
    }

    /// Active (open or acknowledged) incidents by severity and origin, for
    /// `incidents_active` and `incidents_active_by_source` at start-up: one
    /// pass over the active rows (found by the status index) that reads
    /// their columns, not their records.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn active_counts(&self) -> Result<Vec<(Severity, Origin, i64)>, StorageError> {
        self.read(StorageOp::Query, |conn| {
            // The origin is read from the deduplication key (an alert's
            // incident folds on `am:<fingerprint>`, nothing else does), a
            // column before the record: no record is read.
            let mut stmt = conn.prepare_cached(
                "SELECT severity,
                        CASE WHEN substr(dedup_key, 1, 3) = 'am:' THEN 'alertmanager' ELSE 'api' END,
                        COUNT(*)
                 FROM incidents WHERE status IN ('open', 'acknowledged') GROUP BY 1, 2",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (severity, origin, n) = row?;
                let origin = Origin::ALL
                    .into_iter()
                    .find(|o| o.as_str() == origin)
                    .unwrap_or_default();
                if let Some(severity) = Severity::parse(&severity) {
                    out.push((severity, origin, n));
                }
            }
            Ok(out)
        })
    }

    /// The ids of up to `limit` incidents whose escalation check is due at
    /// `now_ms` (by the indexed `escalate_at_ms`), earliest first; no record
    /// is read.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn escalation_due(&self, now_ms: i64, limit: usize) -> Result<Vec<String>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(StorageOp::Query, |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id FROM incidents
                 WHERE escalate_at_ms IS NOT NULL AND escalate_at_ms <= ?1
                 ORDER BY escalate_at_ms LIMIT ?2",
            )?;
            let ids = stmt.query_map(params![now_ms, limit], |r| r.get(0))?;
            Ok(ids.collect::<Result<_, _>>()?)
        })
    }

    /// Up to `limit` outbox rows of `kind` (and `target`) due at `now_ms`,
    /// oldest first.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn due_work(
        &self,
        kind: WorkKind,
        target: Option<&str>,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Work>, StorageError> {
        self.read(StorageOp::Query, |conn| {
            outbox::due(conn, kind, target, now_ms, limit)
        })
    }

    /// When the next outbox row of `kind` (and `target`) is due, if any.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn next_due(
        &self,
        kind: WorkKind,
        target: Option<&str>,
    ) -> Result<Option<i64>, StorageError> {
        self.read(StorageOp::Query, |conn| {
            outbox::next_due(conn, kind, target)
        })
    }

    /// The outbox's rows by kind and target: `(kind, target, count)`.
    ///
    /// # Errors
    ///
    /// When SQLite fails.
    pub fn pending_work(&self) -> Result<Vec<(String, String, i64)>, StorageError> {
        self.read(StorageOp::Query, outbox::counts)
    }
}

fn q_insert(conn: &Connection, incident: &Incident) -> Result<(), StorageError> {
    let data = serde_json::to_string(incident)?;
    conn.prepare_cached(
        "INSERT INTO incidents (id, dedup_key, source, status, severity, created_at_ms, data,
                                resolved_at_ms, escalate_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        incident.id,
        incident.dedup_key,
        incident.source,
        incident.status.as_str(),
        incident.severity.as_str(),
        incident.created_at_ms,
        data,
        incident.resolved_at_ms,
        incident.escalate_at_ms,
    ])?;
    Ok(())
}

fn q_update(conn: &Connection, incident: &Incident) -> Result<(), StorageError> {
    let data = serde_json::to_string(incident)?;
    conn.prepare_cached(
        "UPDATE incidents SET status = ?2, data = ?3, resolved_at_ms = ?4, escalate_at_ms = ?5
         WHERE id = ?1",
    )?
    .execute(params![
        incident.id,
        incident.status.as_str(),
        data,
        incident.resolved_at_ms,
        incident.escalate_at_ms,
    ])?;
    Ok(())
}

fn q_get(conn: &Connection, id: &str) -> Result<Option<Incident>, StorageError> {
    Ok(query(
        conn,
        "SELECT data, dedup_key, escalate_at_ms FROM incidents WHERE id = ?1",
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
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(&row.get::<_, String>(0)?, row.get(1)?, row.get(2)?)?);
    }
    Ok(out)
}

fn decode(
    data: &str,
    dedup_key: String,
    escalate_at_ms: Option<i64>,
) -> Result<Incident, StorageError> {
    let mut incident: Incident = serde_json::from_str(data)?;
    incident.dedup_key = dedup_key;
    incident.escalate_at_ms = escalate_at_ms;
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
    use incident_metrics::{Metrics, MetricsConfig};

    fn telemetry(enabled: bool) -> (Trackers, Gauge) {
        let metrics = Metrics::new(MetricsConfig::new().with_enabled(enabled)).unwrap();
        let telemetry = crate::telemetry::trackers(&metrics, &LlmConfig::default()).unwrap();
        // The same series as the store's own handle.
        let gauge = metrics.catalog().storage.size_bytes.get_or_create(
            &incident_metrics::catalog::storage::BackendLabels {
                backend: BACKEND.into(),
            },
        );
        (telemetry, gauge)
    }

    fn config(path: &Path) -> StorageConfig {
        StorageConfig {
            path: path.to_owned(),
            ..StorageConfig::default()
        }
    }

    fn memory(enabled: bool) -> (Storage, Gauge) {
        let (telemetry, gauge) = telemetry(enabled);
        (
            Storage::open(&config(Path::new(MEMORY)), telemetry).unwrap(),
            gauge,
        )
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
            created_at_ms: i64::try_from(n).unwrap(),
            updated_at_ms: 0,
            acknowledged_at_ms: None,
            resolved_at_ms: None,
            escalation_level: 0,
            correlated_ids: Vec::new(),
            classification: None,
            summary: None,
            duplicate_count: 0,
            annotations: Vec::new(),
            origin: crate::domain::Origin::Api,
            labels: std::collections::BTreeMap::new(),
            generator_url: None,
            escalate_at_ms: None,
        }
    }

    async fn insert(storage: &Storage, n: usize) {
        storage
            .write(move |tx| tx.insert(&incident(n)))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_size_gauge_follows_the_commits_at_each_refresh() {
        let (storage, gauge) = memory(true);
        let opened = storage.size_bytes().unwrap();
        assert_eq!(gauge.get(), opened, "set when the store opens");

        for n in 0..50 {
            insert(&storage, n).await;
        }
        let grown = storage.size_bytes().unwrap();
        assert!(grown > opened, "{grown} > {opened}");
        assert_eq!(gauge.get(), opened, "commits only mark the size stale");

        storage.refresh_size().unwrap();
        assert_eq!(gauge.get(), grown);

        // Nothing written: nothing read. (A changed gauge would stay changed.)
        gauge.set(-1);
        storage.refresh_size().unwrap();
        assert_eq!(gauge.get(), -1);
        storage
            .write(|tx| {
                let mut i = tx.get("id-3")?.unwrap();
                i.summary = Some("y".repeat(8000));
                tx.update(&i)
            })
            .await
            .unwrap();
        storage.refresh_size().unwrap();
        assert_eq!(gauge.get(), storage.size_bytes().unwrap());
    }

    #[tokio::test]
    async fn the_refresh_task_follows_the_writes_and_stops_when_told() {
        let (storage, gauge) = memory(true);
        let storage = Arc::new(storage);
        let (stop, stop_rx) = watch::channel(false);
        let interval = Duration::from_millis(20);
        let task = tokio::spawn(Arc::clone(&storage).run_size_refresh(interval, stop_rx));
        for n in 0..50 {
            insert(&storage, n).await;
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

    #[tokio::test]
    async fn with_metrics_off_nothing_is_marked_or_read() {
        let (storage, _) = memory(false);
        insert(&storage, 0).await;
        assert!(!storage.shared.size_stale.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_failed_write_is_rolled_back_alone_and_its_group_commits() {
        let (storage, _) = memory(true);
        let storage = Arc::new(storage);
        // Many writes at once: the writer commits them in groups; one of
        // them fails half-way and leaves nothing behind.
        let mut tasks = Vec::new();
        for n in 0..200 {
            let storage = Arc::clone(&storage);
            tasks.push(tokio::spawn(async move {
                storage
                    .write(move |tx| {
                        tx.insert(&incident(n))?;
                        if n == 77 {
                            return Err(StorageError::Sqlite("refused by the test".to_owned()));
                        }
                        Ok(())
                    })
                    .await
            }));
        }
        let mut failed = 0;
        for task in tasks {
            if task.await.unwrap().is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 1);
        assert!(storage.get("id-77").unwrap().is_none());
        assert!(storage.get("id-76").unwrap().is_some());
        let page = storage.list_page(None, None, 1000).unwrap();
        assert_eq!(page.incidents.len(), 199);
        assert_eq!(page.next, None);
    }

    #[tokio::test]
    async fn pages_follow_the_creation_order_and_end() {
        let (storage, _) = memory(true);
        for n in 0..25 {
            insert(&storage, n).await;
        }
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = storage.list_page(None, cursor, 10).unwrap();
            seen.extend(page.incidents.iter().map(|i| i.id.clone()));
            match page.next {
                Some(next) => {
                    let token = next.encode();
                    cursor = Some(PageCursor::parse(&token).unwrap());
                }
                None => break,
            }
        }
        let want: Vec<String> = (0..25).map(|n| format!("id-{n}")).collect();
        assert_eq!(seen, want);
        assert_eq!(PageCursor::parse("nope"), None);
        assert_eq!(PageCursor::parse("1.z"), None);
        assert_eq!(PageCursor::parse(""), None);
    }

    #[tokio::test]
    async fn a_capped_store_answers_full_and_keeps_serving_reads() {
        let dir = incident_metrics_testing::scratch_dir("lim-storage-full");
        let mut config = config(&dir.join("capped.db"));
        config.max_size_bytes = Some(256 * 1024);
        let (telemetry, _) = telemetry(true);
        let storage = Storage::open(&config, telemetry).unwrap();
        let mut stored = 0;
        let mut full = None;
        for n in 0..1000 {
            match storage
                .write(move |tx| {
                    tx.ensure_room()?;
                    tx.insert(&incident(n))
                })
                .await
            {
                Ok(()) => stored += 1,
                Err(e) => {
                    full = Some(e);
                    break;
                }
            }
        }
        assert!(matches!(full, Some(StorageError::Full)), "{full:?}");
        assert!(stored > 10, "{stored}");
        // Reads keep working, and what was stored is whole.
        for n in 0..stored {
            let got = storage.get(&format!("id-{n}")).unwrap().unwrap();
            assert_eq!(got.description.len(), 4000);
        }
        // A full store can still be worked down: resolving uses the
        // reserve, and pruning frees room that creates use again.
        storage
            .write(move |tx| {
                for n in 0..stored / 2 {
                    let mut i = tx.get(&format!("id-{n}"))?.unwrap();
                    i.status = Status::Resolved;
                    i.resolved_at_ms = Some(1);
                    tx.update(&i)?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let pruned = storage
            .write(|tx| tx.prune_resolved(2, 1000))
            .await
            .unwrap();
        assert_eq!(pruned, stored / 2);
        storage
            .write(move |tx| {
                tx.ensure_room()?;
                tx.insert(&incident(100_000))
            })
            .await
            .unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_and_left_alone() {
        let dir = incident_metrics_testing::scratch_dir("lim-not-a-store");
        let path = dir.join("text.db");
        std::fs::write(&path, b"these are not the pages you are looking for").unwrap();
        let (telemetry, _) = telemetry(true);
        let e = Storage::open(&config(&path), telemetry.clone()).unwrap_err();
        assert!(matches!(e, StorageError::NotAStore { .. }), "{e}");
        assert!(e.to_string().contains("text.db"), "{e}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"these are not the pages you are looking for"
        );

        // A SQLite database of someone else.
        let other = dir.join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE things (x INTEGER); INSERT INTO things VALUES (1);")
            .unwrap();
        let before = std::fs::read(&other).unwrap();
        let e = Storage::open(&config(&other), telemetry).unwrap_err();
        assert!(e.to_string().contains("things"), "{e}");
        assert_eq!(std::fs::read(&other).unwrap(), before);
    }

    #[tokio::test]
    async fn a_version_1_store_is_migrated_in_place() {
        let dir = incident_metrics_testing::scratch_dir("lim-migrate");
        let path = dir.join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE incidents (id TEXT PRIMARY KEY, dedup_key TEXT NOT NULL,
                     source TEXT NOT NULL, status TEXT NOT NULL, severity TEXT NOT NULL,
                     created_at_ms INTEGER NOT NULL, data TEXT NOT NULL);",
            )
            .unwrap();
            let mut old = incident(1);
            old.status = Status::Resolved;
            old.resolved_at_ms = Some(42);
            for i in [incident(0), old] {
                conn.execute(
                    "INSERT INTO incidents VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        i.id,
                        i.dedup_key,
                        i.source,
                        i.status.as_str(),
                        i.severity.as_str(),
                        i.created_at_ms,
                        serde_json::to_string(&i).unwrap()
                    ],
                )
                .unwrap();
            }
        }
        let (telemetry, _) = telemetry(true);
        let storage = Storage::open(&config(&path), telemetry).unwrap();
        assert_eq!(
            storage.get("id-0").unwrap().unwrap().escalate_at_ms,
            Some(0)
        );
        let pruned = storage.write(|tx| tx.prune_resolved(43, 10)).await.unwrap();
        assert_eq!(pruned, 1, "resolved_at_ms was filled in from the record");
        drop(storage);
        let conn = Connection::open(&path).unwrap();
        let id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap();
        assert_eq!(id, APPLICATION_ID);
    }
}
