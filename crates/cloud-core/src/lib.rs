//! The transport-free core of cloud-engine: it persists sessions ([`store`]), drives them through
//! plan → approve → apply ([`orchestrator`]) over an [`engine::Engine`] it does not know the
//! implementation of, enforces who may do what ([`policy`]), and reads the configuration
//! ([`config`]). It knows no chat platform and no Pulumi: the adapters (cloud-pulumi,
//! cloud-discord, cloud-slack) plug in from above and the `cloud` binary wires them.
//!
//! # Public surface
//! What the adapters, the chat layer and the binary use; everything else is `pub(crate)`.
//!
//! - [`orchestrator::Orchestrator`], the facade every front end calls (start, plan, approve,
//!   apply, cancel, queue, status, recovery, sweeper, administration), the
//!   [`orchestrator::SessionEvent`]s it publishes, and the [`orchestrator::DeploymentResolver`]
//!   seam through which the binary plugs the stack catalog in;
//! - [`engine`]: the engine port ([`engine::Engine`], [`engine::EngineError`],
//!   [`engine::Progress`]) that cloud-pulumi implements;
//! - [`store`]: the [`store::Store`] façade over SQLite, its records and [`store::MIGRATOR`];
//! - [`policy`]: the access gate ([`policy::Access`], [`policy::Actor`]) plus cloud-domain's rules,
//!   re-exported, and [`policy::stats`];
//! - [`config`]: `config/cloud.yaml` plus `CLOUD_*` overrides, validated ([`config::Config`]).

pub mod audit_key;
pub mod config;
pub mod engine;
mod error_codes;
pub mod event_feed;
pub mod leader;
pub mod orchestrator;
pub mod policy;
pub mod store;
