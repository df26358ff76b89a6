//! Integration tests: real HTTP through actix, a real PostgreSQL (one fresh
//! database per test), real signatures.

mod helpers;

mod auth_connect;
mod auth_forge;
mod durability;
mod fixtures;
mod health;
mod qsh_vectors;
mod status;
mod tenants;
mod webhook;
