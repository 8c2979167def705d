//! `cloud doctor`: is this machine ready to plan and apply? One line per check: the
//! configuration, the pulumi binary and its version, the state backend, the secrets passphrase,
//! cloud credentials, the data directory and the database (and, in [`super::doctor_identity`], who
//! pulumi, aws and gcloud say you are, the chat tokens' shape) — each failing line says how to fix
//! it, and the command exits 2 when any check fails.
//!
//! The doctor looks and never repairs: it creates no directory, generates no passphrase and
//! applies no migration (every other `cloud` command does those on start). It reports *whether*
//! a secret is present — never its value.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cloud_core::config::{mask_url, Config, ConfigError, Overrides, PassphraseSource};
use cloud_domain::error::UserError;

/// How long `pulumi version` may take (a cold start of the real CLI can take a few seconds).
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);
/// How long connecting to an http(s) backend may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Ready.
    Ok,
    /// Not checked (e.g. an `s3://` backend): the line says what to check by hand.
    Skipped,
    /// Works, but worth a look (e.g. no cloud credentials: fine for the offline stand-in).
    Warn,
    /// Not usable as configured; `cloud doctor` exits 2.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skip",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `pulumi binary`.
    pub name: &'static str,
    pub status: Status,
    /// What was found (never a secret value).
    pub detail: String,
    /// How to fix it (for warnings and failures).
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(crate) fn with(name: &'static str, status: Status, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// `ok    pulumi binary      /usr/bin/pulumi (v3.130.0)` — one line, the fix after `— fix:`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{:<4}  {:<18} {}",
            self.status.label(),
            self.name,
            one_line(&self.detail)
        );
        if let Some(fix) = &self.fix {
            if self.status != Status::Ok {
                let _ = write!(s, " — fix: {}", one_line(fix));
            }
        }
        s
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every check, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| c.status == Status::Fail).count()
    }
}

/// Print the report; an error (exit 2) when a check failed.
pub fn cmd_doctor(report: &Report, out: &mut impl Write) -> Result<(), UserError> {
    for c in &report.checks {
        writeln!(out, "{}", c.line()).map_err(|e| UserError::failed(format!("cannot write output: {e}")))?;
    }
    match report.failures() {
        0 => Ok(()),
        n => Err(UserError::invalid(format!(
            "{n} check{} failed; each FAIL line above says how to fix it",
            if n == 1 { "" } else { "s" }
        ))),
    }
}

/// Load the configuration and run every check against the process environment.
pub async fn run_checks(overrides: &Overrides) -> Report {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = match Config::load_with_env(overrides, &env) {
        Ok(c) => c,
        Err(e) => {
            return Report {
                checks: vec![config_failure(&e)],
            }
        }
    };
    run_checks_with(&config, &env).await
}

fn config_failure(e: &ConfigError) -> Check {
    Check::with(
        "configuration",
        Status::Fail,
        e.to_string(),
        "fix the file (every key is commented in config/cloud.yaml); the other checks need a valid configuration",
    )
}

/// Run the checks for a loaded configuration and an explicit environment.
pub async fn run_checks_with(config: &Config, env: &BTreeMap<String, String>) -> Report {
    let source = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".into());
    let mut checks = vec![Check::ok(
        "configuration",
        format!("{source}; workspace {}", config.workspace.display()),
    )];
    checks.push(check_binary(config, env).await);
    checks.push(check_backend(&config.pulumi.backend_url).await);
    checks.push(super::doctor_identity::check_login(config, env).await);
    checks.push(check_passphrase(&config.pulumi.passphrase));
    checks.extend(check_credentials(&config.pulumi.backend_url, env));
    checks.push(super::doctor_identity::check_aws_identity(env).await);
    checks.push(super::doctor_identity::check_gcp_credentials(env));
    checks.push(super::doctor_identity::check_gcp_identity(env).await);
    checks.push(super::doctor_identity::check_chat_tokens(config));
    checks.push(check_data_dir(&config.data_dir));
    checks.extend(super::doctor_identity::check_data_dir_permissions(&config.data_dir));
    let database = check_database(&config.database_url).await;
    let readable = database.status == Status::Ok;
    checks.push(database);
    if readable {
        checks.push(check_session_rows(&config.database_url).await);
    }
    Report { checks }
}

/// Session rows that do not decode (issue 15.6): `list`, `status` and the sweeper skip them, so
/// the rest keeps working; here each is named with its column so someone can repair it.
async fn check_session_rows(url: &str) -> Check {
    const NAME: &str = "session rows";
    let store = match cloud_core::store::Store::open(url).await {
        Ok(store) => store,
        Err(e) => return Check::with(NAME, Status::Skipped, format!("not read: {e}"), "see the database line"),
    };
    let bad = store.bad_session_rows().await;
    store.close().await;
    match bad {
        Ok(bad) if bad.is_empty() => Check::ok(NAME, "every session row decodes"),
        Ok(bad) => Check::with(
            NAME,
            Status::Warn,
            format!(
                "{} row(s) do not decode and are skipped by list, status and the sweeper: {}",
                bad.len(),
                bad.iter().map(|b| b.problem.as_str()).collect::<Vec<_>>().join("; ")
            ),
            "repair the named column (or delete the row) with sqlite3/psql; nothing else is affected",
        ),
        Err(e) => Check::with(
            NAME,
            Status::Warn,
            format!("cannot read the sessions: {e}"),
            "see the database line",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// pulumi binary

/// What to do about a missing or broken engine binary: the config key, its variable, and how to
/// install Pulumi.
pub fn binary_fix(config: &Config) -> String {
    let file = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| cloud_core::config::DEFAULT_CONFIG_PATH.into());
    format!(
        "set `pulumi.binary` in {file} (or CLOUD_PULUMI_BINARY) to the pulumi executable — or to \
         target/debug/pulumi-standin for the offline demo (`cargo build --bins`) — or install \
         Pulumi: curl -fsSL https://get.pulumi.com | sh"
    )
}

/// Where the configured `pulumi.binary` is, resolved the way the adapter runs it: a value with a
/// `/` is a path (relative to the current directory), anything else is looked up on `PATH`.
pub fn locate_binary(binary: &str) -> Result<PathBuf, String> {
    if binary.is_empty() {
        return Err("`pulumi.binary` is empty".into());
    }
    if binary.contains('/') {
        let path = PathBuf::from(binary);
        return match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && is_executable(&m) => Ok(std::fs::canonicalize(&path).unwrap_or(path)),
            Ok(m) if m.is_file() => Err(format!("the engine binary `{binary}` is not executable")),
            Ok(_) => Err(format!("the engine binary `{binary}` is not a file")),
            Err(_) => Err(format!("the engine binary `{binary}` was not found")),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(binary);
        if let Ok(m) = std::fs::metadata(&candidate) {
            if m.is_file() && is_executable(&m) {
                return Ok(candidate);
            }
        }
    }
    Err(format!("the engine binary `{binary}` was not found on PATH"))
}

fn is_executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

async fn check_binary(config: &Config, env: &BTreeMap<String, String>) -> Check {
    const NAME: &str = "pulumi binary";
    let path = match locate_binary(&config.pulumi.binary) {
        Ok(p) => p,
        Err(why) => return Check::with(NAME, Status::Fail, why, binary_fix(config)),
    };
    let mut cmd = tokio::process::Command::new(&path);
    cmd.arg("version")
        .env_clear()
        .env("PULUMI_SKIP_UPDATE_CHECK", "true")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for key in ["PATH", "HOME", "PULUMI_HOME"] {
        if let Some(v) = env.get(key) {
            cmd.env(key, v);
        }
    }
    let shown = path.display();
    let output = match tokio::time::timeout(VERSION_TIMEOUT, cmd.output()).await {
        Err(_) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("`{shown} version` did not answer within {VERSION_TIMEOUT:?}"),
                binary_fix(config),
            )
        }
        Ok(Err(e)) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("cannot run `{shown} version`: {e}"),
                binary_fix(config),
            )
        }
        Ok(Ok(o)) => o,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let version = stdout.lines().next().unwrap_or("").trim().to_string();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let code = output
            .status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "a signal".into());
        return Check::with(
            NAME,
            Status::Fail,
            format!("`{shown} version` exited with {code}: {first}"),
            binary_fix(config),
        );
    }
    if !version.starts_with('v') {
        return Check::with(
            NAME,
            Status::Warn,
            format!("{shown}: `version` printed `{version}`, not v3.x.y"),
            "check that `pulumi.binary` is the Pulumi CLI",
        );
    }
    Check::ok(NAME, format!("{shown} ({version})"))
}

// ---------------------------------------------------------------------------------------------
// backend

async fn check_backend(url: &str) -> Check {
    const NAME: &str = "backend";
    let shown = mask_url(url);
    if let Some(rest) = url.strip_prefix("file://") {
        let dir = PathBuf::from(if rest.is_empty() { "/" } else { rest });
        let fix = "set `pulumi.backend_url` (or CLOUD_PULUMI_BACKEND_URL) to file://<a writable directory>";
        return match dir_status(&dir) {
            Ok(DirState::Writable) => Check::ok(NAME, format!("{shown} (writable)")),
            Ok(DirState::WillCreate(parent)) => Check::ok(
                NAME,
                format!("{shown} (created on first use; {} is writable)", parent.display()),
            ),
            Err(why) => Check::with(NAME, Status::Fail, format!("{shown}: {why}"), fix),
        };
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let Some((host, port)) = host_port(url) else {
            return Check::with(
                NAME,
                Status::Fail,
                format!("{shown}: no host in the URL"),
                "fix `pulumi.backend_url`",
            );
        };
        let addr = format!("{host}:{port}");
        return match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => Check::ok(NAME, format!("{shown} (reachable: connected to {addr})")),
            Ok(Err(e)) => Check::with(
                NAME,
                Status::Fail,
                format!("{shown}: cannot connect to {addr}: {e}"),
                "check the URL, the network and any proxy between this machine and the backend",
            ),
            Err(_) => Check::with(
                NAME,
                Status::Fail,
                format!("{shown}: no answer from {addr} within {CONNECT_TIMEOUT:?}"),
                "check the URL, the network and any proxy between this machine and the backend",
            ),
        };
    }
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or(url);
    Check::with(
        NAME,
        Status::Skipped,
        format!("{shown}: not checked (the doctor checks file:// and http(s) backends, not {scheme}://)"),
        format!("check access with `PULUMI_BACKEND_URL={shown} pulumi whoami` where pulumi is installed"),
    )
}

/// Host and port of an `http(s)://[user[:pass]@]host[:port]/…` URL.
fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (
            format!("[{h}]"),
            after.strip_prefix(':').map(str::parse).transpose().ok()?,
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port.unwrap_or(default)))
}

/// What a directory the app writes to looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DirState {
    /// It exists and a file could be created in it.
    Writable,
    /// It does not exist yet; its nearest existing ancestor (given) is writable.
    WillCreate(PathBuf),
}

/// Whether `dir` can be written (a probe file is created and removed), or created under its
/// nearest existing ancestor. Creates nothing that stays.
fn dir_status(dir: &Path) -> Result<DirState, String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => probe(dir).map(|()| DirState::Writable),
        Ok(_) => Err(format!("{} exists and is not a directory", dir.display())),
        // Missing, or a path through a file (ENOTDIR): find the nearest existing ancestor.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
            let abs = if dir.is_absolute() {
                dir.to_path_buf()
            } else {
                std::env::current_dir()
                    .map(|c| c.join(dir))
                    .unwrap_or_else(|_| dir.to_path_buf())
            };
            let mut parent = abs.parent();
            while let Some(p) = parent {
                match std::fs::metadata(p) {
                    Ok(m) if m.is_dir() => {
                        return probe(p)
                            .map(|()| DirState::WillCreate(p.to_path_buf()))
                            .map_err(|why| format!("{} does not exist and cannot be created: {why}", dir.display()));
                    }
                    Ok(_) => {
                        return Err(format!(
                            "{} cannot be created: {} is not a directory",
                            dir.display(),
                            p.display()
                        ))
                    }
                    Err(_) => parent = p.parent(),
                }
            }
            Err(format!(
                "{} cannot be created: no existing parent directory",
                dir.display()
            ))
        }
        Err(e) => Err(format!("cannot read {}: {e}", dir.display())),
    }
}

fn probe(dir: &Path) -> Result<(), String> {
    let file = dir.join(format!(".cloud-doctor-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&file) {
        Ok(_) => {
            let _ = std::fs::remove_file(&file);
            Ok(())
        }
        Err(e) => Err(format!("{} is not writable ({e})", dir.display())),
    }
}

// ---------------------------------------------------------------------------------------------
// passphrase and credentials (presence only)

fn check_passphrase(source: &PassphraseSource) -> Check {
    const NAME: &str = "passphrase";
    match source {
        PassphraseSource::Env(value) => {
            if secrecy::ExposeSecret::expose_secret(value).is_empty() {
                Check::with(
                    NAME,
                    Status::Warn,
                    "PULUMI_CONFIG_PASSPHRASE is set but empty (valid, but it protects nothing)",
                    "set a non-empty PULUMI_CONFIG_PASSPHRASE, or unset it to use a generated passphrase file",
                )
            } else {
                Check::ok(
                    NAME,
                    "from the environment: PULUMI_CONFIG_PASSPHRASE is set (value not shown)",
                )
            }
        }
        PassphraseSource::File(path) => {
            let fix = "point `pulumi.passphrase_file` (or CLOUD_PULUMI_PASSPHRASE_FILE / PULUMI_CONFIG_PASSPHRASE_FILE) at a readable file holding the passphrase";
            match std::fs::File::open(path).and_then(|f| f.metadata()) {
                Ok(m) if m.is_file() && m.len() > 0 => Check::ok(
                    NAME,
                    format!("from file {} (readable; contents not shown)", path.display()),
                ),
                Ok(m) if m.is_file() => {
                    Check::with(NAME, Status::Warn, format!("file {} is empty", path.display()), fix)
                }
                Ok(_) => Check::with(NAME, Status::Fail, format!("{} is not a file", path.display()), fix),
                Err(e) => Check::with(
                    NAME,
                    Status::Fail,
                    format!("cannot read the passphrase file {}: {e}", path.display()),
                    fix,
                ),
            }
        }
        PassphraseSource::Generated(path) => {
            if path.is_file() {
                Check::ok(NAME, format!("generated file {} (contents not shown)", path.display()))
            } else {
                Check::ok(
                    NAME,
                    format!("none configured: one is generated on first use in {}", path.display()),
                )
            }
        }
    }
}

/// Variables that give the AWS provider credentials (the stacks are AWS programs).
pub(crate) const AWS_CREDENTIAL_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

fn is_set(env: &BTreeMap<String, String>, key: &str) -> bool {
    env.get(key).is_some_and(|v| !v.is_empty())
}

/// Which cloud credentials the environment carries — names only.
fn check_credentials(backend_url: &str, env: &BTreeMap<String, String>) -> Vec<Check> {
    const NAME: &str = "cloud credentials";
    let mut out = Vec::new();
    let set: Vec<&str> = AWS_CREDENTIAL_VARS.iter().copied().filter(|k| is_set(env, k)).collect();
    let key = is_set(env, "AWS_ACCESS_KEY_ID");
    let secret = is_set(env, "AWS_SECRET_ACCESS_KEY");
    let region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .find(|k| is_set(env, k));
    let region_note = region.map(|r| format!("; region from {r}")).unwrap_or_default();
    let shared = env
        .get("HOME")
        .map(|h| Path::new(h).join(".aws"))
        .filter(|d| d.join("credentials").is_file() || d.join("config").is_file());
    if key != secret {
        let (has, lacks) = if key {
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        } else {
            ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        };
        out.push(Check::with(
            NAME,
            Status::Fail,
            format!("AWS: {has} is set but {lacks} is not"),
            format!("export {lacks} too, or unset {has} and use AWS_PROFILE"),
        ));
    } else if !set.is_empty() {
        out.push(Check::ok(
            NAME,
            format!("AWS: {} set (values not shown){region_note}", set.join(", ")),
        ));
    } else if let Some(dir) = shared {
        out.push(Check::ok(
            NAME,
            format!(
                "AWS: shared configuration in {} (default profile; contents not shown){region_note}",
                dir.display()
            ),
        ));
    } else {
        out.push(Check::with(
            NAME,
            Status::Warn,
            "AWS: none in the environment (AWS_PROFILE, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, AWS_WEB_IDENTITY_TOKEN_FILE, …) and no ~/.aws",
            "the real stacks need AWS credentials for `pulumi up`; the offline stand-in needs none",
        ));
    }
    if backend_url.starts_with("http://") || backend_url.starts_with("https://") {
        const TOKEN: &str = "pulumi token";
        let home = env
            .get("PULUMI_HOME")
            .map(PathBuf::from)
            .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".pulumi")));
        if is_set(env, "PULUMI_ACCESS_TOKEN") {
            out.push(Check::ok(TOKEN, "PULUMI_ACCESS_TOKEN is set (value not shown)"));
        } else if let Some(file) = home.map(|h| h.join("credentials.json")).filter(|f| f.is_file()) {
            out.push(Check::ok(
                TOKEN,
                format!("stored login in {} (contents not shown)", file.display()),
            ));
        } else {
            out.push(Check::with(
                TOKEN,
                Status::Fail,
                "the backend is a Pulumi Cloud URL but PULUMI_ACCESS_TOKEN is not set and there is no stored login",
                "export PULUMI_ACCESS_TOKEN (from app.pulumi.com → Access tokens) in the bot's environment",
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// data dir and database

fn check_data_dir(dir: &Path) -> Check {
    const NAME: &str = "data dir";
    match dir_status(dir) {
        Ok(DirState::Writable) => Check::ok(NAME, format!("{} (writable)", dir.display())),
        Ok(DirState::WillCreate(parent)) => Check::ok(
            NAME,
            format!(
                "{} (created on first use; {} is writable)",
                dir.display(),
                parent.display()
            ),
        ),
        Err(why) => Check::with(
            NAME,
            Status::Fail,
            why,
            "set `data_dir` in the configuration, CLOUD_DATA_DIR or --data-dir to a writable directory",
        ),
    }
}

/// The file of a `sqlite://path[?options]` URL (`None` for in-memory databases).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

async fn check_database(url: &str) -> Check {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;

    const NAME: &str = "database";
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return check_postgres(url).await;
    }
    let known: Vec<&sqlx::migrate::Migration> = cloud_core::store::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let fix_open = "move the file away (or restore a backup) and run any `cloud` command to create a new database, or set `database_url` / CLOUD_DATABASE_URL";
    let Some(file) = sqlite_file(url) else {
        return Check::with(
            NAME,
            Status::Skipped,
            format!("{url}: in-memory, nothing to check"),
            "use a file database to keep sessions",
        );
    };
    if !file.exists() {
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return match dir_status(dir) {
            Ok(_) => Check::ok(
                NAME,
                format!(
                    "{} not created yet: the next `cloud` command creates it and applies {} migration{}",
                    file.display(),
                    known.len(),
                    if known.len() == 1 { "" } else { "s" }
                ),
            ),
            Err(why) => Check::with(
                NAME,
                Status::Fail,
                format!("{} cannot be created: {why}", file.display()),
                "set `data_dir` (or `database_url` / CLOUD_DATABASE_URL) to a writable place",
            ),
        };
    }
    // Open without creating and without migrating: the doctor only looks.
    let options = match SqliteConnectOptions::from_str(url) {
        Ok(o) => o.create_if_missing(false).busy_timeout(Duration::from_secs(5)),
        Err(e) => return Check::with(NAME, Status::Fail, format!("{url}: {e}"), "fix `database_url`"),
    };
    let mut conn = match options.connect().await {
        Ok(c) => c,
        Err(e) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("cannot open {}: {e}", file.display()),
                fix_open,
            )
        }
    };
    let integrity: Result<String, sqlx::Error> = sqlx::query_scalar("PRAGMA quick_check").fetch_one(&mut conn).await;
    match integrity {
        Ok(s) if s == "ok" => {}
        Ok(s) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("{} is damaged: {s}", file.display()),
                fix_open,
            )
        }
        Err(e) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("cannot read {}: {e}", file.display()),
                fix_open,
            )
        }
    }
    // sqlx's own bookkeeping table: not part of our schema, hence an unchecked query.
    let has_table: Result<i64, sqlx::Error> =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_one(&mut conn)
            .await;
    let applied: Vec<(i64, Vec<u8>, bool)> = match has_table {
        Ok(0) => vec![],
        Ok(_) => match sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                return Check::with(
                    NAME,
                    Status::Fail,
                    format!("cannot read the migration table of {}: {e}", file.display()),
                    fix_open,
                )
            }
        },
        Err(e) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("cannot read {}: {e}", file.display()),
                fix_open,
            )
        }
    };
    let _ = conn.close().await;
    migrations_check(&file.display().to_string(), &applied, &known)
}

/// The database's recorded migrations against the ones this binary knows.
fn migrations_check(place: &str, applied: &[(i64, Vec<u8>, bool)], known: &[&sqlx::migrate::Migration]) -> Check {
    const NAME: &str = "database";
    let mut problems = Vec::new();
    for (version, checksum, success) in applied {
        match known.iter().find(|m| m.version == *version) {
            None => problems.push(format!(
                "migration {version} is not known to this cloud binary (a newer version wrote the database)"
            )),
            Some(m) if m.checksum.as_ref() != checksum.as_slice() => problems.push(format!(
                "migration {version} ({}) was changed after it was applied",
                m.description
            )),
            Some(_) if !success => problems.push(format!("migration {version} did not finish")),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Check::with(
            NAME,
            Status::Fail,
            format!("{place}: {}", problems.join("; ")),
            "run the cloud version that created this database, or restore a backup",
        );
    }
    let pending = known
        .iter()
        .filter(|m| !applied.iter().any(|(v, _, _)| *v == m.version))
        .count();
    if pending > 0 {
        return Check::with(
            NAME,
            Status::Warn,
            format!(
                "{place}: {} of {} migrations applied, {pending} pending",
                applied.len(),
                known.len()
            ),
            "the next `cloud` command (e.g. `cloud list`) applies them",
        );
    }
    Check::ok(
        NAME,
        format!("{place} opens; {}/{} migrations applied", applied.len(), known.len()),
    )
}

/// A PostgreSQL `database_url`: connect (without migrating) and compare the recorded migrations
/// with the PostgreSQL spelling of this binary's.
async fn check_postgres(url: &str) -> Check {
    use cloud_core::store::migrate::{migrator, Dialect};
    use sqlx::postgres::PgConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;

    const NAME: &str = "database";
    let shown = mask_url(url);
    let migrator = match migrator(Dialect::Postgres).await {
        Ok(m) => m,
        Err(e) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("the migrations do not load: {e}"),
                "rebuild cloud",
            )
        }
    };
    let known: Vec<&sqlx::migrate::Migration> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let options = match PgConnectOptions::from_str(url) {
        Ok(o) => o,
        Err(e) => return Check::with(NAME, Status::Fail, format!("{shown}: {e}"), "fix `database_url`"),
    };
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("cannot connect to {shown}: {e}"),
                "check that the server runs, that the database exists (`createdb`), and the password (PGPASSWORD or ~/.pgpass)",
            )
        }
        Err(_) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("{shown} did not answer within {}s", CONNECT_TIMEOUT.as_secs()),
                "check the host and port in `database_url` and the network to it",
            )
        }
    };
    // sqlx's own bookkeeping table: not part of our schema, hence unchecked queries.
    let has_table: Result<bool, sqlx::Error> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut conn)
        .await;
    let applied: Vec<(i64, Vec<u8>, bool)> = match has_table {
        Ok(false) => vec![],
        Ok(true) => match sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                return Check::with(
                    NAME,
                    Status::Fail,
                    format!("cannot read the migration table of {shown}: {e}"),
                    "grant the user SELECT on _sqlx_migrations",
                )
            }
        },
        Err(e) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("cannot query {shown}: {e}"),
                "check the user's rights",
            )
        }
    };
    let _ = conn.close().await;
    migrations_check(&shown, &applied, &known)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn host_and_port_of_backend_urls() {
        assert_eq!(
            host_port("https://api.pulumi.com"),
            Some(("api.pulumi.com".into(), 443))
        );
        assert_eq!(
            host_port("http://u:pw@127.0.0.1:8080/x?y"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(host_port("https://[::1]:9/"), Some(("[::1]".into(), 9)));
        assert_eq!(host_port("https:///path"), None);
        assert_eq!(host_port("http://host:notaport"), None);
    }

    #[test]
    fn credentials_are_named_never_shown() {
        let c = check_credentials(
            "file:///x",
            &env(&[
                ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
                ("AWS_REGION", "eu-west-1"),
            ]),
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].status, Status::Ok);
        let line = c[0].line();
        assert!(
            line.contains("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY set") && line.contains("region from AWS_REGION"),
            "{line}"
        );
        assert!(
            !line.contains("AKIAEXAMPLE") && !line.contains("wJalrXUtnFEMI") && !line.contains("eu-west-1"),
            "{line}"
        );

        let half = check_credentials("file:///x", &env(&[("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")]));
        assert_eq!(half[0].status, Status::Fail);
        assert!(
            half[0].line().contains("AWS_SECRET_ACCESS_KEY is not"),
            "{}",
            half[0].line()
        );

        let none = check_credentials("file:///x", &env(&[("HOME", "/nonexistent-home")]));
        assert_eq!(none[0].status, Status::Warn);
    }

    #[test]
    fn a_cloud_backend_needs_a_token() {
        let c = check_credentials(
            "https://api.pulumi.com",
            &env(&[("HOME", "/nonexistent-home"), ("AWS_PROFILE", "p")]),
        );
        assert_eq!(c[1].name, "pulumi token");
        assert_eq!(c[1].status, Status::Fail);
        let c = check_credentials(
            "https://api.pulumi.com",
            &env(&[("PULUMI_ACCESS_TOKEN", "pul-123secret"), ("AWS_PROFILE", "p")]),
        );
        assert_eq!(c[1].status, Status::Ok);
        assert!(!c[1].line().contains("pul-123secret"));
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite:///tmp/x/cloud.db"),
            Some(PathBuf::from("/tmp/x/cloud.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://.data/cloud.db?mode=rwc"),
            Some(PathBuf::from(".data/cloud.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn lines_are_one_line_with_a_fix_for_problems_only() {
        let c = Check::with("backend", Status::Fail, "a\nb", "do\nthis");
        assert_eq!(c.line(), "FAIL  backend            a b — fix: do this");
        let ok = Check {
            fix: Some("x".into()),
            ..Check::ok("data dir", "fine")
        };
        assert_eq!(ok.line(), "ok    data dir           fine");
    }
}
