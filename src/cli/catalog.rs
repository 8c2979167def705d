//! The catalog's `cloud` commands: `init`, `validate`, `deployments list`, `graph`,
//! `environments`, `stacks`, `templates`, `discover-resources`.
//!
//! Each command is a clap derive type plus a `cmd_<verb>` handler taking the workspace root and
//! a writer; the handlers hold no rule of their own (that lives in [`cloud_catalog`]) and return
//! a [`UserError`] (exit code 2 for invalid input) whose text names the problem and the fix.
//! [`super::Command`] flattens [`CatalogCommand`] into the top-level commands and calls [`run`]
//! with the configured workspace (`workspace` / `CLOUD_WORKSPACE`); none of them opens the
//! database.
//!
//! Deployments are listed by `cloud deployments list`, not `cloud list`: `cloud list` lists
//! sessions.

use std::io::Write;
use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};

use cloud_catalog::edit::{self, ConfigChange, Edit};
use cloud_catalog::init::{init_deployment, InitParams};
use cloud_catalog::inspect::{self, InspectParams, InspectSource, Inspection};
use cloud_catalog::template::{self, NewStackParams};
use cloud_catalog::validate::validate_workspace;
use cloud_catalog::{find_deployment, load_deployments, Catalog, DependencyGraph, GraphError};
use cloud_domain::error::UserError;

/// The catalog's top-level commands (flatten into the `cloud` command enum).
#[derive(Debug, Clone, Subcommand)]
pub enum CatalogCommand {
    /// Create a deployment: deploy/<id>-<org>-<project>/manifest.yaml from a template.
    Init(InitArgs),
    /// Check the stack catalog and deployment manifests; report every problem (exit 2 if any).
    Validate(ValidateArgs),
    /// Deployments under deploy/ (`cloud deployments list`; `cloud list` lists sessions).
    #[command(subcommand)]
    Deployments(DeploymentsCmd),
    /// Show a deployment's dependency graph as deploy waves (text) or Graphviz (dot).
    Graph(GraphArgs),
    /// List, enable or disable a deployment's environments.
    #[command(subcommand)]
    Environments(EnvironmentsCmd),
    /// The stack catalog, and the stacks of a deployment.
    #[command(subcommand)]
    Stacks(StacksCmd),
    /// Templates for new stacks, stack docs and deployments.
    #[command(subcommand)]
    Templates(TemplatesCmd),
    /// What each enabled stack of a deployment would declare in an environment, in wave order.
    DiscoverResources(DiscoverArgs),
}

/// `cloud init`
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Organisation (Pulumi org rule: 3-40 letters, digits, `-`, `_`), e.g. acme-corp.
    #[arg(long)]
    pub org: String,
    /// Business project: 1-40 lowercase letters, digits and inner dashes, e.g. ecommerce.
    #[arg(long)]
    pub project: String,
    /// Deployment template: `default` (all 16 stacks; dev, stage, prod), `minimal` (network and
    /// security; dev), or any directory under templates/ holding a manifest.yaml.template.
    #[arg(long, short = 't', default_value = "default")]
    pub template: String,
    /// Deployment id (`D` + 6 uppercase base36, e.g. D1BRV40). Generated when omitted. Required to
    /// create a second deployment of the same org/project.
    #[arg(long)]
    pub id: Option<String>,
}

/// `cloud validate`
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// Only this deployment (id, directory name, or org/project); the catalog is always checked.
    pub deployment: Option<String>,
}

/// `cloud deployments …`
#[derive(Debug, Clone, Subcommand)]
pub enum DeploymentsCmd {
    /// Every deployment: id, org, project, enabled environments, stack count.
    List,
}

/// Output format of `cloud graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Deploy waves, one stack per line with its dependencies.
    Text,
    /// Graphviz dot (`cloud graph D1BRV40 --format dot | dot -Tsvg > graph.svg`).
    Dot,
}

/// `cloud graph`
#[derive(Debug, Clone, Args)]
pub struct GraphArgs {
    /// Deployment: id (D1BRV40), directory name, or org/project.
    pub deployment: String,
    /// Only the stacks enabled in this environment (default: the manifest's `stacks:` entries).
    #[arg(long)]
    pub env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

/// `cloud environments …`
#[derive(Debug, Clone, Subcommand)]
pub enum EnvironmentsCmd {
    /// The deployment's environments: enabled or not, stacks, config keys.
    List {
        /// Deployment: id, directory name, or org/project.
        deployment: String,
    },
    /// Enable an environment (dev, stage or prod); adds it to the manifest if absent.
    Enable {
        /// Deployment: id, directory name, or org/project.
        deployment: String,
        /// dev, stage or prod.
        env: String,
    },
    /// Disable an environment; its configuration stays in the manifest.
    Disable {
        /// Deployment: id, directory name, or org/project.
        deployment: String,
        /// dev, stage or prod.
        env: String,
    },
}

/// `cloud stacks …`
#[derive(Debug, Clone, Subcommand)]
pub enum StacksCmd {
    /// The stack catalog: name, dependencies, description.
    List,
    /// Enable a catalog stack in a deployment (adds it to the manifest if absent).
    Register {
        /// Deployment: id, directory name, or org/project.
        deployment: String,
        /// A stack from `cloud stacks list`.
        stack: String,
    },
    /// Remove a stack from a deployment; refused while an enabled stack depends on it.
    Unregister {
        /// Deployment: id, directory name, or org/project.
        deployment: String,
        /// The stack to remove.
        stack: String,
    },
    /// Change a stack's configuration in a deployment.
    Update(UpdateArgs),
    /// Create a new stack program from templates/stack.
    New(NewArgs),
    /// What a stack would declare, from the offline inspector.
    Inspect(InspectArgs),
}

/// `cloud stacks update`
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    /// Deployment: id, directory name, or org/project.
    pub deployment: String,
    /// The stack whose configuration changes.
    pub stack: String,
    /// Change the value for one environment only (environments.<env>.stacks.<stack>.config);
    /// default: every environment (stacks.<stack>.config).
    #[arg(long)]
    pub env: Option<String>,
    /// Set a plain value: `--set instanceType=t3.small` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Set a secret read from an environment variable at plan time: `--secret-env dbPassword=DB_PASSWORD`.
    #[arg(long = "secret-env", value_name = "KEY=VAR")]
    pub secret_env: Vec<String>,
    /// Set a secret read from a file (relative to the manifest's directory) at plan time.
    #[arg(long = "secret-file", value_name = "KEY=PATH")]
    pub secret_file: Vec<String>,
    /// Remove a key set in the manifest (the stack default applies again).
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
}

/// `cloud stacks new`
#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    /// The new stack's name: lowercase letters, digits and inner dashes, e.g. queue-sqs.
    pub name: String,
    /// Upstream stacks, comma-separated (each must be in the catalog).
    #[arg(long, value_delimiter = ',')]
    pub depends_on: Vec<String>,
    /// One line for `cloud stacks list` (no `"`, no `: `).
    #[arg(long)]
    pub description: Option<String>,
}

/// `cloud stacks inspect`
#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// A stack from `cloud stacks list`.
    pub stack: String,
    /// dev, stage or prod.
    #[arg(long)]
    pub env: String,
    /// Use this deployment's id, org, project and (non-secret) config; default: the sample
    /// identity D000000 / organization / ecommerce.
    #[arg(long)]
    pub deployment: Option<String>,
    /// Print the inspector's JSON document as-is instead of a table.
    #[arg(long)]
    pub json: bool,
    /// When the inspector cannot run (no Node.js, no stacks/node_modules), read the committed
    /// snapshot stacks/<stack>/inspect/<env>.json instead.
    #[arg(long)]
    pub snapshot: bool,
}

/// `cloud templates …`
#[derive(Debug, Clone, Subcommand)]
pub enum TemplatesCmd {
    /// Template directories under templates/ and their kind.
    List,
    /// A template's files and the placeholders each uses.
    Show {
        /// A name from `cloud templates list`.
        name: String,
    },
    /// Render every template with sample values; report unknown placeholders (exit 2 if any).
    Validate,
}

/// `cloud discover-resources`
#[derive(Debug, Clone, Args)]
pub struct DiscoverArgs {
    /// Deployment: id, directory name, or org/project.
    pub deployment: String,
    /// dev, stage or prod.
    pub env: String,
    /// Read committed snapshots when the inspector cannot run.
    #[arg(long)]
    pub snapshot: bool,
    /// One JSON array: [{wave, stack, source, resources}].
    #[arg(long)]
    pub json: bool,
}

fn io(e: std::io::Error) -> UserError {
    UserError::failed(format!("cannot write output: {e}"))
}

/// Run one catalog command.
pub fn run(ws: &Path, cmd: &CatalogCommand, out: &mut impl Write) -> Result<(), UserError> {
    match cmd {
        CatalogCommand::Init(a) => cmd_init(ws, a, out),
        CatalogCommand::Validate(a) => cmd_validate(ws, a.deployment.as_deref(), out),
        CatalogCommand::Deployments(DeploymentsCmd::List) => cmd_deployments_list(ws, out),
        CatalogCommand::Graph(a) => cmd_graph(ws, a, out),
        CatalogCommand::Environments(c) => cmd_environments(ws, c, out),
        CatalogCommand::Stacks(c) => cmd_stacks(ws, c, out),
        CatalogCommand::Templates(c) => cmd_templates(ws, c, out),
        CatalogCommand::DiscoverResources(a) => cmd_discover_resources(ws, a, out),
    }
}

/// `cloud init`
pub fn cmd_init(ws: &Path, args: &InitArgs, out: &mut impl Write) -> Result<(), UserError> {
    let d = init_deployment(
        ws,
        &InitParams {
            org: args.org.clone(),
            project: args.project.clone(),
            template: args.template.clone(),
            id: args.id.clone(),
        },
    )?;
    let envs = d.manifest.enabled_environments().join(", ");
    writeln!(
        out,
        "created {} (deployment {}, template {})",
        d.file.display(),
        d.label(),
        args.template
    )
    .map_err(io)?;
    writeln!(
        out,
        "stacks: {}; environments enabled: {}",
        d.manifest.enabled_stacks(None).len(),
        envs
    )
    .map_err(io)?;
    writeln!(out, "next: review the manifest, then `cloud validate {}`", d.label()).map_err(io)?;
    Ok(())
}

/// `cloud validate [deployment]`
pub fn cmd_validate(ws: &Path, deployment: Option<&str>, out: &mut impl Write) -> Result<(), UserError> {
    let report = validate_workspace(ws, deployment)?;
    if !report.problems.is_empty() {
        return Err(report.problems.into());
    }
    let providers: Vec<String> = report.providers.iter().map(|(p, n)| format!("{n} {p}")).collect();
    writeln!(
        out,
        "ok: {} stack{} in the catalog ({}), {} deployment{} checked ({})",
        report.stacks,
        if report.stacks == 1 { "" } else { "s" },
        if providers.is_empty() {
            "none".to_string()
        } else {
            providers.join(", ")
        },
        report.deployments.len(),
        if report.deployments.len() == 1 { "" } else { "s" },
        if report.deployments.is_empty() {
            "none".to_string()
        } else {
            report.deployments.join(", ")
        }
    )
    .map_err(io)
}

/// `cloud deployments list`
pub fn cmd_deployments_list(ws: &Path, out: &mut impl Write) -> Result<(), UserError> {
    let (deployments, problems) = load_deployments(ws);
    if deployments.is_empty() && problems.is_empty() {
        writeln!(
            out,
            "no deployments under deploy/; create one with `cloud init --org <org> --project <project>`"
        )
        .map_err(io)?;
        return Ok(());
    }
    let rows: Vec<[String; 5]> = deployments
        .iter()
        .map(|d| {
            let envs = d.manifest.enabled_environments();
            [
                d.label(),
                d.manifest.org.clone(),
                d.manifest.project.clone(),
                if envs.is_empty() { "-".into() } else { envs.join(",") },
                d.manifest.enabled_stacks(None).len().to_string(),
            ]
        })
        .collect();
    write_table(out, &["ID", "ORG", "PROJECT", "ENVIRONMENTS", "STACKS"], &rows)?;
    let unreadable = problems
        .iter()
        .map(|p| p.location.file.clone())
        .collect::<std::collections::BTreeSet<_>>();
    if !unreadable.is_empty() {
        writeln!(
            out,
            "{} manifest(s) have problems; run `cloud validate` for details",
            unreadable.len()
        )
        .map_err(io)?;
    }
    Ok(())
}

fn write_table<const N: usize>(
    out: &mut impl Write,
    header: &[&str; N],
    rows: &[[String; N]],
) -> Result<(), UserError> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec())).map_err(io)?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect())).map_err(io)?;
    }
    Ok(())
}

fn graph_errors(errs: Vec<GraphError>) -> UserError {
    UserError::invalid(format!(
        "{}\nrun `cloud validate` for every problem with its location",
        errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
    ))
}

fn load_catalog(ws: &Path) -> Result<Catalog, UserError> {
    Catalog::load(ws).map_err(|p| {
        let mut e = UserError::from(p);
        e.message = format!("the stack catalog has problems; fix them first:\n{}", e.message);
        e
    })
}

/// `cloud graph <deployment> [--env E] [--format text|dot]`
pub fn cmd_graph(ws: &Path, args: &GraphArgs, out: &mut impl Write) -> Result<(), UserError> {
    let catalog = load_catalog(ws)?;
    let d = find_deployment(ws, &args.deployment)?;
    if let Some(e) = &args.env {
        cloud_catalog::names::check_env(e).map_err(UserError::invalid)?;
    }
    let g = DependencyGraph::for_manifest(&catalog, &d.manifest, args.env.as_deref()).map_err(graph_errors)?;
    let title = match &args.env {
        Some(e) => format!("{} {e}", d.label()),
        None => d.label(),
    };
    match args.format {
        GraphFormat::Text => {
            writeln!(out, "{title}: {} stacks, {} waves", g.stacks().len(), g.waves().len()).map_err(io)?;
            write!(out, "{}", g.to_text()).map_err(io)
        }
        GraphFormat::Dot => write!(out, "{}", g.to_dot(&title)).map_err(io),
    }
}

fn report_edit(out: &mut impl Write, what: &str, edit: &Edit) -> Result<(), UserError> {
    edit.write()?;
    if edit.outcome == edit::EditOutcome::Unchanged {
        writeln!(out, "nothing to change: {what} already").map_err(io)
    } else {
        writeln!(out, "{what} in {} ({})", edit.deployment.file.display(), edit.note()).map_err(io)
    }
}

/// `cloud environments list|enable|disable`
pub fn cmd_environments(ws: &Path, cmd: &EnvironmentsCmd, out: &mut impl Write) -> Result<(), UserError> {
    match cmd {
        EnvironmentsCmd::List { deployment } => {
            let d = find_deployment(ws, deployment)?;
            let rows: Vec<[String; 4]> = d
                .manifest
                .environments
                .iter()
                .map(|(name, e)| {
                    let keys: Vec<&str> = e.config.keys().collect();
                    [
                        name.to_string(),
                        if e.enabled { "yes".into() } else { "no".into() },
                        d.manifest.enabled_stacks(Some(name)).len().to_string(),
                        if keys.is_empty() { "-".into() } else { keys.join(",") },
                    ]
                })
                .collect();
            write_table(out, &["ENV", "ENABLED", "STACKS", "CONFIG"], &rows)
        }
        EnvironmentsCmd::Enable { deployment, env } | EnvironmentsCmd::Disable { deployment, env } => {
            let enable = matches!(cmd, EnvironmentsCmd::Enable { .. });
            let catalog = load_catalog(ws)?;
            let d = find_deployment(ws, deployment)?;
            let edit = edit::set_environment_enabled(&catalog, &d, env, enable)?;
            report_edit(
                out,
                &format!("{env} {}", if enable { "enabled" } else { "disabled" }),
                &edit,
            )
        }
    }
}

/// `cloud stacks list|register|unregister|update|new|inspect`
pub fn cmd_stacks(ws: &Path, cmd: &StacksCmd, out: &mut impl Write) -> Result<(), UserError> {
    match cmd {
        StacksCmd::List => {
            let catalog = load_catalog(ws)?;
            let rows: Vec<[String; 4]> = catalog
                .iter()
                .map(|s| {
                    let deps: Vec<&str> = s.meta.depends_on.iter().map(|d| d.as_str()).collect();
                    [
                        s.meta.name.to_string(),
                        s.meta.provider.to_string(),
                        if deps.is_empty() { "-".into() } else { deps.join(",") },
                        s.meta.description.clone(),
                    ]
                })
                .collect();
            write_table(out, &["STACK", "PROVIDER", "DEPENDS ON", "DESCRIPTION"], &rows)
        }
        StacksCmd::Register { deployment, stack } => {
            let catalog = load_catalog(ws)?;
            let d = find_deployment(ws, deployment)?;
            let edit = edit::register_stack(&catalog, &d, stack)?;
            report_edit(out, &format!("{stack} enabled"), &edit)
        }
        StacksCmd::Unregister { deployment, stack } => {
            let catalog = load_catalog(ws)?;
            let d = find_deployment(ws, deployment)?;
            let edit = edit::unregister_stack(&catalog, &d, stack)?;
            report_edit(out, &format!("{stack} removed"), &edit)
        }
        StacksCmd::Update(a) => {
            let mut changes = Vec::new();
            for s in &a.set {
                changes.push(ConfigChange::set(s)?);
            }
            for s in &a.secret_env {
                changes.push(ConfigChange::secret_env(s)?);
            }
            for s in &a.secret_file {
                changes.push(ConfigChange::secret_file(s)?);
            }
            for k in &a.unset {
                changes.push(ConfigChange::Unset(k.clone()));
            }
            if changes.is_empty() {
                return Err(UserError::invalid("nothing to update: give --set KEY=VALUE, --secret-env KEY=VAR, --secret-file KEY=PATH or --unset KEY"));
            }
            let catalog = load_catalog(ws)?;
            let d = find_deployment(ws, &a.deployment)?;
            let edit = edit::update_stack_config(&catalog, &d, &a.stack, a.env.as_deref(), &changes)?;
            let scope = a.env.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
            report_edit(out, &format!("{} config updated{scope}", a.stack), &edit)
        }
        StacksCmd::New(a) => {
            let dir = template::new_stack(
                ws,
                &NewStackParams {
                    name: a.name.clone(),
                    depends_on: a.depends_on.clone(),
                    description: a.description.clone(),
                },
            )?;
            let rel = cloud_catalog::problem::rel(ws, &dir);
            writeln!(
                out,
                "created {} from templates/stack; it is in the catalog (`cloud stacks list`)",
                rel.display()
            )
            .map_err(io)?;
            writeln!(
                out,
                "next: add \"{0}\" to workspaces in stacks/package.json and run `cd stacks && npm install --ignore-scripts`; \
                 write the program; add tests/stacks/{0}.test.ts; `npm run snapshots -- {0}`",
                a.name
            )
            .map_err(io)
        }
        StacksCmd::Inspect(a) => {
            let catalog = load_catalog(ws)?;
            let deployment = a.deployment.as_deref().map(|s| find_deployment(ws, s)).transpose()?;
            let ins = inspect::inspect_stack(
                &catalog,
                &InspectParams {
                    stack: a.stack.clone(),
                    env: a.env.clone(),
                    deployment,
                    allow_snapshot: a.snapshot,
                },
            )?;
            if a.json {
                let text = serde_json::to_string_pretty(&ins.document).map_err(|e| UserError::failed(e.to_string()))?;
                writeln!(out, "{text}").map_err(io)
            } else {
                write_inspection(out, &ins, &a.env)
            }
        }
    }
}

fn write_inspection(out: &mut impl Write, ins: &Inspection, env: &str) -> Result<(), UserError> {
    let source = match &ins.source {
        InspectSource::Inspector => "inspector".to_string(),
        InspectSource::Snapshot(p) => format!("snapshot {} — names use D000000", p.display()),
    };
    writeln!(
        out,
        "{} in {env}: {} resources ({source})",
        ins.stack,
        ins.resources().len()
    )
    .map_err(io)?;
    write!(out, "{}", inspect::resources_table(ins.resources())).map_err(io)
}

/// `cloud templates list|show|validate`
pub fn cmd_templates(ws: &Path, cmd: &TemplatesCmd, out: &mut impl Write) -> Result<(), UserError> {
    match cmd {
        TemplatesCmd::List => {
            let rows: Vec<[String; 3]> = template::list_templates(ws)
                .into_iter()
                .map(|t| [t.name.clone(), t.kind.label().to_string(), t.files.len().to_string()])
                .collect();
            if rows.is_empty() {
                return Err(UserError::invalid(
                    "no templates under templates/ (expected templates/stack, templates/docs, templates/default, …)",
                ));
            }
            write_table(out, &["TEMPLATE", "KIND", "FILES"], &rows)
        }
        TemplatesCmd::Show { name } => {
            let s = template::describe_template(ws, name)?;
            write!(out, "{s}").map_err(io)
        }
        TemplatesCmd::Validate => {
            let problems = template::validate_templates(ws).sorted();
            if !problems.is_empty() {
                return Err(problems.into());
            }
            let n = template::list_templates(ws).len();
            writeln!(out, "ok: {n} templates render with sample values").map_err(io)
        }
    }
}

/// `cloud discover-resources <deployment> <env>`
pub fn cmd_discover_resources(ws: &Path, args: &DiscoverArgs, out: &mut impl Write) -> Result<(), UserError> {
    let catalog = load_catalog(ws)?;
    let d = find_deployment(ws, &args.deployment)?;
    cloud_catalog::names::check_env(&args.env).map_err(UserError::invalid)?;
    if !d.manifest.environments.get(&args.env).is_some_and(|e| e.enabled) {
        return Err(UserError::invalid(format!(
            "environment {} is not enabled in {}; `cloud environments enable {} {}`",
            args.env,
            d.file.display(),
            d.label(),
            args.env
        )));
    }
    let g = DependencyGraph::for_manifest(&catalog, &d.manifest, Some(&args.env)).map_err(graph_errors)?;
    let mut json = Vec::new();
    let mut total = 0;
    for (i, wave) in g.waves().iter().enumerate() {
        if !args.json {
            writeln!(out, "== wave {} ==", i + 1).map_err(io)?;
        }
        for stack in wave {
            let ins = inspect::inspect_stack(
                &catalog,
                &InspectParams {
                    stack: stack.to_string(),
                    env: args.env.clone(),
                    deployment: Some(d.clone()),
                    allow_snapshot: args.snapshot,
                },
            )?;
            total += ins.resources().len();
            if args.json {
                json.push(serde_json::json!({
                    "wave": i + 1,
                    "stack": stack.as_str(),
                    "source": match &ins.source { InspectSource::Inspector => "inspector".to_string(), InspectSource::Snapshot(p) => p.display().to_string() },
                    "resources": ins.resources(),
                }));
            } else {
                write_inspection(out, &ins, &args.env)?;
            }
        }
    }
    if args.json {
        let text = serde_json::to_string_pretty(&serde_json::Value::Array(json))
            .map_err(|e| UserError::failed(e.to_string()))?;
        writeln!(out, "{text}").map_err(io)
    } else {
        writeln!(out, "total: {total} resources in {} stacks", g.stacks().len()).map_err(io)
    }
}
