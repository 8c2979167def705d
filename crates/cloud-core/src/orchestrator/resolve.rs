//! The seam between the orchestrator and the stack catalog: which stacks a session covers, in
//! which wave, with which program directory and configuration.

use crate::engine::StackTarget;
use cloud_domain::error::UserError;
use cloud_domain::session::{DeploymentId, StackName};

/// One stack of a deployment, ready for the engine.
#[derive(Debug, Clone)]
pub struct ResolvedStack {
    pub name: StackName,
    /// Topological level: every dependency is in an earlier wave.
    pub wave: u32,
    /// Direct dependencies (within the deployment).
    pub depends_on: Vec<StackName>,
    pub target: StackTarget,
    /// Hash of the program files and resolved configuration (part of the plan digest).
    pub content_hash: String,
}

/// A deployment resolved for one environment, stacks in apply order.
#[derive(Debug, Clone)]
pub struct ResolvedDeployment {
    pub deployment_id: DeploymentId,
    pub org: String,
    pub project: String,
    pub env: String,
    pub stacks: Vec<ResolvedStack>,
}

/// Resolves `(project, env, stacks?)` into stacks for the engine. The catalog implements it from
/// the manifests under `deploy/`; tests implement it in memory.
pub trait DeploymentResolver: Send + Sync + 'static {
    /// `stacks = None` means every enabled stack of the deployment. Unknown projects,
    /// environments or stacks are [`UserError`]s that say what exists.
    fn resolve(&self, project: &str, env: &str, stacks: Option<&[StackName]>) -> Result<ResolvedDeployment, UserError>;
}
