//! A SQLite connection on its own thread, fed through a channel.
//!
//! The blocking C library never runs on the async executor's threads. Handing a
//! job to another thread normally costs two wake-ups (a futex each way). For the
//! short statements Neutrino runs most (point selects), that would cost more than
//! the statement itself, so both sides spin briefly before parking:
//!
//! * the connection thread polls its queue for `idle_spin` after each job before
//!   it sleeps, so a caller issuing statements back to back finds it awake;
//! * the caller polls its reply for `reply_spin` before it yields to the runtime,
//!   which is a bounded, CPU-only wait (well under tokio's guidance of 10–100 µs
//!   between yields) and never a blocking call.
//!
//! Both are configurable on [`crate::SqliteExecutorBuilder`] and can be set to
//! zero. Spinning pays off when the machine has a free core for the connection
//! thread; a host whose cores are always busy with other work should turn it off
//! (`with_handoff_spin(Duration::ZERO, Duration::ZERO)`), since a spinning waiter
//! then takes the time slice of the thread it waits for. Yielding between polls
//! instead was measured and was slower on both idle and busy machines (a
//! `sched_yield` per poll costs more than the wait).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use neutrino_core::{Error, Result};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::BACKEND;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// One connection thread.
#[derive(Debug)]
pub(crate) struct Worker {
    tx: mpsc::Sender<Job>,
    in_flight: Arc<AtomicUsize>,
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
    /// Returns once the connection is open (or failed to open).
    pub(crate) async fn spawn(
        name: String,
        open: impl FnOnce() -> Result<Connection> + Send + 'static,
        idle_spin: Duration,
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
                run(&mut conn, &rx, idle_spin);
            })
            .map_err(|e| Error::backend(BACKEND, false, e))?;
        ready_rx.await.map_err(|_| stopped())??;
        Ok(Self {
            tx,
            in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Calls in flight on this worker.
    pub(crate) fn load(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Runs `f` on the connection and returns its result.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        reply_spin: Duration,
        f: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R> {
        let (tx, mut rx) = oneshot::channel();
        let in_flight = Arc::clone(&self.in_flight);
        in_flight.fetch_add(1, Ordering::Relaxed);
        let job: Job = Box::new(move |conn| {
            let r = f(conn);
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send(r);
        });
        if self.tx.send(job).is_err() {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
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

fn next_job(rx: &mpsc::Receiver<Job>, idle_spin: Duration) -> Option<Job> {
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
    rx.recv().ok()
}

fn run(conn: &mut Connection, rx: &mpsc::Receiver<Job>, idle_spin: Duration) {
    while let Some(job) = next_job(rx, idle_spin) {
        // A panicking job drops its reply sender, so its caller gets an error; the
        // connection is returned to autocommit and the thread keeps serving.
        if catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}
