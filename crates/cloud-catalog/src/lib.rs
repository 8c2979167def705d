//! The stack catalog: what can be deployed and how a deployment is described. It reads
//! `stacks/*/stack.yaml` and `deploy/*/manifest.yaml`, and reports every problem located at file,
//! line and column ([`problem::Problem`]).
//!
//! # Public surface
//! What other crates (the `cloud` binary, cloud-core) use; everything else is `pub(crate)`.
//!
//! - [`Catalog`] (the stacks of a workspace, their [`StackDef`]s and content hashes),
//!   [`content_hash`], [`config_hash`];
//! - [`DependencyGraph`] (validation, waves, closures) and its [`GraphError`]s;
//! - [`Resolver`]: a stack's configuration for one environment, tiers and `{{…}}` placeholders
//!   resolved into [`cloud_domain::engine::ConfigValue`]s (upstream outputs through an
//!   [`OutputLookup`]); [`config`] also parses one value's placeholders (`parse_value`);
//! - [`input`]: reading untrusted files and text with size caps and character checks;
//! - [`yaml`]: strict, located YAML parsing;
//! - [`manifest`]: deployment manifests and ids ([`find_deployment`], [`load_deployments`]);
//! - [`workspace`]: the workspace root and program files;
//! - [`names`]: environment and Pulumi stack names;
//! - [`problem`]: located problems ([`ProblemKind`]);
//! - [`template`]: `{{PLACEHOLDER}}` templates, `stacks new`;
//! - [`init`]: creating a deployment from a manifest template;
//! - [`edit`]: changing a manifest while keeping its comments;
//! - [`validate`]: every problem of the workspace in one report;
//! - [`inspect`]: what a stack would declare (offline inspector or committed snapshots).
//!
//! Crate-private modules: `graph` and `stack` (their public types are re-exported here) and
//! `fsutil`.

pub mod config;
pub mod edit;
mod error_codes;
mod graph;
pub mod init;
pub mod input;
pub mod inspect;
pub mod manifest;
pub mod names;
pub mod problem;
pub mod provider;
pub mod secret_file;
mod stack;
pub mod template;
pub mod validate;
pub mod workspace;
pub mod yaml;

mod fsutil;

pub use config::{OutputLookup, OutputValue, Resolver};
pub use graph::{DependencyGraph, GraphError, Missing};
pub use manifest::{find_deployment, load_deployments};
pub use problem::ProblemKind;
pub use stack::{Scalar, StackDef, StackMeta};
pub use workspace::{config_hash, content_hash, Catalog};
