//! Where the pulumi binary is, whether it runs, and which version it is.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cloud_core::config::Config;

use super::check::{Check, Status};

/// How long `pulumi version` may take (a cold start of the real CLI can take a few seconds).
pub(super) const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

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

pub(super) fn is_executable(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

pub(super) async fn check_binary(config: &Config, env: &BTreeMap<String, String>) -> Check {
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
