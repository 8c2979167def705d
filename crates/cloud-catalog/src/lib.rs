//! The stack catalog: what can be deployed and how a deployment is described.
//!
//! - [`workspace`]: the workspace root, the [`Catalog`] of `stacks/*/stack.yaml`, content hashes;
//! - [`stack`]: one stack's metadata and program-file checks;
//! - [`manifest`]: `deploy/<id>-<org>-<project>/manifest.yaml` and deployment ids;
//! - [`config`]: configuration tiers and `{{…}}` placeholders → [`cloud_domain::engine::ConfigValue`]s;
//! - [`graph`]: the petgraph dependency graph, waves, closures;
//! - [`template`]: `{{PLACEHOLDER}}` templates, `stacks new`;
//! - [`init`]: creating a deployment from a manifest template;
//! - [`edit`]: changing a manifest while keeping its comments;
//! - [`validate`]: every problem of the workspace in one report;
//! - [`inspect`]: what a stack would declare (offline inspector or committed snapshots).
//!
//! Every reader reports [`Problem`]s located at file, line and column.

pub mod config;
pub mod edit;
pub mod graph;
pub mod init;
pub mod input;
pub mod inspect;
pub mod manifest;
pub mod names;
pub mod problem;
pub mod stack;
pub mod template;
pub mod validate;
pub mod workspace;
pub mod yaml;

mod fsutil;

pub use config::{NoOutputs, OutputLookup, OutputValue, Placeholder, ResolvedConfig, Resolver};
pub use graph::{DependencyGraph, GraphError, Missing};
pub use manifest::{
    find_deployment, load_deployments, ConfigSpec, Deployment, EnvStackSpec, EnvironmentSpec, Manifest, OrderedMap,
    StackSpec,
};
pub use problem::{Location, Problem, ProblemKind, Problems};
pub use stack::{Scalar, StackDef, StackMeta};
pub use workspace::{config_hash, content_hash, Catalog, Workspace};
