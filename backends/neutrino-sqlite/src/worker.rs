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
    /// [`IDLE_CHECKPOINT`] after a job.
    pub(crate) async fn spawn(
        name: String,
        open: impl FnOnce() -> Result<Connection> + Send + 'static,
        idle_spin: Duration,
        checkpoint: bool,
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
                run(&mut conn, &rx, idle_spin, checkpoint);
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
/// first if no job comes within [`IDLE_CHECKPOINT`].
fn next_job(
    conn: &mut Connection,
    rx: &mpsc::Receiver<Job>,
    idle_spin: Duration,
    checkpoint: bool,
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
        match rx.recv_timeout(IDLE_CHECKPOINT) {
            Ok(j) => return Some(j),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {
                // Best effort: a checkpoint that fails (another process holds
                // the lock) leaves the pages in the WAL, where readers find
                // them as before.
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        }
    }
    rx.recv().ok()
}

fn run(conn: &mut Connection, rx: &mpsc::Receiver<Job>, idle_spin: Duration, checkpoint: bool) {
    while let Some(job) = next_job(conn, rx, idle_spin, checkpoint) {
        // A panicking job drops its reply sender, so its caller gets an error; the
        // connection is returned to autocommit and the thread keeps serving.
        if catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}
