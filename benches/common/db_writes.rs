//! What PostgreSQL wrote during a measured phase, from its statistics views:
//! WAL (records, full-page images, bytes) and the shared buffers its
//! backends had to write out themselves. Two phases that store the same
//! rows should write about the same; where they do not, this says which
//! side writes more.

/// The server-wide counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct DbWrites {
    wal_records: i64,
    wal_fpi: i64,
    wal_bytes: f64,
    buffers_backend: i64,
}

impl DbWrites {
    pub async fn now(db: &sqlx::PgPool) -> Self {
        let row: Result<(i64, i64, f64, i64), _> = sqlx::query_as(
            "SELECT w.wal_records, w.wal_fpi, w.wal_bytes::float8, b.buffers_backend
             FROM pg_stat_wal w, pg_stat_bgwriter b",
        )
        .fetch_one(db)
        .await;
        match row {
            Ok((wal_records, wal_fpi, wal_bytes, buffers_backend)) => Self {
                wal_records,
                wal_fpi,
                wal_bytes,
                buffers_backend,
            },
            // Older servers name these differently: print zeros, run on.
            Err(_) => Self::default(),
        }
    }

    /// Per item (a request, or an object) between `before` and now.
    pub fn per_item(&self, before: &DbWrites, items: u64, item: &str) -> String {
        let n = items.max(1) as f64;
        format!(
            "WAL per {item}: {:.1} records, {:.3} full-page images, {:.0} bytes; \
             buffers written by backends per {item}: {:.3}",
            (self.wal_records - before.wal_records) as f64 / n,
            (self.wal_fpi - before.wal_fpi) as f64 / n,
            (self.wal_bytes - before.wal_bytes) / n,
            (self.buffers_backend - before.buffers_backend) as f64 / n,
        )
    }
}
