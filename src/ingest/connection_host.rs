//! Which thread opens the writers' database connections, and so which
//! thread notices a group's commit. A connection's socket is watched by the
//! runtime that opened it. Opened on an HTTP thread, a commit is noticed at
//! that thread's next look for I/O — once it has read and parsed the
//! requests in hand, which then join the next group instead of waiting out
//! a whole cycle. Opened on the writers' own runtime, commits were noticed
//! at once and the next groups left with fewer events (14.0 against 14.5 on
//! average), at 0.92× the events per second in the same run of the ingest
//! benchmark. Before, where they were opened was left to chance: the pool
//! opened connections wherever the first requests wanting one ran.

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

pub type Taken = Result<PoolConnection<Postgres>, sqlx::Error>;
type Host = mpsc::UnboundedSender<oneshot::Sender<Taken>>;

/// The HTTP thread that takes connections from the writers' pool for them.
#[derive(Default)]
pub struct ConnectionHost {
    thread: std::sync::Mutex<Option<Host>>,
}

impl ConnectionHost {
    /// Takes the writers' connections from `pool` on this thread from now
    /// on. Call it where `tokio::task::spawn_local` may be called (an actix
    /// HTTP worker's local runtime); of several threads, the last to call it
    /// serves.
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
    /// no thread serves (yet, or any longer, as when aarc stops).
    pub async fn acquire(&self, pool: &PgPool) -> Taken {
        let host = self.thread().clone();
        if let Some(host) = host {
            let (reply, taken) = oneshot::channel();
            if host.send(reply).is_ok() {
                if let Ok(taken) = taken.await {
                    return taken;
                }
            }
        }
        pool.acquire().await
    }

    fn thread(&self) -> std::sync::MutexGuard<'_, Option<Host>> {
        // Nothing panics while holding the lock; were it poisoned, the
        // sender in it is still sound.
        self.thread.lock().unwrap_or_else(|e| e.into_inner())
    }
}
