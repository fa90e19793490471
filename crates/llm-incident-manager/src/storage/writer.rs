//! The store's one writer: a thread that owns the write connection and
//! commits the write transactions handed to it in groups (group commit).
//!
//! Every write of the service is one closure run inside a transaction. The
//! thread takes every closure waiting (up to [`MAX_GROUP`]), runs each
//! inside its own savepoint (so one that fails is rolled back alone), and
//! commits the group once: with `synchronous=FULL` that is one `fsync` for
//! the whole group instead of one per write, as databases that log to disk
//! do. A caller is answered only after the commit that holds its write has
//! returned, so an answered write is on disk.
//!
//! The caller's future may be dropped (a client that hangs up): the write
//! still runs and commits, which is what keeps an answered create and the
//! work it owes together.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use incident_metrics::catalog::storage::StorageOperation as StorageOp;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{Shared, StorageError, Tx};

/// The most writes committed together.
pub const MAX_GROUP: usize = 256;

/// One write: run inside a savepoint, then told how the commit went.
pub(super) trait Job: Send {
    /// Runs the write; true when it succeeded (its savepoint is kept).
    fn run(&mut self, conn: &Connection, shared: &Shared) -> bool;
    /// Answers the caller: the write's own result, unless the commit failed.
    fn finish(self: Box<Self>, commit: Result<(), StorageError>);
}

/// A closure and the channel that answers its caller.
pub(super) struct Write<T, F> {
    f: Option<F>,
    result: Option<Result<T, StorageError>>,
    reply: oneshot::Sender<Result<T, StorageError>>,
}

impl<T, F> Write<T, F> {
    pub(super) fn new(f: F) -> (Self, oneshot::Receiver<Result<T, StorageError>>) {
        let (reply, rx) = oneshot::channel();
        (
            Self {
                f: Some(f),
                result: None,
                reply,
            },
            rx,
        )
    }
}

impl<T, F> Job for Write<T, F>
where
    T: Send,
    F: FnOnce(&Tx<'_>) -> Result<T, StorageError> + Send,
{
    fn run(&mut self, conn: &Connection, shared: &Shared) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let result = f(&Tx { conn, shared });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), StorageError>) {
        let answer = match (self.result, commit) {
            (Some(Err(e)), _) | (Some(Ok(_)), Err(e)) | (None, Err(e)) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (None, Ok(())) => Err(StorageError::RolledBack("the write did not run".to_owned())),
        };
        // A caller that went away no longer needs the answer; the write
        // itself is committed (or not) all the same.
        let _ = self.reply.send(answer);
    }
}

/// The handle that sends writes to the thread.
#[derive(Debug)]
pub(super) struct Writer {
    tx: Mutex<Option<Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the thread over `conn`.
    pub(super) fn start(
        conn: Arc<Mutex<Connection>>,
        shared: Arc<Shared>,
    ) -> Result<Self, StorageError> {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
            .name("storage-writer".to_owned())
            .spawn(move || run(&conn, &shared, &rx))
            .map_err(|e| StorageError::RolledBack(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues a write.
    pub(super) fn send(&self, job: Box<dyn Job>) -> Result<(), StorageError> {
        let tx = self.tx.lock().map_err(|_| StorageError::Poisoned)?;
        match tx.as_ref() {
            Some(tx) => tx.send(job).map_err(|_| StorageError::Closed),
            None => Err(StorageError::Closed),
        }
    }

    /// Stops taking writes, lets the thread commit what it has, and waits
    /// for it (blocking).
    pub(super) fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(conn: &Mutex<Connection>, shared: &Shared, rx: &Receiver<Box<dyn Job>>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        match conn.lock() {
            Ok(conn) => commit_group(&conn, shared, group),
            Err(_) => {
                for job in group {
                    job.finish(Err(StorageError::Poisoned));
                }
            }
        }
    }
}

/// Runs one transaction-control statement, compiled once per connection
/// (from rusqlite's statement cache) rather than on every transaction.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs `group` in one transaction, each write in its own savepoint, and
/// commits once.
fn commit_group(conn: &Connection, shared: &Shared, group: Vec<Box<dyn Job>>) {
    let mut jobs = group.into_iter();
    let mut done: Vec<Box<dyn Job>> = Vec::new();
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        let e = StorageError::from(e);
        for job in jobs {
            job.finish(Err(e.clone()));
        }
        return;
    }
    while let Some(mut job) = jobs.next() {
        if let Err(e) = control(conn, "SAVEPOINT w") {
            job.finish(Err(e.into()));
            continue;
        }
        let ok = job.run(conn, shared);
        let kept = if ok {
            control(conn, "RELEASE w").is_ok()
        } else {
            let _ = conn.execute_batch("ROLLBACK TO w; RELEASE w");
            false
        };
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (some I/O and
            // full-disk errors do): the writes before this one are gone
            // too. Their callers hear so; nothing was answered yet.
            let gone = StorageError::RolledBack(
                "a write committed with it failed and SQLite rolled back the transaction"
                    .to_owned(),
            );
            for earlier in done.drain(..) {
                earlier.finish(Err(gone.clone()));
            }
            job.finish(Err(gone.clone()));
            if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
                let e = StorageError::from(e);
                for job in jobs {
                    job.finish(Err(e.clone()));
                }
                return;
            }
            continue;
        }
        if !ok || kept {
            done.push(job);
        } else {
            job.finish(Err(StorageError::RolledBack(
                "its savepoint could not be released".to_owned(),
            )));
        }
    }
    let committed = shared.record(StorageOp::Commit, || Ok(control(conn, "COMMIT")?));
    match committed {
        Ok(()) => {
            shared.written();
            for job in done {
                job.finish(Ok(()));
            }
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            for job in done {
                job.finish(Err(e.clone()));
            }
        }
    }
}
