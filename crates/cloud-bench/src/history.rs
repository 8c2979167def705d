//! `cloud bench history`: does a command's cost grow with the history? (issue 17, "flat cost")
//!
//! One run, one scratch data dir. At each size (0, 1k, 10k and 50k past sessions by default)
//! the real `cloud` binary is timed, as a child process, doing what people do every day:
//!
//! * `deploy` — `cloud deploy <project> <env> --approve` on the Pulumi stand-in, each run on a
//!   fresh Pulumi state so every size does the same engine work;
//! * `status` — `cloud status <the session just deployed>` (stacks, approvals, cost, quota
//!   standing, follow-ups);
//! * `list` — `cloud list` (the newest page);
//! * `stats` — `cloud stats` (the default window);
//! * `quota` — `cloud quota show <project>` (usage from what every stack last applied).
//!
//! The history between sizes is written straight into the database ([`crate::seed`]): copies of the first real
//! session the bench deployed (its plan document, per-stack rows, approvals, its event log —
//! state changes, approvals and the engine output batches cut after the first `--log-lines`
//! output items — and audit rows that keep the hash chain valid), spread over the year before
//! the run across the project's environments, mostly APPLIED, some FAILED, CANCELLED and
//! EXPIRED — what a busy team's year leaves behind. Each operation runs `--runs`
//! times per size; the median wall time and the largest peak RSS (the kernel's own figure for
//! the child: `wait4` → `ru_maxrss`) are reported.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use cloud::cli::GlobalArgs;
use cloud_core::store::{SessionFilter, Store};
use cloud_domain::error::UserError;

use crate::seed::{generate, output_items, template};
use crate::waves::Scratch;

/// Goal: the largest history's time ≤ 1.5 × the empty store's (status, stats, quota, deploy).
pub const RATIO_GOAL: f64 = 1.5;
/// Goal: `cloud status` within 50 ms at 10k past sessions.
pub const STATUS_AT_10K_GOAL_MS: f64 = 50.0;
/// Goal: peak RSS independent of the history — the largest size within 1.5 × the empty store's.
pub const RSS_RATIO_GOAL: f64 = 1.5;
/// The operations the time-ratio goal covers (`list` is reported, its page is bounded anyway).
const RATIO_GOAL_OPS: [&str; 4] = ["status", "stats", "quota", "deploy"];

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Numbers of past sessions to measure at, ascending, the first usually 0
    #[arg(long, value_delimiter = ',', default_value = "0,1000,10000,50000")]
    pub sizes: Vec<u64>,
    /// Timed runs of each operation at each size (the median is reported)
    #[arg(long, default_value_t = 3)]
    pub runs: u32,
    /// Stacks to deploy (default: every stack the deployment enables)
    #[arg(long)]
    pub stacks: Option<String>,
    /// Engine output items (lines, steps) kept per generated session
    #[arg(long, default_value_t = 100)]
    pub log_lines: u32,
    /// The deployment to deploy (id, directory name or org/project)
    #[arg(long, default_value = "D1BRV40")]
    pub deployment: String,
    #[arg(long, default_value = "dev")]
    pub env: String,
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when a goal is not met (after printing the report)
    #[arg(long)]
    pub check: bool,
}

/// One operation at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub sessions: u64,
    /// Median wall time of the runs.
    pub ms: f64,
    /// Largest peak RSS of the runs.
    pub peak_rss_mb: f64,
}

/// One operation across the sizes.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub samples: Vec<Sample>,
    /// Time at the largest size / time at the first (the empty store).
    pub ratio_50k_to_empty: f64,
    pub rss_ratio_50k_to_empty: f64,
    /// Whether the time ratio is one the goal covers.
    pub ratio_goal_applies: bool,
    pub goal_met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub sizes: Vec<u64>,
    pub runs: u32,
    pub stacks: usize,
    /// Database bytes per generated session (plan document, rows, logs, audit), measured as the
    /// growth of the database file over the largest batch.
    pub bytes_per_generated_session: Option<f64>,
    /// Event-log rows (`session_events`: state changes, approvals, engine output batches) and
    /// engine output items copied into each generated session.
    pub events_per_generated_session: usize,
    pub output_items_per_generated_session: usize,
    /// The stored bytes per terminal session (plan documents and large output batches
    /// compressed), before and after retention: the same figures as `retention`.
    pub storage_per_session_bytes: Option<StorageSample>,
    pub operations: std::collections::BTreeMap<String, OpReport>,
    /// After the last size, `cloud prune --older-than 0s --yes`: the stored text per terminal
    /// session before and after (goal ≤ 30 KB after), and how long the prune took.
    pub retention: Option<RetentionSample>,
    /// `cloud status` at 10k sessions (absent when 10k is not among the sizes).
    pub status_ms_at_10k: Option<f64>,
    pub goal_ratio: f64,
    pub goal_status_ms_at_10k: f64,
    pub goal_rss_ratio: f64,
    pub goals_met: bool,
}

/// Stored bytes per terminal session at the largest size.
#[derive(Debug, Clone, Serialize)]
pub struct StorageSample {
    pub before_prune: f64,
    pub after_prune: f64,
}

/// Retention at the largest size.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionSample {
    pub terminal_sessions: u64,
    pub bytes_per_terminal_session_before: f64,
    pub bytes_per_terminal_session_after: f64,
    pub prune_s: f64,
    pub goal_bytes_per_terminal_session: f64,
    pub goal_met: bool,
}

/// Goal: stored bytes per terminal session after retention.
pub const BYTES_PER_SESSION_GOAL: f64 = 30_000.0;

/// Runs `cloud` with the bench's environment; wall time and the child's peak RSS.
struct Runner {
    cloud: PathBuf,
    data_dir: PathBuf,
    scratch: PathBuf,
    /// Counts Pulumi states, so each deploy starts from an empty one.
    states: u32,
}

impl Runner {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.cloud);
        command
            .args(args)
            .env("CLOUD_DATA_DIR", &self.data_dir)
            .env_remove("CLOUD_DATABASE_URL")
            .env(
                "CLOUD_PULUMI_BACKEND_URL",
                format!(
                    "file://{}",
                    self.scratch.join(format!("pulumi-{}", self.states)).display()
                ),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Run `cloud args…` to completion: (wall, peak RSS in MB).
    fn timed(&self, args: &[&str]) -> anyhow::Result<(Duration, f64)> {
        let start = Instant::now();
        let child = self
            .command(args)
            .spawn()
            .map_err(|e| UserError::failed(format!("cannot run {}: {e}", self.cloud.display())))?;
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child with valid pointers; it reaps the child, so the Child
        // handle is forgotten below instead of being waited for again.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        let wall = start.elapsed();
        let mut child = child;
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        std::mem::forget(child);
        if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            return Err(UserError::failed(format!("`cloud {}` failed: {stderr}", args.join(" "))).into());
        }
        // Linux reports ru_maxrss in KiB.
        Ok((wall, usage.ru_maxrss as f64 / 1024.0))
    }

    /// Run `cloud args…` and return what it printed.
    fn output(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.command(args).stdout(Stdio::piped()).output()?;
        if !out.status.success() {
            return Err(UserError::failed(format!(
                "`cloud {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ))
            .into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `runs` timed runs: (median ms, largest peak RSS MB). A deploy gets a fresh Pulumi state
    /// each time.
    fn sample(&mut self, args: &[&str], runs: u32, fresh_state: bool) -> anyhow::Result<(f64, f64)> {
        let mut walls = Vec::new();
        let mut rss: f64 = 0.0;
        for _ in 0..runs.max(1) {
            if fresh_state {
                self.states += 1;
            }
            let (wall, peak) = self.timed(args)?;
            walls.push(wall.as_secs_f64() * 1000.0);
            rss = rss.max(peak);
        }
        walls.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
        Ok((walls[walls.len() / 2], rss))
    }
}

/// The `cloud` binary beside this one.
fn cloud_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.parent()
        .map(|d| d.join(format!("cloud{}", std::env::consts::EXE_SUFFIX)))
        .filter(|p| p.is_file())
        .ok_or_else(|| {
            UserError::invalid(
                "`cloud bench history` runs the `cloud` binary built beside cloud-bench: `cargo build --release -p cloud -p cloud-bench -p pulumi-standin`",
            )
            .into()
        })
}

fn db_bytes(data_dir: &Path) -> u64 {
    ["cloud.db", "cloud.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// `cloud bench history`.
pub async fn cmd_bench_history(global: &GlobalArgs, args: &HistoryArgs) -> anyhow::Result<HistoryReport> {
    if args.sizes.is_empty() || args.sizes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(UserError::invalid(
            "--sizes must be distinct numbers of sessions in ascending order, e.g. 0,1000,10000,50000",
        )
        .into());
    }
    if args.runs == 0 {
        return Err(UserError::invalid("--runs must be at least 1").into());
    }
    let cloud = cloud_binary()?;
    let scratch = Scratch::new()?;
    let data_dir = scratch.path().join("data");
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(&data_dir)?;
    let config = cloud::app::load_config(global)?;
    let help = Command::new(&config.pulumi.binary).arg("--help").output();
    if !help
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("cloud-engine Pulumi stand-in"))
        .unwrap_or(false)
    {
        return Err(UserError::invalid(format!(
            "`cloud bench history` deploys on the Pulumi stand-in, but pulumi.binary is `{}`; set CLOUD_PULUMI_BINARY=target/release/pulumi-standin",
            config.pulumi.binary
        ))
        .into());
    }
    let project = cloud_catalog::find_deployment(&config.workspace, &args.deployment)?
        .manifest
        .project
        .clone();
    let mut runner = Runner {
        cloud,
        data_dir: data_dir.clone(),
        scratch: scratch.path().to_path_buf(),
        states: 0,
    };
    // Quotas the checks must really evaluate: sessions, cost and a resource type.
    for (key, limit) in [("sessions", "20"), ("cost", "1000000"), ("vm", "1000")] {
        runner.timed(&["quota", "set", &project, key, limit])?;
    }
    let store = Store::open(&format!("sqlite://{}", data_dir.join("cloud.db").display())).await?;
    let origin = chrono::Utc::now();
    let total = *args.sizes.last().expect("checked non-empty");
    let mut deploy: Vec<&str> = vec!["deploy", &project, &args.env, "--approve"];
    if let Some(stacks) = &args.stacks {
        deploy.extend(["--stacks", stacks]);
    }

    let ops = ["deploy", "status", "list", "stats", "quota"];
    let mut samples: std::collections::BTreeMap<&str, Vec<Sample>> = Default::default();
    let mut template_rows = None;
    let mut have = 0u64;
    let mut bytes_per_session = None;
    let mut stacks = 0;
    for &size in &args.sizes {
        if size > have {
            let t = template_rows
                .as_ref()
                .expect("the first size deploys before any history is written");
            let before = db_bytes(&data_dir);
            generate(&store, t, have, size - have, total, origin).await?;
            let after = db_bytes(&data_dir);
            bytes_per_session = Some(round(after.saturating_sub(before) as f64 / (size - have) as f64, 0));
            have = size;
        }
        let (deploy_ms, deploy_rss) = runner.sample(&deploy, args.runs, true)?;
        let newest = store
            .sessions(&SessionFilter {
                limit: Some(1),
                ..Default::default()
            })
            .await?
            .pop()
            .ok_or_else(|| UserError::failed("the deploy left no session"))?;
        if template_rows.is_none() {
            stacks = newest.stacks.len();
            template_rows = Some(template(&store, newest.id, args.log_lines).await?);
        }
        let id = newest.id.to_string();
        let measured = [
            ("deploy", (deploy_ms, deploy_rss)),
            ("status", runner.sample(&["status", &id], args.runs, false)?),
            ("list", runner.sample(&["list"], args.runs, false)?),
            ("stats", runner.sample(&["stats"], args.runs, false)?),
            ("quota", runner.sample(&["quota", "show", &project], args.runs, false)?),
        ];
        for (op, (ms, rss)) in measured {
            samples.entry(op).or_default().push(Sample {
                sessions: size,
                ms: round(ms, 1),
                peak_rss_mb: round(rss, 1),
            });
        }
    }
    let before: serde_json::Value =
        serde_json::from_str(&runner.output(&["prune", "--older-than", "0s", "--json"])?)?;
    let start = Instant::now();
    let after: serde_json::Value =
        serde_json::from_str(&runner.output(&["prune", "--older-than", "0s", "--yes", "--json"])?)?;
    let prune_s = start.elapsed().as_secs_f64();
    let per = |v: &serde_json::Value| v["bytes_per_terminal_session"].as_f64().unwrap_or(f64::NAN);
    let retention = RetentionSample {
        terminal_sessions: after["terminal_sessions"].as_u64().unwrap_or(0),
        bytes_per_terminal_session_before: per(&before),
        bytes_per_terminal_session_after: per(&after),
        prune_s: round(prune_s, 2),
        goal_bytes_per_terminal_session: BYTES_PER_SESSION_GOAL,
        goal_met: per(&after) <= BYTES_PER_SESSION_GOAL,
    };
    store.close().await;
    drop(scratch);

    let mut operations = std::collections::BTreeMap::new();
    let mut goals_met = true;
    for op in ops {
        let s = &samples[op];
        let (first, last) = (&s[0], &s[s.len() - 1]);
        let ratio = round(last.ms / first.ms.max(1e-9), 3);
        let rss_ratio = round(last.peak_rss_mb / first.peak_rss_mb.max(1e-9), 3);
        let applies = RATIO_GOAL_OPS.contains(&op);
        let met = (!applies || ratio <= RATIO_GOAL) && rss_ratio <= RSS_RATIO_GOAL;
        goals_met &= met;
        operations.insert(
            op.to_string(),
            OpReport {
                samples: s.clone(),
                ratio_50k_to_empty: ratio,
                rss_ratio_50k_to_empty: rss_ratio,
                ratio_goal_applies: applies,
                goal_met: met,
            },
        );
    }
    let (events_per_session, items_per_session) = template_rows
        .as_ref()
        .map(|t| (t.events.len(), output_items(&t.events)))
        .unwrap_or_default();
    let status_ms_at_10k = samples["status"].iter().find(|s| s.sessions == 10_000).map(|s| s.ms);
    if let Some(ms) = status_ms_at_10k {
        goals_met &= ms <= STATUS_AT_10K_GOAL_MS;
    }
    goals_met &= retention.goal_met;
    Ok(HistoryReport {
        sizes: args.sizes.clone(),
        runs: args.runs,
        stacks,
        bytes_per_generated_session: bytes_per_session,
        events_per_generated_session: events_per_session,
        output_items_per_generated_session: items_per_session,
        storage_per_session_bytes: Some(StorageSample {
            before_prune: round(retention.bytes_per_terminal_session_before, 0),
            after_prune: round(retention.bytes_per_terminal_session_after, 0),
        }),
        operations,
        retention: Some(retention),
        status_ms_at_10k,
        goal_ratio: RATIO_GOAL,
        goal_status_ms_at_10k: STATUS_AT_10K_GOAL_MS,
        goal_rss_ratio: RSS_RATIO_GOAL,
        goals_met,
    })
}

pub fn print_history(report: &HistoryReport, json: bool, check: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        let largest = report.sizes.last().copied().unwrap_or(0);
        let ops: Vec<String> = report
            .operations
            .iter()
            .map(|(op, r)| {
                let (first, last) = (&r.samples[0], &r.samples[r.samples.len() - 1]);
                format!(
                    "{op} {:.0}→{:.0} ms ×{:.2}, {:.0}→{:.0} MB",
                    first.ms, last.ms, r.ratio_50k_to_empty, first.peak_rss_mb, last.peak_rss_mb
                )
            })
            .collect();
        let status10k = report
            .status_ms_at_10k
            .map(|ms| {
                format!(
                    "; status at 10k {ms:.1} ms (goal ≤ {:.0} ms)",
                    report.goal_status_ms_at_10k
                )
            })
            .unwrap_or_default();
        let retention = report
            .retention
            .as_ref()
            .map(|r| {
                format!(
                    "; after prune {:.1} KB per terminal session (was {:.1} KB, goal ≤ {:.0} KB, prune {:.1} s)",
                    r.bytes_per_terminal_session_after / 1000.0,
                    r.bytes_per_terminal_session_before / 1000.0,
                    r.goal_bytes_per_terminal_session / 1000.0,
                    r.prune_s
                )
            })
            .unwrap_or_default();
        println!(
            "history: {} → {largest} past sessions ({} stacks deployed, {} runs each): {}{status10k}{retention} (goal time ×≤{:.1} for status, stats, quota, deploy; RSS ×≤{:.1}): {}",
            report.sizes.first().copied().unwrap_or(0),
            report.stacks,
            report.runs,
            ops.join("; "),
            report.goal_ratio,
            report.goal_rss_ratio,
            if report.goals_met { "PASS" } else { "FAIL" },
        );
    }
    if check && !report.goals_met {
        return Err(UserError::failed("bench history: a goal was not met (see FAIL above)").into());
    }
    Ok(())
}
