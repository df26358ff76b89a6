//! The group-commit writers' connections are taken on the HTTP thread that
//! hosts them (why: `src/ingest/connection_host.rs`), and still come when no
//! thread hosts.

use std::sync::Arc;
use std::time::Duration;

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
) -> (oneshot::Sender<()>, std::thread::JoinHandle<()>) {
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
    (stop, thread)
}

/// Whether the connection answers within a few seconds.
async fn answers(conn: &mut PgConnection) -> bool {
    let query = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(conn);
    matches!(
        tokio::time::timeout(Duration::from_secs(5), query).await,
        Ok(Ok(1))
    )
}

#[tokio::test]
async fn connections_are_taken_on_the_hosting_thread_and_here_once_it_is_gone() {
    let url = empty_database().await;
    let pool = PgPoolOptions::new()
        .max_connections(3)
        .connect_lazy(&url)
        .unwrap();
    let host = Arc::new(ConnectionHost::default());

    // No thread hosts yet: taken on this runtime.
    let mut here = host.acquire(&pool).await.unwrap();
    assert!(answers(&mut here).await);

    let (stop, thread) = hosting_thread(host.clone(), pool.clone());
    let mut hosted = host.acquire(&pool).await.unwrap();
    // Used from this runtime while the hosting thread watches its socket.
    assert!(answers(&mut hosted).await);

    stop.send(()).unwrap();
    thread.join().unwrap();
    // The hosting thread's runtime watched the hosted connection's socket:
    // with it gone, that connection no longer answers, the other does.
    assert!(!answers(&mut hosted).await);
    assert!(answers(&mut here).await);
    hosted.close_on_drop();
    drop(hosted);

    // With no thread hosting any longer, connections are taken here again.
    let mut again = host.acquire(&pool).await.unwrap();
    assert!(answers(&mut again).await);
}
