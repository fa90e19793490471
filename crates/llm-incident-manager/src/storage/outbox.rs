//! The outbox: the work an incident owes (its LLM analysis, each
//! notification, each playbook run), stored in the same transaction as the
//! state change that owes it, and removed in the same transaction as the
//! state change that carries it out.

use rusqlite::{Connection, Row, params};

use super::StorageError;

/// What a row of the outbox asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkKind {
    /// Classify and summarise the incident (`target` is empty).
    Analysis,
    /// Deliver a notification on the channel named by `target`.
    Notification,
    /// Run the playbook named by `target`, from step `step`.
    Playbook,
}

impl WorkKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Analysis => "analysis",
            Self::Notification => "notification",
            Self::Playbook => "playbook",
        }
    }
}

/// A row to add to the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewWork {
    /// What to do.
    pub kind: WorkKind,
    /// The channel or playbook name; empty for an analysis.
    pub target: String,
    /// The incident it is for.
    pub incident_id: String,
    /// The key that makes a repeated delivery recognisable (the webhook's
    /// `Idempotency-Key`); unique in the outbox.
    pub idempotency_key: String,
    /// What to deliver (a notification's JSON), or empty.
    pub payload: String,
    /// Not before this time (milliseconds since the Unix epoch).
    pub due_at_ms: i64,
}

/// A row of the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Work {
    /// The row's id, in the order the work was owed.
    pub id: i64,
    /// What to do.
    pub kind: WorkKind,
    /// The channel or playbook name; empty for an analysis.
    pub target: String,
    /// The incident it is for.
    pub incident_id: String,
    /// The key that stays the same on every attempt.
    pub idempotency_key: String,
    /// What to deliver, or empty.
    pub payload: String,
    /// A playbook's next step.
    pub step: u32,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time.
    pub due_at_ms: i64,
    /// When the work was owed.
    pub created_at_ms: i64,
}

const COLUMNS: &str = "id, kind, target, incident_id, idempotency_key, payload, step, attempts, \
                       due_at_ms, created_at_ms";

fn kind_of(s: &str) -> Option<WorkKind> {
    [
        WorkKind::Analysis,
        WorkKind::Notification,
        WorkKind::Playbook,
    ]
    .into_iter()
    .find(|k| k.as_str() == s)
}

fn work(row: &Row<'_>) -> rusqlite::Result<(Option<WorkKind>, Work)> {
    let kind: String = row.get(1)?;
    let kind_parsed = kind_of(&kind);
    Ok((
        kind_parsed,
        Work {
            id: row.get(0)?,
            kind: kind_parsed.unwrap_or(WorkKind::Analysis),
            target: row.get(2)?,
            incident_id: row.get(3)?,
            idempotency_key: row.get(4)?,
            payload: row.get(5)?,
            step: row.get(6)?,
            attempts: row.get(7)?,
            due_at_ms: row.get(8)?,
            created_at_ms: row.get(9)?,
        },
    ))
}

pub(super) fn insert(conn: &Connection, work: &NewWork, now_ms: i64) -> Result<i64, StorageError> {
    conn.prepare_cached(
        "INSERT INTO outbox (kind, target, incident_id, idempotency_key, payload, due_at_ms,
                             created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        work.kind.as_str(),
        work.target,
        work.incident_id,
        work.idempotency_key,
        work.payload,
        work.due_at_ms,
        now_ms
    ])?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn delete(conn: &Connection, id: i64) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE id = ?1")?
        .execute([id])?
        > 0)
}

pub(super) fn discard(
    conn: &Connection,
    kind: WorkKind,
    target: &str,
) -> Result<usize, StorageError> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE kind = ?1 AND target = ?2")?
        .execute(params![kind.as_str(), target])?)
}

pub(super) fn reschedule(
    conn: &Connection,
    id: i64,
    step: u32,
    attempts: u32,
    due_at_ms: i64,
) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached("UPDATE outbox SET step = ?2, attempts = ?3, due_at_ms = ?4 WHERE id = ?1")?
        .execute(params![id, step, attempts, due_at_ms])?
        > 0)
}

/// Up to `limit` rows of `kind` (and `target`, when given) due at `now_ms`,
/// oldest first. A row whose kind this build does not know is skipped.
pub(super) fn due(
    conn: &Connection,
    kind: WorkKind,
    target: Option<&str>,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<Work>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    let mut push = |row: &Row<'_>| -> rusqlite::Result<()> {
        if let (Some(_), work) = work(row)? {
            out.push(work);
        }
        Ok(())
    };
    match target {
        Some(target) => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE kind = ?1 AND target = ?2 AND due_at_ms <= ?3
                 ORDER BY id LIMIT ?4"
            ))?;
            let mut rows = stmt.query(params![kind.as_str(), target, now_ms, limit])?;
            while let Some(row) = rows.next()? {
                push(row)?;
            }
        }
        None => {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE kind = ?1 AND due_at_ms <= ?2
                 ORDER BY id LIMIT ?3"
            ))?;
            let mut rows = stmt.query(params![kind.as_str(), now_ms, limit])?;
            while let Some(row) = rows.next()? {
                push(row)?;
            }
        }
    }
    Ok(out)
}

/// The earliest due time of the rows of `kind` (and `target`).
pub(super) fn next_due(
    conn: &Connection,
    kind: WorkKind,
    target: Option<&str>,
) -> Result<Option<i64>, StorageError> {
    let next: Option<i64> = match target {
        Some(target) => conn
            .prepare_cached("SELECT MIN(due_at_ms) FROM outbox WHERE kind = ?1 AND target = ?2")?
            .query_row(params![kind.as_str(), target], |r| r.get(0))?,
        None => conn
            .prepare_cached("SELECT MIN(due_at_ms) FROM outbox WHERE kind = ?1")?
            .query_row(params![kind.as_str()], |r| r.get(0))?,
    };
    Ok(next)
}

/// How many rows each (kind, target) has.
pub(super) fn counts(conn: &Connection) -> Result<Vec<(String, String, i64)>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, target, COUNT(*) FROM outbox GROUP BY kind, target ORDER BY kind, target",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
