//! `cloud bench recovery`: the kill -9 matrix and a soak of kills at random moments (issue 15).
//!
//! Everything runs through the real `cloud` binary (found beside this program) on the Pulumi
//! stand-in, in a scratch data directory, with short leases (`CLOUD_LEASE_TTL=2s`,
//! `CLOUD_SWEEP_INTERVAL=500ms`). Each `cloud` under test runs in its own process group and is
//! killed with SIGKILL together with its engine processes, as a supervisor stopping it would.
//!
//! * The **matrix** kills one process per state: DRAFT (a `deploy --queue` waiting in line),
//!   PLANNING (the stand-in hangs in the preview), PLAN_READY (a `deploy` at the approval prompt:
//!   its stdin is a pseudo-terminal), APPROVED (a `cloud approve` killed as soon as it printed the
//!   approval — the apply may have started by then: APPROVED lasts only that step), APPLYING early
//!   (the first stack's update held at `PULUMI_STANDIN_APPLY_GATE`) and late (the last wave's).
//! * The **soak** kills `--kills` deploys at a random moment drawn within the duration of an
//!   unkilled deploy (every engine operation takes `--op-delay-ms`).
//!
//! After each kill: one fresh `cloud status` (and, if that left the session unfinished, another
//! after the lease TTL and a sweep), then
//! * the session must be finished (terminal, or PLAN_FAILED holding nothing) — else the kill
//!   is not counted as usable;
//! * `locks_leaked` adds the stack locks `cloud locks` still shows;
//! * `usable_after` counts kills after which a new deploy of the same stacks is applied;
//! * `stale_lobbies` adds the chat lobbies of the store whose rendered cursor lags their
//!   session's log (`Store::lobbies_behind` on Discord and Slack): what a starting bot would still
//!   have to redraw. The bench drives the CLI only, so its sessions have no lobby and this counts
//!   0 unless the store is shared with a bot (a lobby redrawn after a takeover is the chat
//!   adapters' part: `Recovered` redraws it).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use cloud::cli::GlobalArgs;
use cloud_core::store::Store;
use cloud_domain::error::UserError;
use cloud_domain::session::Platform;

/// The stacks every run deploys: two waves (security depends on network).
const STACKS: &str = "network,security";
/// How long one wait for a line of a `cloud` under test may take before the bench gives up.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub struct RecoveryArgs {
    /// Kills at random moments after the matrix
    #[arg(long, default_value_t = 50)]
    pub kills: u32,
    /// The fixed time every engine operation takes on the stand-in (a deploy of the two stacks
    /// then lasts about four of these plus our overhead)
    #[arg(long, default_value_t = 150)]
    pub op_delay_ms: u64,
    /// Seed of the random kill moments [default: the clock]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the results as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    /// Every kill: the matrix's and the soak's.
    pub kills: u32,
    /// Kills after which the session was finished and a new deploy of its stacks was applied.
    pub usable_after: u32,
    /// Stack locks still held after recovery, summed over the kills.
    pub locks_leaked: u32,
    /// Chat lobbies whose rendered cursor lags their session's log (see the module docs).
    pub stale_lobbies: u32,
    /// Per state of the matrix: `ok`, or `fail: <why>`.
    pub matrix: BTreeMap<String, String>,
    /// The soak alone.
    pub soak: SoakReport,
    /// The state each killed session was found in by the first `cloud` after the kill.
    pub killed_in: BTreeMap<String, u32>,
    /// The state recovery left each session in.
    pub ended_as: BTreeMap<String, u32>,
    pub deploy_s: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SoakReport {
    pub kills: u32,
    pub usable_after: u32,
    pub locks_leaked: u32,
}

/// The scratch world the `cloud` processes run in.
struct World {
    _dir: tempfile::TempDir,
    cloud: PathBuf,
    env: Vec<(String, String)>,
    data: PathBuf,
    cwd: PathBuf,
}

/// What one kill left behind, once recovered.
#[derive(Default)]
struct Outcome {
    usable: bool,
    locks: u32,
    killed_in: Option<String>,
    ended_as: Option<String>,
    why: Option<String>,
}

pub async fn cmd_bench_recovery(global: &GlobalArgs, args: &RecoveryArgs) -> anyhow::Result<RecoveryReport> {
    let config = cloud::app::load_config(global)?;
    let world = World::new(&config.workspace, args.op_delay_ms)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let mut rng = XorShift(seed.max(1));

    // An unkilled deploy: the span the soak's kill moments are drawn from.
    let started = Instant::now();
    world.deploy()?;
    let deploy = started.elapsed();

    let mut report = RecoveryReport {
        kills: 0,
        usable_after: 0,
        locks_leaked: 0,
        stale_lobbies: 0,
        matrix: BTreeMap::new(),
        soak: SoakReport::default(),
        killed_in: BTreeMap::new(),
        ended_as: BTreeMap::new(),
        deploy_s: deploy.as_secs_f64(),
        seed,
    };
    let tally = |report: &mut RecoveryReport, outcome: &Outcome| {
        report.kills += 1;
        report.usable_after += u32::from(outcome.usable);
        report.locks_leaked += outcome.locks;
        if let Some(s) = &outcome.killed_in {
            *report.killed_in.entry(s.clone()).or_default() += 1;
        }
        if let Some(s) = &outcome.ended_as {
            *report.ended_as.entry(s.clone()).or_default() += 1;
        }
    };

    for state in [
        "DRAFT",
        "PLANNING",
        "PLAN_READY",
        "APPROVED",
        "APPLYING_EARLY",
        "APPLYING_LATE",
    ] {
        let mut outcome = match world.kill_at(state) {
            Ok((session, holder)) => world.recover(session.as_deref(), holder.as_deref()),
            Err(e) => Outcome {
                why: Some(format!("could not reach {state}: {e:#}")),
                ..Outcome::default()
            },
        };
        // The first `cloud` after the kill must have taken the session over from that state
        // (APPROVED: the apply may have begun by the kill, see the module docs).
        let expected: &[&str] = match state {
            "APPLYING_EARLY" | "APPLYING_LATE" => &["APPLYING"],
            "APPROVED" => &["APPROVED", "APPLYING"],
            other => &[other],
        };
        let taken_over = outcome.killed_in.as_deref().unwrap_or("nothing");
        let verdict = match (&outcome.why, outcome.usable && outcome.locks == 0) {
            (Some(why), _) => format!("fail: {why}"),
            (None, false) => format!("fail: {} lock(s) left", outcome.locks),
            (None, true) if !expected.contains(&taken_over) => {
                outcome.usable = false;
                format!("fail: taken over from {taken_over}, not {state}")
            }
            (None, true) => "ok".to_string(),
        };
        report.matrix.insert(state.to_string(), verdict);
        tally(&mut report, &outcome);
    }

    for _ in 0..args.kills {
        let delay = Duration::from_secs_f64(deploy.as_secs_f64() * rng.unit());
        let outcome = match world.kill_after(delay) {
            Ok(session) => world.recover(session.as_deref(), None),
            Err(e) => Outcome {
                why: Some(format!("{e:#}")),
                ..Outcome::default()
            },
        };
        if let Some(why) = &outcome.why {
            eprintln!("kill after {:.2}s: {why}", delay.as_secs_f64());
        }
        report.soak.kills += 1;
        report.soak.usable_after += u32::from(outcome.usable);
        report.soak.locks_leaked += outcome.locks;
        tally(&mut report, &outcome);
    }

    let store = Store::open(&format!("sqlite://{}", world.data.join("cloud.db").display())).await?;
    for platform in [Platform::Discord, Platform::Slack] {
        report.stale_lobbies += store.lobbies_behind(platform).await?.len() as u32;
    }
    Ok(report)
}

/// Prints the report; an error (exit 1) when a kill left the system unusable or a lock behind.
pub fn print_recovery(report: &RecoveryReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    let matrix: Vec<String> = report.matrix.iter().map(|(s, v)| format!("{s} {v}")).collect();
    let summary = format!(
        "recovery: {} kills, {} usable after, {} locks leaked, {} stale lobbies; matrix: {}",
        report.kills,
        report.usable_after,
        report.locks_leaked,
        report.stale_lobbies,
        matrix.join(", ")
    );
    if json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    if report.usable_after < report.kills || report.locks_leaked > 0 {
        return Err(UserError::failed(format!(
            "{} of {} kills left the system usable, {} lock(s) leaked",
            report.usable_after, report.kills, report.locks_leaked
        ))
        .into());
    }
    Ok(())
}

impl World {
    fn new(workspace: &Path, op_delay_ms: u64) -> anyhow::Result<World> {
        let exe = std::env::current_exe()?;
        let beside = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let cloud = beside.join(format!("cloud{}", std::env::consts::EXE_SUFFIX));
        if !cloud.is_file() {
            return Err(UserError::invalid(format!(
                "bench recovery runs the `cloud` binary beside cloud-bench, and {} does not exist: build it with `cargo build -p cloud --bin cloud`",
                cloud.display()
            ))
            .into());
        }
        let standin = std::env::var_os("CLOUD_PULUMI_BINARY")
            .map(PathBuf::from)
            .unwrap_or_else(|| beside.join("pulumi-standin"));
        if !standin.is_file() {
            return Err(UserError::invalid(format!(
                "bench recovery runs on the Pulumi stand-in, and {} does not exist: build it with `cargo build -p pulumi-standin` or set CLOUD_PULUMI_BINARY",
                standin.display()
            ))
            .into());
        }
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let cwd = dir.path().to_path_buf();
        let mut env: Vec<(String, String)> = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), cwd.display().to_string()),
            ("CLOUD_WORKSPACE".into(), workspace.display().to_string()),
            ("CLOUD_DATA_DIR".into(), data.display().to_string()),
            ("CLOUD_USER".into(), "bench".into()),
            ("CLOUD_LOCAL_CLI_ADMIN".into(), "true".into()),
            ("CLOUD_PULUMI_BINARY".into(), standin.display().to_string()),
            ("CLOUD_LEASE_TTL".into(), "2s".into()),
            ("CLOUD_SWEEP_INTERVAL".into(), "500ms".into()),
            ("PULUMI_STANDIN_OP_DELAY_MS".into(), op_delay_ms.to_string()),
        ];
        if let Ok(config) = std::env::var("CLOUD_CONFIG") {
            env.push(("CLOUD_CONFIG".into(), config));
        }
        Ok(World {
            _dir: dir,
            cloud,
            env,
            data,
            cwd,
        })
    }

    fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(&self.cloud);
        cmd.args(args).current_dir(&self.cwd).env_clear().stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// `cloud <args…>` to its end: (exit code, stdout, stderr).
    fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> anyhow::Result<(i32, String, String)> {
        let out = self.command(args, extra).output()?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    fn json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let (code, stdout, stderr) = self.run(args, &[])?;
        if code != 0 {
            anyhow::bail!("`cloud {}` exited {code}: {stderr}", args.join(" "));
        }
        Ok(serde_json::from_str(&stdout)?)
    }

    /// A deploy of the stacks that must be applied.
    fn deploy(&self) -> anyhow::Result<()> {
        let (code, stdout, stderr) = self.run(&["deploy", "ecommerce", "dev", "--approve", "--stacks", STACKS], &[])?;
        if code != 0 || !stdout.contains("Applied.") {
            anyhow::bail!("a new deploy was not applied (exit {code}): {stdout}{stderr}");
        }
        Ok(())
    }

    /// `cloud <args…>` in the background in its own process group.
    fn spawn(&self, args: &[&str], extra: &[(&str, &str)], stdin: Stdio) -> anyhow::Result<Victim> {
        let mut cmd = self.command(args, extra);
        cmd.process_group(0)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn()?;
        let (tx, lines) = mpsc::channel();
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Victim {
            child,
            lines,
            what: format!("cloud {}", args.join(" ")),
        })
    }

    /// Start a process, bring it to `state` and kill it there; the session it held.
    fn kill_at(&self, state: &str) -> anyhow::Result<(Option<String>, Option<String>)> {
        let deploy = ["deploy", "ecommerce", "dev", "--approve", "--stacks", STACKS];
        let gate = self.cwd.join("gate-never-opened").display().to_string();
        let id = match state {
            "DRAFT" => {
                // Another session's plan in stage (it needs a second approver) holds the stacks.
                let (code, _, stderr) = self.run(&["plan", "ecommerce", "stage", "--stacks", STACKS], &[])?;
                anyhow::ensure!(code == 0, "the holder's plan failed: {stderr}");
                let holder = self.newest()?;
                let mut v = self.spawn(
                    &["deploy", "ecommerce", "stage", "--stacks", STACKS, "--queue"],
                    &[],
                    Stdio::null(),
                )?;
                let line = v.wait_line(|l| l.ends_with("is queued for its stacks: position 1."))?;
                v.kill();
                // The holder is not part of the kill: once the killed one is recovered, it goes.
                return Ok((Some(session_in(&line)), Some(holder)));
            }
            "PLANNING" => {
                // The stand-in hangs after the preview's first resource step until cancelled.
                let mut v = self.spawn(&deploy, &[("PULUMI_STANDIN_HANG", "1")], Stdio::null())?;
                v.wait_line(|l| l.starts_with("wave 1/"))?;
                let id = self.newest()?;
                let mut logs = self.spawn(&["logs", &id, "--follow"], &[], Stdio::null())?;
                logs.wait_line(|l| resource_step(l, "network"))?;
                logs.kill();
                v.kill();
                id
            }
            "PLAN_READY" => {
                let (_master, slave) = terminal()?;
                let mut v = self.spawn(&["deploy", "ecommerce", "dev", "--stacks", STACKS], &[], slave.into())?;
                let id = session_in(&v.wait_line(|l| l.starts_with("Session "))?);
                v.wait_line(|l| l.starts_with("next: "))?;
                v.kill();
                id
            }
            "APPROVED" => {
                let (code, _, stderr) = self.run(&["plan", "ecommerce", "dev", "--stacks", STACKS], &[])?;
                anyhow::ensure!(code == 0, "the plan failed: {stderr}");
                let id = self.newest()?;
                let mut v = self.spawn(&["approve", &id], &[], Stdio::null())?;
                v.wait_line(|l| l.contains(&format!("approved session {id}")))?;
                v.kill();
                id
            }
            "APPLYING_EARLY" | "APPLYING_LATE" => {
                let stack = if state == "APPLYING_EARLY" {
                    "network"
                } else {
                    "security"
                };
                let mut v = self.spawn(
                    &deploy,
                    &[
                        ("PULUMI_STANDIN_APPLY_GATE", &gate),
                        ("PULUMI_STANDIN_APPLY_GATE_STACKS", stack),
                    ],
                    Stdio::null(),
                )?;
                let id = session_in(&v.wait_line(|l| l.starts_with("Session "))?);
                // APPLYING from here on: the gate holds the stack's update, it cannot end.
                v.wait_line(|l| l == format!("{stack}: applying"))?;
                v.kill();
                id
            }
            other => anyhow::bail!("no such matrix state: {other}"),
        };
        Ok((Some(id), None))
    }

    /// Start a deploy and kill it after `delay`; the session it opened, if it got that far.
    fn kill_after(&self, delay: Duration) -> anyhow::Result<Option<String>> {
        let before = self.newest_in_store()?;
        let mut v = self.spawn(
            &["deploy", "ecommerce", "dev", "--approve", "--stacks", STACKS],
            &[],
            Stdio::null(),
        )?;
        std::thread::sleep(delay);
        v.kill();
        // Read from the store directly: any `cloud` run here would already take the session over
        // (and the takeover note belongs to the recovery step).
        let newest = self.newest_in_store()?;
        Ok(newest.filter(|n| Some(n) != before.as_ref()))
    }

    /// The newest session's short id, read from the SQLite file without running `cloud`.
    fn newest_in_store(&self) -> anyhow::Result<Option<String>> {
        let url = format!("sqlite://{}", self.data.join("cloud.db").display());
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::SqliteConnection::connect(&url).await?;
                let id: Option<String> =
                    sqlx::query_scalar("SELECT id FROM sessions ORDER BY created_at DESC, id DESC LIMIT 1")
                        .fetch_optional(&mut conn)
                        .await?;
                anyhow::Ok(id.map(|id| id[..8].to_string()))
            })
        })
    }

    /// The newest session's short id.
    fn newest(&self) -> anyhow::Result<String> {
        let list = self.json(&["list", "--json"])?;
        let id = list
            .get(0)
            .and_then(|s| s["id"].as_str())
            .ok_or_else(|| anyhow::anyhow!("no session"))?;
        Ok(id[..8].to_string())
    }

    /// Recovery by the next `cloud` process, then the checks (see the module docs).
    /// `holder`: another session that kept the stacks busy on purpose, cancelled after the
    /// first `cloud` process ran.
    fn recover(&self, session: Option<&str>, holder: Option<&str>) -> Outcome {
        let mut outcome = Outcome::default();
        let result = (|| -> anyhow::Result<()> {
            if let Some(id) = session {
                let (_, _, stderr) = self.run(&["status", id], &[])?;
                outcome.killed_in = Some(
                    stderr
                        .split(&format!("note: session {id} was "))
                        .nth(1)
                        .and_then(|rest| rest.split_whitespace().next())
                        .unwrap_or("not taken over")
                        .to_string(),
                );
                if let Some(holder) = holder {
                    self.run(&["cancel", holder], &[])?;
                }
                let mut state = self.state(id)?;
                if !finished(&state) {
                    // A stopped owner is taken over once its lease expired: wait that long.
                    std::thread::sleep(Duration::from_millis(2500));
                    self.run(&["status", id], &[])?;
                    state = self.state(id)?;
                }
                outcome.ended_as = Some(state.clone());
                if !finished(&state) {
                    anyhow::bail!("session {id} is still {state} after recovery");
                }
            }
            let locks = self.json(&["locks", "--json"])?;
            outcome.locks = locks.as_array().map_or(0, |l| l.len() as u32);
            if outcome.locks > 0 {
                anyhow::bail!("{} stack lock(s) still held: {locks}", outcome.locks);
            }
            self.deploy()?;
            outcome.usable = true;
            Ok(())
        })();
        if let Err(e) = result {
            outcome.why = Some(format!("{e:#}"));
            outcome.usable = false;
        }
        outcome
    }

    fn state(&self, id: &str) -> anyhow::Result<String> {
        let status = self.json(&["status", id, "--json"])?;
        Ok(status["session"]["state"].as_str().unwrap_or("?").to_string())
    }
}

/// A session nobody has to do anything about any more (PLAN_FAILED holds no lock once
/// recovered: the lock check counts it otherwise).
fn finished(state: &str) -> bool {
    matches!(state, "APPLIED" | "FAILED" | "CANCELLED" | "EXPIRED" | "PLAN_FAILED")
}

/// A resource step of `stack` in `cloud logs` (`[network] create aws:ec2/vpc:Vpc … ...`), whatever
/// its operation (a stack deployed before shows `same` steps).
fn resource_step(line: &str, stack: &str) -> bool {
    line.strip_prefix(&format!("[{stack}] "))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .is_some_and(|kind| kind.starts_with("aws:"))
}

fn session_in(line: &str) -> String {
    line.split_whitespace().nth(1).unwrap_or_default().to_string()
}

/// A `cloud` under test, read line by line.
struct Victim {
    child: Child,
    lines: mpsc::Receiver<String>,
    what: String,
}

impl Victim {
    fn wait_line(&mut self, check: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if check(&line) => return Ok(line),
                Ok(_) => {}
                Err(e) => anyhow::bail!("`{}` never printed the line awaited ({e})", self.what),
            }
        }
    }

    /// SIGKILL to the process group: `cloud` and the engine processes it started.
    fn kill(&mut self) {
        // SAFETY: kill(2) of the process group this bench created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// A pseudo-terminal: (master, slave). `cloud deploy` without `--approve` waits at its approval
/// prompt only when stdin is a terminal.
fn terminal() -> anyhow::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::FromRawFd;
    // SAFETY: posix_openpt/grantpt/unlockpt/ptsname on a descriptor this function owns; the name
    // is copied at once.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        anyhow::ensure!(master >= 0, "no pseudo-terminal: {}", std::io::Error::last_os_error());
        let master_file = std::fs::File::from_raw_fd(master);
        anyhow::ensure!(
            libc::grantpt(master) == 0 && libc::unlockpt(master) == 0,
            "cannot unlock the pseudo-terminal"
        );
        let name = libc::ptsname(master);
        anyhow::ensure!(!name.is_null(), "no pseudo-terminal name");
        let name = std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned();
        let slave = std::fs::OpenOptions::new().read(true).write(true).open(name)?;
        Ok((master_file, slave))
    }
}

/// xorshift64: the kill moments need spread, not cryptography (and no new dependency).
struct XorShift(u64);

impl XorShift {
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}
