//! The seam between the orchestrator and the stack catalog: which stacks a session covers, in
//! which wave, with which program directory and configuration.

use std::collections::BTreeSet;

use super::OrchResult;
use crate::engine::StackTarget;
use crate::store::SessionRecord;
use cloud_catalog::DependencyGraph;
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

/// The session's stacks (stored order) with their direct dependencies, for the scheduler.
pub(super) fn session_deps(session: &SessionRecord, resolved: &ResolvedDeployment) -> Vec<(StackName, Vec<StackName>)> {
    session
        .stacks
        .iter()
        .filter_map(|n| {
            resolved
                .stacks
                .iter()
                .find(|s| &s.name == n)
                .map(|s| (n.clone(), s.depends_on.clone()))
        })
        .collect()
}

/// The resolved stacks as the catalog's dependency graph. Dependencies outside the resolved set
/// (stacks a `--stacks` subset leaves out) are not edges: they are not part of this session.
pub(super) fn dependency_graph(resolved: &ResolvedDeployment) -> OrchResult<DependencyGraph> {
    let names: BTreeSet<&StackName> = resolved.stacks.iter().map(|s| &s.name).collect();
    let nodes: Vec<(StackName, Vec<StackName>)> = resolved
        .stacks
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.depends_on.iter().filter(|d| names.contains(d)).cloned().collect(),
            )
        })
        .collect();
    DependencyGraph::from_deps(&nodes).map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        UserError::invalid(format!(
            "the deployment's stacks do not form a dependency graph: {}",
            text.join("; ")
        ))
        .into()
    })
}
