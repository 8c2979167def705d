//! The store's SQL and transactions, written once for every backend.
//!
//! This directory is not a module of cloud-store: `cloud-store-sqlite` and `cloud-store-postgres`
//! each compile it as their own `queries` module
//! (`#[path = "../../cloud-store/queries/mod.rs"] mod queries;`), so each `query!` here is checked
//! against that backend's migrated schema and cached in that crate's `.sqlx/`. The including
//! crate's root provides:
//!
//! - `Store`, with a `pool` field, and `Store::begin_write()`: the store-wide write transaction
//!   (SQLite: this process's writer turn, then `BEGIN IMMEDIATE`; PostgreSQL: a
//!   transaction-scoped advisory lock);
//! - `Store::write_conn()`: a connection for one autocommit write statement (SQLite: after the
//!   writer turn; PostgreSQL: any pool connection) — every write goes through one of the two,
//!   reads use `&self.pool`;
//! - `Conn`, the backend's connection type, for helpers that run inside a caller's transaction.
//!
//! Rules for the SQL (see docs/development.md): `$1…$N` placeholders only, every number used, no
//! `?`; portable SQL; where the two backends infer a different type or nullability the query
//! says which (`AS "n!: i64"`, `CAST(… AS TEXT)`); decoding into domain types happens once, in
//! cloud-store (`Stored*` → record), never with a default for a bad value.

mod audit;
mod chat;
mod events;
mod fence;
mod grants;
mod history;
mod identity;
pub(crate) mod leases;
mod locks;
mod outputs;
mod projects;
mod retention;
mod service_leases;
mod sessions;
