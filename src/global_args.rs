//! The options every `cloud` command takes (`--config`, `--data-dir`, `--as`, logging): read by
//! the command line and by the composition root ([`crate::app`]), so they live below both.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Configuration file [default: config/cloud.yaml when it exists, else built-in defaults]
    #[arg(long, global = true, env = "CLOUD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the database, Pulumi state and logs (overrides `data_dir`)
    #[arg(long, global = true, env = "CLOUD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Act as this user (the principal is `cli:<name>`) [default: the OS user]. Only on a
    /// single-user store (`access.local_cli_admin: true`); elsewhere use CLOUD_TOKEN
    #[arg(long = "as", global = true, env = "CLOUD_USER", value_name = "NAME")]
    pub as_user: Option<String>,
    /// Log format on stderr
    #[arg(long, global = true, env = "CLOUD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Log what cloud-engine does (info level) on stderr
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Log everything cloud-engine does (debug level) on stderr; overrides --verbose and CLOUD_LOG
    #[arg(long, global = true)]
    pub debug: bool,
}

impl GlobalArgs {
    /// The log filter: `--debug`, else `--verbose` (both for cloud-engine's own crates), else
    /// `CLOUD_LOG`, else warnings only.
    pub fn log_filter(&self, cloud_log: Option<String>) -> String {
        const CRATES: &[&str] = &[
            "cloud",
            "cloud_core",
            "cloud_chat",
            "cloud_store",
            "cloud_pulumi",
            "cloud_catalog",
            "cloud_discord",
            "cloud_slack",
        ];
        let level = if self.debug {
            "debug"
        } else if self.verbose {
            "info"
        } else {
            return cloud_log.unwrap_or_else(|| "warn".into());
        };
        let mut filter = String::from("warn");
        for c in CRATES {
            filter.push_str(&format!(",{c}={level}"));
        }
        filter
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}
