//! The Pulumi CLI adapter against real subprocesses: the project's `pulumi-standin` binary (same
//! flags, event log, exit codes and texts as `pulumi`, see `crates/pulumi-standin`) and, for
//! misbehaving engines the stand-in cannot imitate, tiny shell scripts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloud_core::engine::{ConfigValue, Engine, EngineError, Progress, StackTarget};
use cloud_domain::session::FullStackName;
use cloud_pulumi::pulumi::{PassphraseSource, PulumiCli, PulumiConfig};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const CONFIG_SECRET: &str = "configsecret-1a2b3c";
const ENV_TOKEN: &str = "ghp_envtoken_abcdef123";
const OUTPUT_SECRET: &str = "outputsecret-9f8e7d";
const PASSPHRASE: &str = "test-passphrase-1234";

/// Every per-wait limit: a safety net for an event that never comes, never what a test relies on.
const WAIT: Duration = cloud_testkit::wait::SAFETY_NET;

struct Harness {
    dir: tempfile::TempDir,
    config: PulumiConfig,
    target: StackTarget,
}

fn standin() -> PathBuf {
    cloud_testkit::paths::standin()
}

impl Harness {
    fn new(binary: PathBuf) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("repo/stacks/network");
        std::fs::create_dir_all(&program).unwrap();
        std::fs::write(program.join("Pulumi.yaml"), "name: network\nruntime: nodejs\n").unwrap();
        std::fs::write(program.join("index.ts"), "// program\n").unwrap();
        let resources = dir.path().join("resources.json");
        std::fs::write(
            &resources,
            serde_json::to_string_pretty(&json!({
                "stack": "network", "env": "dev", "deploymentId": "D1BRV40", "org": "acme-corp", "project": "ecommerce",
                "resources": [
                    {"type": "aws:ec2/vpc:Vpc", "name": "main", "parent": null, "inputs": {"cidrBlock": "10.0.0.0/16"}},
                    {"type": "aws:ec2/subnet:Subnet", "name": "public-a", "parent": null, "inputs": {"cidrBlock": "10.0.1.0/24"}},
                    {"type": "aws:ec2/subnet:Subnet", "name": "public-b", "parent": null, "inputs": {"cidrBlock": "10.0.2.0/24"}},
                ],
                "outputs": {"vpcId": "vpc-0123456789", "dbPassword": OUTPUT_SECRET}
            }))
            .unwrap(),
        )
        .unwrap();
        let mut config = PulumiConfig::new(
            binary,
            format!("file://{}", dir.path().join("pulumi-state").display()),
            dir.path().join("workspaces"),
        );
        config.passphrase = PassphraseSource::Value(PASSPHRASE.into());
        config.host_env = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), dir.path().display().to_string()),
            ("GITHUB_TOKEN".into(), ENV_TOKEN.into()),
        ];
        config
            .extra_env
            .insert("PULUMI_STANDIN_RESOURCES".into(), resources.display().to_string());
        config
            .extra_env
            .insert("PULUMI_STANDIN_SECRET_OUTPUTS".into(), "dbPassword".into());
        config.op_timeout = Duration::from_secs(60);
        config.command_timeout = Duration::from_secs(30);
        config.cancel_grace = Duration::from_secs(15);
        let target = StackTarget {
            name: FullStackName {
                org: "acme-corp".into(),
                project: "ecommerce".into(),
                deployment: "D1BRV40".parse().unwrap(),
                stack: "network".parse().unwrap(),
                env: "dev".into(),
            },
            workdir: program,
            config: vec![
                ConfigValue {
                    key: "aws:region".into(),
                    value: "eu-west-1".into(),
                    secret: false,
                },
                ConfigValue {
                    key: "network:dbPassword".into(),
                    value: CONFIG_SECRET.into(),
                    secret: true,
                },
            ],
            session_secrets: vec![],
        };
        Harness { dir, config, target }
    }

    fn knob(mut self, name: &str, value: &str) -> Self {
        self.config.extra_env.insert(name.into(), value.into());
        self
    }

    /// Updates hold their first resource step, running, until [`Harness::open_gate`]
    /// (`PULUMI_STANDIN_APPLY_GATE`): the test acts on a running update without betting on how
    /// long a step takes.
    fn gated(self) -> Self {
        let gate = self.gate().display().to_string();
        self.knob("PULUMI_STANDIN_APPLY_GATE", &gate)
    }

    fn gate(&self) -> PathBuf {
        self.dir.path().join("gate")
    }

    fn open_gate(&self) {
        std::fs::write(self.gate(), "").unwrap();
    }

    fn cli(&self) -> PulumiCli {
        PulumiCli::new(self.config.clone()).unwrap()
    }

    fn lock_dir(&self) -> PathBuf {
        self.dir
            .path()
            .join("pulumi-state/.pulumi/locks/organization/ecommerce/D1BRV40-network-dev")
    }
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Progress>) -> Vec<Progress> {
    let mut out = vec![];
    while let Ok(p) = rx.try_recv() {
        out.push(p);
    }
    out
}

/// Fails the test if a seeded secret appears in `what`.
fn assert_no_secrets(what: &str) {
    for s in [CONFIG_SECRET, ENV_TOKEN, OUTPUT_SECRET, PASSPHRASE] {
        assert!(!what.contains(s), "secret {s:?} leaked into: {what}");
    }
}

async fn next_step_started(rx: &mut mpsc::UnboundedReceiver<Progress>) -> Progress {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Some(p @ Progress::StepStarted { .. }) => return p,
                Some(_) => continue,
                None => panic!("progress channel closed before any step started"),
            }
        }
    })
    .await
    .expect("a StepStarted within the wait limit")
}

// ---------------------------------------------------------------------------------------------
// Against the stand-in.

#[tokio::test]
async fn version_reports_v3() {
    let h = Harness::new(standin());
    let v = h.cli().version().await.unwrap();
    assert!(v.starts_with("v3."), "{v}");
}

#[tokio::test]
async fn preview_counts_the_declared_resources() {
    let h = Harness::new(standin());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let preview = h.cli().preview(&h.target, &tx).await.unwrap();
    let names: Vec<&str> = preview.steps.iter().map(|s| s.name.as_str()).collect();
    for n in ["main", "public-a", "public-b"] {
        assert!(names.contains(&n), "{names:?}");
    }
    assert!(
        preview
            .steps
            .iter()
            .all(|s| !s.resource_type.starts_with("pulumi:providers:")),
        "default providers hidden"
    );
    let custom_creates = preview
        .steps
        .iter()
        .filter(|s| s.op.as_str() == "create" && s.resource_type.starts_with("aws:"))
        .count();
    assert_eq!(custom_creates, 3);
    // The engine's own count includes the root stack.
    let creates_in_steps = preview.steps.iter().filter(|s| s.op.as_str() == "create").count() as u64;
    assert_eq!(
        preview.counts.get("create").copied(),
        Some(creates_in_steps),
        "{:?}",
        preview.counts
    );
    let progress = drain(&mut rx);
    assert!(
        progress
            .iter()
            .filter(|p| matches!(p, Progress::StepStarted { .. }))
            .count()
            >= 3
    );
    assert_no_secrets(&format!("{preview:?} {progress:?}"));
    // Workspace: generated Pulumi.yaml with the business project.
    let ws = h.dir.path().join("workspaces/D1BRV40/network-dev/Pulumi.yaml");
    assert!(std::fs::read_to_string(ws).unwrap().contains("name: ecommerce"));
}

#[tokio::test]
async fn up_streams_progress_before_the_process_exits() {
    let h = Harness::new(standin()).knob("PULUMI_STANDIN_DELAY_MS", "100").gated();
    let cli = h.cli();
    let target = h.target.clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let run = tokio::spawn(async move { cli.up(&target, &tx, CancellationToken::new()).await });
    // The stand-in holds its first step until the gate opens: `up` is certainly still running.
    let first = next_step_started(&mut rx).await;
    assert!(
        !run.is_finished(),
        "the first step arrived while `up` was still running ({first:?})"
    );
    h.open_gate();
    let apply = tokio::time::timeout(WAIT, run).await.unwrap().unwrap().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(100 * 3),
        "the delay knob was honoured"
    );
    assert!(
        apply.counts.get("create").copied().unwrap_or(0) >= 3,
        "{:?}",
        apply.counts
    );
    assert_eq!(apply.outputs["vpcId"], "vpc-0123456789");
    assert_no_secrets(&format!("{apply:?} {:?}", drain(&mut rx)));
    // A second up changes nothing.
    let (tx, _rx) = mpsc::unbounded_channel();
    let again = h.cli().up(&h.target, &tx, CancellationToken::new()).await.unwrap();
    assert_eq!(again.counts.get("create"), None, "{:?}", again.counts);
}

#[tokio::test]
async fn a_held_lock_is_stack_busy_with_its_holder() {
    let h = Harness::new(standin());
    // Create the stack first so both runs race only for the lock.
    let (tx, _rx) = mpsc::unbounded_channel();
    h.cli().up(&h.target, &tx, CancellationToken::new()).await.unwrap();

    // The holder's update is held at its first step, lock taken, until the gate opens.
    let holder_cfg = PulumiConfig {
        extra_env: {
            let mut e = h.config.extra_env.clone();
            e.insert("PULUMI_STANDIN_APPLY_GATE".into(), h.gate().display().to_string());
            e
        },
        ..h.config.clone()
    };
    let holder = PulumiCli::new(holder_cfg).unwrap();
    let (tx, mut holder_progress) = mpsc::unbounded_channel();
    let target = h.target.clone();
    let first = tokio::spawn(async move { holder.up(&target, &tx, CancellationToken::new()).await });
    next_step_started(&mut holder_progress).await;
    assert!(
        std::fs::read_dir(h.lock_dir()).unwrap().next().is_some(),
        "the running update holds the lock"
    );

    let (tx, _rx3) = mpsc::unbounded_channel();
    let err = h.cli().up(&h.target, &tx, CancellationToken::new()).await.unwrap_err();
    let EngineError::StackBusy { holder, .. } = &err else {
        panic!("expected StackBusy, got {err:?}")
    };
    let holder = holder.as_deref().expect("the lock holder is named");
    assert!(holder.contains("pid"), "{holder}");
    assert!(err.to_string().contains("busy"), "{err}");
    h.open_gate();
    tokio::time::timeout(WAIT, first)
        .await
        .expect("the holder finishes once the gate opens")
        .unwrap()
        .expect("the holder's update succeeds");
}

#[tokio::test]
async fn a_failing_preview_returns_its_diagnostics() {
    let h = Harness::new(standin()).knob("PULUMI_STANDIN_PREVIEW_FAIL", "invalid CIDR block 10.0.0.0/33");
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = h.cli().preview(&h.target, &tx).await.unwrap_err();
    let EngineError::PreviewFailed { diagnostics, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        diagnostics.iter().any(|d| d.contains("invalid CIDR block")),
        "{diagnostics:?}"
    );
}

#[tokio::test]
async fn a_failing_step_is_an_update_failure() {
    let h = Harness::new(standin()).knob("PULUMI_STANDIN_FAIL_AT", "2");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let err = h.cli().up(&h.target, &tx, CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, EngineError::UpdateFailed { .. }), "{err:?}");
    let progress = drain(&mut rx);
    assert!(
        progress.iter().any(|p| matches!(p, Progress::StepFailed { .. })),
        "{progress:?}"
    );
    assert_no_secrets(&format!("{err} {err:?} {progress:?}"));
}

#[tokio::test]
async fn a_crash_reports_the_output_tail() {
    let h = Harness::new(standin()).knob("PULUMI_STANDIN_CRASH_AT", "2");
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = h.cli().up(&h.target, &tx, CancellationToken::new()).await.unwrap_err();
    let EngineError::Crashed { code, tail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_ne!(*code, Some(0));
    assert!(!tail.trim().is_empty() && tail != "(no output)", "{tail}");
    assert_no_secrets(&format!("{err}"));
}

#[tokio::test]
async fn cancel_interrupts_gracefully() {
    let mut h = Harness::new(standin()).gated();
    // Only a SIGINT can end the held step before the test's safety net: the kill that follows
    // the grace period would come far later.
    h.config.cancel_grace = 2 * WAIT;
    let cli = h.cli();
    let target = h.target.clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let run = tokio::spawn(async move { cli.up(&target, &tx, c).await });
    next_step_started(&mut rx).await;
    let asked = Instant::now();
    cancel.cancel();
    let result = tokio::time::timeout(WAIT, run).await.unwrap().unwrap();
    assert_eq!(
        result.unwrap_err(),
        EngineError::Cancelled {
            stack: "D1BRV40-network-dev".into()
        }
    );
    // SIGINT did the work, not the kill that follows the grace period.
    assert!(asked.elapsed() < h.config.cancel_grace, "took {:?}", asked.elapsed());
    assert!(
        !h.lock_dir().exists() || std::fs::read_dir(h.lock_dir()).unwrap().next().is_none(),
        "a graceful cancel releases the lock"
    );
}

#[tokio::test]
async fn a_hanging_engine_times_out() {
    let mut h = Harness::new(standin()).knob("PULUMI_STANDIN_HANG", "1");
    h.config.op_timeout = Duration::from_secs(2);
    h.config.cancel_grace = Duration::from_secs(2);
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = tokio::time::timeout(WAIT, h.cli().up(&h.target, &tx, CancellationToken::new()))
        .await
        .expect("the operation timeout stops a hanging engine")
        .unwrap_err();
    assert_eq!(
        err,
        EngineError::Timeout {
            stack: "D1BRV40-network-dev".into(),
            after: Duration::from_secs(2)
        }
    );
}

#[tokio::test]
async fn secrets_never_leave_the_adapter() {
    let h = Harness::new(standin());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cli = h.cli();
    let preview = cli.preview(&h.target, &tx).await.unwrap();
    let apply = cli.up(&h.target, &tx, CancellationToken::new()).await.unwrap();
    let outputs = cli.outputs(&h.target).await.unwrap();
    assert_ne!(outputs["dbPassword"], OUTPUT_SECRET);
    let failing = Harness {
        config: PulumiConfig {
            extra_env: {
                let mut e = h.config.extra_env.clone();
                e.insert("PULUMI_STANDIN_FAIL_AT".into(), "1".into());
                e
            },
            ..h.config.clone()
        },
        ..h
    };
    let mut target = failing.target.clone();
    target.config.push(ConfigValue {
        key: "network:extra".into(),
        value: "changed-to-force-update".into(),
        secret: false,
    });
    let err = failing.cli().destroy(&target, &tx, CancellationToken::new()).await;
    drop(tx);
    let mut progress = vec![];
    while let Some(p) = rx.recv().await {
        progress.push(p);
    }
    assert!(!progress.is_empty());
    assert_no_secrets(&format!("{preview:?}\n{apply:?}\n{outputs}\n{err:?}\n{progress:?}"));
    if let Err(e) = err {
        assert_no_secrets(&e.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Misbehaving engines, as shell scripts.

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Finds `--event-log <file>` in the arguments; prints `{}` for `stack output`.
const FIND_LOG: &str = r#"log=""; prev=""
for a in "$@"; do
  if [ "$prev" = "--event-log" ]; then log="$a"; fi
  prev="$a"
done
case "$*" in *"stack output"*) echo '{}'; exit 0;; esac
"#;

#[tokio::test]
async fn a_missing_binary_is_named_with_its_config_key() {
    let h = Harness::new(PathBuf::from("/nonexistent/bin/pulumi"));
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = h.cli().preview(&h.target, &tx).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::BinaryNotFound { path, .. } if path == "/nonexistent/bin/pulumi"),
        "{err:?}"
    );
    assert!(err.to_string().contains("pulumi.binary"), "{err}");
}

#[tokio::test]
async fn an_engine_that_exits_0_without_a_summary_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = script(tmp.path(), "pulumi", &format!("{FIND_LOG}\nif [ -n \"$log\" ]; then echo '{{\"sequence\":0,\"timestamp\":0,\"preludeEvent\":{{\"config\":{{}}}}}}' > \"$log\"; echo 'did something'; fi\nexit 0\n"));
    let h = Harness::new(bin);
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = h.cli().up(&h.target, &tx, CancellationToken::new()).await.unwrap_err();
    let EngineError::Crashed { code, tail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, Some(0));
    assert!(tail.contains("no summary") && tail.contains("did something"), "{tail}");
}

#[tokio::test]
async fn a_non_json_line_in_the_stream_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let events = [
        r#"{"sequence":0,"timestamp":0,"preludeEvent":{"config":{}}}"#,
        "this is not JSON",
        r#"{"sequence":1,"timestamp":0,"resourcePreEvent":{"metadata":{"op":"create","urn":"urn:pulumi:s::ecommerce::aws:s3/bucket:Bucket::logs","type":"aws:s3/bucket:Bucket","old":null,"new":null,"detailedDiff":null,"logical":true,"provider":""},"planning":true}}"#,
        r#"{"sequence":2,"timestamp":0,"summaryEvent":{"maybeCorrupt":false,"durationSeconds":1,"resourceChanges":{"create":1},"PolicyPacks":{},"isPreview":true,"result":"succeeded"}}"#,
        r#"{"sequence":3,"timestamp":0,"cancelEvent":{}}"#,
    ];
    let mut body = FIND_LOG.to_string();
    body.push_str("if [ -n \"$log\" ]; then\n");
    for e in events {
        body.push_str(&format!("  printf '%s\\n' '{e}' >> \"$log\"\n"));
    }
    body.push_str("fi\nexit 0\n");
    let h = Harness::new(script(tmp.path(), "pulumi", &body));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let preview = h.cli().preview(&h.target, &tx).await.unwrap();
    assert_eq!(preview.counts, BTreeMap::from([("create".to_string(), 1)]));
    assert_eq!(preview.steps.len(), 1);
    assert!(drain(&mut rx).iter().any(|p| matches!(p, Progress::StepStarted { .. })));
}

#[tokio::test]
async fn a_truncated_final_event_after_a_crash_is_still_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let body = format!(
        "{FIND_LOG}\nif [ -n \"$log\" ]; then printf '%s\\n' '{}' > \"$log\"; printf '%s' '{{\"sequence\":1,\"timest' >> \"$log\"; echo 'fatal: out of memory' >&2; exit 255; fi\nexit 0\n",
        r#"{"sequence":0,"timestamp":0,"preludeEvent":{"config":{}}}"#
    );
    let h = Harness::new(script(tmp.path(), "pulumi", &body));
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = h.cli().up(&h.target, &tx, CancellationToken::new()).await.unwrap_err();
    let EngineError::Crashed { code, tail, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, Some(255));
    assert!(tail.contains("out of memory"), "{tail}");
}

#[tokio::test]
async fn stderr_from_admin_commands_is_classified_and_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    // `config set` fails and echoes its argument (the secret) back.
    let body = "case \"$*\" in *\"--secret\"*) echo \"error: cannot set value $*\" >&2; exit 255;; esac\nexit 0\n";
    let h = Harness::new(script(tmp.path(), "pulumi", body));
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = h.cli().preview(&h.target, &tx).await.unwrap_err();
    assert!(matches!(err, EngineError::CommandFailed { .. }), "{err:?}");
    assert_no_secrets(&format!("{err} {err:?}"));
}

// ---------------------------------------------------------------------------------------------
// Few processes, and no secret on any command line.

/// A wrapper that appends every argument vector it is started with to `argv.log` (one argument
/// per line, a blank line after each process) and then runs the stand-in: exactly what the
/// kernel shows in `/proc/<pid>/cmdline` of the engine process.
fn recording_standin(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("argv.log");
    let wrapper = script(
        dir,
        "pulumi-recorded",
        &format!(
            "for a in \"$@\"; do printf '%s\\n' \"$a\" >> '{log}'; done\nprintf '\\n' >> '{log}'\nexec '{standin}' \"$@\"\n",
            log = log.display(),
            standin = standin().display()
        ),
    );
    (wrapper, log)
}

/// The recorded processes: each one's arguments.
fn recorded(log: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.lines().map(str::to_string).collect())
        .collect()
}

/// `config get <key>` through the stand-in, in the stack's workspace (decrypts secrets).
fn config_get(h: &Harness, key: &str) -> String {
    let ws = h.dir.path().join("workspaces/D1BRV40/network-dev");
    let out = std::process::Command::new(standin())
        .args([
            "config",
            "get",
            key,
            "--stack",
            "organization/ecommerce/D1BRV40-network-dev",
        ])
        .current_dir(&ws)
        .env_clear()
        .env(
            "PULUMI_BACKEND_URL",
            format!("file://{}", h.dir.path().join("pulumi-state").display()),
        )
        .env("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim_end().to_string()
}

#[tokio::test]
async fn secret_config_reaches_the_stack_through_stdin_never_through_argv() {
    let mut h = Harness::new(standin());
    let (wrapper, log) = recording_standin(h.dir.path());
    h.config.binary = wrapper;
    // A secret that starts with a dash and ends with a newline must survive stdin unchanged.
    h.target.config.push(ConfigValue {
        key: "network:apiKey".into(),
        value: "-dash-secret-4d5e6f\n".into(),
        secret: true,
    });
    let cli = h.cli();
    let (tx, _rx) = mpsc::unbounded_channel();
    cli.preview(&h.target, &tx).await.unwrap();
    cli.up(&h.target, &tx, CancellationToken::new()).await.unwrap();

    let processes = recorded(&log);
    assert!(!processes.is_empty(), "the wrapper recorded the engine's command lines");
    for argv in &processes {
        for arg in argv {
            assert!(
                !arg.contains(CONFIG_SECRET) && !arg.contains("dash-secret-4d5e6f"),
                "a secret config value is on the command line: {argv:?}"
            );
        }
    }
    // The plain value did go on argv (so the recording would have seen a secret there too)…
    assert!(
        processes
            .iter()
            .flatten()
            .any(|a| a == "--plaintext=aws:region=eu-west-1"),
        "{processes:?}"
    );
    // …and the secrets reached the stack's configuration, encrypted, with their exact values.
    assert_eq!(config_get(&h, "network:dbPassword"), CONFIG_SECRET);
    assert_eq!(config_get(&h, "network:apiKey"), "-dash-secret-4d5e6f");
    let file = std::fs::read_to_string(
        h.dir
            .path()
            .join("workspaces/D1BRV40/network-dev/Pulumi.D1BRV40-network-dev.yaml"),
    )
    .unwrap();
    assert!(!file.contains(CONFIG_SECRET), "stored encrypted: {file}");
}

/// The command of a recorded process (`config set-all`, `preview`, …).
fn command_of(argv: &[String]) -> String {
    argv.iter()
        .take_while(|a| !a.starts_with('-'))
        .take(2)
        .filter(|a| !a.contains('/'))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn an_up_after_its_preview_reuses_the_configuration_it_wrote() {
    let mut h = Harness::new(standin());
    let (wrapper, log) = recording_standin(h.dir.path());
    h.config.binary = wrapper;
    let cli = h.cli();
    let (tx, _rx) = mpsc::unbounded_channel();
    let commands = |from: usize| -> Vec<String> { recorded(&log)[from..].iter().map(|a| command_of(a)).collect() };

    cli.preview(&h.target, &tx).await.unwrap();
    assert_eq!(
        commands(0),
        ["stack select", "config set-all", "config set", "preview"],
        "one process for every plain value, one per secret"
    );
    let seen = recorded(&log).len();
    cli.up(&h.target, &tx, CancellationToken::new()).await.unwrap();
    assert_eq!(
        commands(seen),
        ["up", "stack output"],
        "same configuration: nothing re-written"
    );

    // A changed value is written again (the stack exists: no `stack select`).
    let seen = recorded(&log).len();
    let mut changed = h.target.clone();
    changed.config[0].value = "eu-central-1".into();
    cli.preview(&changed, &tx).await.unwrap();
    assert_eq!(commands(seen), ["config set-all", "config set", "preview"]);
    assert_eq!(config_get(&h, "aws:region"), "eu-central-1");

    // Someone edits the stack's config file behind our back: it is written again.
    let file = h
        .dir
        .path()
        .join("workspaces/D1BRV40/network-dev/Pulumi.D1BRV40-network-dev.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("eu-central-1", "us-west-2")).unwrap();
    let seen = recorded(&log).len();
    cli.preview(&changed, &tx).await.unwrap();
    assert_eq!(commands(seen), ["config set-all", "config set", "preview"]);
    assert_eq!(config_get(&h, "aws:region"), "eu-central-1");

    // A destroy needs no `stack output`: a destroyed stack has none.
    let seen = recorded(&log).len();
    let destroyed = cli.destroy(&changed, &tx, CancellationToken::new()).await.unwrap();
    assert_eq!(commands(seen), ["destroy"]);
    assert_eq!(destroyed.outputs, json!({}));
}

#[tokio::test]
async fn the_engine_version_is_asked_once_per_installed_binary() {
    let mut h = Harness::new(standin());
    let (wrapper, log) = recording_standin(h.dir.path());
    h.config.binary = wrapper.clone();
    let cli = h.cli();
    let first = cli.version().await.unwrap();
    assert_eq!(cli.version().await.unwrap(), first);
    assert_eq!(recorded(&log).len(), 1, "the second plan's digest reuses the version");
    // A new binary (here: the same wrapper, rewritten) is asked again.
    let text = std::fs::read_to_string(&wrapper).unwrap();
    std::fs::write(&wrapper, format!("{text}# upgraded\n")).unwrap();
    assert_eq!(cli.version().await.unwrap(), first);
    assert_eq!(recorded(&log).len(), 2);
}

/// Stack `network` echoes a secret that only stack `database-rds` of the same session was given
/// (in clear, base64-encoded and URL-encoded): with the session's secrets on the target, none of
/// the three forms reaches the progress stream or the preview; without them, it would have.
#[tokio::test]
async fn a_secret_of_another_stack_of_the_session_is_redacted_too() {
    const OTHER: &str = "rds-master-p@ss 42";
    const OTHER_B64: &str = "cmRzLW1hc3Rlci1wQHNzIDQy";
    const OTHER_URL: &str = "rds-master-p%40ss%2042";
    let tmp = tempfile::tempdir().unwrap();
    let diag = |m: &str| {
        format!(
            r#"{{"sequence":1,"timestamp":0,"diagnosticEvent":{{"message":"{m}","color":"never","severity":"warning"}}}}"#
        )
    };
    let events = [
        r#"{"sequence":0,"timestamp":0,"preludeEvent":{"config":{}}}"#.to_string(),
        diag(&format!("connecting with {OTHER}")),
        diag(&format!("Authorization: Basic {OTHER_B64}")).replace("\"sequence\":1", "\"sequence\":2"),
        diag(&format!("GET /login?password={OTHER_URL}")).replace("\"sequence\":1", "\"sequence\":3"),
        r#"{"sequence":4,"timestamp":0,"summaryEvent":{"maybeCorrupt":false,"durationSeconds":1,"resourceChanges":{},"PolicyPacks":{},"isPreview":true,"result":"succeeded"}}"#.to_string(),
        r#"{"sequence":5,"timestamp":0,"cancelEvent":{}}"#.to_string(),
    ];
    let mut body = FIND_LOG.to_string();
    body.push_str("if [ -n \"$log\" ]; then\n");
    for e in &events {
        body.push_str(&format!("  printf '%s\\n' '{e}' >> \"$log\"\n"));
    }
    body.push_str("fi\nexit 0\n");
    let h = Harness::new(script(tmp.path(), "pulumi", &body));
    let run = |secrets: Vec<String>| {
        let mut target = h.target.clone();
        target.session_secrets = secrets;
        let cli = h.cli();
        async move {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let preview = cli.preview(&target, &tx).await.unwrap();
            drop(tx);
            let mut progress = vec![];
            while let Some(p) = rx.recv().await {
                progress.push(p);
            }
            format!("{preview:?}\n{progress:?}")
        }
    };
    let per_stack = run(vec![]).await;
    assert!(
        per_stack.contains(OTHER) && per_stack.contains(OTHER_B64),
        "the engine's output carries the other stack's secret: {per_stack}"
    );
    let session_wide = run(vec![CONFIG_SECRET.into(), OTHER.into()]).await;
    for leak in [OTHER, OTHER_B64, OTHER_URL, "cmRzLW1hc3Rl"] {
        assert!(!session_wide.contains(leak), "{leak} leaked: {session_wide}");
    }
    assert!(session_wide.contains("[secret]"), "{session_wide}");
}
