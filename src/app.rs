//! The composition root: builds the application from configuration — store, the Pulumi engine
//! adapter, the catalog resolver and the orchestrator. Nothing else in the workspace wires
//! crates together.

use std::sync::Arc;

use anyhow::Context;

use crate::cli::GlobalArgs;
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
}

pub fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    Ok(Config::load(&Overrides {
        config: global.config.clone(),
        data_dir: global.data_dir.clone(),
    })?)
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
    let text = if name.contains(':') {
        name
    } else {
        format!("cli:{name}")
    };
    text.parse::<Principal>()
        .map_err(|e| cloud_domain::error::UserError::invalid(e.to_string()).into())
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

    pub async fn start(global: &GlobalArgs) -> anyhow::Result<App> {
        let config = load_config(global)?;
        let principal = principal(global)?;
        App::from_config(
            config,
            principal,
            Default::default(),
            cloud_core::policy::system_clock(),
        )
        .await
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
        let store = Store::open(&config.database_url)
            .await
            .with_context(|| format!("Cannot open the database {}", config.database_url))?;
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
            principal,
        })
    }
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
        use cloud_catalog::{config_hash, validate::deployment_for_session, DependencyGraph, Resolver};
        use cloud_domain::error::UserError;
        let (catalog, dep) = deployment_for_session(&self.root, project, env, only)?;
        let id = dep
            .id()
            .ok_or_else(|| UserError::invalid(format!("{} has no deployment_id", dep.manifest_path().display())))?;
        let graph = DependencyGraph::for_manifest(&catalog, &dep.manifest, Some(env))
            .map_err(|errs| UserError::invalid(errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
        let resolver = Resolver::new(&catalog, &dep).with_secrets_dir(self.secrets_dir.clone());
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
                name: name.clone(),
                wave: wave as u32,
                depends_on: graph.dependencies(name.as_str()),
                content_hash: format!("{program}:{}", config_hash(&config)),
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

pub async fn resolver(config: &Config, store: &Store) -> anyhow::Result<Arc<dyn DeploymentResolver>> {
    // Register the deployments the manifests describe (and their projects) in the store.
    // Only manifests that pass their own checks, with an id no other manifest uses: an invalid
    // manifest must not create a project or an environment (`../stage`) as a side effect of
    // whatever command runs next; the session commands then refuse it with the full report.
    let (deployments, _) = cloud_catalog::manifest::load_deployments(&config.workspace);
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
            store
                .sync_deployment(
                    id.as_str(),
                    &d.manifest.org,
                    &d.manifest.project,
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
