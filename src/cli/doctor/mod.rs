//! `cloud doctor`: is this machine ready to plan and apply? One line per check: the
//! configuration, the pulumi binary and its version, the state backend, the secrets passphrase,
//! cloud credentials, the data directory and the database (and, in [`identity`], who
//! pulumi, aws and gcloud say you are, the chat tokens' shape) — each failing line says how to fix
//! it, and the command exits 2 when any check fails.
//!
//! The doctor looks and never repairs: it creates no directory, generates no passphrase and
//! applies no migration (every other `cloud` command does those on start). It reports *whether*
//! a secret is present — never its value.

mod backend;
mod binary;
mod check;
mod credentials;
mod data_dir;
mod database;
mod identity;

use std::collections::BTreeMap;
use std::io::Write;

use cloud_core::config::{Config, ConfigError, Overrides};
use cloud_domain::error::UserError;

pub use binary::{binary_fix, locate_binary};
pub use check::{Check, Status};

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
    checks.push(binary::check_binary(config, env).await);
    checks.push(backend::check_backend(&config.pulumi.backend_url).await);
    checks.push(identity::check_login(config, env).await);
    checks.push(backend::check_passphrase(&config.pulumi.passphrase));
    checks.extend(credentials::check_credentials(&config.pulumi.backend_url, env));
    checks.push(identity::check_aws_identity(env).await);
    checks.push(identity::check_gcp_credentials(env));
    checks.push(identity::check_gcp_identity(env).await);
    checks.push(identity::check_chat_tokens(config));
    checks.push(data_dir::check_data_dir(&config.data_dir));
    checks.extend(identity::check_data_dir_permissions(&config.data_dir));
    let database = database::check_database(&config.database_url).await;
    let readable = database.status == Status::Ok;
    checks.push(database);
    if readable {
        checks.push(database::check_session_rows(&config.database_url).await);
    }
    Report { checks }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::backend::host_port;
    use super::check::Check;
    use super::credentials::check_credentials;
    use super::database::sqlite_file;
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
