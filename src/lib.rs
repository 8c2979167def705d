//! The `cloud` program: the command line ([`cli`]), `cloud serve` ([`serve`]) and the one
//! composition root ([`app`]) that builds the store, the Pulumi engine adapter, the catalog
//! resolver and the orchestrator from configuration. Everything else lives in the crates under
//! `crates/` (docs/architecture.md).

pub mod api;
pub mod app;
pub mod cli;
pub mod global_args;
pub mod remote;
pub mod serve;

pub use app::App;
