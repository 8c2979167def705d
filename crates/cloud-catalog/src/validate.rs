//! `cloud validate`: every problem of the catalog and the deployments, in one report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::config::Resolver;
use super::graph::{DependencyGraph, GraphError};
use super::manifest::{self, check_manifest, Deployment};
use super::problem::{Location, Problem, ProblemKind, Problems};
use super::workspace::{known_list, Catalog};

/// A dependency-graph error as a located problem: cycles point at a stack.yaml `depends_on`,
/// everything else at the stack's entry in the manifest.
fn graph_problem(catalog: &Catalog, d: Option<&Deployment>, env: Option<&str>, e: &GraphError) -> Problem {
    let prefix = env.map(|e| format!("in {e}: ")).unwrap_or_default();
    match e {
        GraphError::Cycle { cycle } => {
            let first = cycle[0].as_str();
            let loc = catalog
                .get(first)
                .map(|def| {
                    let file = catalog.workspace.rel(&def.dir.join("stack.yaml"));
                    let text = std::fs::read_to_string(def.dir.join("stack.yaml")).unwrap_or_default();
                    super::yaml::key_location(&file, &text, &["depends_on"])
                })
                .unwrap_or_else(|| Location::file("stacks"));
            Problem::new(ProblemKind::Cycle, loc, e.to_string())
        }
        GraphError::MissingDependency { stack, .. } => Problem::new(
            ProblemKind::MissingDependency,
            d.map(|d| d.locate(&["stacks", stack.as_str()]))
                .unwrap_or_else(|| Location::file("stacks")),
            format!("{prefix}{e}"),
        ),
        GraphError::UnknownStack { stack } => Problem::new(
            ProblemKind::UnknownStack,
            d.map(|d| d.locate(&["stacks", stack]))
                .unwrap_or_else(|| Location::file("stacks")),
            format!("{prefix}{e}"),
        ),
    }
}

/// Problems of the catalog itself: unreadable or incomplete stacks (from loading) and cycles.
pub(crate) fn check_catalog(catalog: &Catalog) -> Problems {
    let mut p = Problems::default();
    if let Err(errs) = DependencyGraph::for_catalog(catalog) {
        for e in errs.iter().filter(|e| matches!(e, GraphError::Cycle { .. })) {
            p.push(graph_problem(catalog, None, None, e));
        }
    }
    p
}

/// Checks of a deployment against the catalog: unknown stacks, dependencies (overall and per
/// enabled environment), configuration tiers and placeholders of every enabled stack in every
/// enabled environment, environment config keys no stack reads.
pub(crate) fn check_against_catalog(catalog: &Catalog, d: &Deployment) -> Problems {
    let mut p = Problems::default();
    let m = &d.manifest;
    for name in m.stacks.keys() {
        if !catalog.contains(name) && !catalog.broken.contains(name) {
            p.push(Problem::new(
                ProblemKind::UnknownStack,
                d.locate(&["stacks", name]),
                format!(
                    "unknown stack `{name}`: not in the catalog (known: {}); fix the name or remove the entry",
                    known_list(catalog.stacks.keys().map(|k| k.as_str()))
                ),
            ));
        }
    }
    let mut reported: BTreeSet<String> = BTreeSet::new();
    match DependencyGraph::for_manifest(catalog, m, None) {
        Ok(_) => {}
        Err(errs) => {
            for e in errs {
                reported.insert(e.to_string());
                if !matches!(e, GraphError::UnknownStack { .. }) && !from_broken(catalog, &e) {
                    p.push(graph_problem(catalog, Some(d), None, &e));
                }
            }
        }
    }
    let envs = m.enabled_environments();
    if envs.is_empty() {
        p.push(Problem::new(
            ProblemKind::Config,
            d.locate(&["environments"]),
            "no environment is enabled; enable one (`cloud environments enable <deployment> dev`)",
        ));
    }
    let resolver = Resolver::new(catalog, d);
    for env in envs {
        if super::names::check_env(env).is_err() {
            continue;
        }
        let graph = match DependencyGraph::for_manifest(catalog, m, Some(env)) {
            Ok(g) => g,
            Err(errs) => {
                for e in errs {
                    if !reported.contains(&e.to_string())
                        && !matches!(e, GraphError::UnknownStack { .. })
                        && !from_broken(catalog, &e)
                    {
                        p.push(graph_problem(catalog, Some(d), Some(env), &e));
                    }
                }
                continue;
            }
        };
        for stack in graph.stacks() {
            p.extend(resolver.check(stack.as_str(), env, &graph));
        }
        if let Some(spec) = m.environments.get(env) {
            for key in spec.config.keys() {
                let used = graph.stacks().iter().any(|s| {
                    catalog.get(s.as_str()).is_some_and(|def| def.meta.declares_key(key)) || key.contains(':')
                });
                if !used {
                    p.push(Problem::new(
                        ProblemKind::Config,
                        d.locate(&["environments", env, "config", key]),
                        format!(
                            "environments.{env}.config.{key}: no stack enabled in {env} declares `{key}`, so it has \
                             no effect; fix the key or remove it"
                        ),
                    ));
                }
            }
        }
    }
    p
}

/// Does a graph error only follow from a stack.yaml that could not be read (already reported)?
fn from_broken(catalog: &Catalog, e: &GraphError) -> bool {
    match e {
        GraphError::MissingDependency { dependency, .. } => catalog.broken.contains(dependency.as_str()),
        GraphError::UnknownStack { stack } => catalog.broken.contains(stack),
        GraphError::Cycle { .. } => false,
    }
}

/// Every check of one deployment (its own and against the catalog).
pub(crate) fn check_deployment(catalog: &Catalog, d: &Deployment) -> Problems {
    let mut p = check_manifest(d);
    p.extend(check_against_catalog(catalog, d));
    p.extend(super::provider::check_one_provider(catalog, d));
    p
}

/// What `cloud validate` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub stacks: usize,
    /// Catalog stacks per provider (`provider:` in `stack.yaml`).
    pub providers: BTreeMap<cloud_domain::session::Provider, usize>,
    pub deployments: Vec<String>,
    pub problems: Problems,
}

/// Validate the catalog and every deployment, or only `deployment` (plus id uniqueness and the
/// catalog). Problems sorted by file and position.
pub fn validate_workspace(root: &Path, deployment: Option<&str>) -> Result<Report, cloud_domain::error::UserError> {
    let (catalog, mut problems) = Catalog::load_lenient(root);
    problems.extend(check_catalog(&catalog));
    let (all, load_problems) = manifest::load_deployments(root);
    let mut names = Vec::new();
    match deployment {
        Some(sel) => {
            let d = manifest::find_deployment(root, sel)?;
            problems.extend(check_deployment(&catalog, &d));
            let dup = manifest::check_unique_ids(&all);
            let mentions = |m: &str| {
                let tag = format!("deploy/{}", d.dir_name);
                m.match_indices(&tag)
                    .any(|(i, _)| matches!(m[i + tag.len()..].chars().next(), Some(' ' | ';') | None))
            };
            problems.0.extend(dup.0.into_iter().filter(|p| mentions(&p.message)));
            names.push(d.dir_name.clone());
        }
        None => {
            problems.extend(load_problems);
            for d in &all {
                problems.extend(check_against_catalog(&catalog, d));
                problems.extend(super::provider::check_one_provider(&catalog, d));
                names.push(d.dir_name.clone());
            }
        }
    }
    let mut providers = BTreeMap::new();
    for def in catalog.stacks.values() {
        *providers.entry(def.meta.provider).or_insert(0) += 1;
    }
    Ok(Report {
        stacks: catalog.stacks.len(),
        providers,
        deployments: names,
        problems: problems.sorted(),
    })
}

/// The deployment a session for `project` in `env` would run, after every check `cloud validate
/// <deployment>` makes — the one validation path of `plan`, `deploy`, `deploy-stack`, `destroy`,
/// `rollback` and every chat command (they all open sessions through the orchestrator, whose
/// resolver calls this). Nothing reaches the engine or the store unless this passes.
///
/// Beyond `validate`: the project and environment typed by the person are checked against the
/// safe alphabet first, the environment must be enabled in the manifest, `only` must name stacks
/// enabled there, and a project must have exactly one deployment (sessions pick it by project).
pub fn deployment_for_session(
    root: &Path,
    project: &str,
    env: &str,
    only: Option<&[cloud_domain::session::StackName]>,
) -> Result<(Catalog, Deployment), cloud_domain::error::UserError> {
    deployment_for_session_in(root, project, None, env, only)
}

/// [`deployment_for_session`] in deployment `deployment_id` of the project, when given (a
/// session's own deployment, or one the user named by id).
pub fn deployment_for_session_in(
    root: &Path,
    project: &str,
    deployment_id: Option<&str>,
    env: &str,
    only: Option<&[cloud_domain::session::StackName]>,
) -> Result<(Catalog, Deployment), cloud_domain::error::UserError> {
    use cloud_domain::error::UserError;
    super::names::check_project(project).map_err(UserError::invalid)?;
    super::names::check_env(env).map_err(UserError::invalid)?;
    let (all, load_problems) = manifest::load_deployments(root);
    let mut matching: Vec<&Deployment> = all
        .iter()
        .filter(|d| d.manifest.project == project)
        .filter(|d| deployment_id.is_none_or(|id| d.id().is_some_and(|i| i.as_str() == id)))
        .collect();
    let dep = match matching.len() {
        1 => matching.remove(0),
        0 => {
            let mut msg = format!(
                "no deployment manifest for project `{project}` under deploy/; create one with `cloud init --org <org> \
                 --project {project}`"
            );
            // A manifest that does not parse may be the one meant: say so rather than hide it.
            let unreadable: Vec<String> = load_problems
                .iter()
                .filter(|p| matches!(p.kind, ProblemKind::Syntax | ProblemKind::Schema | ProblemKind::Io))
                .map(|p| p.to_string())
                .collect();
            if !unreadable.is_empty() {
                msg.push_str(&format!(
                    "\nthese manifests could not be read:\n{}",
                    unreadable.join("\n")
                ));
            }
            return Err(UserError::invalid(msg));
        }
        _ if matching.iter().all(|d| d.id().is_some()) && deployment_id.is_none() => {
            return Err(UserError::invalid(several_deployments(project, &matching)));
        }
        _ => {
            return Err(UserError::invalid(format!(
                "project `{project}` has {} deployments under deploy/ ({}); a session picks its deployment by \
                 project, so keep one of them (remove the other directory, or give it another project)",
                matching.len(),
                matching
                    .iter()
                    .map(|d| d.dir_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let report = validate_workspace(root, Some(&dep.dir_name))?;
    if !report.problems.is_empty() {
        let mut e = UserError::from(report.problems);
        e.message.push_str(&format!(
            "\nnothing was started: fix the manifest (`cloud validate {}` lists the same problems)",
            dep.label()
        ));
        return Err(e);
    }
    if !dep.manifest.enabled_environments().contains(&env) {
        return Err(UserError::invalid(format!(
            "environment `{env}` is not enabled in deploy/{}; enable it with `cloud environments enable {} {env}`",
            dep.dir_name,
            dep.label()
        )));
    }
    let catalog = Catalog::load(root)?;
    if let Some(only) = only {
        let enabled = dep.manifest.enabled_stacks(Some(env));
        for s in only {
            if !enabled.contains(&s.as_str()) {
                return Err(UserError::invalid(format!(
                    "stack `{s}` is not enabled in {} for {env} (enabled: {}); pick from those",
                    dep.dir_name,
                    enabled.join(", ")
                )));
            }
        }
    }
    Ok((catalog, dep.clone()))
}

/// `D1BRV40 shop (dev, prod)`: a deployment as chat autocompletion and error messages show it —
/// its id, its project and the environments its manifest enables.
pub fn deployment_label(d: &Deployment) -> String {
    let id = d.id().map(|i| i.to_string()).unwrap_or_else(|| d.dir_name.clone());
    format!(
        "{id} {} ({})",
        d.manifest.project,
        d.manifest.enabled_environments().join(", ")
    )
}

/// The refusal when a project name matches several deployments: name one by id.
pub fn several_deployments(project: &str, matching: &[&Deployment]) -> String {
    let labels: Vec<String> = matching.iter().map(|d| deployment_label(d)).collect();
    let first = matching
        .first()
        .and_then(|d| d.id())
        .map(|i| i.to_string())
        .unwrap_or_else(|| "<id>".into());
    format!(
        "project `{project}` has {} deployments: {}; name one by its id instead of the project (e.g. `{first}`)",
        matching.len(),
        labels.join("; ")
    )
}
