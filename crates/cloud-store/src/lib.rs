//! What cloud-engine keeps in its database, independent of which database that is.
//!
//! The store is written once and compiled for two backends:
//!
//! - this crate holds everything that does not talk SQL to a connection: the records callers get
//!   ([`SessionRecord`], [`GrantRow`], …), the `Stored*` rows exactly as the `query_as!` macros
//!   return them and the *one* decoding from those rows into records (a row that does not decode
//!   is a [`StoreError::Corrupt`] naming the row and column, never a default), the audit chain's
//!   hashing, the [`migrate`] module (the migration files of `migrations/`, verbatim for SQLite and
//!   rewritten for PostgreSQL) and the `cloud-store-migrate` tool;
//! - `queries/` (next to `src/`, not a module of this crate) holds the SQL and the transactions,
//!   written once with `$1…$N` placeholders. `cloud-store-sqlite` and `cloud-store-postgres` each
//!   compile it as their own module (`#[path]`), so every `query!` is checked against that
//!   backend's schema and cached in that crate's `.sqlx/`.
//!
//! cloud-core's `store::Store` picks a backend from the database URL and forwards to it.

pub mod audit;
pub mod blob;
pub mod chat;
mod error;
mod error_codes;
pub mod events;
pub mod grants;
pub mod identity;
pub mod leases;
pub mod locks;
pub mod migrate;
pub mod owner;
pub mod projects;
pub mod service_leases;
pub mod sessions;
pub mod time;

pub use audit::{AuditEntry, AuditKey, AuditVerify, BadRow, Checkpoint, CheckpointVerdict, NewAudit};
pub use chat::ChatLobbyRow;
pub use error::{redact_url, StoreError, StoreResult};
pub use events::{EventKind, EventRow, NewEvent};
pub use grants::{GrantRow, NewGrant, QuotaRow};
pub use identity::{NewToken, PersonLink, TokenRow};
pub use leases::{ClaimedLease, Fence, Lease};
pub use locks::{lock_key, HeldLock, LockHolder, LockOutcome, QueueEntry, SavedConfig, TakenLocks};
pub use owner::{is_alive, lease_owner, lease_owner_is_gone, this_process, ProcessOwner};
pub use projects::ProjectRow;
pub use service_leases::ServiceLease;
pub use sessions::{
    ApprovalRow, BadSessionRow, LogLine, NewSession, PruneCounts, SessionFilter, SessionRecord, SessionStatsRows,
    SessionUpdate, StackHead, StackRow, Transition,
};
