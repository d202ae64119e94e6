//! Reads on the caller's thread: a pool of read-only connections.
//!
//! Handing a point select to a connection thread costs two thread wake-ups
//! (tens of microseconds), far more than the statement. So `query` calls on a
//! database file run on a read-only connection taken from a pool, on the thread
//! that polls the call, under two limits that keep the async runtime's worker
//! from stalling:
//!
//! * **time**: SQLite's progress handler runs every [`CHECK_EVERY`]
//!   virtual-machine steps; the first call starts the clock (a point select
//!   never gets there, so it never reads the clock), later ones interrupt the
//!   statement once [`INLINE_BUDGET`] has passed (within tokio's guidance of
//!   10–100 µs between yields);
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
//! Readers on several threads must not wait for each other inside SQLite. The
//! bundled SQLite is built with one page cache for all the connections of a
//! process, behind one lock taken for every page a statement touches; two
//! threads reading at once spend more time passing that lock (a futex
//! wake-up each time) than reading, and 16 reads in flight on two cores go
//! no faster than one. So each reader maps the database file
//! ([`crate::SqliteExecutorBuilder::with_read_mmap_size`]): SQLite reads a
//! page of the file through the map without the page cache. Pages written
//! since the last checkpoint are still read from the WAL through the cache,
//! which is why the writer checkpoints once it is idle (see `worker`).
//!
//! The pool holds at most `readers` connections, each in a slot of its own
//! that a thread looks at first, so the runtime's workers do not share a lock
//! or a counter on every read; a call that finds them all in use waits
//! asynchronously for one. A connection goes back to the pool only in
//! autocommit mode (a `BEGIN` run through `query` is rolled back, so a later
//! read never sees an old snapshot).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use neutrino_core::Result;
use neutrino_core::sql::Columns;
use rusqlite::{Connection, StatementStatus};
use tokio::sync::Notify;

use crate::error::map;

/// How long a read runs on the caller's thread before it is moved to where
/// blocking is allowed.
pub(crate) const INLINE_BUDGET: Duration = Duration::from_micros(50);

/// How many SQLite virtual-machine steps run between two clock checks.
const CHECK_EVERY: i32 = 256;

/// Where the inline read on this thread stands.
#[derive(Clone, Copy, PartialEq)]
enum Budget {
    /// No inline read: the progress handler never interrupts.
    Off,
    /// An inline read that has not reached the progress handler yet.
    Armed,
    /// An inline read the progress handler first saw at this instant.
    Since(Instant),
    /// An inline read the progress handler interrupted.
    Spent,
}

thread_local! {
    static BUDGET: Cell<Budget> = const { Cell::new(Budget::Off) };
}

/// Installs the progress handler of a pooled connection, once. It interrupts a
/// statement while [`Inline`] is active on the thread running it and its
/// budget is spent, and, with `time_limit`, a guarded read past that limit
/// ([`crate::guard::past_time_limit`]): SQLite keeps one progress handler per
/// connection, so this one replaces the guard's.
pub(crate) fn install_budget(conn: &Connection, time_limit: Option<Duration>) {
    conn.progress_handler(
        CHECK_EVERY,
        Some(move || {
            let spent = BUDGET.with(|b| match b.get() {
                Budget::Off => false,
                Budget::Armed => {
                    b.set(Budget::Since(Instant::now()));
                    false
                }
                Budget::Since(t) if t.elapsed() >= INLINE_BUDGET => {
                    b.set(Budget::Spent);
                    true
                }
                Budget::Since(_) => false,
                Budget::Spent => true,
            });
            spent || time_limit.is_some_and(crate::guard::past_time_limit)
        }),
    );
}

/// An inline read in progress on this thread, until dropped.
pub(crate) struct Inline(());

impl Inline {
    /// Arms the budget.
    pub(crate) fn start() -> Self {
        BUDGET.with(|b| b.set(Budget::Armed));
        Self(())
    }

    /// Whether the read must be run again where blocking is allowed: it ran
    /// out of time, or met a lock (`r` is a retryable error).
    pub(crate) fn spilled<T>(&self, r: &Result<T>) -> bool {
        r.as_ref()
            .is_err_and(|e| e.is_retryable() || BUDGET.with(|b| b.get() == Budget::Spent))
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        BUDGET.with(|b| b.set(Budget::Off));
    }
}

/// How many statements' column names a reader keeps.
const COLUMN_CACHE: usize = 512;

/// A pooled read-only connection and the column names of its statements,
/// shared by the rows they return.
pub(crate) struct Reader {
    /// The connection.
    pub(crate) conn: Connection,
    /// Its statements' column names.
    pub(crate) names: Names,
}

/// The column names of a reader's statements, by a hash of their text.
pub(crate) struct Names(HashMap<u64, Named>);

/// The column names of one cached statement, as of its last run.
struct Named {
    text: Box<str>,
    reprepared: i32,
    columns: Columns,
}

impl Reader {
    fn new(conn: Connection) -> Self {
        Self {
            conn,
            names: Names(HashMap::new()),
        }
    }
}

impl Names {
    /// Called before `stmt`, prepared on this connection from `key`, runs:
    /// a statement that has never run was prepared anew (first use, or after
    /// it left the statement cache), so names kept for `key` are not its.
    ///
    /// Every statement a reader runs goes through here first, so names kept
    /// for a statement that has run before were taken from that statement.
    pub(crate) fn prepare(&mut self, stmt: &rusqlite::Statement<'_>, key: &str) {
        // No columns: nothing to name (and SQL that is only white space or
        // comments has no statement to ask for its status).
        if stmt.column_count() == 0 {
            return;
        }
        if stmt.get_status(StatementStatus::Run) == 0 {
            self.0.remove(&text_hash(key));
        }
    }

    /// The column names of `stmt`, after its first step (see
    /// [`Names::prepare`]): reused while SQLite has not prepared it again
    /// (after a schema change) since they were taken.
    pub(crate) fn of(&mut self, stmt: &rusqlite::Statement<'_>, key: &str) -> Result<Columns> {
        if stmt.column_count() == 0 {
            return column_names(stmt);
        }
        let h = text_hash(key);
        let reprepared = stmt.get_status(StatementStatus::RePrepare);
        if let Some(n) = self.0.get(&h)
            && n.reprepared == reprepared
            && *n.text == *key
            && n.columns.len() == stmt.column_count()
        {
            return Ok(Arc::clone(&n.columns));
        }
        let columns = column_names(stmt)?;
        if self.0.len() >= COLUMN_CACHE {
            self.0.clear();
        }
        self.0.insert(
            h,
            Named {
                text: key.into(),
                reprepared,
                columns: Arc::clone(&columns),
            },
        );
        Ok(columns)
    }
}

/// The column names of `stmt`.
pub(crate) fn column_names(stmt: &rusqlite::Statement<'_>) -> Result<Columns> {
    Ok((0..stmt.column_count())
        .map(|i| stmt.column_name(i).map(str::to_owned))
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(map)?
        .into())
}

/// A cheap hash of a statement's text: its length and up to 64 bytes of its
/// start and end (the text itself is compared on a hit).
fn text_hash(sql: &str) -> u64 {
    let b = sql.as_bytes();
    let head = &b[..b.len().min(32)];
    let tail = &b[b.len().saturating_sub(32)..];
    let mut h = (b.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in head.chunks(8).chain(tail.chunks(8)) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h
}

/// The read-only connections of one database file.
///
/// Each connection has a slot of its own, on its own cache line. A thread
/// starts looking at the slot its ordinal points to, so the runtime's workers
/// each keep using a connection of their own: a read touches only memory its
/// thread touched last (no semaphore or list shared by every reader, whose
/// cache lines would move between the cores on every read), unless more
/// threads read at once than there are connections. A lease that finds every
/// slot taken waits asynchronously until one is given back.
pub(crate) struct Pool {
    slots: Box<[Slot]>,
    /// How many leases are waiting for a slot.
    waiting: AtomicUsize,
    /// Told when a slot is given back while leases wait.
    freed: Notify,
    open: Box<dyn Fn() -> Result<Connection> + Send + Sync>,
    busy_timeout: Duration,
}

/// One connection's place in the pool, on a cache line of its own.
#[repr(align(128))]
struct Slot(Mutex<State>);

/// What a slot holds.
struct State {
    /// Whether a lease has it.
    leased: bool,
    /// Its connection while free (`None` after a lease lost it: the next lease
    /// opens one). Boxed, so a lease moves a pointer, not the connection.
    idle: Option<Box<Reader>>,
}

/// The ordinals of threads, in the order they first read.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's ordinal: where its leases start looking.
    static HOME: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("connections", &self.slots.len())
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
        let slots = (0..size)
            .map(|_| {
                Ok(Slot(Mutex::new(State {
                    leased: false,
                    idle: Some(Box::new(Reader::new(open()?))),
                })))
            })
            .collect::<Result<Box<[_]>>>()?;
        Ok(Self {
            slots,
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
            open: Box::new(open),
            busy_timeout,
        })
    }

    /// A connection, waiting for one if all are in use. A connection lost
    /// earlier (its call was cancelled while it ran on the blocking pool) is
    /// replaced by a new one.
    pub(crate) async fn lease(&self) -> Result<Lease<'_>> {
        if let Some(lease) = self.try_lease()? {
            return Ok(lease);
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a slot given back after the look
            // wakes this lease (see `Lease::drop`).
            freed.as_mut().enable();
            if let Some(lease) = self.try_lease()? {
                return Ok(lease);
            }
            freed.await;
        }
    }

    /// A free slot's connection, starting at this thread's own slot; `None`
    /// when every slot is leased.
    fn try_lease(&self) -> Result<Option<Lease<'_>>> {
        let n = self.slots.len();
        let home = HOME.try_with(|h| *h).unwrap_or(0);
        for k in 0..n {
            let slot = (home + k) % n;
            let idle = {
                let mut s = self.slots[slot]
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if s.leased {
                    continue;
                }
                s.leased = true;
                s.idle.take()
            };
            let mut lease = Lease {
                pool: self,
                slot,
                conn: None,
            };
            lease.conn = Some(match idle {
                Some(reader) => reader,
                // On failure the lease, dropped, leaves the slot empty again.
                None => Box::new(Reader::new((self.open)()?)),
            });
            return Ok(Some(lease));
        }
        Ok(None)
    }

    /// The busy timeout of reads run where blocking is allowed.
    pub(crate) fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }
}

/// A lease waiting for a slot, counted until dropped (also when cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `f` on `reader` with `busy_timeout`, then sets the timeout back to
/// zero for inline reads. The flag says whether that worked (if not, the
/// connection must not go back to the pool).
pub(crate) fn blocking<T>(
    reader: &mut Reader,
    busy_timeout: Duration,
    f: impl FnOnce(&mut Reader) -> Result<T>,
) -> (Result<T>, bool) {
    if let Err(e) = reader.conn.busy_timeout(busy_timeout) {
        return (
            Err(map(e)),
            reader.conn.busy_timeout(Duration::ZERO).is_ok(),
        );
    }
    let r = f(reader);
    let reusable = reader.conn.busy_timeout(Duration::ZERO).is_ok();
    (r, reusable)
}

/// A pooled connection, returned to its slot when dropped.
pub(crate) struct Lease<'a> {
    pool: &'a Pool,
    slot: usize,
    conn: Option<Box<Reader>>,
}

impl Lease<'_> {
    /// The connection, if it is still held.
    pub(crate) fn reader(&mut self) -> Option<&mut Reader> {
        self.conn.as_deref_mut()
    }

    /// Takes the connection out, to move it to another thread.
    pub(crate) fn take(&mut self) -> Option<Box<Reader>> {
        self.conn.take()
    }

    /// Puts a connection taken with [`Lease::take`] back.
    pub(crate) fn put(&mut self, conn: Box<Reader>) {
        self.conn = Some(conn);
    }

    /// Drops the connection instead of returning it to the pool.
    pub(crate) fn discard(&mut self) {
        self.conn = None;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // A connection left in a transaction would read an old snapshot
        // later: rolled back, or replaced.
        let idle = self
            .conn
            .take()
            .filter(|c| c.conn.is_autocommit() || c.conn.execute_batch("ROLLBACK").is_ok());
        *self.pool.slots[self.slot]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = State {
            leased: false,
            idle,
        };
        // Pairs with the waiter's count and registration before its last
        // look: either it saw this slot free, or this sees it waiting.
        fence(Ordering::SeqCst);
        if self.pool.waiting.load(Ordering::SeqCst) > 0 {
            self.pool.freed.notify_one();
        }
    }
}
