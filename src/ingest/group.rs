//! Group commit. Requests are parsed and authenticated on their own (off the
//! database's critical path), then queue their events here; a few writer
//! tasks take turns gathering what is queued into a group and writing it in
//! one transaction. Every request is answered after that commit, with its
//! own outcome. `synchronous_commit` stays on: one WAL flush serves the group.
//!
//! How a group is gathered — written as soon as none other is — is in
//! `gather`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, Mutex};

use super::auth::Authenticated;
use super::connection_host::ConnectionHost;
use super::gather::{gather, Queued, Writing};
use super::remembered::RememberedTenants;
use super::replies::{reply_to, Answers, ReplyTo};
use super::{write_requests, Receipt};
use crate::domain::{EventKind, PolicyEvent, ReceiveMode};
use crate::Error;

/// How groups are formed.
#[derive(Debug, Clone, Copy)]
pub struct GroupSettings {
    /// How long a group waits for the group being written before it to
    /// commit (gathering more requests meanwhile); after that it is written
    /// alongside.
    pub wait: Duration,
    /// How long a group waits for more requests when no other group is
    /// being written (0: it is written at once).
    pub linger: Duration,
    /// The most events in one transaction (a single larger request still
    /// goes through, alone).
    pub max_events: usize,
    /// The most object ids in one transaction (a single larger request
    /// still goes through, alone). One statement runs on one core of
    /// PostgreSQL: large events written side by side, each in its own
    /// transaction, keep the others busy too.
    pub max_objects: usize,
    /// Writers working at once: while one commits, the next gathers.
    pub writers: usize,
}

/// One request's events, waiting for a writer.
pub(super) struct Job {
    pub who: Authenticated,
    pub mode: ReceiveMode,
    pub events: Vec<PolicyEvent>,
    reply: ReplyTo,
    queued: tokio::time::Instant,
}

impl Queued for Job {
    fn events(&self) -> usize {
        self.events.len()
    }

    fn objects(&self) -> usize {
        self.events.iter().map(PolicyEvent::objects).sum()
    }

    fn queued(&self) -> tokio::time::Instant {
        self.queued
    }
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
    connections: Arc<WriterConnections>,
}

impl GroupCommit {
    /// Starts the writers on the current runtime, writing on connections of
    /// `pool` (theirs alone: see `connection_host`); they stop when the last
    /// `GroupCommit` handle is dropped and the queue is empty.
    pub fn start(pool: PgPool, settings: GroupSettings) -> Self {
        let (queue, jobs) = mpsc::channel(4096);
        let jobs = Arc::new(Mutex::new(jobs));
        let shared = Arc::new(WriterConnections {
            pool,
            host: Arc::default(),
            idle: std::sync::Mutex::new(Vec::new()),
            remembered: RememberedTenants::default(),
        });
        let writing = Arc::new(Writing::default());
        for _ in 0..settings.writers.max(1) {
            let conn = WriterConnection {
                shared: shared.clone(),
                held: None,
                from_pool: false,
            };
            tokio::spawn(run_writer(conn, jobs.clone(), writing.clone(), settings));
        }
        Self {
            queue,
            connections: shared,
        }
    }

    /// Serves this HTTP thread's requests their answers (`replies`) and,
    /// when it is the only HTTP thread, takes the writers' connections here
    /// (`connection_host`). Call it on each HTTP thread's local runtime.
    ///
    /// Of several HTTP threads none hosts the connections: on a graceful
    /// stop each thread ends once its own requests are answered, and its
    /// runtime's sockets with it. A writer connection hosted there died in
    /// the middle of a group of another thread's requests; the group, sent
    /// again, found its events stored and answered their first delivery 200
    /// "duplicate" (`sigterm_with_two_http_threads_answers_every_request_in_flight`).
    /// A single HTTP thread ends only after every request it received is
    /// answered, and those are all the requests there are.
    pub fn serve_on_this_thread(&self, only_http_thread: bool) {
        super::replies::serve_on_this_thread();
        if only_http_thread {
            let shared = &self.connections;
            shared.host.serve_on_this_thread(shared.pool.clone());
        }
    }

    /// The writers' pool, for its figures and to close it.
    pub fn pool(&self) -> &PgPool {
        &self.connections.pool
    }

    /// Where the writers' connections are taken, and how many were where.
    pub fn connection_host(&self) -> Arc<ConnectionHost> {
        self.connections.host.clone()
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
        let (reply, answer) = reply_to();
        self.queue
            .send(Job {
                who,
                mode,
                events,
                reply,
                queued: tokio::time::Instant::now(),
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

/// The writers' connections, held from one group to the next: sqlx pings a
/// pooled connection when it is returned and again when it is taken, two
/// round trips per group, as many as the group's statement itself.
struct WriterConnections {
    pool: PgPool,
    /// Where new connections are taken from the pool.
    host: Arc<ConnectionHost>,
    /// Connections between groups, the one used last on top: while groups
    /// follow one another, each is written on the connection of the one
    /// before — one PostgreSQL backend, its caches warm. (Writers taking
    /// turns on a connection each cost PostgreSQL 48 µs per event where one
    /// warm backend took 42, in the ingest benchmark.)
    idle: std::sync::Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    /// The tenants as last read (`remembered`).
    remembered: RememberedTenants,
}

impl WriterConnections {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<(PoolConnection<Postgres>, Instant)>> {
        // Nothing panics while holding the lock; were it poisoned, the
        // connections in it are still sound.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The connection a writer writes its group on.
struct WriterConnection {
    shared: Arc<WriterConnections>,
    held: Option<(PoolConnection<Postgres>, Instant)>,
    /// Whether the last `get` took a connection from the pool (which
    /// tested it) rather than one held since an earlier group.
    from_pool: bool,
}

impl WriterConnection {
    async fn get(&mut self) -> Result<&mut PgConnection, Error> {
        let held = self.held.take().or_else(|| self.shared.idle().pop());
        let reusable = match held {
            Some((conn, used)) if used.elapsed() < RECHECK_AFTER => Some(conn),
            Some((mut conn, _)) => match conn.ping().await {
                Ok(()) => Some(conn),
                Err(_) => {
                    conn.close_on_drop();
                    None
                }
            },
            None => None,
        };
        self.from_pool = reusable.is_none();
        let conn = match reusable {
            Some(conn) => conn,
            None => self.shared.host.acquire(&self.shared.pool).await?,
        };
        let (conn, _) = self.held.insert((conn, Instant::now()));
        Ok(&mut **conn)
    }

    /// Once the group is written: the connection goes on top of the idle ones.
    fn put_back(&mut self) {
        if let Some(held) = self.held.take() {
            self.shared.idle().push(held);
        }
    }

    /// After a write that failed for want of the database: the connection is
    /// closed rather than used again, and so are the idle ones — whatever
    /// broke it (a restart, a terminated server) most likely broke them too
    /// — so the next group takes a fresh one from the pool.
    fn discard_if_broken<T>(&mut self, outcome: &Result<T, Error>) {
        if matches!(outcome, Err(Error::Unavailable(_))) {
            let idle = std::mem::take(&mut *self.shared.idle());
            for (mut conn, _) in self.held.take().into_iter().chain(idle) {
                conn.close_on_drop();
            }
        }
    }
}

async fn run_writer(
    mut conn: WriterConnection,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    writing: Arc<Writing>,
    settings: GroupSettings,
) {
    while let Some((group, written)) = gather(&jobs, &writing, settings).await {
        let (alone, together): (Vec<Job>, Vec<Job>) =
            group.into_iter().partition(Job::must_be_alone);
        if !together.is_empty() {
            write(&mut conn, together).await;
        }
        for job in alone {
            write(&mut conn, vec![job]).await;
        }
        // The connection is back before the next group may go, which takes it.
        conn.put_back();
        drop(written);
    }
    // The queue is closed (aarc is stopping): the connection goes back to
    // the writers' pool, which is closed next (`run_until_stopped`).
}

/// Writes a group of requests on the writer's connection.
async fn write_on(
    conn: &mut WriterConnection,
    requests: &[super::Request<'_>],
) -> Result<Vec<Result<Receipt, Error>>, Error> {
    let mut outcome = attempt(conn, requests).await;
    // A held connection may have died since its last group (terminated, or
    // the server restarted) without a ping noticing: once, on a fresh
    // connection. Should the lost answer hide a commit, the events are found
    // stored and answered as duplicates — still stored once, still 2xx.
    if !conn.from_pool && matches!(outcome, Err(Error::Unavailable(_))) {
        outcome = attempt(conn, requests).await;
    }
    // Rolled back to break a deadlock with a group written alongside (copies
    // of one event delivered at once, each in a group of its own): nothing
    // was written, so the group goes again, and finds the other's rows.
    let mut tries = 1;
    while matches!(outcome, Err(Error::Contended(_))) && tries < CONTENDED_TRIES {
        tries += 1;
        outcome = attempt(conn, requests).await;
    }
    outcome
}

/// How many times a group rolled back by a deadlock is written in all.
const CONTENDED_TRIES: u32 = 4;

/// One try at writing a group; a connection that failed is not kept.
async fn attempt(
    conn: &mut WriterConnection,
    requests: &[super::Request<'_>],
) -> Result<Vec<Result<Receipt, Error>>, Error> {
    let shared = conn.shared.clone();
    let outcome = match conn.get().await {
        Ok(c) => write_requests(c, &shared.remembered, requests).await,
        Err(e) => Err(e),
    };
    conn.discard_if_broken(&outcome);
    outcome
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
    let mut answers = Answers::default();
    match outcome {
        Ok(receipts) => {
            for (job, receipt) in jobs.into_iter().zip(receipts) {
                answers.add(job.reply, receipt);
            }
        }
        Err(e) if jobs.len() == 1 || matches!(e, Error::Unavailable(_)) => {
            for job in jobs {
                answers.add(job.reply, Err(e.clone()));
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
                // Answered as soon as known: the others are still to be written.
                let mut answer = Answers::default();
                answer.add(job.reply, receipt);
                answer.deliver();
            }
        }
    }
    answers.deliver();
}
