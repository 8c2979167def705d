//! The scratch data directory of an in-process bench: the user's configuration (workspace,
//! deployments, stacks) with every path under the data directory — database, Pulumi state,
//! audit key, passphrase, logs — moved into a fresh temporary directory, created 0700 like the
//! product's own, so a bench never creates or changes anything in the user's data directory.

use std::os::unix::fs::DirBuilderExt;

use anyhow::Context;
use tempfile::TempDir;

use cloud::cli::GlobalArgs;
use cloud_core::config::{Config, Overrides};

/// The configuration over a fresh data directory, and the directory (removed when dropped).
pub fn config(global: &GlobalArgs) -> anyhow::Result<(TempDir, Config)> {
    let tmp = tempfile::tempdir().context("Cannot create a temporary data directory")?;
    let data_dir = tmp.path().join("data");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&data_dir)
        .with_context(|| format!("Cannot create {}", data_dir.display()))?;
    let mut config = Config::load(&Overrides {
        config: global.config.clone(),
        data_dir: Some(data_dir),
    })?;
    // A fresh SQLite store whatever CLOUD_DATABASE_URL names: a bench never writes into a
    // team's database.
    config.database_url = format!("sqlite://{}", config.data_dir.join("cloud.db").display());
    config.local_cli_admin = false;
    Ok((tmp, config))
}
