//! The writer's connection on its own thread, fed through a channel.
//!
//! Writes are serialised there and never run on the async executor's threads.
//! Handing a job to another thread costs two wake-ups (a futex each way), which
//! is why reads of a database file do not come here (see `reader`). Both sides
//! may spin briefly before parking, off by default:
//!
//! * the connection thread polls its queue for `idle_spin` after each job before
//!   it sleeps, so a caller issuing statements back to back finds it awake;
//! * the caller polls its reply for `reply_spin` before it yields to the runtime,
//!   which is a bounded, CPU-only wait and never a blocking call.
//!
//! Both are set with [`crate::SqliteExecutorBuilder::with_handoff_spin`].
//! Spinning pays off only when the machine has a free core for the connection
//! thread: otherwise a spinning waiter takes the time slice of the thread it
//! waits for. Yielding between polls instead was measured and was slower on
//! both idle and busy machines (a `sched_yield` per poll costs more than the
//! wait).
//!
//! The writer of a database file also checkpoints the WAL once it has been
//! idle for [`IDLE_CHECKPOINT`] after a job: readers read pages written since
//! the last checkpoint from the WAL, through the page cache the bundled
//! SQLite shares (behind one lock) between all connections of the process,
//! and pages of the database file through their memory map, which needs no
//! lock. A passive checkpoint never waits for readers or writers; SQLite's
//! own checkpoint every 1,000 WAL pages still runs under steady writes.
//!
//! Once that checkpoint has put the whole WAL into the file, the writer's
//! thread also holds the read lock readers take (see [`Pin`]), renewing the
//! hold every [`PIN_RENEW`] and letting go of it before any job.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use neutrino_core::{Error, Result};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::BACKEND;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// How long the writer of a database file waits without a job before it
/// checkpoints the WAL.
pub(crate) const IDLE_CHECKPOINT: Duration = Duration::from_secs(1);

/// How often an idle writer lets go of its hold on the read lock, checkpoints
/// again and takes it anew (see [`Pin`]).
pub(crate) const PIN_RENEW: Duration = Duration::from_secs(1);

/// Opens the connection a [`Pin`] holds the read lock with.
pub(crate) type PinOpener = Box<dyn Fn() -> Result<Connection> + Send>;

/// A read transaction the idle writer's thread keeps open, on a connection of
/// its own, while the WAL is checkpointed whole.
///
/// SQLite marks a read transaction with a shared lock on a slot of the
/// WAL index, counted per process: the process takes the file lock (an
/// `fcntl` system call) when its count goes from 0 to 1 and drops it when the
/// count falls back to 0. Readers that read one after another (one in flight,
/// or a few on a busy machine) pay both calls on every read, about a sixth of
/// a point read's time, and the kernel's lock list is shared by the cores.
/// While this transaction holds the slot that readers of a fully
/// checkpointed database use, the count never falls to 0 and reads make no
/// system call.
///
/// It never delays a write of this executor (it is let go before each job,
/// so SQLite's own checkpoints run as before) and never changes what a read
/// sees (each read is its own transaction). It is taken only after a passive
/// checkpoint found nothing left in the WAL; another connection's checkpoint
/// waits at most [`PIN_RENEW`] for it (as for any read that long), after
/// which this thread checkpoints again before holding it anew.
pub(crate) struct Pin {
    open: PinOpener,
    conn: Option<Connection>,
    held: bool,
}

impl Pin {
    /// A pin that opens its connection with `open` when first held.
    pub(crate) fn new(open: PinOpener) -> Self {
        Self {
            open,
            conn: None,
            held: false,
        }
    }

    /// Takes the read lock, best effort (a failure only costs the speed-up).
    fn hold(&mut self) {
        if self.held {
            return;
        }
        if self.conn.is_none() {
            self.conn = (self.open)().ok();
        }
        let Some(conn) = &self.conn else {
            return;
        };
        let begun = conn.execute_batch("BEGIN").is_ok()
            && conn
                .query_row("PRAGMA schema_version", [], |r| r.get::<_, i64>(0))
                .is_ok();
        if begun {
            self.held = true;
        } else if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            self.conn = None;
        }
    }

    /// Lets go of the read lock.
    fn release(&mut self) {
        if !std::mem::take(&mut self.held) {
            return;
        }
        if let Some(conn) = &self.conn
            && conn.execute_batch("ROLLBACK").is_err()
        {
            self.conn = None;
        }
    }
}

/// One connection thread.
#[derive(Debug)]
pub(crate) struct Worker {
    tx: mpsc::Sender<Job>,
}

fn stopped() -> Error {
    Error::backend(
        BACKEND,
        false,
        std::io::Error::other("the sqlite connection thread has stopped"),
    )
}

impl Worker {
    /// Starts a thread that opens a connection with `open` and then runs jobs.
    /// Returns once the connection is open (or failed to open). With
    /// `checkpoint`, the thread checkpoints the WAL when it has been idle for
    /// [`IDLE_CHECKPOINT`] after a job, and with `pin` as well holds the read
    /// lock once the WAL is checkpointed whole (see [`Pin`]).
    pub(crate) async fn spawn(
        name: String,
        open: impl FnOnce() -> Result<Connection> + Send + 'static,
        idle_spin: Duration,
        checkpoint: bool,
        pin: Option<PinOpener>,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = oneshot::channel::<Result<()>>();
        thread::Builder::new()
            .name(name)
            .spawn(move || {
                let mut conn = match open() {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut pin = pin.map(Pin::new);
                run(&mut conn, &rx, idle_spin, checkpoint, &mut pin);
            })
            .map_err(|e| Error::backend(BACKEND, false, e))?;
        ready_rx.await.map_err(|_| stopped())??;
        Ok(Self { tx })
    }

    /// Runs `f` on the connection and returns its result.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        reply_spin: Duration,
        f: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, mut rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        if self.tx.send(job).is_err() {
            return Err(stopped());
        }
        if !reply_spin.is_zero() {
            let start = Instant::now();
            loop {
                match rx.try_recv() {
                    Ok(r) => return Ok(r),
                    Err(oneshot::error::TryRecvError::Closed) => return Err(stopped()),
                    Err(oneshot::error::TryRecvError::Empty) => {
                        if start.elapsed() >= reply_spin {
                            break;
                        }
                        std::hint::spin_loop();
                    }
                }
            }
        }
        rx.await.map_err(|_| stopped())
    }
}

/// The next job, waiting for it; with `checkpoint`, the WAL is checkpointed
/// first if no job comes within [`IDLE_CHECKPOINT`], and with `pin` the read
/// lock is held from then on, renewed every [`PIN_RENEW`].
fn next_job(
    conn: &mut Connection,
    rx: &mpsc::Receiver<Job>,
    idle_spin: Duration,
    checkpoint: bool,
    pin: &mut Option<Pin>,
) -> Option<Job> {
    match rx.try_recv() {
        Ok(j) => return Some(j),
        Err(TryRecvError::Disconnected) => return None,
        Err(TryRecvError::Empty) => {}
    }
    let start = Instant::now();
    while start.elapsed() < idle_spin {
        match rx.try_recv() {
            Ok(j) => return Some(j),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
    if checkpoint {
        let mut wait = IDLE_CHECKPOINT;
        loop {
            match rx.recv_timeout(wait) {
                Ok(j) => return Some(j),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    let Some(pin) = pin else {
                        checkpoint_passive(conn);
                        break;
                    };
                    pin.release();
                    if checkpoint_passive(conn) {
                        pin.hold();
                    }
                    wait = PIN_RENEW;
                }
            }
        }
    }
    rx.recv().ok()
}

/// A passive checkpoint; whether the whole WAL is now in the database file.
///
/// Best effort: a checkpoint that fails (another process holds the lock)
/// leaves the pages in the WAL, where readers find them as before.
fn checkpoint_passive(conn: &Connection) -> bool {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })
    .is_ok_and(|(busy, log, done)| busy == 0 && log >= 0 && log == done)
}

fn run(
    conn: &mut Connection,
    rx: &mpsc::Receiver<Job>,
    idle_spin: Duration,
    checkpoint: bool,
    pin: &mut Option<Pin>,
) {
    while let Some(job) = next_job(conn, rx, idle_spin, checkpoint, pin) {
        // The job may write, and SQLite's checkpoints after it must not
        // wait for the pin.
        if let Some(pin) = pin {
            pin.release();
        }
        // A panicking job drops its reply sender, so its caller gets an error; the
        // connection is returned to autocommit and the thread keeps serving.
        if catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}
