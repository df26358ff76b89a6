//! Which thread opens the writers' database connections, and so which
//! thread notices a group's commit. A connection's socket is watched by the
//! runtime that opened it. Opened on an HTTP thread, a commit is noticed
//! when that thread next looks for I/O — when it has nothing else to run, or
//! after a batch of tasks (a current-thread runtime looks every 61 polls) —
//! so the requests it was parsing are queued by then and join the next
//! group instead of waiting out a whole cycle. Opened on the writers' own
//! runtime, commits were noticed at once and the next groups left with
//! fewer events (14.0 against 14.5 on average), at 0.92× and 0.97× the
//! events per second in two runs of the ingest benchmark. Before, where
//! they were opened was left to chance: the pool opened connections
//! wherever the first requests wanting one ran. With several HTTP threads
//! none hosts (`GroupCommit::serve_on_this_thread` says why).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

pub type Taken = Result<PoolConnection<Postgres>, sqlx::Error>;
type Host = mpsc::UnboundedSender<oneshot::Sender<Taken>>;

/// How long past the pool's own acquire timeout a writer waits for the
/// hosting thread before taking a connection itself: a stalled thread must
/// not stall ingest.
const HOST_GRACE: Duration = Duration::from_secs(1);

/// The HTTP thread that takes connections from the writers' pool for them.
#[derive(Default)]
pub struct ConnectionHost {
    thread: std::sync::Mutex<Option<Host>>,
    taken_on_host: AtomicU64,
    taken_here: AtomicU64,
}

impl ConnectionHost {
    /// Takes the writers' connections from `pool` on this thread from now
    /// on. Call it where `tokio::task::spawn_local` may be called (an actix
    /// HTTP worker's local runtime). Of several threads, the last to call it
    /// serves: the writers write one group at a time, so one thread's turns
    /// set the pace either way, and a thread that restarts takes over again.
    pub fn serve_on_this_thread(&self, pool: PgPool) {
        let (host, mut asks) = mpsc::unbounded_channel::<oneshot::Sender<Taken>>();
        tokio::task::spawn_local(async move {
            while let Some(reply) = asks.recv().await {
                let pool = pool.clone();
                // A task each: one slow connect does not hold up the next.
                tokio::task::spawn_local(async move {
                    // A writer that stopped waiting returns it to the pool.
                    let _ = reply.send(pool.acquire().await);
                });
            }
        });
        *self.thread() = Some(host);
    }

    /// A connection from `pool`, taken on the serving HTTP thread; here when
    /// no thread serves (yet, or any longer, as when aarc stops) or the
    /// serving one does not answer in time.
    pub async fn acquire(&self, pool: &PgPool) -> Taken {
        let host = self.thread().clone();
        if let Some(host) = host {
            let (reply, taken) = oneshot::channel();
            if host.send(reply).is_ok() {
                let patience = pool.options().get_acquire_timeout() + HOST_GRACE;
                if let Ok(Ok(taken)) = tokio::time::timeout(patience, taken).await {
                    self.taken_on_host.fetch_add(1, Ordering::Relaxed);
                    return taken;
                }
            }
        }
        self.taken_here.fetch_add(1, Ordering::Relaxed);
        pool.acquire().await
    }

    /// How many connections were taken on the hosting thread, and how many
    /// by the writers themselves.
    pub fn taken(&self) -> (u64, u64) {
        (
            self.taken_on_host.load(Ordering::Relaxed),
            self.taken_here.load(Ordering::Relaxed),
        )
    }

    fn thread(&self) -> std::sync::MutexGuard<'_, Option<Host>> {
        // Nothing panics while holding the lock; were it poisoned, the
        // sender in it is still sound.
        self.thread.lock().unwrap_or_else(|e| e.into_inner())
    }
}
