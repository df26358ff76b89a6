//! The group-commit writers' connections are taken on the HTTP thread that
//! hosts them (why: `src/ingest/connection_host.rs`) when aarc has only one,
//! and still come when no thread hosts.

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use aarc::ingest::connection_host::ConnectionHost;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool};
use tokio::sync::oneshot;

use crate::helpers::*;

/// A thread standing in for an HTTP worker: a local runtime that hosts the
/// connections until `stop` is sent, then ends, and its runtime with it.
fn hosting_thread(
    host: Arc<ConnectionHost>,
    pool: PgPool,
) -> (oneshot::Sender<()>, std::thread::JoinHandle<()>, ThreadId) {
    let (stop, stopped) = oneshot::channel::<()>();
    let (serving, is_serving) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, async move {
            host.serve_on_this_thread(pool);
            serving.send(()).unwrap();
            let _ = stopped.await;
        });
    });
    is_serving.recv().unwrap();
    let id = thread.thread().id();
    (stop, thread, id)
}

/// A pool that notes the thread each of its connections was opened on.
fn noting_pool(url: &str) -> (PgPool, Arc<Mutex<Vec<ThreadId>>>) {
    let opened_on = Arc::new(Mutex::new(Vec::new()));
    let noted = opened_on.clone();
    let pool = PgPoolOptions::new()
        .max_connections(3)
        .after_connect(move |_, _| {
            let noted = noted.clone();
            Box::pin(async move {
                noted.lock().unwrap().push(std::thread::current().id());
                Ok(())
            })
        })
        .connect_lazy(url)
        .unwrap();
    (pool, opened_on)
}

async fn answers(conn: &mut PgConnection) -> bool {
    matches!(
        sqlx::query_scalar::<_, i32>("SELECT 1")
            .fetch_one(conn)
            .await,
        Ok(1)
    )
}

#[tokio::test]
async fn connections_are_taken_on_the_hosting_thread_and_here_once_it_is_gone() {
    let url = empty_database().await;
    let (pool, opened_on) = noting_pool(&url);
    let host = Arc::new(ConnectionHost::default());
    let this_thread = std::thread::current().id();

    // No thread hosts yet: taken on this one.
    let mut here = host.acquire(&pool).await.unwrap();
    assert!(answers(&mut here).await);

    let (stop, thread, hosting) = hosting_thread(host.clone(), pool.clone());
    let mut hosted = host.acquire(&pool).await.unwrap();
    // Used from this thread's runtime while the hosting one watches its socket.
    assert!(answers(&mut hosted).await);
    stop.send(()).unwrap();
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    // Its socket was watched by the runtime that just ended: not reused.
    hosted.close_on_drop();
    drop(hosted);

    // With no thread hosting any longer, connections are taken here again.
    let mut again = host.acquire(&pool).await.unwrap();
    assert!(answers(&mut again).await);
    assert_eq!(
        *opened_on.lock().unwrap(),
        vec![this_thread, hosting, this_thread],
        "the threads the connections were opened on"
    );
    assert_eq!(host.taken(), (1, 2), "(on the hosting thread, here)");
}

/// Where a running aarc's writers took their connections, after one event
/// with `http_threads` HTTP threads: (on the HTTP thread, by the writers).
async fn writer_connections_taken(http_threads: usize) -> (u64, u64) {
    let app = spawn_app_with(|c| c.http_workers = http_threads).await;
    let tenant = app.connect_tenant().await;
    let res = app
        .post_structured(&tenant, &v2_objects_event(&tenant.cloud_id, &["1"]))
        .await;
    assert_eq!(res.status(), 202);
    app.writer_connections.taken()
}

#[tokio::test]
async fn the_app_takes_its_writers_connections_on_its_only_http_thread() {
    let (on_http_thread, by_writers) = writer_connections_taken(1).await;
    assert!(
        on_http_thread >= 1,
        "no connection taken on the HTTP thread"
    );
    assert_eq!(by_writers, 0, "the writers took connections themselves");
}

/// Of several HTTP threads, each may stop before the others on a graceful
/// stop, and its sockets with it: the writers take their own.
#[tokio::test]
async fn with_two_http_threads_the_writers_take_their_own_connections() {
    let (on_http_thread, by_writers) = writer_connections_taken(2).await;
    assert_eq!(
        on_http_thread, 0,
        "a connection was taken on an HTTP thread"
    );
    assert!(by_writers >= 1, "no connection taken by the writers");
}
