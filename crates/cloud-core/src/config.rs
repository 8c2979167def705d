//! Configuration in layers: built-in defaults → `config/cloud.yaml` (or `--config`) → `CLOUD_*`
//! environment variables → command-line flags. Validated once at start-up; an unknown key or a
//! malformed file is reported with its file, line and column.
//!
//! Tokens and passphrases come only from the environment or from files, are held as
//! [`SecretString`] and are never printed: `cloud config show` masks them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use cloud_domain::session::Principal;

/// Where configuration went wrong, worded for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    ParseNoLocation { path: PathBuf, message: String },
    #[error("invalid value in {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("the data directory {path} is not usable ({reason}); set `data_dir` in the configuration, CLOUD_DATA_DIR or --data-dir to a writable directory")]
    DataDir { path: PathBuf, reason: String },
    #[error("{path} is readable by other users (mode {mode:04o}); it holds the database, the audit log or the secrets passphrase: run `{fix}` and start again")]
    Private { path: PathBuf, mode: u32, fix: String },
}

/// `config/cloud.yaml` as written. Every field optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    workspace: Option<PathBuf>,
    /// The only directory `{secret_file: …}` in manifests may read from.
    secrets_dir: Option<PathBuf>,
    #[serde(default)]
    pulumi: PulumiFile,
    #[serde(default)]
    environments: BTreeMap<String, EnvFile>,
    #[serde(default)]
    admins: Vec<String>,
    #[serde(default)]
    role_mappings: Vec<RoleMapping>,
    #[serde(default)]
    slack: SlackFile,
    #[serde(default)]
    access: AccessFile,
    /// The price list for cost estimates (default: `<workspace>/config/pricing.yaml`, else the
    /// built-in copy).
    pricing: Option<PathBuf>,
    #[serde(default)]
    serve: ServeFile,
    #[serde(default)]
    discord: DiscordFile,
    #[serde(default)]
    leases: LeasesFile,
    #[serde(default)]
    retention: RetentionFile,
}

/// `leases:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeasesFile {
    #[serde(default, with = "humantime_serde")]
    ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    sweep: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionFile {
    #[serde(default, with = "humantime_serde")]
    logs: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    plans: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessFile {
    local_cli_admin: Option<bool>,
    /// Operating-system users (of the host `cloud` runs on) and the principal each one is:
    /// `{alice: discord:80351110224678912}`. With `local_cli_admin: false` the CLI identifies a
    /// mapped OS user (from the password database, not `$USER`) without a token.
    #[serde(default)]
    os_users: BTreeMap<String, String>,
    /// Where the CLI reads its API token when `CLOUD_TOKEN` is unset (must be 0600).
    token_file: Option<PathBuf>,
    /// The key that signs the audit log's head (0600; created on first use). Default:
    /// `<data_dir>/audit.key`.
    audit_key_file: Option<PathBuf>,
}

/// `slack:` as written. Tokens are never read from this file, only the paths of files holding
/// them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackFile {
    transport: Option<SlackTransport>,
    listen: Option<String>,
    api_url: Option<String>,
    bot_token_file: Option<PathBuf>,
    signing_secret_file: Option<PathBuf>,
    app_token_file: Option<PathBuf>,
}

/// How Slack reaches the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlackTransport {
    /// Events API, interactivity and slash commands as signed HTTP posts to `listen`.
    Http,
    /// Socket Mode: the app opens a websocket to Slack (app-level token); no public URL.
    Socket,
}

/// The Slack app's settings (`slack:` in the file, `CLOUD_SLACK_*` / `SLACK_*` variables).
#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub transport: SlackTransport,
    /// Where the HTTP transport listens (`127.0.0.1:3000` by default).
    pub listen: String,
    /// The Web API base (`https://slack.com/api`); tests point it at a fake.
    pub api_url: String,
    /// `xoxb-…`: posts and updates messages.
    pub bot_token: Option<SecretString>,
    /// Verifies that HTTP requests come from Slack.
    pub signing_secret: Option<SecretString>,
    /// `xapp-…` with `connections:write`: opens Socket Mode connections.
    pub app_token: Option<SecretString>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    listen: Option<String>,
    #[serde(default, with = "humantime_serde")]
    shutdown_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscordFile {
    token_file: Option<PathBuf>,
    guild_id: Option<u64>,
    api_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PulumiFile {
    binary: Option<String>,
    backend_url: Option<String>,
    passphrase_file: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    cancel_grace: Option<Duration>,
    max_parallel: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvFile {
    #[serde(default, with = "humantime_serde")]
    plan_ttl: Option<Duration>,
    approvals_required: Option<u32>,
    allow_self_approve: Option<bool>,
}

/// A chat group (Discord role id, Slack user-group id) that grants a role on a project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// `discord` or `slack`.
    pub platform: String,
    /// The Discord role id or Slack user-group id.
    pub group: String,
    pub project: String,
    #[serde(default = "star")]
    pub env: String,
    pub role: String,
}

fn star() -> String {
    "*".into()
}

/// Approval rules and plan lifetime of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentPolicy {
    #[serde(with = "humantime_serde")]
    pub plan_ttl: Duration,
    pub approvals_required: u32,
    pub allow_self_approve: bool,
}

impl EnvironmentPolicy {
    /// The defaults: dev lets the requester approve; prod needs two other people.
    pub fn default_for(env: &str) -> EnvironmentPolicy {
        match env {
            "dev" => EnvironmentPolicy {
                plan_ttl: Duration::from_secs(2 * 3600),
                approvals_required: 1,
                allow_self_approve: true,
            },
            "prod" => EnvironmentPolicy {
                plan_ttl: Duration::from_secs(3600),
                approvals_required: 2,
                allow_self_approve: false,
            },
            _ => EnvironmentPolicy {
                plan_ttl: Duration::from_secs(2 * 3600),
                approvals_required: 1,
                allow_self_approve: false,
            },
        }
    }
}

/// Where the Pulumi passphrase comes from (local backend secrets provider).
#[derive(Debug, Clone)]
pub enum PassphraseSource {
    /// `PULUMI_CONFIG_PASSPHRASE` in the environment.
    Env(SecretString),
    /// A file named by `pulumi.passphrase_file` / `CLOUD_PULUMI_PASSPHRASE_FILE`.
    File(PathBuf),
    /// Nothing configured: a random passphrase generated once under the data dir (embedded default).
    Generated(PathBuf),
}

/// How to run Pulumi.
#[derive(Debug, Clone)]
pub struct PulumiConfig {
    pub binary: String,
    pub backend_url: String,
    pub passphrase: PassphraseSource,
    pub timeout: Duration,
    pub cancel_grace: Duration,
    pub max_parallel: usize,
}

/// `cloud serve`: the local operations endpoint and graceful shutdown.
#[derive(Debug, Clone, Serialize)]
pub struct ServeConfig {
    /// Where `/healthz` and `/metrics` listen (`CLOUD_SERVE_LISTEN`, default `127.0.0.1:9464`).
    pub listen: String,
    /// On SIGTERM, how long running applies may go on before they are cancelled gracefully.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
}

/// How long the bulky parts of finished sessions are kept (`retention:`): their engine logs and
/// plan documents. The session row, digest, per-stack results, approvals and the audit trail are
/// kept for ever; `cloud prune` and the daily sweep of `cloud serve` remove the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionConfig {
    /// Engine logs of sessions that ended longer ago than this are removed (default 30d).
    #[serde(with = "humantime_serde")]
    pub logs: Duration,
    /// Plan documents likewise (default 90d); the plan a quota's usage is computed from (the
    /// latest APPLIED session of a stack) is always kept.
    #[serde(with = "humantime_serde")]
    pub plans: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            logs: Duration::from_secs(30 * 86_400),
            plans: Duration::from_secs(90 * 86_400),
        }
    }
}

/// The Discord bot. The token never comes from this file: `DISCORD_TOKEN`, or the file named by
/// `discord.token_file` / `CLOUD_DISCORD_TOKEN_FILE`.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    pub token: Option<SecretString>,
    /// Where the token was looked for, for the error when it is missing.
    pub token_origin: String,
    /// Register the commands in this guild (instant) instead of globally (up to an hour).
    pub guild_id: Option<u64>,
    /// Send every REST call to this base URL instead of `https://discord.com`: a Discord REST
    /// proxy (tests point it at a fake). The proxy then owns Discord's rate limits, so
    /// serenity's own limiter is off; the bot's output budgets and pacer stay on.
    /// `discord.api_url`, `CLOUD_DISCORD_API_URL`; `None`: straight to Discord.
    pub api_url: Option<String>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// Where `stacks/`, `deploy/` and `templates/` live.
    pub workspace: PathBuf,
    /// The only directory manifests' `{secret_file: …}` may read from (`secrets_dir`,
    /// `CLOUD_SECRETS_DIR`); `None`: each manifest's own directory.
    pub secrets_dir: Option<PathBuf>,
    pub pulumi: PulumiConfig,
    pub environments: BTreeMap<String, EnvironmentPolicy>,
    pub admins: Vec<Principal>,
    pub role_mappings: Vec<RoleMapping>,
    pub slack: SlackConfig,
    /// Every `cli:` principal is an admin (a single-user checkout; never for a shared bot).
    pub local_cli_admin: bool,
    /// OS users of this host and the principal each one is (`access.os_users`).
    pub os_users: BTreeMap<String, Principal>,
    /// Where the CLI reads its API token when `CLOUD_TOKEN` is unset (`access.token_file`,
    /// `CLOUD_TOKEN_FILE`; default `~/.config/cloud/token`).
    pub token_file: PathBuf,
    /// The audit key file (`access.audit_key_file`, `CLOUD_AUDIT_KEY_FILE`; default
    /// `<data_dir>/audit.key`).
    pub audit_key_file: PathBuf,
    /// The price list file, when one is configured or found in the workspace.
    pub pricing: Option<PathBuf>,
    pub serve: ServeConfig,
    pub discord: DiscordConfig,
    pub leases: LeasesConfig,
    pub retention: RetentionConfig,
}

/// Session leases (`leases:` in the file, `CLOUD_LEASE_TTL` / `CLOUD_SWEEP_INTERVAL`): how long
/// a process driving a session may go silent before another takes the session over, and how
/// often the sweeper looks. A session whose driver died is ended within `ttl + sweep`.
#[derive(Debug, Clone, Serialize)]
pub struct LeasesConfig {
    /// Default 30 s.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Default 10 s.
    #[serde(with = "humantime_serde")]
    pub sweep: Duration,
}

/// What the command line adds on top.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

/// Where `cloud` looks for configuration when no `--config` / `CLOUD_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/cloud.yaml";

impl Config {
    /// Load from the layers, reading the process environment.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Config::load_with_env(overrides, &env)
    }

    /// Load from the layers with an explicit environment (tests).
    pub fn load_with_env(overrides: &Overrides, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let explicit = overrides
            .config
            .clone()
            .or_else(|| env.get("CLOUD_CONFIG").map(PathBuf::from));
        let (source, file) = match explicit {
            Some(path) => {
                let file = read_file(&path)?;
                (Some(path), file)
            }
            None => {
                let path = PathBuf::from(DEFAULT_CONFIG_PATH);
                if path.exists() {
                    let file = read_file(&path)?;
                    (Some(path), file)
                } else {
                    (None, FileConfig::default())
                }
            }
        };
        let origin = |key: &str| match &source {
            Some(p) => format!("{} (`{key}`)", p.display()),
            None => format!("`{key}`"),
        };

        let data_dir = overrides
            .data_dir
            .clone()
            .or_else(|| env.get("CLOUD_DATA_DIR").map(PathBuf::from))
            .or(file.data_dir)
            .unwrap_or_else(default_data_dir);
        let database_url = env
            .get("CLOUD_DATABASE_URL")
            .cloned()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("cloud.db").display()));
        // A PostgreSQL URL names its database: libpq would otherwise pick one after the user name,
        // and a team's sessions silently landing in the wrong database is worse than a refusal.
        let names_database = |rest: &str| {
            let path = rest.split(['?', '#']).next().unwrap_or("");
            path.split_once('/')
                .is_some_and(|(host, db)| !host.is_empty() && !db.is_empty())
        };
        let usable = database_url.starts_with("sqlite:")
            || ["postgres://", "postgresql://"]
                .iter()
                .any(|scheme| database_url.strip_prefix(scheme).is_some_and(names_database));
        if !usable {
            return Err(ConfigError::Invalid {
                origin: origin("database_url"),
                message: format!(
                    "`{}` is not a database URL cloud-engine can use: give sqlite://<file> (the embedded default) or postgres://<user>@<host>/<database> (a team database; the password from PGPASSWORD or ~/.pgpass)",
                    mask_url(&database_url)
                ),
            });
        }
        let workspace = env
            .get("CLOUD_WORKSPACE")
            .map(PathBuf::from)
            .or(file.workspace)
            .unwrap_or_else(|| PathBuf::from("."));

        let secrets_dir = env.get("CLOUD_SECRETS_DIR").map(PathBuf::from).or(file.secrets_dir);

        let binary = env
            .get("CLOUD_PULUMI_BINARY")
            .cloned()
            .or(file.pulumi.binary)
            .unwrap_or_else(|| "pulumi".into());
        let backend_url = env
            .get("CLOUD_PULUMI_BACKEND_URL")
            .cloned()
            .or(file.pulumi.backend_url)
            .unwrap_or_else(|| file_url(&data_dir.join("pulumi-state")));
        let passphrase = if let Some(value) = env.get("PULUMI_CONFIG_PASSPHRASE") {
            PassphraseSource::Env(SecretString::from(value.clone()))
        } else if let Some(path) = env
            .get("CLOUD_PULUMI_PASSPHRASE_FILE")
            .or_else(|| env.get("PULUMI_CONFIG_PASSPHRASE_FILE"))
            .map(PathBuf::from)
            .or(file.pulumi.passphrase_file)
        {
            PassphraseSource::File(path)
        } else {
            PassphraseSource::Generated(data_dir.join("pulumi-passphrase"))
        };
        let max_parallel = file.pulumi.max_parallel.unwrap_or(4);
        if max_parallel == 0 || max_parallel > 64 {
            return Err(ConfigError::Invalid {
                origin: origin("pulumi.max_parallel"),
                message: format!("{max_parallel} is out of range: use 1 to 64"),
            });
        }

        let mut environments: BTreeMap<String, EnvironmentPolicy> = ["dev", "stage", "prod"]
            .into_iter()
            .map(|e| (e.to_string(), EnvironmentPolicy::default_for(e)))
            .collect();
        for (name, given) in file.environments {
            if !valid_env_name(&name) {
                return Err(ConfigError::Invalid {
                    origin: origin("environments"),
                    message: format!("`{name}` is not a valid environment name: use 1-16 lowercase letters and digits"),
                });
            }
            let base = EnvironmentPolicy::default_for(&name);
            let policy = EnvironmentPolicy {
                plan_ttl: given.plan_ttl.unwrap_or(base.plan_ttl),
                approvals_required: given.approvals_required.unwrap_or(base.approvals_required),
                allow_self_approve: given.allow_self_approve.unwrap_or(base.allow_self_approve),
            };
            if policy.approvals_required == 0 || policy.approvals_required > 10 {
                return Err(ConfigError::Invalid {
                    origin: origin(&format!("environments.{name}.approvals_required")),
                    message: format!("{} is out of range: use 1 to 10", policy.approvals_required),
                });
            }
            if let Err(message) = cloud_domain::input::check_duration(
                &format!("environments.{name}.plan_ttl"),
                policy.plan_ttl,
                Duration::from_secs(60),
                MAX_PLAN_TTL,
            ) {
                return Err(ConfigError::Invalid {
                    origin: origin(&format!("environments.{name}.plan_ttl")),
                    message: format!("{message} (a plan must live at least 1m)"),
                });
            }
            environments.insert(name, policy);
        }

        let mut admin_texts = file.admins;
        if let Some(extra) = env.get("CLOUD_ADMINS") {
            admin_texts.extend(
                extra
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
        let admins = admin_texts
            .iter()
            .map(|a| {
                a.parse::<Principal>().map_err(|e| ConfigError::Invalid {
                    origin: origin("admins"),
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for mapping in &file.role_mappings {
            if !matches!(mapping.platform.as_str(), "discord" | "slack") {
                return Err(ConfigError::Invalid {
                    origin: origin("role_mappings"),
                    message: format!("platform `{}` is not discord or slack", mapping.platform),
                });
            }
            if let Err(e) = mapping.role.parse::<crate::policy::Role>() {
                return Err(ConfigError::Invalid {
                    origin: origin("role_mappings"),
                    message: e.to_string(),
                });
            }
        }

        let slack = slack_config(file.slack, env, &origin)?;
        let local_cli_admin = match env.get("CLOUD_LOCAL_CLI_ADMIN").map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes") => true,
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "") => false,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    origin: "CLOUD_LOCAL_CLI_ADMIN".into(),
                    message: format!("`{v}` is not true or false"),
                })
            }
            None => file.access.local_cli_admin.unwrap_or(false),
        };
        let mut os_users = BTreeMap::new();
        for (os_user, principal) in &file.access.os_users {
            let text = if principal.contains(':') {
                principal.clone()
            } else {
                format!("cli:{principal}")
            };
            let principal = text.parse::<Principal>().map_err(|e| ConfigError::Invalid {
                origin: origin("access.os_users"),
                message: format!("{os_user}: {e}"),
            })?;
            os_users.insert(os_user.clone(), principal);
        }
        let cli_token_file = env
            .get("CLOUD_TOKEN_FILE")
            .map(PathBuf::from)
            .or(file.access.token_file)
            .unwrap_or_else(|| {
                let home = env.get("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
                env.get("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join(".config"))
                    .join("cloud/token")
            });
        let audit_key_file = env
            .get("CLOUD_AUDIT_KEY_FILE")
            .map(PathBuf::from)
            .or(file.access.audit_key_file)
            .unwrap_or_else(|| data_dir.join("audit.key"));
        let pricing = env
            .get("CLOUD_PRICING")
            .map(PathBuf::from)
            .or(file.pricing)
            .or_else(|| Some(workspace.join("config/pricing.yaml")).filter(|p| p.exists()));
        let listen = env
            .get("CLOUD_SERVE_LISTEN")
            .cloned()
            .or(file.serve.listen)
            .unwrap_or_else(|| "127.0.0.1:9464".into());
        if listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid {
                origin: origin("serve.listen"),
                message: format!("`{listen}` is not an address such as 127.0.0.1:9464"),
            });
        }
        let token_file = env
            .get("CLOUD_DISCORD_TOKEN_FILE")
            .map(PathBuf::from)
            .or(file.discord.token_file);
        let (token, token_origin) = match (env.get("DISCORD_TOKEN"), &token_file) {
            (Some(t), _) if !t.trim().is_empty() => (
                Some(SecretString::from(t.trim().to_string())),
                "DISCORD_TOKEN".to_string(),
            ),
            (_, Some(path)) => {
                let text = read_small(path)?;
                let t = text.trim().to_string();
                (
                    (!t.is_empty()).then(|| SecretString::from(t)),
                    format!("the file {}", path.display()),
                )
            }
            _ => (
                None,
                "DISCORD_TOKEN, CLOUD_DISCORD_TOKEN_FILE or `discord.token_file`".to_string(),
            ),
        };
        let guild_id = match env.get("CLOUD_DISCORD_GUILD_ID") {
            Some(g) => Some(g.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
                origin: "CLOUD_DISCORD_GUILD_ID".into(),
                message: format!("`{g}` is not a Discord guild id (a number such as 80351110224678912)"),
            })?),
            None => file.discord.guild_id,
        };
        let (discord_api_url, api_url_origin) = match env.get("CLOUD_DISCORD_API_URL") {
            Some(url) => (Some(url.clone()), "CLOUD_DISCORD_API_URL".to_string()),
            None => (file.discord.api_url, origin("discord.api_url")),
        };
        let discord_api_url = match discord_api_url {
            Some(url) if url.trim().is_empty() => None,
            Some(url) => {
                let url = url.trim().trim_end_matches('/').to_string();
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ConfigError::Invalid {
                        origin: api_url_origin,
                        message: format!(
                            "`{url}` is not an http(s) URL: write the base URL of the Discord REST proxy, e.g. http://discord-proxy:8080"
                        ),
                    });
                }
                Some(url)
            }
            None => None,
        };

        let timeout = file.pulumi.timeout.unwrap_or(Duration::from_secs(3600));
        let cancel_grace = file.pulumi.cancel_grace.unwrap_or(Duration::from_secs(30));
        let shutdown_timeout = file.serve.shutdown_timeout.unwrap_or(Duration::from_secs(30));
        let env_duration = |var: &str| -> Result<Option<Duration>, ConfigError> {
            env.get(var)
                .map(|v| {
                    humantime::parse_duration(v.trim()).map_err(|e| ConfigError::Invalid {
                        origin: var.into(),
                        message: format!("`{v}` is not a duration such as 30s or 2m: {e}"),
                    })
                })
                .transpose()
        };
        let lease_ttl = env_duration("CLOUD_LEASE_TTL")?
            .or(file.leases.ttl)
            .unwrap_or(Duration::from_secs(30));
        let sweep = env_duration("CLOUD_SWEEP_INTERVAL")?
            .or(file.leases.sweep)
            .unwrap_or(Duration::from_secs(10));
        let retention = RetentionConfig {
            logs: file.retention.logs.unwrap_or(RetentionConfig::default().logs),
            plans: file.retention.plans.unwrap_or(RetentionConfig::default().plans),
        };
        for (key, value, min, max) in [
            (
                "leases.ttl",
                lease_ttl,
                Duration::from_secs(1),
                Duration::from_secs(3600),
            ),
            (
                "leases.sweep",
                sweep,
                Duration::from_millis(100),
                Duration::from_secs(3600),
            ),
            (
                "pulumi.timeout",
                timeout,
                Duration::from_secs(1),
                Duration::from_secs(24 * 3600),
            ),
            (
                "pulumi.cancel_grace",
                cancel_grace,
                Duration::from_secs(1),
                Duration::from_secs(3600),
            ),
            (
                "serve.shutdown_timeout",
                shutdown_timeout,
                Duration::from_secs(1),
                Duration::from_secs(24 * 3600),
            ),
            (
                "retention.logs",
                retention.logs,
                Duration::from_secs(3600),
                Duration::from_secs(100 * 365 * 86_400),
            ),
            (
                "retention.plans",
                retention.plans,
                Duration::from_secs(3600),
                Duration::from_secs(100 * 365 * 86_400),
            ),
        ] {
            cloud_domain::input::check_duration(key, value, min, max).map_err(|message| ConfigError::Invalid {
                origin: origin(key),
                message,
            })?;
        }

        Ok(Config {
            source,
            data_dir,
            database_url,
            workspace,
            secrets_dir,
            pulumi: PulumiConfig {
                binary,
                backend_url,
                passphrase,
                timeout,
                cancel_grace,
                max_parallel,
            },
            environments,
            admins,
            role_mappings: file.role_mappings,
            slack,
            local_cli_admin,
            os_users,
            token_file: cli_token_file,
            audit_key_file,
            pricing,
            serve: ServeConfig {
                listen,
                shutdown_timeout,
            },
            leases: LeasesConfig { ttl: lease_ttl, sweep },
            discord: DiscordConfig {
                token,
                token_origin,
                guild_id,
                api_url: discord_api_url,
            },
            retention,
        })
    }

    /// Create the data dir if needed (mode 0700) and check it is writable and private: the
    /// database holds the audit log and session history, the passphrase file unlocks every
    /// stack's secrets, and the engine's logs may quote configuration. A directory or one of
    /// those files that other users can read is refused, with the `chmod` that fixes it.
    pub fn prepare_data_dir(&self) -> Result<(), ConfigError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let fail = |reason: String| ConfigError::DataDir {
            path: self.data_dir.clone(),
            reason,
        };
        if !self.data_dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.data_dir)
                .map_err(|e| fail(e.to_string()))?;
        }
        let meta = std::fs::metadata(&self.data_dir).map_err(|e| fail(e.to_string()))?;
        if !meta.is_dir() {
            return Err(fail("it is not a directory".into()));
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError::Private {
                path: self.data_dir.clone(),
                mode: mode & 0o7777,
                fix: format!("chmod 700 {}", self.data_dir.display()),
            });
        }
        for path in self.private_files() {
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                let mode = meta.permissions().mode();
                if mode & 0o077 != 0 {
                    return Err(ConfigError::Private {
                        mode: mode & 0o7777,
                        fix: format!("chmod 600 {}", path.display()),
                        path,
                    });
                }
            }
        }
        // SQLite creates the database (and later its journals, with the database's mode) with the
        // process umask, usually 0644: create it empty and private first.
        if let Some(db) = self.database_path() {
            if !db.exists() && db.parent().is_some_and(|p| p.as_os_str().is_empty() || p.is_dir()) {
                use std::os::unix::fs::OpenOptionsExt;
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&db);
            }
        }
        let probe = self.data_dir.join(".write-test");
        std::fs::write(&probe, b"ok").map_err(|e| fail(format!("cannot write: {e}")))?;
        let _ = std::fs::remove_file(probe);
        Ok(())
    }

    /// The files that must be readable by the bot's user only (mode 0600): the SQLite database
    /// and its journal files, and the passphrase file.
    pub(crate) fn private_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let Some(db) = self.database_path() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut name = db.clone().into_os_string();
                name.push(suffix);
                files.push(PathBuf::from(name));
            }
        }
        match &self.pulumi.passphrase {
            PassphraseSource::File(p) | PassphraseSource::Generated(p) => files.push(p.clone()),
            PassphraseSource::Env(_) => {}
        }
        files
    }

    /// The SQLite file behind `database_url` (`sqlite://path?…`), unless in memory.
    pub(crate) fn database_path(&self) -> Option<PathBuf> {
        let rest = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
    }

    /// The effective configuration as YAML, with every secret masked.
    pub fn show(&self) -> String {
        #[derive(Serialize)]
        struct Shown<'a> {
            source: String,
            data_dir: String,
            database_url: String,
            workspace: String,
            pulumi: ShownPulumi<'a>,
            environments: &'a BTreeMap<String, EnvironmentPolicy>,
            admins: Vec<String>,
            role_mappings: &'a [RoleMapping],
            slack: ShownSlack<'a>,
            local_cli_admin: bool,
            pricing: String,
            serve: &'a ServeConfig,
            discord: ShownDiscord,
            retention: &'a RetentionConfig,
        }
        #[derive(Serialize)]
        struct ShownDiscord {
            token: String,
            guild_id: Option<String>,
            api_url: String,
        }
        #[derive(Serialize)]
        struct ShownSlack<'a> {
            transport: SlackTransport,
            listen: &'a str,
            api_url: &'a str,
            bot_token: &'static str,
            signing_secret: &'static str,
            app_token: &'static str,
        }
        let set = |s: &Option<SecretString>| if s.is_some() { "set (********)" } else { "not set" };
        #[derive(Serialize)]
        struct ShownPulumi<'a> {
            binary: &'a str,
            backend_url: String,
            passphrase: String,
            #[serde(with = "humantime_serde")]
            timeout: Duration,
            #[serde(with = "humantime_serde")]
            cancel_grace: Duration,
            max_parallel: usize,
        }
        let passphrase = match &self.pulumi.passphrase {
            PassphraseSource::Env(s) if s.expose_secret().is_empty() => {
                "PULUMI_CONFIG_PASSPHRASE (set, empty)".to_string()
            }
            PassphraseSource::Env(_) => "PULUMI_CONFIG_PASSPHRASE (set, ********)".to_string(),
            PassphraseSource::File(p) => format!("file {} (********)", p.display()),
            PassphraseSource::Generated(p) => {
                format!("generated on first use in {} (********)", p.display())
            }
        };
        let shown = Shown {
            source: self
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "built-in defaults".into()),
            data_dir: self.data_dir.display().to_string(),
            database_url: mask_url(&self.database_url),
            workspace: self.workspace.display().to_string(),
            pulumi: ShownPulumi {
                binary: &self.pulumi.binary,
                backend_url: mask_url(&self.pulumi.backend_url),
                passphrase,
                timeout: self.pulumi.timeout,
                cancel_grace: self.pulumi.cancel_grace,
                max_parallel: self.pulumi.max_parallel,
            },
            environments: &self.environments,
            admins: self.admins.iter().map(|a| a.to_string()).collect(),
            role_mappings: &self.role_mappings,
            slack: ShownSlack {
                transport: self.slack.transport,
                listen: &self.slack.listen,
                api_url: &self.slack.api_url,
                bot_token: set(&self.slack.bot_token),
                signing_secret: set(&self.slack.signing_secret),
                app_token: set(&self.slack.app_token),
            },
            local_cli_admin: self.local_cli_admin,
            pricing: self
                .pricing
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "built-in config/pricing.yaml".into()),
            serve: &self.serve,
            retention: &self.retention,
            discord: ShownDiscord {
                token: match &self.discord.token {
                    Some(_) => format!("from {} (********)", self.discord.token_origin),
                    None => "not set".into(),
                },
                guild_id: self.discord.guild_id.map(|g| g.to_string()),
                api_url: self
                    .discord
                    .api_url
                    .as_deref()
                    .map(mask_url)
                    .unwrap_or_else(|| "https://discord.com (serenity's rate limiter on)".into()),
            },
        };
        serde_yaml::to_string(&shown).expect("plain data serialises")
    }
}

/// A secret from the variable `var`, else from the file named by `<var>_FILE` or by the
/// configuration key; surrounding whitespace (a trailing newline) is dropped.
fn secret(
    env: &BTreeMap<String, String>,
    var: &str,
    file: Option<PathBuf>,
    origin: &dyn Fn(&str) -> String,
    key: &str,
) -> Result<Option<SecretString>, ConfigError> {
    if let Some(v) = env.get(var).filter(|v| !v.trim().is_empty()) {
        return Ok(Some(SecretString::from(v.trim().to_string())));
    }
    let path = env.get(&format!("{var}_FILE")).map(PathBuf::from).or(file);
    let Some(path) = path else { return Ok(None) };
    let text = cloud_catalog::input::read_text(&path, cloud_catalog::input::cap::SECRET).map_err(|e| {
        ConfigError::Invalid {
            origin: origin(key),
            message: format!("cannot read {}: {e}", path.display()),
        }
    })?;
    Ok(Some(SecretString::from(text.trim().to_string())))
}

fn slack_config(
    file: SlackFile,
    env: &BTreeMap<String, String>,
    origin: &dyn Fn(&str) -> String,
) -> Result<SlackConfig, ConfigError> {
    let transport = match env.get("CLOUD_SLACK_TRANSPORT").map(String::as_str) {
        Some("http") => SlackTransport::Http,
        Some("socket") => SlackTransport::Socket,
        Some(other) => {
            return Err(ConfigError::Invalid {
                origin: "CLOUD_SLACK_TRANSPORT".into(),
                message: format!("`{other}` is not a Slack transport: use http or socket"),
            })
        }
        None => file.transport.unwrap_or(SlackTransport::Http),
    };
    let listen = env
        .get("CLOUD_SLACK_LISTEN")
        .cloned()
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(ConfigError::Invalid {
            origin: origin("slack.listen"),
            message: format!("`{listen}` is not an address: write it as IP:PORT, e.g. 0.0.0.0:3000"),
        });
    }
    let api_url = env
        .get("CLOUD_SLACK_API_URL")
        .cloned()
        .or(file.api_url)
        .unwrap_or_else(|| "https://slack.com/api".into())
        .trim_end_matches('/')
        .to_string();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(ConfigError::Invalid {
            origin: origin("slack.api_url"),
            message: format!("`{api_url}` is not an http(s) URL"),
        });
    }
    Ok(SlackConfig {
        transport,
        listen,
        api_url,
        bot_token: secret(
            env,
            "SLACK_BOT_TOKEN",
            file.bot_token_file,
            origin,
            "slack.bot_token_file",
        )?,
        signing_secret: secret(
            env,
            "SLACK_SIGNING_SECRET",
            file.signing_secret_file,
            origin,
            "slack.signing_secret_file",
        )?,
        app_token: secret(
            env,
            "SLACK_APP_TOKEN",
            file.app_token_file,
            origin,
            "slack.app_token_file",
        )?,
    })
}

/// `file:///abs/path` for a directory (made absolute against the current directory).
pub(crate) fn file_url(path: &Path) -> String {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    format!("file://{}", abs.display())
}

/// Hide a password in `scheme://user:password@host` URLs.
pub fn mask_url(url: &str) -> String {
    cloud_store::redact_url(url)
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 16 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".cloud-engine")
}

/// The longest a plan may wait for approval: a month-old plan says nothing about today.
pub(crate) const MAX_PLAN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A token file: a regular file of at most [`cloud_catalog::input::cap::SECRET`] bytes.
fn read_small(path: &Path) -> Result<String, ConfigError> {
    cloud_catalog::input::read_text(path, cloud_catalog::input::cap::SECRET).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        source: into_io(e),
    })
}

fn into_io(e: cloud_catalog::input::ReadError) -> std::io::Error {
    match e {
        cloud_catalog::input::ReadError::Io(e) => e,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text =
        cloud_catalog::input::read_text(path, cloud_catalog::input::cap::CONFIG).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            source: into_io(e),
        })?;
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    if let Err(message) = cloud_catalog::input::check_yaml(&text) {
        return Err(ConfigError::ParseNoLocation {
            path: path.to_path_buf(),
            message,
        });
    }
    serde_yaml::from_str(&text).map_err(|e| match e.location() {
        Some(loc) => ConfigError::Parse {
            path: path.to_path_buf(),
            line: loc.line(),
            column: loc.column(),
            message: strip_location(&e.to_string()),
        },
        None => ConfigError::ParseNoLocation {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })
}

/// serde_yaml appends " at line L column C"; we print the location up front instead.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.yaml");
        std::fs::write(&path, yaml).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load_with_env(
            &Overrides {
                config: Some(path),
                data_dir: None,
            },
            &env,
        )
    }

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let config = load("data_dir: /tmp/x\n", &[]).unwrap();
        assert_eq!(config.database_url, "sqlite:///tmp/x/cloud.db");
        assert_eq!(config.pulumi.backend_url, "file:///tmp/x/pulumi-state");
        assert_eq!(config.pulumi.binary, "pulumi");
        assert_eq!(config.environments["prod"].approvals_required, 2);
        assert!(config.environments["dev"].allow_self_approve);
        assert!(!config.environments["stage"].allow_self_approve);
        assert!(matches!(config.pulumi.passphrase, PassphraseSource::Generated(_)));
    }

    #[test]
    fn environment_variables_override_the_file() {
        let config = load(
            "data_dir: /tmp/x\npulumi:\n  binary: /usr/bin/pulumi\n",
            &[("CLOUD_DATA_DIR", "/tmp/y"), ("CLOUD_PULUMI_BINARY", "/opt/pulumi")],
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/tmp/y"));
        assert_eq!(config.pulumi.binary, "/opt/pulumi");
    }

    #[test]
    fn an_unknown_key_is_reported_with_file_line_and_column() {
        let err = load("data_dir: /tmp/x\npulumi:\n  binray: pulumi\n", &[]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("cloud.yaml:3:3: pulumi: unknown field `binray`"),
            "{text}"
        );
        assert!(text.contains("expected one of"), "{text}");
    }

    #[test]
    fn malformed_yaml_is_reported_with_its_location() {
        let err = load("data_dir: [unclosed\n", &[]).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 1 | 2, .. }), "{err}");
    }

    #[test]
    fn absurd_values_are_refused() {
        let err = load("environments:\n  prod:\n    approvals_required: 0\n", &[]).unwrap_err();
        assert!(err.to_string().contains("approvals_required"), "{err}");
        let err = load("admins: [alice]\n", &[]).unwrap_err();
        assert!(err.to_string().contains("<platform>:<id>"), "{err}");
    }

    #[test]
    fn access_settings_come_from_the_file_and_the_environment() {
        let config = load("access:\n  local_cli_admin: true\n", &[]).unwrap();
        assert!(config.local_cli_admin);
        let config = load(
            "access:\n  local_cli_admin: true\n",
            &[("CLOUD_LOCAL_CLI_ADMIN", "false")],
        )
        .unwrap();
        assert!(!config.local_cli_admin);
        assert!(!load("", &[]).unwrap().local_cli_admin, "off unless asked for");
        let err = load("", &[("CLOUD_LOCAL_CLI_ADMIN", "maybe")]).unwrap_err();
        assert!(err.to_string().contains("CLOUD_LOCAL_CLI_ADMIN"), "{err}");
        let err = load("access:\n  local_admin: true\n", &[]).unwrap_err();
        assert!(err.to_string().contains("unknown field `local_admin`"), "{err}");
        let err = load(
            "role_mappings:\n  - {platform: discord, group: \"1\", project: ecommerce, role: owner}\n",
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown role `owner`"), "{err}");
        let config = load("pricing: /etc/cloud/prices.yaml\n", &[]).unwrap();
        assert_eq!(config.pricing, Some(PathBuf::from("/etc/cloud/prices.yaml")));
    }

    #[test]
    fn slack_tokens_come_from_variables_or_files_and_are_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("signing");
        std::fs::write(&secret_file, "s3cr3t-signing\n").unwrap();
        let config = load(
            &format!(
                "slack:\n  transport: socket\n  signing_secret_file: {}\n",
                secret_file.display()
            ),
            &[
                ("SLACK_BOT_TOKEN", "xoxb-123-secret"),
                ("SLACK_APP_TOKEN", "xapp-1-secret"),
            ],
        )
        .unwrap();
        assert_eq!(config.slack.transport, SlackTransport::Socket);
        assert_eq!(
            config.slack.signing_secret.as_ref().unwrap().expose_secret(),
            "s3cr3t-signing"
        );
        assert_eq!(config.slack.api_url, "https://slack.com/api");
        let shown = config.show();
        for secret in ["xoxb-123-secret", "xapp-1-secret", "s3cr3t-signing"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let err = load("slack:\n  listen: everywhere\n", &[]).unwrap_err();
        assert!(err.to_string().contains("IP:PORT"), "{err}");
        let err = load("", &[("CLOUD_SLACK_TRANSPORT", "carrier-pigeon")]).unwrap_err();
        assert!(err.to_string().contains("use http or socket"), "{err}");
    }

    #[test]
    fn the_discord_api_url_points_the_bot_at_a_rest_proxy_from_the_file_or_the_variable() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.discord.api_url, None, "straight to discord.com by default");
        assert!(config
            .show()
            .contains("https://discord.com (serenity's rate limiter on)"));

        let config = load("discord:\n  api_url: http://discord-proxy:8080/\n", &[]).unwrap();
        assert_eq!(config.discord.api_url.as_deref(), Some("http://discord-proxy:8080"));
        assert!(
            config.show().contains("api_url: http://discord-proxy:8080"),
            "{}",
            config.show()
        );

        let config = load(
            "discord:\n  api_url: http://discord-proxy:8080\n",
            &[("CLOUD_DISCORD_API_URL", "http://127.0.0.1:4000")],
        )
        .unwrap();
        assert_eq!(
            config.discord.api_url.as_deref(),
            Some("http://127.0.0.1:4000"),
            "the variable wins"
        );

        let err = load("", &[("CLOUD_DISCORD_API_URL", "discord-proxy:8080")]).unwrap_err();
        assert!(err.to_string().contains("CLOUD_DISCORD_API_URL"), "{err}");
        assert!(err.to_string().contains("is not an http(s) URL"), "{err}");
    }

    #[test]
    fn config_show_never_prints_secrets() {
        let config = load(
            "data_dir: /tmp/x\npulumi:\n  backend_url: postgres://u:hunter22@db/x\n",
            &[("PULUMI_CONFIG_PASSPHRASE", "correct-horse-battery")],
        )
        .unwrap();
        let shown = config.show();
        assert!(!shown.contains("correct-horse-battery"), "{shown}");
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("********"), "{shown}");
    }

    #[test]
    fn the_database_is_sqlite_by_default_or_a_postgres_url_whose_password_is_never_shown() {
        let team = load(
            "data_dir: /tmp/x\n",
            &[("CLOUD_DATABASE_URL", "postgres://cloud:hunter22@db.internal/cloud")],
        )
        .unwrap();
        assert_eq!(team.database_url, "postgres://cloud:hunter22@db.internal/cloud");
        let shown = team.show();
        assert!(shown.contains("postgres://cloud:********@db.internal/cloud"), "{shown}");
        assert!(!shown.contains("hunter22"), "{shown}");
        let file = load("database_url: postgresql://cloud@db/cloud\n", &[]).unwrap();
        assert_eq!(file.database_url, "postgresql://cloud@db/cloud");

        let err = load("", &[("CLOUD_DATABASE_URL", "mysql://root:hunter22@db/cloud")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("give sqlite://<file>"), "{text}");
        assert!(text.contains("mysql://root:********@db/cloud"), "{text}");
        assert!(!text.contains("hunter22"), "{text}");
        for no_database in [
            "postgres://db",
            "postgres://cloud@db/",
            "postgresql://cloud@db?sslmode=require",
        ] {
            let err = load("", &[("CLOUD_DATABASE_URL", no_database)]).unwrap_err();
            assert!(err.to_string().contains("postgres://<user>@<host>/<database>"), "{err}");
        }
    }
}
