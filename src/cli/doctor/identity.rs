//! The checks of `cloud doctor` that ask the tools themselves (issue 18.8): who the Pulumi CLI is
//! logged in as (`pulumi whoami`), which AWS identity the credentials are (`aws sts
//! get-caller-identity`) and which Google Cloud account is active (`gcloud auth list`) — each
//! only when that CLI is installed, otherwise the line says it was not checked — plus whether
//! Google Cloud credentials are present, the shape of the chat tokens and the data directory's
//! permissions. Secret values are never printed: only whether they are there and well-formed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;

use super::check::{Check, Status};
use super::credentials::AWS_CREDENTIAL_VARS;
use cloud_core::config::{mask_url, Config};

/// How long an identity call may take (`aws` and `gcloud` start slowly; a real login may ask a
/// server).
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a tool printed and how it ended.
struct Ran {
    ok: bool,
    code: String,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The first non-empty line of stderr (else stdout), one line.
    fn first_error(&self) -> String {
        self.stderr
            .lines()
            .chain(self.stdout.lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    }
}

/// Runs `program args…` with a cleared environment plus the `pass`ed variables of `env` and
/// `extra`, bounded by [`IDENTITY_TIMEOUT`].
async fn run_tool(
    program: &Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
    pass: &[&str],
    extra: &[(&str, &str)],
) -> Result<Ran, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for key in ["PATH", "HOME", "USER", "LOGNAME"].iter().chain(pass) {
        if let Some(v) = env.get(*key) {
            cmd.env(key, v);
        }
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let shown = format!("{} {}", program.display(), args.join(" "));
    let output = match tokio::time::timeout(IDENTITY_TIMEOUT, cmd.output()).await {
        Err(_) => return Err(format!("`{shown}` did not answer within {IDENTITY_TIMEOUT:?}")),
        Ok(Err(e)) => return Err(format!("cannot run `{shown}`: {e}")),
        Ok(Ok(o)) => o,
    };
    Ok(Ran {
        ok: output.status.success(),
        code: output
            .status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "a signal".into()),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// `name` on the `PATH` of `env`, when it is an executable file there.
fn on_path(name: &str, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = env.get("PATH")?;
    std::env::split_paths(path)
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

fn is_set(env: &BTreeMap<String, String>, key: &str) -> bool {
    env.get(key).is_some_and(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------------
// pulumi whoami

/// `pulumi whoami -v` against the configured backend: is the CLI logged in, and as whom.
pub async fn check_login(config: &Config, env: &BTreeMap<String, String>) -> Check {
    const NAME: &str = "pulumi login";
    let backend = &config.pulumi.backend_url;
    let shown_backend = mask_url(backend);
    let Ok(binary) = super::binary::locate_binary(&config.pulumi.binary) else {
        return Check::with(
            NAME,
            Status::Skipped,
            "not checked: the pulumi binary is missing (see above)",
            super::binary::binary_fix(config),
        );
    };
    let ran = run_tool(
        &binary,
        &["whoami", "-v"],
        env,
        &["PULUMI_HOME", "PULUMI_ACCESS_TOKEN"],
        &[("PULUMI_BACKEND_URL", backend), ("PULUMI_SKIP_UPDATE_CHECK", "true")],
    )
    .await;
    // The backend URL may carry a password: whatever the tool echoes, it is shown masked.
    let mask = |text: &str| text.replace(backend.as_str(), &shown_backend);
    let login_fix = if backend.starts_with("http://") || backend.starts_with("https://") {
        format!("export PULUMI_ACCESS_TOKEN (app.pulumi.com → Access tokens) or run `pulumi login {shown_backend}`")
    } else {
        format!("check `pulumi.backend_url` ({shown_backend}): `PULUMI_BACKEND_URL={shown_backend} pulumi whoami -v` must name a user")
    };
    match ran {
        Err(why) => Check::with(NAME, Status::Fail, mask(&why), login_fix),
        Ok(ran) if ran.ok => {
            let user = ran
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("User:"))
                .or_else(|| ran.stdout.lines().next())
                .unwrap_or("")
                .trim()
                .to_string();
            if user.is_empty() {
                Check::with(NAME, Status::Warn, "`pulumi whoami` named no user", login_fix)
            } else {
                Check::ok(NAME, format!("logged in as {user} on {shown_backend}"))
            }
        }
        Ok(ran) => Check::with(
            NAME,
            Status::Fail,
            mask(&format!(
                "`pulumi whoami` exited with {}: {}",
                ran.code,
                ran.first_error()
            )),
            login_fix,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// AWS and Google Cloud identities

/// Whether the environment carries AWS credentials of any kind (the `cloud credentials` line
/// says which).
fn aws_credentials(env: &BTreeMap<String, String>) -> bool {
    AWS_CREDENTIAL_VARS.iter().any(|k| is_set(env, k))
        || env
            .get("HOME")
            .map(|h| Path::new(h).join(".aws"))
            .is_some_and(|d| d.join("credentials").is_file() || d.join("config").is_file())
}

/// `aws sts get-caller-identity` when the `aws` CLI is installed and credentials are present.
pub async fn check_aws_identity(env: &BTreeMap<String, String>) -> Check {
    const NAME: &str = "aws identity";
    if !aws_credentials(env) {
        return Check::with(
            NAME,
            Status::Skipped,
            "not checked: no AWS credentials (see `cloud credentials`)",
            "give AWS credentials first; then the identity is checked with `aws sts get-caller-identity`",
        );
    }
    let Some(aws) = on_path("aws", env) else {
        return Check::with(
            NAME,
            Status::Skipped,
            "not checked: the aws CLI is not installed",
            "install the AWS CLI to have `aws sts get-caller-identity` check the credentials work",
        );
    };
    let mut pass: Vec<&str> = AWS_CREDENTIAL_VARS.to_vec();
    pass.extend([
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ]);
    let fix = "refresh the credentials (`aws sso login`, `aws configure`, or new AWS_* values) until `aws sts get-caller-identity` answers";
    match run_tool(
        &aws,
        &["sts", "get-caller-identity", "--output", "json"],
        env,
        &pass,
        &[],
    )
    .await
    {
        Err(why) => Check::with(NAME, Status::Warn, why, fix),
        Ok(ran) if ran.ok => {
            let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap_or_default();
            match (doc["Account"].as_str(), doc["Arn"].as_str()) {
                (Some(account), Some(arn)) => Check::ok(NAME, format!("account {account} as {arn}")),
                _ => Check::with(
                    NAME,
                    Status::Warn,
                    "`aws sts get-caller-identity` answered without an Account and Arn",
                    fix,
                ),
            }
        }
        Ok(ran) => Check::with(
            NAME,
            Status::Warn,
            format!(
                "`aws sts get-caller-identity` exited with {}: {}",
                ran.code,
                ran.first_error()
            ),
            fix,
        ),
    }
}

/// Google Cloud credentials in the environment or gcloud's application-default file — names
/// only.
pub fn check_gcp_credentials(env: &BTreeMap<String, String>) -> Check {
    const NAME: &str = "gcp credentials";
    if let Some(file) = env.get("GOOGLE_APPLICATION_CREDENTIALS").filter(|v| !v.is_empty()) {
        return if Path::new(file).is_file() {
            Check::ok(NAME, "GOOGLE_APPLICATION_CREDENTIALS names a file (contents not shown)")
        } else {
            Check::with(
                NAME,
                Status::Fail,
                format!("GOOGLE_APPLICATION_CREDENTIALS names {file}, which is not a file"),
                "point GOOGLE_APPLICATION_CREDENTIALS at a service-account key file, or unset it and run `gcloud auth application-default login`",
            )
        };
    }
    let set: Vec<&str> = [
        "GOOGLE_CREDENTIALS",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "CLOUDSDK_AUTH_ACCESS_TOKEN",
    ]
    .into_iter()
    .filter(|k| is_set(env, k))
    .collect();
    if !set.is_empty() {
        return Check::ok(NAME, format!("{} set (values not shown)", set.join(", ")));
    }
    let config_dir = env
        .get("CLOUDSDK_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".config/gcloud")));
    if let Some(adc) = config_dir
        .map(|d| d.join("application_default_credentials.json"))
        .filter(|f| f.is_file())
    {
        return Check::ok(
            NAME,
            format!(
                "application-default credentials in {} (contents not shown)",
                adc.display()
            ),
        );
    }
    Check::with(
        NAME,
        Status::Warn,
        "none in the environment (GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_CREDENTIALS, …) and no application-default credentials",
        "the gcp-* stacks need Google Cloud credentials for `pulumi up` (`gcloud auth application-default login`); the offline stand-in needs none",
    )
}

/// `gcloud auth list` when the `gcloud` CLI is installed: the active account.
pub async fn check_gcp_identity(env: &BTreeMap<String, String>) -> Check {
    const NAME: &str = "gcp identity";
    let Some(gcloud) = on_path("gcloud", env) else {
        return Check::with(
            NAME,
            Status::Skipped,
            "not checked: the gcloud CLI is not installed",
            "install the Google Cloud CLI to have `gcloud auth list` name the active account",
        );
    };
    let fix = "log in with `gcloud auth login` (and `gcloud auth application-default login` for Pulumi)";
    let args = ["auth", "list", "--filter=status:ACTIVE", "--format=value(account)"];
    let pass = [
        "CLOUDSDK_CONFIG",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "CLOUDSDK_AUTH_ACCESS_TOKEN",
    ];
    match run_tool(&gcloud, &args, env, &pass, &[]).await {
        Err(why) => Check::with(NAME, Status::Warn, why, fix),
        Ok(ran) if ran.ok => match ran.stdout.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(account) => Check::ok(NAME, format!("active account {account}")),
            None => Check::with(NAME, Status::Warn, "`gcloud auth list`: no active account", fix),
        },
        Ok(ran) => Check::with(
            NAME,
            Status::Warn,
            format!("`gcloud auth list` exited with {}: {}", ran.code, ran.first_error()),
            fix,
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// chat tokens

/// A Discord bot token: three dot-separated base64url parts (user id, timestamp, HMAC).
fn discord_token_problem(token: &str) -> Option<&'static str> {
    if token.starts_with("Bot ") {
        return Some("starts with `Bot ` — give the token alone");
    }
    if token.chars().any(char::is_whitespace) {
        return Some("contains spaces or line breaks — copy it again without them");
    }
    let parts: Vec<&str> = token.split('.').collect();
    let base64url = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if parts.len() != 3 || !parts.iter().all(base64url) || token.len() < 50 {
        return Some("is not shaped like a bot token (three dot-separated base64 parts, 50+ characters) — copy it from the Developer Portal (Bot → Reset Token), not the client secret or application id");
    }
    None
}

/// The shape of the configured Discord and Slack secrets (values never shown).
pub fn check_chat_tokens(config: &Config) -> Check {
    const NAME: &str = "chat tokens";
    let mut found = Vec::new();
    let mut problems = Vec::new();
    if let Some(token) = &config.discord.token {
        found.push(format!("Discord token from {}", config.discord.token_origin));
        if let Some(p) = discord_token_problem(token.expose_secret()) {
            problems.push(format!("the Discord token {p}"));
        }
    }
    let slack = [
        ("SLACK_BOT_TOKEN", config.slack.bot_token.as_ref(), "xoxb-"),
        ("SLACK_APP_TOKEN", config.slack.app_token.as_ref(), "xapp-"),
    ];
    for (name, value, prefix) in slack {
        if let Some(v) = value {
            found.push(name.to_string());
            if !v.expose_secret().starts_with(prefix) {
                problems.push(format!(
                    "{name} does not start with `{prefix}` — copy it from the Slack app's settings"
                ));
            }
        }
    }
    if let Some(secret) = &config.slack.signing_secret {
        found.push("SLACK_SIGNING_SECRET".into());
        let s = secret.expose_secret();
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(
                "SLACK_SIGNING_SECRET is not 32 hex digits — copy the Signing Secret (Basic Information), not the verification token".into(),
            );
        }
    }
    if found.is_empty() {
        return Check::with(
            NAME,
            Status::Skipped,
            "none configured (only `cloud serve` needs them)",
            "see docs/discord.md and docs/slack.md to run the bots",
        );
    }
    if problems.is_empty() {
        return Check::ok(NAME, format!("{}: well-formed (values not shown)", found.join(", ")));
    }
    Check::with(
        NAME,
        Status::Fail,
        problems.join("; "),
        "set the right value; `cloud serve` cannot log in with a malformed token",
    )
}

// ---------------------------------------------------------------------------------------------
// data dir permissions

/// The data directory holds the database, the passphrase and engine logs: other users must not
/// read it (every other command refuses to start otherwise).
pub fn check_data_dir_permissions(dir: &Path) -> Option<Check> {
    use std::os::unix::fs::PermissionsExt;
    const NAME: &str = "data dir access";
    let meta = std::fs::metadata(dir).ok().filter(|m| m.is_dir())?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Some(Check::with(
            NAME,
            Status::Fail,
            format!(
                "{} has mode {mode:04o}: other users can reach the database and passphrase",
                dir.display()
            ),
            format!("chmod 700 {}", dir.display()),
        ));
    }
    Some(Check::ok(
        NAME,
        format!("{} is private (mode {mode:04o})", dir.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_tokens_are_judged_by_shape() {
        let good = format!("{}.{}.{}", "MTE5ODc2NTQzMjEwOTg3NjU0Mw", "GhIjKl", "a".repeat(38));
        assert_eq!(discord_token_problem(&good), None);
        assert!(discord_token_problem(&format!("Bot {good}"))
            .unwrap()
            .contains("`Bot `"));
        assert!(discord_token_problem("1198765432109876543")
            .unwrap()
            .contains("not shaped"));
        assert!(discord_token_problem(&format!("{good}\n"))
            .unwrap()
            .contains("line breaks"));
    }
}
