//! The seam between the orchestrator and the stack catalog: which stacks a session covers, in
//! which wave, with which program directory and configuration.

use std::collections::{BTreeMap, BTreeSet};

use super::OrchResult;
use crate::engine::StackTarget;
use crate::store::SessionRecord;
use cloud_catalog::DependencyGraph;
use cloud_domain::error::UserError;
use cloud_domain::session::{DeploymentId, Provider, StackName};

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
    /// The cloud the stack's program targets (`provider:` in its `stack.yaml`).
    pub provider: Provider,
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

    /// [`DeploymentResolver::resolve`] with the outputs upstream stacks last applied, for
    /// `{{<stack>.<output>}}` placeholders. A placeholder naming a stack of the same selection
    /// that has no recorded output yet resolves to a provisional value (the stack is applied
    /// before its dependents, which then resolve again); any other missing output is a
    /// [`UserError`] naming stack, key and where the value was written. Resolvers without
    /// placeholders (the test kit's) keep the default.
    /// `deployment` (when known: a session's own, or one the user named by id) picks the
    /// deployment among the project's; `None` means the project's only one.
    fn resolve_with_outputs(
        &self,
        project: &str,
        deployment: Option<&DeploymentId>,
        env: &str,
        stacks: Option<&[StackName]>,
        outputs: &AppliedOutputs,
    ) -> Result<ResolvedDeployment, UserError> {
        let _ = (outputs, deployment);
        self.resolve(project, env, stacks)
    }

    /// What a user named where a project is accepted: a project name or a deployment id
    /// (`D1BRV40`). A project with several deployments is a [`UserError`] listing their ids, so
    /// that nobody deploys one of them by chance. Resolvers with one deployment per project (the
    /// test kit's) keep the default: the name is the project.
    /// The stacks of the deployment that depend on any of `stacks` in `env`, directly or not
    /// (not `stacks` themselves): what destroying `stacks` would pull the ground from under.
    /// Resolvers without a dependency catalog (the test kit's) report none.
    fn dependents(
        &self,
        project: &str,
        deployment: Option<&DeploymentId>,
        env: &str,
        stacks: &[StackName],
    ) -> Result<Vec<StackName>, UserError> {
        let _ = (project, deployment, env, stacks);
        Ok(vec![])
    }

    fn target(&self, name: &str) -> Result<DeploymentTarget, UserError> {
        Ok(DeploymentTarget {
            project: name.to_string(),
            deployment: None,
        })
    }
}

/// A deployment as a user named it: its business project (what grants, quotas and sessions are
/// keyed by) and, when the name picks one deployment, its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentTarget {
    pub project: String,
    pub deployment: Option<DeploymentId>,
}

/// The outputs each stack's last successful apply recorded, for one project and environment: by
/// deployment id, then stack (`pulumi stack output --json` objects; secrets stay `[secret]`).
#[derive(Debug, Clone, Default)]
pub struct AppliedOutputs {
    pub by_deployment: BTreeMap<String, BTreeMap<StackName, serde_json::Value>>,
}

impl AppliedOutputs {
    /// Output `output` of `stack` in deployment `deployment_id`, when recorded.
    pub fn get(&self, deployment_id: &str, stack: &StackName, output: &str) -> Option<&serde_json::Value> {
        self.by_deployment.get(deployment_id)?.get(stack)?.get(output)
    }
}

impl super::Orchestrator {
    /// Runs `work` with the resolver on the blocking pool. The resolver reads manifests and
    /// stack programs from disk, validates and hashes them: milliseconds of blocking work per
    /// call. Off the runtime's worker threads, so twenty people deploying at once do not hold
    /// up the threads where every chat acknowledgement waits for its turn (`cloud bench chat`).
    async fn with_resolver<R: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn DeploymentResolver) -> Result<R, UserError> + Send + 'static,
    ) -> OrchResult<R> {
        let resolver = self.resolver.clone();
        let done = tokio::task::spawn_blocking(move || work(resolver.as_ref()))
            .await
            .map_err(|e| match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(_) => UserError::failed("the service is stopping; try again when it is back"),
            })??;
        Ok(done)
    }

    /// What `name` means where a project is accepted: a project, or one deployment by id (see
    /// [`DeploymentResolver::target`]); for front ends that check grants before starting.
    pub async fn deployment_target(&self, name: &str) -> super::OrchResult<DeploymentTarget> {
        let name = name.to_string();
        self.with_resolver(move |r| r.target(&name)).await
    }

    /// The stacks of the deployment that depend on `stacks` in `env`, deployed or not (see
    /// [`DeploymentResolver::dependents`]).
    pub(super) async fn dependents(
        &self,
        project: &str,
        deployment: &DeploymentId,
        env: &str,
        stacks: &[StackName],
    ) -> super::OrchResult<Vec<StackName>> {
        let (project, deployment, env, stacks) = (
            project.to_string(),
            deployment.clone(),
            env.to_string(),
            stacks.to_vec(),
        );
        self.with_resolver(move |r| r.dependents(&project, Some(&deployment), &env, &stacks))
            .await
    }

    /// Resolve `(project, env, stacks)` with the outputs last applied in `env` (see
    /// [`DeploymentResolver::resolve_with_outputs`]).
    pub(super) async fn resolve_current(
        &self,
        project: &str,
        deployment: Option<&DeploymentId>,
        env: &str,
        stacks: Option<&[StackName]>,
    ) -> super::OrchResult<ResolvedDeployment> {
        let outputs = AppliedOutputs {
            by_deployment: self.store.project_stack_outputs(project, env).await?,
        };
        let (project_owned, deployment_owned, env_owned) = (project.to_string(), deployment.cloned(), env.to_string());
        let stacks_owned = stacks.map(<[StackName]>::to_vec);
        let resolved = self
            .with_resolver(move |r| {
                r.resolve_with_outputs(
                    &project_owned,
                    deployment_owned.as_ref(),
                    &env_owned,
                    stacks_owned.as_deref(),
                    &outputs,
                )
            })
            .await?;
        if let Some(row) = self.store.project(project).await? {
            check_provider(project, &row.provider, &resolved)?;
        }
        Ok(resolved)
    }
}

/// A project deploys only the stacks of its provider: anything else is refused before a
/// session opens, naming the stacks and both providers.
pub(super) fn check_provider(project: &str, provider: &str, resolved: &ResolvedDeployment) -> Result<(), UserError> {
    let Ok(provider) = provider.parse::<Provider>() else {
        return Err(UserError::invalid(format!(
            "project `{project}` has the provider `{provider}`, which cloud-engine does not know (known: {})",
            Provider::names()
        )));
    };
    let foreign: Vec<String> = resolved
        .stacks
        .iter()
        .filter(|s| s.provider != provider)
        .map(|s| format!("`{}` ({})", s.name, s.provider))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    Err(UserError::invalid(format!(
        "project `{project}` deploys to {provider}, but stack{} {} target{} another provider; deploy only {provider} stacks (`--stacks`), or use a project created with that provider (`cloud projects create <name> --org <org> --provider <provider>`)",
        if foreign.len() == 1 { "" } else { "s" },
        foreign.join(", "),
        if foreign.len() == 1 { "s" } else { "" },
    )))
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
