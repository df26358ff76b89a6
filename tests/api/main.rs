//! Integration tests: real HTTP through actix, a real PostgreSQL (one fresh
//! database per test), real signatures.

mod browser;
mod diagnosis;
mod fakes;
mod helpers;

mod auth_connect;
mod auth_forge;
mod connection_host;
mod db_restart;
mod deploy;
mod durability;
mod first_run;
mod fixtures;
mod group_commit;
mod health;
mod load;
mod metrics;
mod never_breaks;
mod nothing_lost;
mod nothing_lost_reconciling;
mod operators;
mod qsh_vectors;
mod reconciler;
mod scaling;
mod status;
mod status_cache;
mod tenants;
mod ui;
mod webhook;
mod webhook_refusals;
