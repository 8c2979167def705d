//! Runs the real `cloud` binary the way a user does: in a throwaway directory, with the
//! repository as its workspace (stacks/, deploy/, templates/), a fresh data directory, the
//! project's Pulumi stand-in as `pulumi.binary`, and an environment that holds only what the
//! test gives it (no AWS_* or PULUMI_* leaking in from the machine running the tests).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository checkout (the workspace the README's commands use).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Pulumi stand-in built with this crate.
pub fn standin() -> PathBuf {
    cloud_testkit::paths::standin()
}

/// What one `cloud …` run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout and stderr together, for "never printed" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A temp directory to run `cloud` in, plus the environment variables every run gets.
pub struct Cli {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Cli {
    /// Runs in a fresh temp dir: workspace = the repository, data dir = `<tmp>/data`, engine =
    /// the stand-in, user `alice`, HOME = the temp dir.
    pub fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let mut cli = Cli { dir, env: vec![] };
        cli.set("PATH", &std::env::var("PATH").unwrap_or_default());
        cli.set("HOME", &home.display().to_string());
        cli.set("CLOUD_WORKSPACE", &repo().display().to_string());
        cli.set("CLOUD_DATA_DIR", &home.join("data").display().to_string());
        cli.set("CLOUD_USER", "alice");
        cli.set("CLOUD_PULUMI_BINARY", &standin().display().to_string());
        // Like the repository's config/cloud.yaml: every cli: user is an admin. Access tests
        // unset it and name their admins.
        cli.set("CLOUD_LOCAL_CLI_ADMIN", "true");
        cli
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Set (or replace) a variable for every later run.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// `cloud <args…>` in the temp dir.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// `cloud <args…>` with extra variables for this run only.
    pub fn run_with(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloud"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("the cloud binary runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The sessions as `cloud list --json` reports them: (short id, state) newest first.
    pub fn sessions(&self) -> Vec<(String, String)> {
        let run = self.run(&["list", "--json"]);
        run.expect_code(0);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap()[..8].to_string(),
                    s["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// Write an executable `#!/bin/sh` script.
pub fn script(path: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}
