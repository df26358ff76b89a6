//! Group commit. Requests are parsed and authenticated on their own (off the
//! database's critical path), then queue their events here; a few writer
//! tasks each take what is queued — waiting up to `AARC_INGEST_BATCH_WAIT_MS`
//! for more, up to `AARC_INGEST_BATCH_MAX` events — and write it in one
//! transaction. Every request is answered after that commit, with its own
//! outcome. `synchronous_commit` stays on: one WAL flush serves the group.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::auth::Authenticated;
use super::remembered::RememberedTenants;
use super::{write_requests, Receipt};
use crate::domain::{EventKind, PolicyEvent, ReceiveMode};
use crate::Error;

/// How groups are formed.
#[derive(Debug, Clone, Copy)]
pub struct GroupSettings {
    /// How long a writer holding a group waits for more requests.
    pub wait: Duration,
    /// The most events in one transaction (a single larger request still
    /// goes through, alone).
    pub max_events: usize,
    /// Writers working at once: while one commits, the next gathers.
    pub writers: usize,
}

/// One request's events, waiting for a writer.
pub(super) struct Job {
    pub who: Authenticated,
    pub mode: ReceiveMode,
    pub events: Vec<PolicyEvent>,
    reply: oneshot::Sender<Result<Receipt, Error>>,
}

impl Job {
    /// Lifecycle events change whether the tenant may send at all, which the
    /// other requests of a group were checked against: such a request is
    /// written in a transaction of its own.
    fn must_be_alone(&self) -> bool {
        self.events.iter().any(|e| {
            matches!(
                e.kind,
                EventKind::ForgeInstalled | EventKind::ForgeUninstalled
            )
        })
    }
}

#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writers on the current runtime; they stop when the last
    /// `GroupCommit` handle is dropped and the queue is empty.
    pub fn start(pool: PgPool, settings: GroupSettings) -> Self {
        let (queue, jobs) = mpsc::channel(4096);
        let jobs = Arc::new(Mutex::new(jobs));
        let remembered = Arc::new(RememberedTenants::default());
        for _ in 0..settings.writers.max(1) {
            let conn = WriterConnection {
                pool: pool.clone(),
                held: None,
                remembered: remembered.clone(),
            };
            tokio::spawn(run_writer(conn, jobs.clone(), settings));
        }
        Self { queue }
    }

    /// Writes one request's events with those of other requests; returns
    /// after the commit that holds them (or with the reason they were not stored).
    pub async fn store(
        &self,
        who: Authenticated,
        mode: ReceiveMode,
        events: Vec<PolicyEvent>,
    ) -> Result<Receipt, Error> {
        let stopped = || Error::Unavailable("aarc is shutting down; retry the delivery".into());
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job {
                who,
                mode,
                events,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// A connection unused this long is pinged before a group is written on it:
/// the database may have restarted meanwhile, and a group written on a dead
/// connection would be refused (503) although the database is back.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// A writer's own connection, held from one group to the next. sqlx pings a
/// pooled connection when it is returned and again when it is taken: two
/// round trips per group, as many as the group's statement itself.
struct WriterConnection {
    pool: PgPool,
    held: Option<(PoolConnection<Postgres>, Instant)>,
    /// Shared by the writers: the tenants as last read (`remembered`).
    remembered: Arc<RememberedTenants>,
}

impl WriterConnection {
    async fn get(&mut self) -> Result<&mut PgConnection, Error> {
        let conn = match self.held.take() {
            Some((conn, used)) if used.elapsed() < RECHECK_AFTER => conn,
            Some((mut conn, _)) => match conn.ping().await {
                Ok(()) => conn,
                Err(_) => {
                    conn.close_on_drop();
                    drop(conn);
                    self.pool.acquire().await?
                }
            },
            None => self.pool.acquire().await?,
        };
        let (conn, _) = self.held.insert((conn, Instant::now()));
        Ok(&mut **conn)
    }

    /// After a write that failed for want of the database: the connection is
    /// closed rather than used again, and the next group takes a fresh one.
    fn discard_if_broken<T>(&mut self, outcome: &Result<T, Error>) {
        if matches!(outcome, Err(Error::Unavailable(_))) {
            if let Some((mut conn, _)) = self.held.take() {
                conn.close_on_drop();
            }
        }
    }
}

async fn run_writer(
    mut conn: WriterConnection,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    settings: GroupSettings,
) {
    while let Some(group) = gather(&jobs, settings).await {
        let (alone, together): (Vec<Job>, Vec<Job>) =
            group.into_iter().partition(Job::must_be_alone);
        if !together.is_empty() {
            write(&mut conn, together).await;
        }
        for job in alone {
            write(&mut conn, vec![job]).await;
        }
    }
    // The queue is closed (aarc is stopping): the connection goes back to
    // the pool, which is closed next.
}

/// Writes a group of requests on the writer's connection.
async fn write_on(
    conn: &mut WriterConnection,
    requests: &[super::Request<'_>],
) -> Result<Vec<Result<Receipt, Error>>, Error> {
    let reused = conn.held.is_some();
    let outcome = attempt(conn, requests).await;
    // A held connection may have died since its last group (terminated, or
    // the server restarted) without a ping noticing: once, on a fresh
    // connection. Should the lost answer hide a commit, the events are found
    // stored and answered as duplicates — still stored once, still 2xx.
    if reused && matches!(outcome, Err(Error::Unavailable(_))) {
        return attempt(conn, requests).await;
    }
    outcome
}

/// One try at writing a group; a connection that failed is not kept.
async fn attempt(
    conn: &mut WriterConnection,
    requests: &[super::Request<'_>],
) -> Result<Vec<Result<Receipt, Error>>, Error> {
    let remembered = conn.remembered.clone();
    let outcome = match conn.get().await {
        Ok(c) => write_requests(c, &remembered, requests).await,
        Err(e) => Err(e),
    };
    conn.discard_if_broken(&outcome);
    outcome
}

/// Takes the next group off the queue: whatever waits there now, then more
/// until the group is full or the wait is over. One writer gathers at a time;
/// the others are committing meanwhile.
async fn gather(jobs: &Mutex<mpsc::Receiver<Job>>, settings: GroupSettings) -> Option<Vec<Job>> {
    let mut jobs = jobs.lock().await;
    let first = jobs.recv().await?;
    let mut events = first.events.len();
    let mut group = vec![first];
    let deadline = tokio::time::Instant::now() + settings.wait;
    while events < settings.max_events {
        let next = match jobs.try_recv() {
            Ok(job) => job,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) if settings.wait.is_zero() => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(deadline, jobs.recv()).await {
                    Ok(Some(job)) => job,
                    _ => break,
                }
            }
        };
        events += next.events.len();
        group.push(next);
    }
    Some(group)
}

/// Writes a group and answers each request. When the group's transaction
/// fails for a reason other than the database being unreachable, one
/// request's data may be at fault: each is then written on its own, so only
/// that one fails.
async fn write(conn: &mut WriterConnection, jobs: Vec<Job>) {
    let requests: Vec<_> = jobs
        .iter()
        .map(|j| (&j.who, j.mode, &j.events[..]))
        .collect();
    let outcome = write_on(conn, &requests).await;
    drop(requests);
    match outcome {
        Ok(receipts) => {
            for (job, receipt) in jobs.into_iter().zip(receipts) {
                let _ = job.reply.send(receipt);
            }
        }
        Err(e) if jobs.len() == 1 || matches!(e, Error::Unavailable(_)) => {
            for job in jobs {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, requests = jobs.len(), "group commit failed; writing each request alone");
            for job in jobs {
                let alone = [(&job.who, job.mode, &job.events[..])];
                let receipt = match write_on(conn, &alone).await {
                    Ok(mut receipts) => receipts.pop().unwrap_or_else(|| {
                        Err(Error::Internal("a request's receipt is missing".into()))
                    }),
                    Err(e) => Err(e),
                };
                let _ = job.reply.send(receipt);
            }
        }
    }
}
