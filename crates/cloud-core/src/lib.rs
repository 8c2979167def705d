//! The transport-free core of cloud-engine: it persists sessions ([`store`]), drives them through
//! plan → approve → apply ([`orchestrator`]) over an [`engine::Engine`] it does not know the
//! implementation of, enforces who may do what ([`policy`]), and reads the configuration
//! ([`config`]). It knows no chat platform and no Pulumi: the adapters (cloud-pulumi,
//! cloud-discord, cloud-slack) plug in from above and the `cloud` binary wires them.

pub mod config;
pub mod engine;
pub mod orchestrator;
pub mod policy;
pub mod store;
