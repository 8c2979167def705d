//! Cloud credentials: present or not, named, never shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::check::{Check, Status};

/// Variables that give the AWS provider credentials (the stacks are AWS programs).
pub(super) const AWS_CREDENTIAL_VARS: &[&str] = &[
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

pub(super) fn is_set(env: &BTreeMap<String, String>, key: &str) -> bool {
    env.get(key).is_some_and(|v| !v.is_empty())
}

/// Which cloud credentials the environment carries — names only.
pub(super) fn check_credentials(backend_url: &str, env: &BTreeMap<String, String>) -> Vec<Check> {
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
