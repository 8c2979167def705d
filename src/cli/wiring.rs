//! Builds the application from configuration: store, engine, catalog resolver, orchestrator.

use std::sync::Arc;

use anyhow::Context;

use super::GlobalArgs;
use crate::config::{Config, Overrides};
use crate::engine::Engine;
use crate::orchestrator::{DeploymentResolver, Orchestrator, OrchestratorSettings};
use crate::session::Principal;
use crate::store::Store;

/// Everything a command needs.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub orchestrator: Arc<Orchestrator>,
    /// Who is running the command.
    pub principal: Principal,
}

pub(crate) fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    Ok(Config::load(&Overrides {
        config: global.config.clone(),
        data_dir: global.data_dir.clone(),
    })?)
}

/// The CLI user: `--as`, `CLOUD_USER`, else the OS user.
pub(crate) fn principal(global: &GlobalArgs) -> anyhow::Result<Principal> {
    let name = global
        .as_user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    let text = if name.contains(':') { name } else { format!("cli:{name}") };
    text.parse::<Principal>()
        .map_err(|e| crate::error::UserError::invalid(e.to_string()).into())
}

impl App {
    pub async fn start(global: &GlobalArgs) -> anyhow::Result<App> {
        let config = load_config(global)?;
        config.prepare_data_dir()?;
        let principal = principal(global)?;
        let store = Store::open(&config.database_url)
            .await
            .with_context(|| format!("Cannot open the database {}", config.database_url))?;
        let engine = engine(&config)?;
        let resolver = resolver(&config, &store).await?;
        let orchestrator = Orchestrator::new(
            store.clone(),
            engine,
            resolver,
            OrchestratorSettings {
                environments: config.environments.clone(),
                max_parallel: config.pulumi.max_parallel,
            },
        );
        Ok(App { config, store, orchestrator, principal })
    }
}

fn engine(_config: &Config) -> anyhow::Result<Arc<dyn Engine>> {
    anyhow::bail!("the Pulumi engine adapter is not wired yet")
}

async fn resolver(_config: &Config, _store: &Store) -> anyhow::Result<Arc<dyn DeploymentResolver>> {
    anyhow::bail!("the stack catalog is not wired yet")
}
