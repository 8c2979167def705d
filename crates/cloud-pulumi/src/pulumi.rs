//! The Pulumi CLI adapter: [`PulumiCli`] implements [`Engine`] by running the `pulumi` binary
//! (or the stand-in — the adapter cannot tell and does not care) as a subprocess.
//!
//! ## Workspaces
//! Pulumi's *project* must be the business project (`FullStackName.project`, e.g. `ecommerce`)
//! so that stacks are `<org>/ecommerce/<deployment>-<stack>-<env>`, while each program lives in
//! `stacks/<stack>/` with its own `Pulumi.yaml` (`name: <stack>`). So every stack gets a
//! generated workspace directory `<workspace_root>/<deployment>/<stack>-<env>/` holding
//!
//! ```yaml
//! name: <project>
//! runtime: nodejs
//! main: "<path from the workspace to StackTarget.workdir>"
//! ```
//!
//! Pulumi resolves `main` relative to `Pulumi.yaml`, so the program runs from `stacks/<stack>/`
//! unchanged, and the stack's `Pulumi.<stack>.yaml` (written by `config set`) stays in the
//! workspace, never in the source tree. Every command runs with the workspace as its working
//! directory (no `--cwd`).
//!
//! ## One run
//! `stack select --create <qualified>` → one `config set-all --plaintext=<key>=<value> …` for
//! every plain value → `config set --secret <key>` per secret, the value on stdin →
//! `preview` / `up --yes --skip-preview` / `destroy --yes --skip-preview` with
//! `--event-log <absolute file>`. The event log is tailed *while the process runs* and each
//! event becomes a [`Progress`] message at once. The operation timeout and the cancel token share
//! one stop path: SIGINT (Pulumi's graceful cancel: in-flight steps finish), then after the grace
//! period a kill.
//!
//! ## Few processes
//! Every process costs a Pulumi start-up (hundreds of milliseconds for the real CLI), so the
//! adapter remembers, per workspace, what it last wrote ([`Written`]): an `up` that follows its
//! `preview` with the same configuration starts only `up` and `stack output`. The memory is
//! checked against the stack's config file on disk (its hash), so a file changed behind our back
//! is written again; it lives in this process only (a digest of secret values is never stored
//! on disk).
//!
//! ## Environment and secrets
//! The child gets `env_clear()` and an explicit environment (see `PulumiCli::command_env`); the
//! passphrase travels only in the environment (`PULUMI_CONFIG_PASSPHRASE[_FILE]`), never on argv
//! or in logs. Secret config values travel on the child's stdin (`config set --secret <key>`
//! without a value reads it, as the real CLI does when stdin is not a terminal), never on argv,
//! where any local user could read them in `/proc/<pid>/cmdline`. Everything the adapter returns
//! or sends passes through a [`Redactor`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::classify::{classify, OpKind, RunOutcome, StopReason, TAIL_LINES};
use super::events::{EngineEvent, EventKind, Tailer, DEFAULT_POLL_INTERVAL};
use super::redact::Redactor;
use super::summary::{is_default_provider, strip_colors, StreamSummary};
use super::{ConfigValue, Engine, EngineError, Progress, ProgressSink, StackApply, StackPreview, StackTarget};
use cloud_domain::session::FullStackName;

/// Where the passphrase of the local backend's secrets provider comes from. Never put on argv,
/// never logged.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum PassphraseSource {
    /// Nothing set by us (a `PULUMI_CONFIG_PASSPHRASE[_FILE]` in the bot's environment is passed
    /// through like every `PULUMI_*` variable).
    #[default]
    Inherit,
    /// The passphrase itself (e.g. read by the config layer from an env var).
    Value(String),
    /// A file holding it (`PULUMI_CONFIG_PASSPHRASE_FILE`).
    File(PathBuf),
}

impl std::fmt::Debug for PassphraseSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PassphraseSource::Inherit => f.write_str("Inherit"),
            PassphraseSource::Value(_) => f.write_str("Value([secret])"),
            PassphraseSource::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

/// Configuration of the adapter (the `pulumi.*` section of the bot's config).
#[derive(Debug, Clone)]
pub struct PulumiConfig {
    /// `pulumi.binary`: the `pulumi` executable or the stand-in.
    pub binary: PathBuf,
    /// `PULUMI_BACKEND_URL`, e.g. `file:///var/lib/cloud/pulumi-state` (created if missing).
    pub backend_url: String,
    pub passphrase: PassphraseSource,
    /// Root of the generated per-stack workspaces (`<data dir>/workspaces`).
    pub workspace_root: PathBuf,
    /// Limit for preview/up/destroy.
    pub op_timeout: Duration,
    /// Limit for the short commands (select, config, output, cancel, version).
    pub command_timeout: Duration,
    /// Time between SIGINT and kill when stopping a run.
    pub cancel_grace: Duration,
    /// Names of extra variables passed through from the bot's environment (besides PATH, HOME,
    /// `AWS_*`, `PULUMI_*`).
    pub env_allowlist: Vec<String>,
    /// Extra variables with explicit values (e.g. `PULUMI_STANDIN_*` knobs in tests and demos).
    pub extra_env: BTreeMap<String, String>,
    /// Names whose values are secret even if the name does not look like it.
    pub secret_env_names: Vec<String>,
    /// The bot's environment, the source of passthrough variables and of env secrets to redact
    /// (taken from the process at [`PulumiConfig::new`]; replaceable for tests).
    pub host_env: Vec<(String, String)>,
    /// How often the event log is polled.
    pub poll_interval: Duration,
}

impl PulumiConfig {
    pub fn new(binary: impl Into<PathBuf>, backend_url: impl Into<String>, workspace_root: impl Into<PathBuf>) -> Self {
        PulumiConfig {
            binary: binary.into(),
            backend_url: backend_url.into(),
            passphrase: PassphraseSource::Inherit,
            workspace_root: workspace_root.into(),
            op_timeout: Duration::from_secs(3600),
            command_timeout: Duration::from_secs(120),
            cancel_grace: Duration::from_secs(60),
            env_allowlist: vec![],
            extra_env: BTreeMap::new(),
            secret_env_names: vec![],
            host_env: std::env::vars().collect(),
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// The local ("diy") backend's directory for a `file://` URL.
    pub(crate) fn local_backend_dir(&self) -> Option<PathBuf> {
        self.backend_url
            .strip_prefix("file://")
            .map(|rest| PathBuf::from(if rest.is_empty() { "/" } else { rest }))
    }
}

/// The Pulumi CLI as an [`Engine`].
#[derive(Debug, Clone)]
pub struct PulumiCli {
    config: Arc<PulumiConfig>,
    /// Env tokens and the passphrase: scrubbed from everything.
    base_redactor: Redactor,
    /// What was last written to each stack workspace (see "Few processes" above). Shared by the
    /// clones the orchestrator hands to concurrent stack tasks; a std mutex because it is never
    /// held across an await.
    written: Arc<Mutex<HashMap<PathBuf, Written>>>,
    /// The version the binary printed, with the binary file's identity at the time: asked once
    /// per binary, not once per plan (a replaced binary is asked again).
    version: Arc<Mutex<Option<(BinaryStamp, String)>>>,
}

/// What identifies the engine binary on disk: a new install changes at least one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BinaryStamp {
    path: PathBuf,
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

impl BinaryStamp {
    fn of(path: &Path) -> Option<BinaryStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(BinaryStamp {
            path: path.to_path_buf(),
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&meta),
        })
    }
}

/// What the adapter last wrote to one stack workspace, so a later operation with the same
/// configuration can skip `stack select` and the config commands.
#[derive(Clone, PartialEq, Eq)]
struct Written {
    /// The stack it was written for (it exists: `stack select --create` succeeded).
    qualified: String,
    /// sha256 over every key, secret flag and value, in order (in memory only).
    config: [u8; 32],
    /// sha256 of `Pulumi.<stack>.yaml` right after the write (`None`: the engine keeps no file).
    file: Option<[u8; 32]>,
}

impl std::fmt::Debug for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Written")
            .field("qualified", &self.qualified)
            .finish_non_exhaustive()
    }
}

/// The digest of a configuration, order included (a later value of a key wins in the CLI).
fn config_digest(config: &[ConfigValue]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for cv in config {
        for part in [cv.key.as_bytes(), cv.value.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update([u8::from(cv.secret)]);
    }
    h.finalize().into()
}

/// The sha256 of a file, `None` when it cannot be read.
fn file_digest(path: &Path) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    std::fs::read(path).ok().map(|bytes| Sha256::digest(&bytes).into())
}

/// Distinguishes event-log files of concurrent runs in one process.
static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The hint shown when the binary is missing.
pub(crate) const INSTALL_HINT: &str = "set `pulumi.binary` in the bot's configuration to the pulumi executable (or the pulumi-standin binary), or install Pulumi: curl -fsSL https://get.pulumi.com | sh";

impl PulumiCli {
    /// Build the adapter; creates the `file://` backend directory and the workspace root.
    pub fn new(config: PulumiConfig) -> Result<Self, EngineError> {
        let io = |what: &str, p: &Path, e: std::io::Error| EngineError::Io {
            stack: "-".into(),
            message: format!("cannot create {what} {}: {e}", p.display()),
        };
        if let Some(dir) = config.local_backend_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| io("the backend directory", &dir, e))?;
        }
        std::fs::create_dir_all(&config.workspace_root)
            .map_err(|e| io("the workspace root", &config.workspace_root, e))?;
        let mut base_redactor = Redactor::new();
        base_redactor.add_env(
            config.host_env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &config.secret_env_names,
        );
        base_redactor.add_env(
            config.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &config.secret_env_names,
        );
        if let PassphraseSource::Value(p) = &config.passphrase {
            base_redactor.add(p);
        }
        Ok(PulumiCli {
            config: Arc::new(config),
            base_redactor,
            written: Arc::default(),
            version: Arc::default(),
        })
    }

    pub(crate) fn is_local_backend(&self) -> bool {
        self.config.backend_url.starts_with("file://")
    }

    /// The `--stack` argument: on a `file://` backend the org is the literal `organization`.
    pub(crate) fn qualified_stack(&self, name: &FullStackName) -> String {
        if self.is_local_backend() {
            format!("organization/{}/{}", name.project, name.pulumi_stack())
        } else {
            name.qualified()
        }
    }

    /// `<workspace_root>/<deployment>/<stack>-<env>`.
    pub(crate) fn workspace_dir(&self, name: &FullStackName) -> PathBuf {
        self.config
            .workspace_root
            .join(name.deployment.as_str())
            .join(format!("{}-{}", name.stack, name.env))
    }

    /// The redactor for one target: env secrets, passphrase, the target's secret config and the
    /// secrets of every other stack of its session ([`StackTarget::session_secrets`]).
    pub(crate) fn redactor_for(&self, target: &StackTarget) -> Redactor {
        let mut r = self.base_redactor.clone();
        r.add_config(&target.config);
        for s in &target.session_secrets {
            r.add(s);
        }
        r
    }

    /// The child's whole environment (after `env_clear()`).
    pub(crate) fn command_env(&self) -> Vec<(String, String)> {
        let c = &self.config;
        let mut env = BTreeMap::new();
        for (k, v) in &c.host_env {
            let pass = k == "PATH"
                || k == "HOME"
                || k.starts_with("AWS_")
                || k.starts_with("PULUMI_")
                || c.env_allowlist.iter().any(|a| a == k);
            if pass {
                env.insert(k.clone(), v.clone());
            }
        }
        if !env.contains_key("HOME") {
            env.insert("HOME".into(), c.workspace_root.display().to_string());
        }
        for (k, v) in &c.extra_env {
            env.insert(k.clone(), v.clone());
        }
        env.insert("PULUMI_BACKEND_URL".into(), c.backend_url.clone());
        env.insert("PULUMI_SKIP_UPDATE_CHECK".into(), "true".into());
        env.insert("PULUMI_DEBUG_COMMANDS".into(), "true".into());
        match &c.passphrase {
            PassphraseSource::Inherit => {}
            PassphraseSource::Value(p) => {
                env.remove("PULUMI_CONFIG_PASSPHRASE_FILE");
                env.insert("PULUMI_CONFIG_PASSPHRASE".into(), p.clone());
            }
            PassphraseSource::File(f) => {
                env.remove("PULUMI_CONFIG_PASSPHRASE");
                env.insert("PULUMI_CONFIG_PASSPHRASE_FILE".into(), f.display().to_string());
            }
        }
        env.into_iter().collect()
    }

    /// Write the workspace's `Pulumi.yaml` (see the module documentation); returns the directory.
    pub(crate) fn prepare_workspace(&self, target: &StackTarget) -> Result<PathBuf, EngineError> {
        let stack = target.name.pulumi_stack();
        let io = |e: std::io::Error, what: &str| EngineError::Io {
            stack: stack.clone(),
            message: format!("{what}: {e}"),
        };
        let ws = absolute(&self.workspace_dir(&target.name)).map_err(|e| io(e, "cannot resolve the workspace"))?;
        std::fs::create_dir_all(&ws).map_err(|e| io(e, "cannot create the workspace"))?;
        let workdir = absolute(&target.workdir).map_err(|e| io(e, "cannot resolve the program directory"))?;
        let main = relative_path(&ws, &workdir);
        let yaml = format!(
            "# Generated by cloud-engine for {qualified}. Do not edit: rewritten before every run.\n\
             # The Pulumi project is the business project; the program is `main`, relative to this file.\n\
             name: {project}\nruntime: nodejs\nmain: {main}\n",
            qualified = target.name.qualified(),
            project = target.name.project,
            main = serde_json::to_string(&main.to_string_lossy()).unwrap(),
        );
        let file = ws.join("Pulumi.yaml");
        if std::fs::read_to_string(&file).ok().as_deref() != Some(yaml.as_str()) {
            std::fs::write(&file, yaml).map_err(|e| io(e, "cannot write Pulumi.yaml"))?;
        }
        Ok(ws)
    }

    /// The engine binary's file: the configured path, or a bare name looked up on the child's
    /// `PATH`.
    fn binary_path(&self) -> Option<PathBuf> {
        let binary = &self.config.binary;
        if binary.components().count() > 1 {
            return Some(binary.clone());
        }
        let env = self.command_env();
        let path = env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v.clone())?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(binary))
            .find(|candidate| candidate.is_file())
    }

    fn command(&self, cwd: &Path, args: &[OsString], stdin: bool) -> Command {
        let mut cmd = Command::new(&self.config.binary);
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .envs(self.command_env())
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Own process group: a Ctrl-C in the bot's terminal does not reach the engine behind our
        // back — our stop path is the only one.
        #[cfg(unix)]
        cmd.process_group(0);
        // If this process dies without a chance to stop the engine (kill -9, OOM), the engine
        // dies with it instead of changing infrastructure nobody watches any more; start-up
        // recovery then reconciles the session (`orchestrator::recovery`).
        #[cfg(target_os = "linux")]
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
        // which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    fn spawn(&self, cwd: &Path, args: &[OsString], stack: &str) -> Result<Child, EngineError> {
        self.spawn_with_stdin(cwd, args, stack, false)
    }

    fn spawn_with_stdin(&self, cwd: &Path, args: &[OsString], stack: &str, stdin: bool) -> Result<Child, EngineError> {
        self.command(cwd, args, stdin).spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::BinaryNotFound {
                path: self.config.binary.display().to_string(),
                hint: INSTALL_HINT.to_string(),
            },
            _ => EngineError::Io {
                stack: stack.to_string(),
                message: format!("cannot start `{}`: {e}", self.config.binary.display()),
            },
        })
    }

    /// Run a short command to completion and classify a failure. `what` names it in logs (never
    /// the arguments: they may hold a secret config value).
    async fn run_admin(
        &self,
        cwd: &Path,
        args: Vec<OsString>,
        stack: &str,
        what: &str,
        redactor: &Redactor,
    ) -> Result<RunOutcome, EngineError> {
        self.run_admin_input(cwd, args, None, stack, what, redactor).await
    }

    /// [`Self::run_admin`], writing `input` (a secret value) to the child's stdin and closing it.
    async fn run_admin_input(
        &self,
        cwd: &Path,
        args: Vec<OsString>,
        input: Option<&str>,
        stack: &str,
        what: &str,
        redactor: &Redactor,
    ) -> Result<RunOutcome, EngineError> {
        tracing::debug!(stack, command = what, "running pulumi");
        let mut child = self.spawn_with_stdin(cwd, &args, stack, input.is_some())?;
        if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            // The CLI strips one trailing newline, so a value that itself ends in one survives.
            let written = async {
                pipe.write_all(input.as_bytes()).await?;
                pipe.write_all(b"\n").await?;
                pipe.shutdown().await
            };
            // A child that exits without reading (bad flags) closes the pipe: its exit status
            // says why, so a write error here is not the error to report.
            if let Err(e) = tokio::time::timeout(self.config.command_timeout, written)
                .await
                .unwrap_or(Ok(()))
            {
                tracing::debug!(stack, command = what, error = %e, "the engine did not read its stdin");
            }
        }
        let tail = Arc::new(Mutex::new(Vec::new()));
        let out = tokio::spawn(collect(child.stdout.take(), tail.clone()));
        let err = tokio::spawn(collect(child.stderr.take(), tail.clone()));
        let (code, stopped) = match tokio::time::timeout(self.config.command_timeout, child.wait()).await {
            Ok(Ok(status)) => (status.code(), None),
            Ok(Err(e)) => {
                return Err(EngineError::Io {
                    stack: stack.into(),
                    message: format!("waiting for `{what}`: {e}"),
                })
            }
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                (None, Some(StopReason::TimedOut(self.config.command_timeout)))
            }
        };
        let outcome = RunOutcome {
            code,
            stdout: join_output(out).await,
            stderr: join_output(err).await,
            tail: tail.lock().unwrap().clone(),
            summary: None,
        };
        classify(OpKind::Admin, stack, &outcome, stopped).map_err(|e| redact_error(e, redactor))?;
        Ok(outcome)
    }

    /// Make the stack exist with the target's configuration: `stack select --create`, one
    /// `config set-all` for the plain values, one `config set --secret` (value on stdin) per
    /// secret — or nothing at all when this process already wrote exactly this configuration to
    /// the workspace and the stack's config file is unchanged since.
    async fn select_and_configure(
        &self,
        ws: &Path,
        target: &StackTarget,
        redactor: &Redactor,
    ) -> Result<(), EngineError> {
        let stack = target.name.pulumi_stack();
        let qualified = self.qualified_stack(&target.name);
        let digest = config_digest(&target.config);
        let file = ws.join(format!("Pulumi.{stack}.yaml"));
        // Taken out of the memory: a failure below leaves nothing that could be trusted.
        let before = self.written.lock().unwrap().remove(ws);
        let exists = match before {
            Some(w) if w.qualified == qualified && w.config == digest && w.file == file_digest(&file) => {
                tracing::debug!(stack, "configuration unchanged since this process wrote it");
                self.written.lock().unwrap().insert(ws.to_path_buf(), w);
                return Ok(());
            }
            Some(w) => w.qualified == qualified,
            None => false,
        };
        if !exists {
            self.run_admin(ws, select_args(&qualified), &stack, "stack select --create", redactor)
                .await?;
        }
        let plain: Vec<&ConfigValue> = target.config.iter().filter(|cv| !cv.secret).collect();
        if !plain.is_empty() {
            let what = format!("config set-all ({} values)", plain.len());
            self.run_admin(ws, config_set_all_args(&plain, &qualified), &stack, &what, redactor)
                .await?;
        }
        for cv in target.config.iter().filter(|cv| cv.secret) {
            let what = format!("config set --secret {} (value on stdin)", cv.key);
            self.run_admin_input(
                ws,
                config_set_secret_args(&cv.key, &qualified),
                Some(&cv.value),
                &stack,
                &what,
                redactor,
            )
            .await?;
        }
        self.written.lock().unwrap().insert(
            ws.to_path_buf(),
            Written {
                qualified,
                config: digest,
                file: file_digest(&file),
            },
        );
        Ok(())
    }

    /// Run preview/up/destroy: tail the event log while the process runs, send progress, stop on
    /// timeout or cancel, classify the end.
    async fn run_op(
        &self,
        op: OpKind,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: Option<CancellationToken>,
    ) -> Result<(StreamSummary, Redactor, PathBuf), EngineError> {
        self.run_op_args(op, false, target, progress, cancel).await
    }

    /// [`Self::run_op`]; `destroy_preview` runs `destroy --preview-only` as the preview.
    async fn run_op_args(
        &self,
        op: OpKind,
        destroy_preview: bool,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: Option<CancellationToken>,
    ) -> Result<(StreamSummary, Redactor, PathBuf), EngineError> {
        let stack = target.name.pulumi_stack();
        let redactor = self.redactor_for(target);
        let ws = self.prepare_workspace(target)?;
        self.select_and_configure(&ws, target, &redactor).await?;

        let qualified = self.qualified_stack(&target.name);
        let log_dir = ws.join(".cloud-engine");
        let io = |e: std::io::Error| EngineError::Io {
            stack: stack.clone(),
            message: format!("event log: {e}"),
        };
        std::fs::create_dir_all(&log_dir).map_err(io)?;
        let event_log = log_dir.join(format!(
            "{}-{}-{}.jsonl",
            op.as_str(),
            std::process::id(),
            RUN_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // A stale file would be read as this run's events.
        let _ = std::fs::remove_file(&event_log);

        tracing::info!(stack = %qualified, op = op.as_str(), "starting pulumi");
        let args = if destroy_preview {
            destroy_preview_args(&qualified, &event_log)
        } else {
            op_args(op, &qualified, &event_log)
        };
        let mut child = self.spawn(&ws, &args, &stack)?;
        let pid = child.id();
        let tail = Arc::new(Mutex::new(Vec::new()));
        let out = tokio::spawn(collect(child.stdout.take(), tail.clone()));
        let err = tokio::spawn(collect(child.stderr.take(), tail.clone()));

        let exited = CancellationToken::new();
        let mut tailer = Tailer::new(&event_log, exited.clone()).with_poll_interval(self.config.poll_interval);
        let mut summary = StreamSummary::default();
        let mut done_steps: HashSet<(String, String)> = HashSet::new();
        let cancel = cancel.unwrap_or_default();
        let deadline = Instant::now() + self.config.op_timeout;

        let mut status = None;
        let mut process_done = false;
        let mut tail_done = false;
        let mut stopped: Option<StopReason> = None;
        let mut kill_at: Option<Instant> = None;
        while !(process_done && tail_done) {
            tokio::select! {
                ev = tailer.next(), if !tail_done => match ev {
                    Some(ev) => {
                        summary.push(&ev);
                        if let Some(p) = progress_for(&ev, &redactor, &mut done_steps) {
                            // A closed sink means nobody listens any more; the run goes on.
                            let _ = progress.send(p);
                        }
                    }
                    None => tail_done = true,
                },
                st = child.wait(), if !process_done => {
                    status = st.ok();
                    process_done = true;
                    // Let the tailer drain what is left and end.
                    exited.cancel();
                }
                _ = tokio::time::sleep_until(deadline), if stopped.is_none() && !process_done => {
                    tracing::warn!(stack = %qualified, after = ?self.config.op_timeout, "pulumi timed out; stopping it");
                    stopped = Some(StopReason::TimedOut(self.config.op_timeout));
                    kill_at = Some(interrupt(pid, self.config.cancel_grace));
                }
                _ = cancel.cancelled(), if stopped.is_none() && !process_done => {
                    tracing::info!(stack = %qualified, "cancel requested; interrupting pulumi");
                    stopped = Some(StopReason::Cancelled);
                    kill_at = Some(interrupt(pid, self.config.cancel_grace));
                }
                _ = sleep_until_opt(kill_at), if kill_at.is_some() && !process_done => {
                    tracing::warn!(stack = %qualified, "pulumi did not stop within the grace period; killing it");
                    let _ = child.start_kill();
                    kill_at = None;
                }
            }
        }
        let report = tailer.into_report();
        if let Some(t) = &report.truncated {
            tracing::warn!(stack = %qualified, line = t.line, "event log ended with a truncated event");
        }
        let outcome = RunOutcome {
            code: status.and_then(|s| s.code()),
            stdout: join_output(out).await,
            stderr: join_output(err).await,
            tail: tail.lock().unwrap().clone(),
            summary: Some(summary.clone()),
        };
        let _ = std::fs::remove_file(&event_log);
        tracing::info!(stack = %qualified, op = op.as_str(), code = ?outcome.code, events = summary.events, "pulumi finished");
        classify(op, &stack, &outcome, stopped).map_err(|e| redact_error(e, &redactor))?;
        Ok((summary, redactor, ws))
    }

    async fn read_outputs(
        &self,
        ws: &Path,
        target: &StackTarget,
        redactor: &mut Redactor,
    ) -> Result<serde_json::Value, EngineError> {
        let stack = target.name.pulumi_stack();
        let qualified = self.qualified_stack(&target.name);
        let outcome = self
            .run_admin(ws, output_args(&qualified), &stack, "stack output --json", redactor)
            .await?;
        let mut value: serde_json::Value =
            serde_json::from_str(outcome.stdout.trim()).map_err(|e| EngineError::Io {
                stack: stack.clone(),
                message: format!("`stack output --json` did not print JSON: {e}"),
            })?;
        redactor.learn_secrets_in(&value);
        redactor.redact_value(&mut value);
        Ok(value)
    }

    async fn apply(
        &self,
        op: OpKind,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError> {
        let (summary, mut redactor, ws) = self.run_op(op, target, progress, Some(cancel)).await?;
        let outputs = match op {
            // A destroyed stack has no outputs: no process needed to learn that.
            OpKind::Destroy => serde_json::json!({}),
            _ => self.read_outputs(&ws, target, &mut redactor).await?,
        };
        Ok(redactor.redact_serde(&summary.to_apply(outputs)))
    }
}

#[async_trait]
impl Engine for PulumiCli {
    async fn version(&self) -> Result<String, EngineError> {
        let stamp = self.binary_path().as_deref().and_then(BinaryStamp::of);
        if let (Some(stamp), Some((known, version))) = (&stamp, self.version.lock().unwrap().as_ref()) {
            if stamp == known {
                return Ok(version.clone());
            }
        }
        let redactor = self.base_redactor.clone();
        let outcome = self
            .run_admin(
                &self.config.workspace_root,
                vec!["version".into()],
                "-",
                "version",
                &redactor,
            )
            .await?;
        let version = redactor.redact(outcome.stdout.trim());
        *self.version.lock().unwrap() = stamp.map(|stamp| (stamp, version.clone()));
        Ok(version)
    }

    async fn preview(&self, target: &StackTarget, progress: &ProgressSink) -> Result<StackPreview, EngineError> {
        let (summary, redactor, _) = self.run_op(OpKind::Preview, target, progress, None).await?;
        Ok(redactor.redact_serde(&summary.to_preview()))
    }

    async fn preview_destroy(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
    ) -> Result<StackPreview, EngineError> {
        let (summary, redactor, _) = self.run_op_args(OpKind::Preview, true, target, progress, None).await?;
        Ok(redactor.redact_serde(&summary.to_preview()))
    }

    async fn up(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError> {
        self.apply(OpKind::Up, target, progress, cancel).await
    }

    async fn destroy(
        &self,
        target: &StackTarget,
        progress: &ProgressSink,
        cancel: CancellationToken,
    ) -> Result<StackApply, EngineError> {
        self.apply(OpKind::Destroy, target, progress, cancel).await
    }

    /// Reads outputs without `stack select --create`: reading must not create stacks.
    async fn outputs(&self, target: &StackTarget) -> Result<serde_json::Value, EngineError> {
        let mut redactor = self.redactor_for(target);
        let ws = self.prepare_workspace(target)?;
        self.read_outputs(&ws, target, &mut redactor).await
    }

    async fn unlock(&self, target: &StackTarget) -> Result<(), EngineError> {
        let redactor = self.redactor_for(target);
        let ws = self.prepare_workspace(target)?;
        let stack = target.name.pulumi_stack();
        let qualified = self.qualified_stack(&target.name);
        self.run_admin(&ws, cancel_args(&qualified), &stack, "cancel --yes", &redactor)
            .await?;
        Ok(())
    }

    async fn export(&self, target: &StackTarget) -> Result<cloud_core::engine::StackExport, EngineError> {
        let redactor = self.redactor_for(target);
        let ws = self.prepare_workspace(target)?;
        let stack = target.name.pulumi_stack();
        let qualified = self.qualified_stack(&target.name);
        let outcome = self
            .run_admin(&ws, export_args(&qualified), &stack, "stack export", &redactor)
            .await?;
        cloud_core::engine::StackExport::from_json(&outcome.stdout).map_err(|e| EngineError::Io {
            stack,
            message: format!("`stack export` printed no stack state: {e}"),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Argument vectors (never a shell).

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// `stack select --create <qualified>`.
pub(crate) fn select_args(qualified: &str) -> Vec<OsString> {
    os(&["stack", "select", "--create", qualified, "--non-interactive"])
}

/// `config set-all --stack S --plaintext=<key>=<value> …` for plain values only (secrets go
/// through [`config_set_secret_args`]). The `--flag=value` form keeps a value that starts with
/// `-` from being read as a flag.
pub(crate) fn config_set_all_args(values: &[&ConfigValue], qualified: &str) -> Vec<OsString> {
    let mut args = os(&["config", "set-all", "--stack", qualified, "--non-interactive"]);
    for cv in values {
        debug_assert!(!cv.secret, "secrets never go on argv");
        args.push(format!("--plaintext={}={}", cv.key, cv.value).into());
    }
    args
}

/// `config set --secret <key> --stack S`: no value argument, so the CLI reads it from stdin.
pub(crate) fn config_set_secret_args(key: &str, qualified: &str) -> Vec<OsString> {
    os(&[
        "config",
        "set",
        "--secret",
        key,
        "--stack",
        qualified,
        "--non-interactive",
    ])
}

/// preview / up / destroy with the event log.
pub(crate) fn op_args(op: OpKind, qualified: &str, event_log: &Path) -> Vec<OsString> {
    let mut args = match op {
        OpKind::Preview => os(&["preview"]),
        OpKind::Up => os(&["up", "--yes", "--skip-preview"]),
        OpKind::Destroy => os(&["destroy", "--yes", "--skip-preview"]),
        OpKind::Admin => unreachable!("admin commands have their own argument builders"),
    };
    args.extend(os(&[
        "--stack",
        qualified,
        "--color",
        "never",
        "--non-interactive",
        "--event-log",
    ]));
    args.push(event_log.as_os_str().to_owned());
    args
}

/// `destroy --preview-only` with the event log: what a destroy would delete. Takes no lock.
pub(crate) fn destroy_preview_args(qualified: &str, event_log: &Path) -> Vec<OsString> {
    let mut args = os(&[
        "destroy",
        "--preview-only",
        "--stack",
        qualified,
        "--color",
        "never",
        "--non-interactive",
        "--event-log",
    ]);
    args.push(event_log.as_os_str().to_owned());
    args
}

/// `stack output --json --stack S` (never `--show-secrets`).
pub(crate) fn output_args(qualified: &str) -> Vec<OsString> {
    os(&["stack", "output", "--json", "--stack", qualified, "--non-interactive"])
}

/// `stack export --stack S`.
pub(crate) fn export_args(qualified: &str) -> Vec<OsString> {
    os(&["stack", "export", "--stack", qualified, "--non-interactive"])
}

/// `cancel --yes --stack S`.
pub(crate) fn cancel_args(qualified: &str) -> Vec<OsString> {
    os(&["cancel", "--yes", "--stack", qualified, "--non-interactive"])
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Send SIGINT (Pulumi's graceful cancel) and return when to kill if it has not exited.
fn interrupt(pid: Option<u32>, grace: Duration) -> Instant {
    if let Some(pid) = pid {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped: the caller only
        // interrupts while the process has not been waited for).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGINT);
        }
    }
    Instant::now() + grace
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Cap on what is kept of one stream (the start is dropped first).
const MAX_CAPTURE: usize = 1 << 20;

/// Read a pipe line by line: the whole text (capped) and, shared with the other pipe, the last
/// lines in arrival order.
async fn collect<R: AsyncRead + Unpin>(pipe: Option<R>, tail: Arc<Mutex<Vec<String>>>) -> String {
    let Some(pipe) = pipe else { return String::new() };
    let mut lines = BufReader::new(pipe).lines();
    let mut all = String::new();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                all.push_str(&line);
                all.push('\n');
                if all.len() > MAX_CAPTURE {
                    let cut = all.len() - MAX_CAPTURE;
                    let cut = (cut..all.len()).find(|&i| all.is_char_boundary(i)).unwrap_or(all.len());
                    all.drain(..cut);
                }
                let mut t = tail.lock().unwrap();
                t.push(line);
                if t.len() > TAIL_LINES * 4 {
                    let n = t.len() - TAIL_LINES * 2;
                    t.drain(..n);
                }
            }
            Ok(None) => break,
            Err(_) => continue,
        }
    }
    all
}

/// Wait for a pipe reader; a grandchild keeping the pipe open must not hang us forever.
async fn join_output(handle: tokio::task::JoinHandle<String>) -> String {
    match tokio::time::timeout(Duration::from_secs(5), handle).await {
        Ok(Ok(s)) => s,
        _ => String::new(),
    }
}

/// A progress message for an event, redacted; `None` for events people need not see.
pub fn progress_for(ev: &EngineEvent, r: &Redactor, done: &mut HashSet<(String, String)>) -> Option<Progress> {
    let step = |meta: &super::events::StepMeta| {
        (!is_default_provider(&meta.resource_type, &meta.urn))
            .then(|| (r.redact(&meta.urn), r.redact(&meta.resource_type), meta.op.clone()))
    };
    match &ev.kind {
        EventKind::ResourcePre(e) => {
            step(&e.metadata).map(|(urn, resource_type, op)| Progress::StepStarted { urn, resource_type, op })
        }
        EventKind::ResOutputs(e) => {
            let (urn, resource_type, op) = step(&e.metadata)?;
            // Components report outputs twice: one "done" per step.
            done.insert((e.metadata.urn.clone(), e.metadata.op.to_string()))
                .then_some(Progress::StepDone { urn, resource_type, op })
        }
        EventKind::ResOpFailed(e) => {
            step(&e.metadata).map(|(urn, resource_type, op)| Progress::StepFailed { urn, resource_type, op })
        }
        EventKind::Diagnostic(d) => {
            if d.severity == "debug" {
                return None;
            }
            let msg = strip_colors(&d.message);
            if msg.is_empty() {
                return None;
            }
            let who = d
                .urn
                .as_deref()
                .map(|u| format!("{}: ", cloud_domain::engine::ResourceStep::name_from_urn(u)))
                .unwrap_or_default();
            let line = match d.severity.as_str() {
                "info" | "infoerr" => format!("{who}{msg}"),
                sev => format!("{sev}: {who}{msg}"),
            };
            Some(Progress::Line(r.redact(&line)))
        }
        EventKind::Stdout(s) => {
            let msg = strip_colors(&s.message);
            (!msg.is_empty()).then(|| Progress::Line(r.redact(&msg)))
        }
        EventKind::Error(e) => Some(Progress::Line(r.redact(&format!("error: {}", strip_colors(&e.error))))),
        EventKind::Policy(p) => Some(Progress::Line(r.redact(&format!(
            "policy {} {}/{}: {}",
            p.enforcement_level,
            p.policy_pack_name,
            p.policy_name,
            strip_colors(&p.message)
        )))),
        _ => None,
    }
}

/// Redact every text field of an error.
pub(crate) fn redact_error(e: EngineError, r: &Redactor) -> EngineError {
    let s = |x: String| r.redact(&x);
    let v = |x: Vec<String>| x.into_iter().map(|m| r.redact(&m)).collect();
    match e {
        EngineError::BinaryNotFound { path, hint } => EngineError::BinaryNotFound { path: s(path), hint },
        EngineError::StackBusy { stack, holder } => EngineError::StackBusy {
            stack,
            holder: holder.map(s),
        },
        EngineError::MissingStack { stack } => EngineError::MissingStack { stack },
        EngineError::MissingConfig { stack, key } => EngineError::MissingConfig { stack, key: s(key) },
        EngineError::MissingPassphrase { stack } => EngineError::MissingPassphrase { stack },
        EngineError::CommandFailed { stack, code, message } => EngineError::CommandFailed {
            stack,
            code,
            message: s(message),
        },
        EngineError::PreviewFailed { stack, diagnostics } => EngineError::PreviewFailed {
            stack,
            diagnostics: v(diagnostics),
        },
        EngineError::UpdateFailed { stack, diagnostics } => EngineError::UpdateFailed {
            stack,
            diagnostics: v(diagnostics),
        },
        EngineError::Crashed { stack, code, tail } => EngineError::Crashed {
            stack,
            code,
            tail: s(tail),
        },
        EngineError::Cancelled { stack } => EngineError::Cancelled { stack },
        EngineError::Timeout { stack, after } => EngineError::Timeout { stack, after },
        EngineError::Io { stack, message } => EngineError::Io {
            stack,
            message: s(message),
        },
    }
}

fn absolute(p: &Path) -> std::io::Result<PathBuf> {
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    // Lexical normalisation (no symlink resolution: the directory may not exist yet).
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Ok(out)
}

/// The path from directory `from` to `to` (both absolute and normalised).
pub(crate) fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> FullStackName {
        FullStackName {
            org: "acme-corp".into(),
            project: "ecommerce".into(),
            deployment: "D1BRV40".parse().unwrap(),
            stack: "network".parse().unwrap(),
            env: "dev".into(),
        }
    }

    fn strs(v: &[OsString]) -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    fn cli(dir: &Path, backend: &str) -> PulumiCli {
        let mut c = PulumiConfig::new("/nonexistent/pulumi", backend, dir.join("ws"));
        c.host_env = vec![
            ("PATH".into(), "/usr/bin".into()),
            ("HOME".into(), "/home/bot".into()),
            ("AWS_REGION".into(), "eu-west-1".into()),
            ("PULUMI_STANDIN_DELAY_MS".into(), "5".into()),
            ("PULUMI_CONFIG_PASSPHRASE".into(), "host-passphrase".into()),
            ("DISCORD_TOKEN".into(), "discord-token-value".into()),
            ("UNRELATED".into(), "x".into()),
            ("ALLOWED_ONE".into(), "y".into()),
        ];
        c.env_allowlist = vec!["ALLOWED_ONE".into()];
        c.passphrase = PassphraseSource::Value("configured-passphrase".into());
        PulumiCli::new(c).unwrap()
    }

    #[test]
    fn argument_vectors_follow_the_contract() {
        assert_eq!(
            strs(&select_args("organization/ecommerce/D1BRV40-network-dev")),
            [
                "stack",
                "select",
                "--create",
                "organization/ecommerce/D1BRV40-network-dev",
                "--non-interactive"
            ]
        );
        assert_eq!(
            strs(&config_set_secret_args("db:password", "o/p/s")),
            [
                "config",
                "set",
                "--secret",
                "db:password",
                "--stack",
                "o/p/s",
                "--non-interactive"
            ]
        );
        let region = ConfigValue {
            key: "aws:region".into(),
            value: "eu-west-1".into(),
            secret: false,
        };
        let dashed = ConfigValue {
            key: "network:offset".into(),
            value: "-1".into(),
            secret: false,
        };
        assert_eq!(
            strs(&config_set_all_args(&[&region, &dashed], "o/p/s")),
            [
                "config",
                "set-all",
                "--stack",
                "o/p/s",
                "--non-interactive",
                "--plaintext=aws:region=eu-west-1",
                "--plaintext=network:offset=-1"
            ]
        );
        let log = Path::new("/abs/events.jsonl");
        assert_eq!(
            strs(&op_args(OpKind::Up, "o/p/s", log)),
            [
                "up",
                "--yes",
                "--skip-preview",
                "--stack",
                "o/p/s",
                "--color",
                "never",
                "--non-interactive",
                "--event-log",
                "/abs/events.jsonl"
            ]
        );
        assert_eq!(
            strs(&op_args(OpKind::Preview, "o/p/s", log))[0..3],
            ["preview", "--stack", "o/p/s"]
        );
        assert_eq!(
            strs(&op_args(OpKind::Destroy, "o/p/s", log))[0..3],
            ["destroy", "--yes", "--skip-preview"]
        );
        assert_eq!(
            strs(&output_args("o/p/s")),
            ["stack", "output", "--json", "--stack", "o/p/s", "--non-interactive"]
        );
        assert_eq!(
            strs(&cancel_args("o/p/s")),
            ["cancel", "--yes", "--stack", "o/p/s", "--non-interactive"]
        );
    }

    #[test]
    fn local_backends_use_the_literal_organization_and_get_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("pulumi-state");
        let local = cli(dir.path(), &format!("file://{}", state.display()));
        assert!(state.is_dir(), "file:// backend directory created");
        assert_eq!(
            local.qualified_stack(&name()),
            "organization/ecommerce/D1BRV40-network-dev"
        );
        let cloud = cli(dir.path(), "https://api.pulumi.com");
        assert_eq!(
            cloud.qualified_stack(&name()),
            "acme-corp/ecommerce/D1BRV40-network-dev"
        );
    }

    #[test]
    fn the_environment_is_explicit() {
        let dir = tempfile::tempdir().unwrap();
        let c = cli(dir.path(), "file:///tmp/x-state-never-used");
        let env: BTreeMap<_, _> = c.command_env().into_iter().collect();
        assert_eq!(env["PATH"], "/usr/bin");
        assert_eq!(env["HOME"], "/home/bot");
        assert_eq!(env["AWS_REGION"], "eu-west-1");
        assert_eq!(env["PULUMI_STANDIN_DELAY_MS"], "5");
        assert_eq!(env["ALLOWED_ONE"], "y");
        assert_eq!(env["PULUMI_BACKEND_URL"], "file:///tmp/x-state-never-used");
        assert_eq!(env["PULUMI_SKIP_UPDATE_CHECK"], "true");
        assert_eq!(env["PULUMI_DEBUG_COMMANDS"], "true");
        assert_eq!(
            env["PULUMI_CONFIG_PASSPHRASE"], "configured-passphrase",
            "configured source wins"
        );
        assert!(!env.contains_key("UNRELATED") && !env.contains_key("DISCORD_TOKEN"));
        // The base redactor knows env tokens and the passphrase.
        let r = c.redactor_for(&StackTarget {
            name: name(),
            workdir: "/x".into(),
            config: vec![],
            session_secrets: vec![],
        });
        assert_eq!(
            r.redact("discord-token-value configured-passphrase host-passphrase"),
            "[secret] [secret] [secret]"
        );
        // The passphrase never shows in Debug output of the config.
        assert!(!format!("{:?}", c.config).contains("configured-passphrase"));
    }

    #[test]
    fn the_workspace_points_main_at_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let c = cli(dir.path(), "file:///tmp/x-state-never-used");
        let program = dir.path().join("repo/stacks/network");
        std::fs::create_dir_all(&program).unwrap();
        let target = StackTarget {
            name: name(),
            workdir: program.clone(),
            config: vec![],
            session_secrets: vec![],
        };
        let ws = c.prepare_workspace(&target).unwrap();
        assert_eq!(ws, dir.path().join("ws/D1BRV40/network-dev"));
        let yaml = std::fs::read_to_string(ws.join("Pulumi.yaml")).unwrap();
        assert!(yaml.contains("\nname: ecommerce\n"), "{yaml}");
        assert!(yaml.contains("\nruntime: nodejs\n"));
        assert!(yaml.contains("main: \"../../../repo/stacks/network\""), "{yaml}");
        assert_eq!(
            std::fs::canonicalize(ws.join("../../../repo/stacks/network")).unwrap(),
            std::fs::canonicalize(program).unwrap()
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/c"), Path::new("/a/x")),
            PathBuf::from("../../x")
        );
        assert_eq!(relative_path(Path::new("/a"), Path::new("/a/b")), PathBuf::from("b"));
        assert_eq!(relative_path(Path::new("/a"), Path::new("/a")), PathBuf::from("."));
    }

    #[tokio::test]
    async fn a_missing_binary_names_the_config_key() {
        let dir = tempfile::tempdir().unwrap();
        let c = cli(dir.path(), &format!("file://{}", dir.path().join("s").display()));
        let e = c.version().await.unwrap_err();
        let EngineError::BinaryNotFound { path, hint } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(path, "/nonexistent/pulumi");
        assert!(hint.contains("pulumi.binary"));
        assert!(e.to_string().contains("get.pulumi.com"), "{e}");
    }

    #[test]
    fn progress_messages_are_redacted_and_skip_default_providers() {
        let mut r = Redactor::new();
        r.add("hunter22");
        let mut done = HashSet::new();
        let ev = EngineEvent::from_json(r#"{"sequence":1,"timestamp":0,"diagnosticEvent":{"urn":"urn:pulumi:s::p::t::res","message":"<{%fg 1%}>password hunter22 rejected<{%reset%}>\n","color":"raw","severity":"error"}}"#).unwrap();
        assert_eq!(
            progress_for(&ev, &r, &mut done),
            Some(Progress::Line("error: res: password [secret] rejected".into()))
        );
        let ev = EngineEvent::from_json(r#"{"sequence":2,"timestamp":0,"resourcePreEvent":{"metadata":{"op":"create","urn":"urn:pulumi:s::p::pulumi:providers:aws::default_6","type":"pulumi:providers:aws","old":null,"new":null,"detailedDiff":null,"provider":""}}}"#).unwrap();
        assert_eq!(progress_for(&ev, &r, &mut done), None);
        let ev = EngineEvent::from_json(r#"{"sequence":3,"timestamp":0,"resOutputsEvent":{"metadata":{"op":"same","urn":"urn:pulumi:s::p::c:x:Y::y","type":"c:x:Y","old":null,"new":null,"detailedDiff":null,"provider":""}}}"#).unwrap();
        assert!(matches!(
            progress_for(&ev, &r, &mut done),
            Some(Progress::StepDone { .. })
        ));
        assert_eq!(
            progress_for(&ev, &r, &mut done),
            None,
            "second outputs event of a component"
        );
    }
}
