//! The store's schema, how a file is recognised as a store of this service,
//! and the migration of older stores.
//!
//! A store carries SQLite's `application_id` ([`APPLICATION_ID`]) and its
//! schema version in `user_version` ([`SCHEMA_VERSION`]). Opening a file
//! only reads until the file is known to be ours (or empty): a file that is
//! not a SQLite database, or a database of another program, is refused and
//! left exactly as it was.

use std::path::Path;

use rusqlite::Connection;

use super::StorageError;

/// `PRAGMA application_id` of a store: "LIM!" in ASCII.
pub const APPLICATION_ID: i32 = 0x4c49_4d21;

/// The schema version this build writes and reads (`PRAGMA user_version`).
/// Version 1 (no `application_id`, `user_version` 0) was the schema before
/// the outbox; it is migrated in place.
pub const SCHEMA_VERSION: i32 = 2;

/// The incidents table and its indexes (version 2).
const INCIDENTS: &str = "
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    data TEXT NOT NULL,
    resolved_at_ms INTEGER,
    escalate_at_ms INTEGER
);
";

/// What version 2 adds beside the incidents table: the indexes every
/// query of the service uses, and the outbox.
const V2: &str = "
CREATE INDEX IF NOT EXISTS incidents_dedup ON incidents (dedup_key, status);
CREATE INDEX IF NOT EXISTS incidents_source ON incidents (source, created_at_ms);
CREATE INDEX IF NOT EXISTS incidents_status ON incidents (status, created_at_ms);
CREATE INDEX IF NOT EXISTS incidents_created ON incidents (created_at_ms);
CREATE INDEX IF NOT EXISTS incidents_escalate ON incidents (escalate_at_ms)
    WHERE escalate_at_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_resolved ON incidents (resolved_at_ms)
    WHERE resolved_at_ms IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at_ms INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (kind, target, due_at_ms);
";

/// The columns a version-1 incidents table has.
const V1_COLUMNS: [&str; 7] = [
    "id",
    "dedup_key",
    "source",
    "status",
    "severity",
    "created_at_ms",
    "data",
];

/// Recognises the database on `conn` (opened from `path`) and brings it to
/// [`SCHEMA_VERSION`]: creates the schema in an empty database, migrates a
/// version-1 store, and refuses anything else without writing to it.
///
/// # Errors
///
/// [`StorageError::NotAStore`] naming `path` and what was found, or the
/// SQLite error of a failed migration (rolled back).
pub(super) fn prepare(conn: &Connection, path: &Path) -> Result<(), StorageError> {
    let not_a_store = |reason: String| StorageError::NotAStore {
        path: path.to_owned(),
        reason,
    };
    // The first read of the file: a file that is not a database fails here.
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| not_a_store(format!("it cannot be read as a SQLite database ({e})")))?;
    let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tables = user_tables(conn)?;
    match application_id {
        APPLICATION_ID if version > SCHEMA_VERSION => Err(not_a_store(format!(
            "it has schema version {version}, written by a newer llm-incident-manager; \
             this one reads versions up to {SCHEMA_VERSION}"
        ))),
        APPLICATION_ID => migrate(conn),
        0 if tables.is_empty() => migrate(conn),
        0 if tables == ["incidents"] && is_v1(conn)? => migrate(conn),
        0 => Err(not_a_store(format!(
            "it is a SQLite database with tables [{}] that this service did not make",
            tables.join(", ")
        ))),
        other => Err(not_a_store(format!(
            "it is a SQLite database of another application (application_id {other:#x})"
        ))),
    }
}

fn user_tables(conn: &Connection) -> Result<Vec<String>, StorageError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         ORDER BY name",
    )?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(names.collect::<Result<_, _>>()?)
}

fn columns(conn: &Connection, table: &str) -> Result<Vec<String>, StorageError> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt.query_map([table], |r| r.get::<_, String>(0))?;
    Ok(names.collect::<Result<_, _>>()?)
}

fn is_v1(conn: &Connection) -> Result<bool, StorageError> {
    let columns = columns(conn, "incidents")?;
    Ok(V1_COLUMNS
        .iter()
        .all(|c| columns.iter().any(|have| have == c)))
}

/// Creates or completes the version-2 schema in one transaction.
fn migrate(conn: &Connection) -> Result<(), StorageError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        conn.execute_batch(INCIDENTS)?;
        let have = columns(conn, "incidents")?;
        let missing = |c: &str| !have.iter().any(|h| h == c);
        if missing("resolved_at_ms") {
            conn.execute_batch(
                "ALTER TABLE incidents ADD COLUMN resolved_at_ms INTEGER;
                 UPDATE incidents SET resolved_at_ms = json_extract(data, '$.resolved_at_ms')
                     WHERE status = 'resolved';",
            )?;
        }
        if missing("escalate_at_ms") {
            // Open incidents are looked at by the first escalation tick,
            // which schedules their next level (or none).
            conn.execute_batch(
                "ALTER TABLE incidents ADD COLUMN escalate_at_ms INTEGER;
                 UPDATE incidents SET escalate_at_ms = created_at_ms WHERE status = 'open';",
            )?;
        }
        conn.execute_batch(V2)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok::<_, StorageError>(())
    })();
    match result {
        Ok(()) => {
            conn.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
