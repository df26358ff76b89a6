//! aarc — the App Access Rule consumer.
//!
//! Dependencies point one way: `http` and `commands` call `ingest` and `store`;
//! those speak in `domain` types; nothing below `http` knows about actix.

pub mod commands;
pub mod config;
pub mod diagnosis;
pub mod domain;
pub mod error;
pub mod http;
pub mod ingest;
pub mod localdb;
pub mod metrics;
pub mod reconcile;
pub mod startup;
pub mod status_cache;
pub mod store;
pub mod telemetry;

pub use error::Error;
