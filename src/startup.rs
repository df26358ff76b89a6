//! Building and running the service: database (given or self-managed),
//! migrations, HTTP server on an injected listener, graceful shutdown.

use crate::ingest::auth::Verifier;
use crate::ingest::{GroupCommit, GroupSettings};
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpMessage, HttpServer};
use secrecy::SecretString;
use sqlx::PgPool;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::config::Config;
use crate::http::{self, AppState};
use crate::ingest::auth::{forge::ForgeVerifier, jwks::JwksCache};
use crate::localdb::LocalDb;
use crate::reconcile::Reconciler;
use crate::{store, Error};

/// The database to use: `DATABASE_URL`, or the local cluster (started if needed).
pub async fn database_url(config: &Config) -> Result<(SecretString, Option<LocalDb>), Error> {
    match &config.database_url {
        Some(url) => Ok((url.clone(), None)),
        None => {
            let db = LocalDb::ensure(&config.data_dir)
                .await
                .map_err(Error::Internal)?;
            tracing::info!(url = %db.url(), started = db.started_here, "using the local PostgreSQL cluster");
            Ok((SecretString::from(db.url()), Some(db)))
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    /// The group-commit writers' own connections (`ingest::connection_host`).
    writer_pool: PgPool,
    writer_connections: Arc<crate::ingest::connection_host::ConnectionHost>,
    local_db: Option<LocalDb>,
    reconciler: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Application {
    /// Binds `AARC_LISTEN` and builds everything.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let listener = TcpListener::bind(&config.listen)
            .map_err(|e| Error::Internal(format!("cannot listen on {}: {e}", config.listen)))?;
        Self::build_with_listener(config, listener).await
    }

    /// Builds on a listener the caller owns (tests bind port 0).
    pub async fn build_with_listener(config: Config, listener: TcpListener) -> Result<Self, Error> {
        let (url, local_db) = database_url(&config).await?;
        // The group-commit writers have connections of their own, out of
        // the process's `AARC_DB_POOL_SIZE` (why: `ingest::connection_host`);
        // the configuration leaves at least one for everything else. Both
        // pools name themselves "aarc" to the server, where operators (and
        // the durability tests) find the process's backends by that name.
        let writers = config.ingest_writers as u32;
        let others = config.db_pool_size.checked_sub(writers).filter(|n| *n > 0);
        let others = others.ok_or_else(|| {
            Error::Internal("AARC_INGEST_WRITERS leaves no database connection".into())
        })?;
        let pool = store::pool(&url, others, "aarc")?;
        let writer_pool = store::pool(&url, writers, "aarc")?;
        if config.migrate_on_start {
            store::migrate(&pool).await?;
        }
        let port = listener
            .local_addr()
            .map_err(|e| Error::Internal(e.to_string()))?
            .port();
        let forge = ForgeVerifier::new(
            JwksCache::new(config.forge_jwks_url.clone(), config.jwks_refetch_cooldown),
            config.forge_app_ids.clone(),
        );
        let committer = GroupCommit::start(
            writer_pool.clone(),
            GroupSettings {
                wait: config.ingest_batch_wait,
                linger: config.ingest_batch_linger,
                max_events: config.ingest_batch_max,
                max_objects: config.ingest_batch_max_objects,
                writers: config.ingest_writers,
            },
        );
        let writer_connections = committer.connection_host();
        let status_cache = crate::status_cache::StatusCache::new(config.status_cache_objects);
        let http_workers = config.http_workers;
        let config = Arc::new(config);
        // One reconciler serves the periodic passes and the work requests
        // hand it (registration checks).
        let shared_reconciler = Arc::new(Reconciler::new(pool.clone(), config.clone()));
        let reconciler = config.reconciler.then(|| {
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let worker = shared_reconciler.clone();
            let interval = config.reconcile_interval.as_duration();
            (stop, tokio::spawn(worker.run_forever(interval, stopped)))
        });
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            reconciler: shared_reconciler,
            config,
            auth: Verifier {
                forge,
                connect: Default::default(),
            },
            committer,
            status_cache,
            metrics_cache: Default::default(),
        });
        let server = HttpServer::new(move || {
            // Runs on each HTTP worker thread, on its local runtime.
            state.committer.serve_on_this_thread(http_workers == 1);
            App::new()
                .app_data(state.clone())
                .wrap_fn(|req, srv| {
                    use actix_web::dev::Service;
                    let request_id = req.extensions().get::<RequestId>().copied();
                    let fut = srv.call(req);
                    async move {
                        let mut res = fut.await?;
                        if let Some(id) = request_id {
                            if let Ok(value) = id.to_string().parse() {
                                res.headers_mut().insert(
                                    actix_web::http::header::HeaderName::from_static(
                                        "x-request-id",
                                    ),
                                    value,
                                );
                            }
                        }
                        Ok(res)
                    }
                })
                .wrap(TracingLogger::<http::request_span::RequestSpan>::new())
                .configure(http::routes)
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(Error::NotFound("no such route".into()))
                }))
        })
        // In-flight requests get this long to finish after SIGTERM/SIGINT.
        .shutdown_timeout(30)
        .workers(http_workers)
        .listen(listener)
        .map_err(|e| Error::Internal(format!("cannot start the HTTP server: {e}")))?
        .run();
        Ok(Self {
            port,
            server,
            pool,
            writer_pool,
            writer_connections,
            local_db,
            reconciler,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where the group-commit writers took their connections (tests check
    /// that it is the HTTP thread).
    pub fn writer_connections(&self) -> Arc<crate::ingest::connection_host::ConnectionHost> {
        self.writer_connections.clone()
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then lets requests finish, closes the
    /// pools (the writers', once they have written what was queued) and
    /// stops the local cluster if this process started it.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let result = self
            .server
            .await
            .map_err(|e| Error::Internal(format!("HTTP server failed: {e}")));
        if let Some((stop, worker)) = self.reconciler {
            // A pass in progress finishes its current step; none starts after.
            let _ = stop.send(true);
            let _ = worker.await;
        }
        self.pool.close().await;
        self.writer_pool.close().await;
        if let Some(db) = self.local_db.filter(|db| db.started_here) {
            tracing::info!("stopping the local PostgreSQL cluster");
            db.stop().await.map_err(Error::Internal)?;
        }
        result
    }
}
