//! cloud-engine: ChatOps for Pulumi deployments with a plan-first, four-eyes approval workflow.
//!
//! The core (`session`, `catalog`, `engine`, `orchestrator`, `policy`, `store`) knows nothing of
//! Discord or Slack; chat adapters and the `cloud` CLI translate user input into intents and
//! render the events the orchestrator publishes.

pub mod catalog;
pub mod chat;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod orchestrator;
pub mod policy;
pub mod serve;
pub mod session;
pub mod store;
pub mod testing;
