//! Reads on the caller's thread: a pool of read-only connections.
//!
//! Handing a point select to a connection thread costs two thread wake-ups
//! (tens of microseconds), far more than the statement. So `query` calls on a
//! database file run on a read-only connection taken from a pool, on the thread
//! that polls the call, under two limits that keep the async runtime's worker
//! from stalling:
//!
//! * **time**: SQLite's progress handler checks the clock every
//!   [`CHECK_EVERY`] virtual-machine steps and interrupts the statement once
//!   it has run for [`INLINE_BUDGET`] (within tokio's guidance of 10–100 µs
//!   between yields);
//! * **locks**: the connection's busy timeout is zero while it runs inline, so
//!   a lock held by another process fails at once instead of sleeping.
//!
//! A read stopped by either limit has changed nothing (the statement is
//! read-only), so it is run again from the start, now where blocking is
//! allowed, with the configured busy timeout: in
//! [`tokio::task::block_in_place`] on a multi-thread runtime (the worker's
//! other tasks move to another thread meanwhile), on tokio's blocking pool on
//! a current-thread runtime, and on the writer's thread when no tokio runtime
//! is running.
//!
//! The pool holds at most `readers` connections; a call that finds them all in
//! use waits asynchronously for one. A connection goes back to the pool only in
//! autocommit mode (a `BEGIN` run through `query` is rolled back, so a later
//! read never sees an old snapshot).

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use neutrino_core::{Error, Result};
use rusqlite::Connection;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::{BACKEND, map};

/// How long a read runs on the caller's thread before it is moved to where
/// blocking is allowed.
pub(crate) const INLINE_BUDGET: Duration = Duration::from_micros(50);

/// How many SQLite virtual-machine steps run between two clock checks.
const CHECK_EVERY: i32 = 256;

thread_local! {
    /// While a read runs inline on this thread: when it must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether the progress handler stopped the inline read on this thread.
    static STOPPED: Cell<bool> = const { Cell::new(false) };
}

/// Installs the progress handler of a pooled connection, once. It interrupts a
/// statement only while [`Inline`] is active on the thread running it.
pub(crate) fn install_budget(conn: &Connection) {
    conn.progress_handler(
        CHECK_EVERY,
        Some(|| match DEADLINE.with(Cell::get) {
            Some(deadline) if Instant::now() >= deadline => {
                STOPPED.with(|s| s.set(true));
                true
            }
            _ => false,
        }),
    );
}

/// An inline read in progress on this thread, until dropped.
pub(crate) struct Inline(());

impl Inline {
    /// Starts the clock.
    pub(crate) fn start() -> Self {
        STOPPED.with(|s| s.set(false));
        DEADLINE.with(|d| d.set(Some(Instant::now() + INLINE_BUDGET)));
        Self(())
    }

    /// Whether the read must be run again where blocking is allowed: it ran
    /// out of time, or met a lock (`r` is a retryable error).
    pub(crate) fn spilled<T>(&self, r: &Result<T>) -> bool {
        STOPPED.with(Cell::get) || matches!(r, Err(e) if e.is_retryable())
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(None));
        STOPPED.with(|s| s.set(false));
    }
}

/// The read-only connections of one database file.
pub(crate) struct Pool {
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    open: Box<dyn Fn() -> Result<Connection> + Send + Sync>,
    busy_timeout: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

impl Pool {
    /// A pool of `size` connections made by `open` (which must leave the busy
    /// timeout at zero); `busy_timeout` applies when a read runs where
    /// blocking is allowed.
    pub(crate) fn new(
        size: usize,
        busy_timeout: Duration,
        open: impl Fn() -> Result<Connection> + Send + Sync + 'static,
    ) -> Result<Self> {
        let idle = (0..size).map(|_| open()).collect::<Result<Vec<_>>>()?;
        Ok(Self {
            idle: Mutex::new(idle),
            permits: Semaphore::new(size),
            open: Box::new(open),
            busy_timeout,
        })
    }

    /// A connection, waiting for one if all are in use. A connection lost
    /// earlier (its call was cancelled while it ran on the blocking pool) is
    /// replaced by a new one.
    pub(crate) async fn lease(&self) -> Result<Lease<'_>> {
        let permit = match self.permits.try_acquire() {
            Ok(p) => p,
            Err(_) => self.permits.acquire().await.map_err(|_| {
                Error::backend(
                    BACKEND,
                    false,
                    std::io::Error::other("the sqlite reader pool is closed"),
                )
            })?,
        };
        let conn = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match conn {
            Some(c) => c,
            None => (self.open)()?,
        };
        Ok(Lease {
            pool: self,
            conn: Some(conn),
            _permit: permit,
        })
    }

    /// The busy timeout of reads run where blocking is allowed.
    pub(crate) fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }
}

/// Runs `f` on `conn` with `busy_timeout`, then sets the timeout back to zero
/// for inline reads. The flag says whether that worked (if not, the connection
/// must not go back to the pool).
pub(crate) fn blocking<T>(
    conn: &Connection,
    busy_timeout: Duration,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> (Result<T>, bool) {
    if let Err(e) = conn.busy_timeout(busy_timeout) {
        return (Err(map(e)), conn.busy_timeout(Duration::ZERO).is_ok());
    }
    let r = f(conn);
    let reusable = conn.busy_timeout(Duration::ZERO).is_ok();
    (r, reusable)
}

/// A pooled connection, returned to the pool when dropped.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
    _permit: SemaphorePermit<'a>,
}

impl Lease<'_> {
    /// The connection, if it is still held.
    pub(crate) fn conn(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }

    /// Takes the connection out, to move it to another thread.
    pub(crate) fn take(&mut self) -> Option<Connection> {
        self.conn.take()
    }

    /// Puts a connection taken with [`Lease::take`] back.
    pub(crate) fn put(&mut self, conn: Connection) {
        self.conn = Some(conn);
    }

    /// Drops the connection instead of returning it to the pool.
    pub(crate) fn discard(&mut self) {
        self.conn = None;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        self.pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}
