//! The composition root: builds the application from configuration — store, the Pulumi engine
//! adapter, the catalog resolver and the orchestrator. Nothing else in the workspace wires
//! crates together.

use std::sync::Arc;

use anyhow::Context;

use crate::global_args::GlobalArgs;
use cloud_core::config::{Config, Overrides};
use cloud_core::engine::Engine;
use cloud_core::orchestrator::{DeploymentResolver, Orchestrator, OrchestratorSettings, PolicySettings};
use cloud_core::store::Store;
use cloud_domain::session::Principal;

/// Everything a command needs.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub orchestrator: Arc<Orchestrator>,
    /// Who is running the command.
    pub principal: Principal,
    /// The same, as the core sees it: with the limits of the API token it proved itself with.
    pub actor: cloud_core::policy::Actor,
    /// `(OS user, principal)` when `--as` names someone else on a single-user store.
    acting_for: Option<(String, Principal)>,
}

/// How the CLI learns who runs it, decided before the store opens (so a refusal writes nothing).
#[derive(Debug)]
enum Claim {
    /// A single-user store (`local_cli_admin: true`): whoever `--as`/`CLOUD_USER`/the OS names.
    /// `acting_for` is set when `--as`/`CLOUD_USER` names someone other than the OS user.
    Local {
        principal: Principal,
        os_user: Option<String>,
        acting_for: bool,
    },
    /// An API token (`CLOUD_TOKEN` or the token file): verified against the store.
    Token(secrecy::SecretString),
    /// The OS user of this process, mapped to a principal in `access.os_users`.
    OsUser { os_user: String, principal: Principal },
}

pub fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    Ok(Config::load(&Overrides {
        config: global.config.clone(),
        data_dir: global.data_dir.clone(),
    })?)
}

/// Refuses to create state in a directory that is not a cloud-engine checkout: with no
/// configuration file, no data directory or database named, no existing default data directory
/// and no `stacks/` or `deploy/` in the workspace, a command would quietly create
/// `.cloud-engine/` wherever it was typed.
pub fn require_checkout(global: &GlobalArgs, config: &Config) -> anyhow::Result<()> {
    let named = config.source.is_some()
        || global.data_dir.is_some()
        || std::env::var("CLOUD_DATABASE_URL").is_ok_and(|v| !v.is_empty());
    let checkout = config.workspace.join("stacks").is_dir() || config.workspace.join("deploy").is_dir();
    if named || checkout || config.data_dir.exists() {
        return Ok(());
    }
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into());
    Err(cloud_domain::error::UserError::invalid(format!(
        "not in a cloud-engine checkout: {here} has no config/cloud.yaml, stacks/ or deploy/, and nothing was created here; \
         cd to your checkout, or name one with CLOUD_WORKSPACE / --config, or a data directory with --data-dir / CLOUD_DATA_DIR"
    ))
    .into())
}

/// The CLI user: `--as`, `CLOUD_USER`, else the OS user.
pub fn principal(global: &GlobalArgs) -> anyhow::Result<Principal> {
    let name = global
        .as_user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(os_user)
        .unwrap_or_else(|| "unknown".into());
    cli_principal(&name)
}

fn cli_principal(name: &str) -> anyhow::Result<Principal> {
    let text = if name.contains(':') {
        name.to_string()
    } else {
        format!("cli:{name}")
    };
    text.parse::<Principal>()
        .map_err(|e| cloud_domain::error::UserError::invalid(e.to_string()).into())
}

/// Where the token comes from: `CLOUD_TOKEN`, else the token file (refused unless 0600).
fn token_from(config: &Config) -> anyhow::Result<Option<secrecy::SecretString>> {
    use cloud_domain::error::UserError;
    use std::os::unix::fs::PermissionsExt;
    if let Some(token) = std::env::var("CLOUD_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
        return Ok(Some(token.trim().to_string().into()));
    }
    let path = &config.token_file;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(UserError::invalid(format!(
            "the token file {} is readable by other users (mode {mode:04o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        ))
        .into());
    }
    let text = cloud_catalog::input::read_text(path, 4096)
        .map_err(|e| UserError::invalid(format!("cannot read the token file {}: {e}", path.display())))?;
    Ok(Some(text.trim().to_string().into()))
}

/// Decide how this run identifies its user (see [`Claim`]).
fn claim(global: &GlobalArgs, config: &Config) -> anyhow::Result<Claim> {
    use cloud_domain::error::UserError;
    let token = token_from(config)?;
    let explicit_token = std::env::var("CLOUD_TOKEN").is_ok_and(|t| !t.trim().is_empty());
    if config.local_cli_admin {
        // A token in CLOUD_TOKEN is always checked (a bad one is never silently ignored); the
        // token file only when no `--as` names someone.
        if let Some(token) = token.filter(|_| explicit_token || global.as_user.is_none()) {
            return Ok(Claim::Token(token));
        }
        let os = os_user();
        let principal = principal(global)?;
        let acting_for =
            global.as_user.is_some() && os.as_deref().map(|o| cli_principal(o).ok()) != Some(Some(principal.clone()));
        return Ok(Claim::Local {
            principal,
            os_user: os,
            acting_for,
        });
    }
    let fix = format!(
        "set CLOUD_TOKEN to your API token (or save it in {}, mode 0600): get one with /cloud-token in Discord or Slack, or from an admin (`cloud tokens create <you>`); or ask an admin to map your OS user in `access.os_users`",
        config.token_file.display()
    );
    if let Some(name) = &global.as_user {
        return Err(UserError::invalid(format!(
            "--as/CLOUD_USER ({}) only work on a single-user store (access.local_cli_admin: true); this store needs to verify who you are: unset CLOUD_USER and drop --as, then {fix}",
            cloud_domain::input::escape_for_display(name)
        ))
        .into());
    }
    if let Some(token) = token {
        return Ok(Claim::Token(token));
    }
    // The password database's name for our uid: `$USER` is whatever the caller says it is.
    if let Some(os) = os_user() {
        if let Some(principal) = config.os_users.get(&os) {
            return Ok(Claim::OsUser {
                os_user: os,
                principal: principal.clone(),
            });
        }
        return Err(UserError::denied(format!(
            "cannot tell who you are: the OS user `{os}` is not in access.os_users and no token was given; {fix}"
        ))
        .into());
    }
    Err(UserError::denied(format!("cannot tell who you are: {fix}")).into())
}

/// The login name of the process's user, from the password database (when `$USER` is unset,
/// as in cron jobs and containers).
fn os_user() -> Option<String> {
    // SAFETY: getpwuid returns null or a pointer to static storage valid until the next call;
    // the name is copied out immediately and nothing else calls getpwuid concurrently here.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name).to_str().ok().map(String::from)
    }
}

impl App {
    /// The chat core over this app's store and orchestrator, for CLI commands that call the same
    /// `cloud_chat::actions` as the chat commands of the same meaning.
    pub fn chat_core(&self) -> Arc<cloud_chat::Core> {
        cloud_chat::Core::new(self.config.clone(), self.store.clone(), self.orchestrator.clone())
    }

    /// The app of `cloud serve`. The service acts for nobody: every chat request carries the
    /// user its platform verified, and its own work (sweeps, takeovers, retention) is the
    /// system's. So no CLI identity is asked for (a team's server host needs no token or
    /// `access.os_users` entry to run the bot).
    pub async fn start_service(global: &GlobalArgs) -> anyhow::Result<App> {
        let config = load_config(global)?;
        App::from_config(
            config,
            Principal::cli("cloud-serve"),
            Default::default(),
            cloud_core::policy::system_clock(),
        )
        .await
    }

    pub async fn start(global: &GlobalArgs) -> anyhow::Result<App> {
        let config = load_config(global)?;
        require_checkout(global, &config)?;
        // Configuration first, then who you are: an unusable data directory is the problem to
        // report (and fix) whoever runs the command.
        config.prepare_data_dir()?;
        let claim = claim(global, &config)?;
        let provisional = match &claim {
            Claim::Local { principal, .. } | Claim::OsUser { principal, .. } => principal.clone(),
            Claim::Token(_) => Principal::new(cloud_domain::session::Platform::Cli, "unverified"),
        };
        let mut app = App::from_config(
            config,
            provisional,
            Default::default(),
            cloud_core::policy::system_clock(),
        )
        .await?;
        match claim {
            Claim::Token(secret) => {
                let actor = app
                    .orchestrator
                    .identify_token(secrecy::ExposeSecret::expose_secret(&secret))
                    .await
                    .map_err(|e| e.to_user())?;
                tracing::debug!(principal = %actor.principal, token = ?actor.token.as_ref().map(|t| &t.token_id), "identified by API token");
                app.principal = actor.principal.clone();
                app.actor = actor;
            }
            Claim::OsUser { os_user, principal } => {
                tracing::debug!(%os_user, %principal, "identified by OS user");
            }
            Claim::Local {
                principal,
                os_user,
                acting_for,
            } => {
                app.acting_for = acting_for.then(|| (os_user.unwrap_or_else(|| "unknown".into()), principal));
            }
        }
        Ok(app)
    }

    /// The newest audit row's number (0 for an empty log), from the signed head.
    pub async fn audit_head(&self) -> anyhow::Result<i64> {
        Ok(self.store.audit_checkpoint().await?.map(|c| c.head_seq).unwrap_or(0))
    }

    /// When this command ran `--as` someone other than the OS user (a single-user store only)
    /// and wrote audit rows after row `before`, record who really typed it and which rows that
    /// covers. Nothing is written for a command that changed nothing (a refusal included).
    pub async fn record_acting_as(&self, before: i64) -> anyhow::Result<()> {
        let Some((os_user, principal)) = &self.acting_for else {
            return Ok(());
        };
        let after = self.audit_head().await?;
        if after <= before {
            return Ok(());
        }
        self.store
            .audit(cloud_core::store::NewAudit {
                actor: principal.to_string(),
                action: "identity.acting_as".into(),
                session_id: None,
                project: None,
                details: serde_json::json!({
                    "os_user": os_user,
                    "acting_as": principal.to_string(),
                    "rows": [before + 1, after],
                    "note": "--as/CLOUD_USER on a single-user store (access.local_cli_admin: true): not verified",
                }),
            })
            .await?;
        Ok(())
    }

    /// Builds the app from an already loaded configuration; `extra_env` is added to the engine
    /// child's environment (tests pass the Pulumi stand-in's knobs this way); `clock` is the access
    /// policy's "now" (tests move it to expire grants).
    pub async fn from_config(
        config: Config,
        principal: Principal,
        extra_env: std::collections::BTreeMap<String, String>,
        clock: cloud_core::policy::Clock,
    ) -> anyhow::Result<App> {
        config.prepare_data_dir()?;
        let engine = engine_with(&config, extra_env)?;
        App::from_parts(config, principal, engine, clock).await
    }

    /// Builds the app around a given engine (tests and benchmarks that need an engine other than
    /// the configured Pulumi binary).
    pub async fn from_parts(
        config: Config,
        principal: Principal,
        engine: Arc<dyn Engine>,
        clock: cloud_core::policy::Clock,
    ) -> anyhow::Result<App> {
        config.prepare_data_dir()?;
        let audit_key = cloud_core::audit_key::load_or_create(&config.audit_key_file)
            .map_err(|e| cloud_domain::error::UserError::invalid(e.to_string()))?;
        let store = Store::open(&config.database_url)
            .await
            .with_context(|| format!("Cannot open the database {}", config.database_url))?
            .with_audit_key(audit_key, Some(audit_head_path(&config.audit_key_file)));
        let resolver = resolver(&config, &store).await?;
        let pricing = match &config.pricing {
            Some(path) => {
                let text = cloud_catalog::input::read_text(path, cloud_catalog::input::cap::PRICING).map_err(|e| {
                    cloud_domain::error::UserError::invalid(format!(
                        "cannot read the price list {}: {e}",
                        path.display()
                    ))
                })?;
                cloud_core::policy::Pricing::parse(&text, &path.display().to_string())
                    .map_err(|e| cloud_domain::error::UserError::invalid(e.to_string()))?
            }
            None => cloud_core::policy::Pricing::builtin(),
        };
        let orchestrator = Orchestrator::with_policy(
            store.clone(),
            engine,
            resolver,
            OrchestratorSettings {
                environments: config.environments.clone(),
                max_parallel: config.pulumi.max_parallel,
                lease_ttl: config.leases.ttl,
            },
            PolicySettings {
                admins: config.admins.clone(),
                role_mappings: config.role_mappings.clone(),
                local_cli_admin: config.local_cli_admin,
                pricing: Arc::new(pricing),
                clock,
            },
        );
        // Sessions a dead `cloud` or bot process left PLANNING / APPLYING are reconciled before
        // anything else looks at them; plans past their TTL expire and refused sessions nobody
        // queued are closed (what the bot's sweeper does continuously).
        for report in orchestrator.recover().await.map_err(|e| e.to_user())? {
            crate::errln!(
                "note: session {} was {} in a process that died; recovered: it is now {} (`cloud status {}`)",
                report.session.id.short(),
                report.from,
                report.session.state,
                report.session.id.short()
            );
        }
        let now = chrono::Utc::now();
        orchestrator.expire_stale(now).await.map_err(|e| e.to_user())?;
        orchestrator
            .cancel_abandoned_drafts(now)
            .await
            .map_err(|e| e.to_user())?;
        // Record grants that expired since the last command (authorisation never relies on it:
        // an expired grant is refused at every check).
        orchestrator
            .sweep_grant_expiries()
            .await
            .map_err(|e| anyhow::Error::from(e.to_user()))?;
        Ok(App {
            config,
            store,
            orchestrator,
            actor: cloud_core::policy::Actor::from(&principal),
            principal,
            acting_for: None,
        })
    }
}

/// Where the signed audit head is exported: beside the audit key (`audit.key.head`).
pub fn audit_head_path(key: &std::path::Path) -> std::path::PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".head");
    name.into()
}

/// The Pulumi adapter for `config`, with extra variables for the engine (stand-in knobs).
pub fn engine_with(
    config: &Config,
    extra_env: std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Arc<dyn Engine>> {
    use cloud_core::config::PassphraseSource as Source;
    use cloud_pulumi::pulumi::{PassphraseSource, PulumiCli, PulumiConfig};
    // A relative path with a slash is relative to where `cloud` runs, not to the stack workspace.
    let binary = if config.pulumi.binary.contains('/') {
        std::fs::canonicalize(&config.pulumi.binary).unwrap_or_else(|_| config.pulumi.binary.clone().into())
    } else {
        config.pulumi.binary.clone().into()
    };
    let mut pc = PulumiConfig::new(
        binary,
        config.pulumi.backend_url.clone(),
        config.data_dir.join("workspaces"),
    );
    pc.passphrase = match &config.pulumi.passphrase {
        Source::Env(value) => PassphraseSource::Value(secrecy::ExposeSecret::expose_secret(value).to_string()),
        Source::File(path) => PassphraseSource::File(path.clone()),
        Source::Generated(path) => {
            if !path.exists() {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let value: String = uuid::Uuid::new_v4().simple().to_string();
                // Readable by the bot's user only: it unlocks every stack's secrets.
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .and_then(|mut f| f.write_all(value.as_bytes()))
                    .with_context(|| format!("Cannot write {}", path.display()))?;
            }
            PassphraseSource::File(std::fs::canonicalize(path)?)
        }
    };
    pc.extra_env.extend(extra_env);
    pc.op_timeout = config.pulumi.timeout;
    pc.cancel_grace = config.pulumi.cancel_grace;
    Ok(Arc::new(
        PulumiCli::new(pc).map_err(|e| cloud_domain::error::UserError::invalid(e.to_string()))?,
    ))
}

/// Resolves sessions from the manifests under `deploy/` and the stacks under `stacks/`.
///
/// Every session of every front end is opened through here, so this is where the one
/// validation path runs: [`cloud_catalog::validate::deployment_for_session`] makes the checks of
/// `cloud validate <deployment>` (names in the safe alphabet, no control or bidi characters, no
/// literal secret, unique ids, dependencies, configuration) before a session row or an engine
/// call exists.
struct CatalogResolver {
    root: std::path::PathBuf,
    /// On Pulumi's local backend the org part of a stack name must be `organization`.
    local_backend: bool,
    /// Where `{secret_file: …}` may read (`secrets_dir`); `None`: each manifest's directory.
    secrets_dir: Option<std::path::PathBuf>,
}

impl DeploymentResolver for CatalogResolver {
    fn resolve(
        &self,
        project: &str,
        env: &str,
        only: Option<&[cloud_domain::session::StackName]>,
    ) -> Result<cloud_core::orchestrator::ResolvedDeployment, cloud_domain::error::UserError> {
        self.resolve_with_outputs(project, None, env, only, &Default::default())
    }

    fn dependents(
        &self,
        project: &str,
        deployment: Option<&cloud_domain::session::DeploymentId>,
        env: &str,
        stacks: &[cloud_domain::session::StackName],
    ) -> Result<Vec<cloud_domain::session::StackName>, cloud_domain::error::UserError> {
        use cloud_catalog::{validate::deployment_for_session_in, DependencyGraph};
        use cloud_domain::error::UserError;
        let (catalog, dep) =
            deployment_for_session_in(&self.root, project, deployment.map(|d| d.as_str()), env, Some(stacks))?;
        let graph = DependencyGraph::for_manifest(&catalog, &dep.manifest, Some(env))
            .map_err(|errs| UserError::invalid(errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
        Ok(graph
            .waves()
            .into_iter()
            .flatten()
            .filter(|s| !stacks.contains(s))
            .filter(|s| graph.upstream_closure(s.as_str()).iter().any(|u| stacks.contains(u)))
            .collect())
    }

    fn target(&self, name: &str) -> Result<cloud_core::orchestrator::DeploymentTarget, cloud_domain::error::UserError> {
        use cloud_core::orchestrator::DeploymentTarget;
        let (all, _) = cloud_catalog::manifest::load_deployments(&self.root);
        // A deployment id (any case) or the deployment's directory name picks that deployment.
        if let Some(d) = all
            .iter()
            .find(|d| d.id().is_some_and(|id| id.as_str().eq_ignore_ascii_case(name)) || d.dir_name == name)
        {
            return Ok(DeploymentTarget {
                project: d.manifest.project.clone(),
                deployment: d.id(),
            });
        }
        let of_project: Vec<&cloud_catalog::manifest::Deployment> =
            all.iter().filter(|d| d.manifest.project == name).collect();
        match of_project.as_slice() {
            [one] => Ok(DeploymentTarget {
                project: name.to_string(),
                deployment: one.id(),
            }),
            // Several: refuse rather than pick one (unless some have no id yet, which the
            // session's validation reports in full).
            [_, _, ..] if of_project.iter().all(|d| d.id().is_some()) => Err(cloud_domain::error::UserError::invalid(
                cloud_catalog::validate::several_deployments(name, &of_project),
            )),
            _ => Ok(DeploymentTarget {
                project: name.to_string(),
                deployment: None,
            }),
        }
    }

    fn resolve_with_outputs(
        &self,
        project: &str,
        deployment: Option<&cloud_domain::session::DeploymentId>,
        env: &str,
        only: Option<&[cloud_domain::session::StackName]>,
        outputs: &cloud_core::orchestrator::AppliedOutputs,
    ) -> Result<cloud_core::orchestrator::ResolvedDeployment, cloud_domain::error::UserError> {
        use cloud_catalog::{config_hash, validate::deployment_for_session_in, DependencyGraph, Resolver};
        use cloud_domain::error::UserError;
        let (catalog, dep) = deployment_for_session_in(&self.root, project, deployment.map(|d| d.as_str()), env, only)?;
        let id = dep
            .id()
            .ok_or_else(|| UserError::invalid(format!("{} has no deployment_id", dep.manifest_path().display())))?;
        let graph = DependencyGraph::for_manifest(&catalog, &dep.manifest, Some(env))
            .map_err(|errs| UserError::invalid(errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
        let selected: std::collections::BTreeSet<cloud_domain::session::StackName> = match only {
            Some(only) => only.iter().cloned().collect(),
            None => graph.waves().into_iter().flatten().collect(),
        };
        let id_text = id.to_string();
        let lookup = SessionOutputs {
            deployment_id: &id_text,
            applied: outputs,
            selected: &selected,
        };
        let resolver = Resolver::new(&catalog, &dep)
            .with_secrets_dir(self.secrets_dir.clone())
            .with_outputs(&lookup);
        // The content hash (and so the plan digest and the apply-time check) covers where a value
        // comes from, not the upstream output it takes: an upstream applied in the same session
        // changes its outputs between plan and apply, as approved.
        let shape = Resolver::new(&catalog, &dep)
            .with_secrets_dir(self.secrets_dir.clone())
            .with_outputs(&PlaceholderText);
        // Every stack's configuration, selected or not: the session redacts the secrets of all
        // of them (a stack can echo a secret it was never given).
        // (Stacks outside `only` that cannot resolve yet contribute nothing and are not refused:
        // the session does not run them.)
        let waves = graph.waves();
        let mut configs = Vec::new();
        for (wave, names) in waves.iter().enumerate() {
            for name in names {
                let selected = only.map(|o| o.contains(name)).unwrap_or(true);
                match resolver.resolve(name.as_str(), env) {
                    Ok(config) => configs.push((wave, name, selected, config)),
                    Err(e) if selected => return Err(e.into()),
                    Err(_) => {}
                }
            }
        }
        let session_secrets: Vec<String> = {
            let mut s: Vec<String> = configs
                .iter()
                .flat_map(|(_, _, _, c)| c.iter().filter(|v| v.secret).map(|v| v.value.clone()))
                .collect();
            s.sort();
            s.dedup();
            s
        };
        let mut stacks = Vec::new();
        for (wave, name, selected, config) in configs {
            if !selected {
                continue;
            }
            let shape_hash = shape
                .resolve(name.as_str(), env)
                .map(|c| config_hash(&c))
                .map_err(UserError::from)?;
            let def = catalog
                .get(name.as_str())
                .ok_or_else(|| UserError::invalid(format!("unknown stack `{name}`")))?;
            let program = catalog
                .content_hash(name.as_str())
                .map_err(|e| UserError::failed(format!("cannot read stack {name}: {e}")))?;
            let mut full = dep.full_stack_name(name, env).expect("id checked above");
            if self.local_backend {
                full.org = "organization".into();
            }
            stacks.push(cloud_core::orchestrator::ResolvedStack {
                provider: def.meta.provider,
                name: name.clone(),
                wave: wave as u32,
                depends_on: graph.dependencies(name.as_str()),
                content_hash: format!("{program}:{shape_hash}"),
                target: cloud_core::engine::StackTarget {
                    name: full,
                    workdir: std::fs::canonicalize(&def.dir).unwrap_or_else(|_| def.dir.clone()),
                    config,
                    session_secrets: session_secrets.clone(),
                },
            });
        }
        Ok(cloud_core::orchestrator::ResolvedDeployment {
            deployment_id: id,
            org: dep.manifest.org.clone(),
            project: project.to_string(),
            env: env.to_string(),
            stacks,
        })
    }
}

/// Upstream outputs for one resolution: the last applied ones; for a stack of the same
/// selection that has none yet, a provisional value (the session applies it first and resolves
/// its dependents again before they apply).
struct SessionOutputs<'a> {
    deployment_id: &'a str,
    applied: &'a cloud_core::orchestrator::AppliedOutputs,
    selected: &'a std::collections::BTreeSet<cloud_domain::session::StackName>,
}

impl cloud_catalog::OutputLookup for SessionOutputs<'_> {
    fn output(&self, stack: &cloud_domain::session::StackName, output: &str) -> Option<cloud_catalog::OutputValue> {
        match self.applied.get(self.deployment_id, stack, output) {
            // The store keeps secret outputs redacted: their value is not known here.
            Some(serde_json::Value::String(s)) if s == "[secret]" => None,
            Some(v) => Some(cloud_catalog::OutputValue::from_json(v, false)),
            None if self.selected.contains(stack) => Some(cloud_catalog::OutputValue {
                value: format!("(known after {stack} applies)"),
                secret: false,
            }),
            None => None,
        }
    }
}

/// Every output placeholder stays as written: the configuration's shape, for content hashes.
struct PlaceholderText;

impl cloud_catalog::OutputLookup for PlaceholderText {
    fn output(&self, stack: &cloud_domain::session::StackName, output: &str) -> Option<cloud_catalog::OutputValue> {
        Some(cloud_catalog::OutputValue {
            value: format!("{{{{{stack}.{output}}}}}"),
            secret: false,
        })
    }
}

pub async fn resolver(config: &Config, store: &Store) -> anyhow::Result<Arc<dyn DeploymentResolver>> {
    // Register the deployments the manifests describe (and their projects) in the store.
    // Only manifests that pass their own checks, with an id no other manifest uses: an invalid
    // manifest must not create a project or an environment (`../stage`) as a side effect of
    // whatever command runs next; the session commands then refuse it with the full report.
    let (deployments, _) = cloud_catalog::manifest::load_deployments(&config.workspace);
    // Read only when a manifest's project is new (it takes its stacks' provider).
    let mut catalog: Option<cloud_catalog::Catalog> = None;
    let mut id_count: std::collections::BTreeMap<String, usize> = Default::default();
    for d in &deployments {
        if let Some(id) = d.id() {
            *id_count.entry(id.to_string()).or_default() += 1;
        }
    }
    for d in &deployments {
        if !cloud_catalog::manifest::check_manifest(d).is_empty() {
            continue;
        }
        if let Some(id) = d.id().filter(|id| id_count.get(id.as_str()) == Some(&1)) {
            let envs: Vec<String> = d
                .manifest
                .enabled_environments()
                .into_iter()
                .map(|e| e.to_string())
                .collect();
            // The project a manifest creates deploys to its stacks' provider (validation refuses
            // a manifest that mixes them; until then it is aws).
            let provider = if store.project(&d.manifest.project).await?.is_none() {
                let catalog = catalog.get_or_insert_with(|| cloud_catalog::Catalog::load_lenient(&config.workspace).0);
                cloud_catalog::provider::manifest_provider(catalog, &d.manifest).unwrap_or_default()
            } else {
                cloud_domain::session::Provider::default()
            };
            store
                .sync_deployment(
                    id.as_str(),
                    &d.manifest.org,
                    &d.manifest.project,
                    provider.as_str(),
                    &envs,
                    &d.manifest_path().display().to_string(),
                )
                .await?;
        }
    }
    Ok(Arc::new(CatalogResolver {
        root: config.workspace.clone(),
        local_backend: config.pulumi.backend_url.starts_with("file://"),
        secrets_dir: config.secrets_dir.clone(),
    }))
}
