//! Runs the real `cloud` binary the way a user does: in a throwaway directory, with a throwaway
//! copy of the repository's workspace (stacks/, templates/, config/ and the sample deployment:
//! never the checkout, whatever a developer deployed there), a fresh data directory, the
//! project's Pulumi stand-in as `pulumi.binary`, and an environment that holds only what the
//! test gives it (no AWS_* or PULUMI_* leaking in from the machine running the tests).
//!
//! Every run is bounded by the test kit's safety net: a `cloud` that never ends fails the test
//! with what it printed, instead of hanging it.
#![allow(dead_code)]

use std::io::{BufRead, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use cloud_testkit::wait::SAFETY_NET;
use cloud_testkit::workspace::TempWorkspace;

/// The repository checkout, to read committed files (migrations, the price list) from. Tests
/// never run `cloud` against it: see [`Cli::workspace`].
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
    /// `CLOUD_WORKSPACE` of every run: copies of the repository's stacks, templates and
    /// configuration, and the sample deployment as the only deployment.
    pub workspace: TempWorkspace,
    pub env: Vec<(String, String)>,
}

impl Cli {
    /// Runs in a fresh temp dir: workspace = a [`TempWorkspace::sample`], data dir =
    /// `<tmp>/data`, engine = the stand-in, user `alice`, HOME = the temp dir.
    pub fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let workspace = TempWorkspace::sample();
        let root = workspace.root().display().to_string();
        let mut cli = Cli {
            dir,
            workspace,
            env: vec![],
        };
        cli.set("PATH", &std::env::var("PATH").unwrap_or_default());
        cli.set("HOME", &home.display().to_string());
        cli.set("CLOUD_WORKSPACE", &root);
        cli.set("CLOUD_DATA_DIR", &home.join("data").display().to_string());
        cli.set("CLOUD_USER", "alice");
        cli.set("CLOUD_PULUMI_BINARY", &standin().display().to_string());
        // Like the repository's config/cloud.yaml: every cli: user is an admin. Access tests
        // unset it and name their admins.
        cli.set("CLOUD_LOCAL_CLI_ADMIN", "true");
        cli
    }

    /// A shared-store setup (`local_cli_admin: false`): nobody is an admin by virtue of running
    /// `cloud`; `--as`/`CLOUD_USER` are refused. The OS user running the tests is mapped to
    /// `cli:root` (`access.os_users`), the bootstrap admin; everyone else acts through an API
    /// token ([`Cli::as_user`]).
    pub fn strict() -> Cli {
        let mut c = Cli::new();
        let config = c.path("strict.yaml");
        std::fs::write(
            &config,
            format!(
                "access:\n  local_cli_admin: false\n  os_users: {{{}: cli:root}}\nadmins: [cli:root]\n",
                os_user()
            ),
        )
        .unwrap();
        c.set("CLOUD_CONFIG", &config.display().to_string());
        c.set("CLOUD_LOCAL_CLI_ADMIN", "false");
        c.unset("CLOUD_USER");
        c
    }

    /// `cloud <args…>` as `who`: `root` is the mapped OS user; anyone else presents an API token
    /// that root created for them (once, kept under the temp dir, at most `admin`: their own
    /// grants decide what they may do).
    pub fn as_user(&self, who: &str, args: &[&str]) -> Run {
        if who == "root" {
            return self.run(args);
        }
        let token = self.token_for(who);
        self.run_with(args, &[("CLOUD_TOKEN", token.as_str())])
    }

    /// The API token of `who` (created by root on first use).
    pub fn token_for(&self, who: &str) -> String {
        let file = self.path(&format!("tokens/{}", who.replace(':', "_")));
        if let Ok(token) = std::fs::read_to_string(&file) {
            return token;
        }
        let run = self.run(&["tokens", "create", who, "--role", "admin", "--for", "1d", "--json"]);
        run.expect_code(0);
        let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let token = value["token"].as_str().unwrap().to_string();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &token).unwrap();
        token
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
        let mut child = self
            .command(args, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the cloud binary runs");
        let stdout = read_to_end(child.stdout.take().unwrap());
        let stderr = read_to_end(child.stderr.take().unwrap());
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(SAFETY_NET) {
            Ok(status) => status.expect("waiting for cloud"),
            Err(_) => {
                // SAFETY: the child is still running (the thread waiting for it has not
                // returned), so the pid is still its own.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                panic!(
                    "`cloud {}` did not end within {SAFETY_NET:?}\nstdout:\n{}\nstderr:\n{}",
                    args.join(" "),
                    stdout.join().unwrap(),
                    stderr.join().unwrap()
                );
            }
        };
        Run {
            code: status.code(),
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }

    /// The command `cloud <args…>` as [`Cli::run_with`] runs it (stdout and stderr inherited).
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
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
        cmd
    }

    /// Starts `cloud <args…>` in the background, the way a user's second terminal would; the
    /// test reads its output line by line as it is printed ([`Running::wait_line`]).
    pub fn spawn(&self, args: &[&str], extra: &[(&str, &str)]) -> Running {
        self.spawn_command(self.command(args, extra), &format!("cloud {}", args.join(" ")))
    }

    /// Starts a prepared command ([`Cli::command`], with its own stdin or process group) in the
    /// background like [`Cli::spawn`].
    pub fn spawn_command(&self, mut command: Command, what: &str) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cloud starts");
        let (tx, lines) = mpsc::channel();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            command: what.to_string(),
            lines,
            printed: vec![],
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

    /// `cloud status <id> --json`, parsed.
    pub fn status_json(&self, id: &str) -> serde_json::Value {
        let run = self.run(&["status", id, "--json"]);
        run.expect_code(0);
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    }

    /// The stack locks held, as `cloud locks --json` lists them.
    pub fn held_locks(&self) -> Vec<serde_json::Value> {
        let run = self.run(&["locks", "--json"]);
        run.expect_code(0);
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
    }

    /// `cloud <args…>` in the background in its own process group (as a job of an interactive
    /// shell runs), so that a signal to the group reaches its engine processes too
    /// ([`Running::kill_group`]) and a signal to `cloud` alone reaches only `cloud`.
    pub fn spawn_group(&self, args: &[&str], extra: &[(&str, &str)]) -> Running {
        let mut command = self.command(args, extra);
        command.process_group(0);
        self.spawn_command(command, &format!("cloud {}", args.join(" ")))
    }

    /// `cloud <args…>` like [`Cli::spawn_group`], with a pseudo-terminal as its stdin
    /// ([`terminal`]), the way someone at an interactive shell runs it. Returns the terminal's
    /// master side with it: keep it open while the process runs.
    pub fn spawn_at_terminal(&self, args: &[&str]) -> (Running, std::fs::File) {
        let (master, slave) = terminal();
        let mut command = self.command(args, &[]);
        command.process_group(0).stdin(slave);
        let running = self.spawn_command(command, &format!("cloud {} (at a terminal)", args.join(" ")));
        (running, master)
    }

    /// Nothing is held (`cloud locks` is empty), and `stacks` of ecommerce/dev deploy again at
    /// once, with nothing recovered on the way (`recovered_means`: what a recovery there would
    /// say about the test).
    #[track_caller]
    pub fn stacks_free_and_deploy_again(&self, stacks: &str, recovered_means: &str) {
        assert_eq!(
            self.held_locks(),
            Vec::<serde_json::Value>::new(),
            "`cloud locks` is empty"
        );
        let again = self.run(&["deploy", "ecommerce", "dev", "--approve", "--stacks", stacks]);
        again.expect_code(0);
        assert!(again.stdout.contains("Applied."), "{}", again.all());
        assert!(
            !again.stderr.contains("recovered"),
            "{recovered_means}: {}",
            again.stderr
        );
    }

    /// `cloud deploy ecommerce dev --approve --stacks <stacks>` in its own process group
    /// ([`Cli::spawn_group`]), with the stand-in's apply gate (which never opens) on `held`:
    /// returns the running deploy and its session once `held`'s update is held in its first
    /// resource step ([`Cli::held_at_the_gate`]).
    #[track_caller]
    pub fn deploy_held_at_the_gate(&self, stacks: &str, held: &str) -> (Running, String) {
        let gate = self.path("gate").display().to_string();
        let mut deploy = self.spawn_group(
            &["deploy", "ecommerce", "dev", "--approve", "--stacks", stacks],
            &[
                ("PULUMI_STANDIN_APPLY_GATE", &gate),
                ("PULUMI_STANDIN_APPLY_GATE_STACKS", held),
            ],
        );
        let id = session_in(&deploy.wait_line("the session", |l| l.starts_with("Session ")));
        let applying = format!("{held}: applying");
        deploy.wait_line(&format!("{held}'s update"), |l| l == applying);
        self.held_at_the_gate(&id, held);
        (deploy, id)
    }

    /// Waits (following the session's log from a second `cloud`) until `stack`'s update is held
    /// in its first resource step (the stand-in's apply gate): the engine announces a step only
    /// after it saved the step's pending operation, so the checkpoint on disk then holds what a
    /// crash leaves behind. Checks that status shows the session APPLYING and the stack
    /// applying, and returns that status.
    #[track_caller]
    pub fn held_at_the_gate(&self, id: &str, stack: &str) -> serde_json::Value {
        let mut logs = self.spawn(&["logs", id, "--follow"], &[]);
        logs.wait_line("the end of the preview", |l| {
            l.starts_with(&format!("[{stack}] create pulumi:pulumi:Stack ")) && l.ends_with(" done")
        });
        logs.wait_line("the update's first resource step", |l| {
            l.starts_with(&format!("[{stack}] create aws:")) && l.ends_with(" ...")
        });
        drop(logs);
        let status = self.status_json(id);
        assert_eq!(status["session"]["state"], "APPLYING");
        assert_eq!(stack_state(&status, stack).0, "applying");
        status
    }
}

/// The (state, error) of `stack` in a `cloud status --json` document.
#[track_caller]
pub fn stack_state(status: &serde_json::Value, stack: &str) -> (String, String) {
    let row = status["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["stack"] == stack)
        .unwrap_or_else(|| panic!("no {stack} in {status}"));
    (
        row["state"].as_str().unwrap().to_string(),
        row["error"].as_str().unwrap_or("").to_string(),
    )
}

/// The session's short id from a line such as `Session 6f4e98e6  ecommerce/dev …` or
/// `Session 6f4e98e6 is queued …`.
#[track_caller]
pub fn session_in(line: &str) -> String {
    line.split_whitespace().nth(1).expect("a session id").to_string()
}

/// A pseudo-terminal for a child's stdin, as (master, slave): `cloud deploy` without
/// `--approve` asks "Approve and apply this plan? [y/N]" only when stdin is a terminal, and
/// waits there holding the session. Keep the master open while the child runs.
pub fn terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname on a descriptor this function owns; the
    // name is copied before any other pty call.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "a pseudo-terminal");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(master))
            .to_str()
            .unwrap()
            .to_string();
        let slave = std::fs::OpenOptions::new().read(true).write(true).open(&name).unwrap();
        (std::fs::File::from_raw_fd(master), slave)
    }
}

/// A `cloud` process running in the background ([`Cli::spawn`]).
pub struct Running {
    pub child: Child,
    command: String,
    lines: mpsc::Receiver<String>,
    /// Every line read so far, for failure messages.
    printed: Vec<String>,
}

impl Running {
    /// Waits until the process prints a line matching `check` and returns it. Fails with what it
    /// printed so far if its output ends first, or after the safety net.
    #[track_caller]
    pub fn wait_line(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SAFETY_NET;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.printed.push(line.clone());
                    if check(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "waited for {what} from `{}` ({}); it printed:\n{}",
                    self.command,
                    match e {
                        mpsc::RecvTimeoutError::Timeout => "safety net reached",
                        mpsc::RecvTimeoutError::Disconnected => "its output ended",
                    },
                    self.printed.join("\n")
                ),
            }
        }
    }

    /// SIGKILL to the process and everything it started (it runs in a process group of its
    /// own: [`Cli::spawn_group`]), then reaps it: what a supervisor stopping it does.
    pub fn kill_group(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: kill(2) of the process group this test created; nothing is dereferenced.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    /// A test that fails midway leaves no `cloud` behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The log a `cloud` child writes to stderr as JSON (`CLOUD_LOG_FORMAT=json`), read event by
/// event as it is written: how a test learns that something happened inside the process
/// (where it listens, that a transport connected) without polling it.
pub struct LogLines {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
}

impl LogLines {
    pub fn new(stderr: tokio::process::ChildStderr) -> LogLines {
        use tokio::io::AsyncBufReadExt;
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LogLines { lines, seen: vec![] }
    }

    /// Waits for a log event (a JSON object) matching `check` and returns it. Fails with the log
    /// so far if the log ends first, or after the safety net.
    pub async fn wait_for(
        &mut self,
        what: &str,
        mut check: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + SAFETY_NET;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
                        if check(&event) {
                            return event;
                        }
                    }
                }
                Ok(None) => panic!("the log ended before {what}:\n{}", self.so_far()),
                Err(_) => panic!("waited {SAFETY_NET:?} for {what} in the log:\n{}", self.so_far()),
            }
        }
    }

    /// The log read so far.
    pub fn so_far(&self) -> String {
        self.seen.join("\n")
    }

    /// The warnings and errors logged so far (the process may still run), for failure messages.
    pub fn warnings(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen
            .iter()
            .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The whole log, once the process has ended.
    pub async fn rest(mut self) -> String {
        while let Ok(Some(line)) = tokio::time::timeout(SAFETY_NET, self.lines.recv()).await {
            self.seen.push(line);
        }
        self.so_far()
    }
}

/// Reads a pipe to its end on a thread (both pipes must be drained at once, or a chatty child
/// blocks on the one nobody reads).
fn read_to_end(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Write an executable `#!/bin/sh` script.
pub fn script(path: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// The OS user running the tests, from the password database (what `cloud` itself reads).
pub fn os_user() -> String {
    // SAFETY: getpwuid returns null or a pointer to static storage; the name is copied at once.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        assert!(!pw.is_null(), "the test user has a password entry");
        std::ffi::CStr::from_ptr((*pw).pw_name).to_str().unwrap().to_string()
    }
}
