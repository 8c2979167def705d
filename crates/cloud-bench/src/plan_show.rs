//! `cloud bench plan-show`: `cloud plan show` on a generated event log of `--size-mb` (1 GB by
//! default) — events per second and peak RSS of the real `cloud` binary, text and `--json`,
//! against a plain Python `json.loads` loop over the same file when `python3` is on `PATH`.
//!
//! The log is what a long series of previews writes: stacks one after another, each a prelude,
//! a `resourcePreEvent` and a `resOutputsEvent` per resource with AWS-like states (inputs with
//! tags, outputs with ids and ARNs; a third of them updates carrying the old state too), a
//! warning now and then, the engine's summary and `cancelEvent` — about 2.4 KB per event, like
//! the recordings. It is written to a temporary directory and deleted afterwards. Peak RSS is
//! the kernel's own figure for the child (`wait4` → `ru_maxrss`).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use serde_json::json;

use cloud_domain::error::UserError;

use crate::waves::Scratch;

/// Goals on a 1 GB log: events per second, peak RSS, and faster than Python.
pub const EVENTS_PER_SEC_GOAL: f64 = 200_000.0;
pub const PEAK_RSS_GOAL_MB: f64 = 64.0;

#[derive(Debug, Args)]
pub struct PlanShowArgs {
    /// Size of the generated event log, in MiB
    #[arg(long, default_value_t = 1024)]
    pub size_mb: u64,
    /// Skip the Python comparison
    #[arg(long)]
    pub no_python: bool,
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when a goal is not met (after printing the report)
    #[arg(long)]
    pub check: bool,
}

/// One timed run of a reader over the log.
#[derive(Debug, Clone, Serialize)]
pub struct ReaderRun {
    pub wall_s: f64,
    pub events_per_sec: f64,
    /// CPU time the reader used (user + system): on a shared machine the wall time also holds
    /// time spent waiting for a core.
    pub cpu_s: f64,
    /// Events per second of CPU time: the reader's own speed, whatever else runs.
    pub events_per_cpu_sec: f64,
    pub mib_per_sec: f64,
    pub peak_rss_mb: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanShowReport {
    pub file_mib: f64,
    pub events: u64,
    pub stacks: u64,
    /// `cloud plan show --event-log FILE` (text).
    pub text: ReaderRun,
    /// `cloud plan show --event-log FILE --json`.
    pub json: ReaderRun,
    /// `for line in open(f): json.loads(line)` — absent without python3.
    pub python: Option<ReaderRun>,
    pub goal_events_per_sec: f64,
    pub goal_peak_rss_mb: f64,
    /// Both views: ≥ 200k events/s, ≤ 64 MB, and faster than Python (when it ran).
    pub goals_met: bool,
}

/// Writes the log; returns (events, stacks).
fn generate(path: &Path, bytes: u64) -> anyhow::Result<(u64, u64)> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut written = 0u64;
    let mut seq = 0u64;
    let mut stacks = 0u64;
    let types = [
        ("aws:ec2/subnet:Subnet", "subnet"),
        ("aws:ec2/securityGroup:SecurityGroup", "sg"),
        ("aws:iam/role:Role", "role"),
        ("aws:s3/bucket:Bucket", "bucket"),
        ("aws:cloudwatch/logGroup:LogGroup", "log-group"),
    ];
    let mut line = Vec::with_capacity(16 * 1024);
    let mut emit =
        |out: &mut BufWriter<std::fs::File>, kind: &str, payload: serde_json::Value| -> std::io::Result<u64> {
            line.clear();
            serde_json::to_writer(
                &mut line,
                &json!({"sequence": seq, "timestamp": 1_767_000_000 + seq / 50, kind: payload}),
            )?;
            line.push(b'\n');
            out.write_all(&line)?;
            seq += 1;
            Ok(line.len() as u64)
        };
    while written < bytes {
        let stack = format!("D1BRV40-stack{stacks}-dev");
        let project = "ecommerce";
        let root = format!("urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}");
        let provider = format!(
            "urn:pulumi:{stack}::{project}::pulumi:providers:aws::default_6_83_0::4f1c2a9e-1d2b-4c3d-8e9f-0a1b2c3d4e5f"
        );
        written += emit(
            &mut out,
            "preludeEvent",
            json!({"config": {"ecommerce:cidrBlock": "10.10.0.0/16", "ecommerce:environment": "dev", "ecommerce:dbPassword": "[secret]"}}),
        )?;
        let mut changes = (0u64, 0u64);
        for i in 0..40u64 {
            let (ty, short) = types[(i % 5) as usize];
            let name = format!("{stack}-{short}-{i}");
            let urn = format!("urn:pulumi:{stack}::{project}::cloud:component:Group${ty}::{name}");
            let inputs = json!({
                "name": name,
                "vpcId": "vpc-959173ba01271e04f",
                "cidrBlock": format!("10.10.{}.0/24", i % 256),
                "availabilityZone": "eu-west-1a",
                "description": "managed by cloud-engine: part of the sample deployment, see deploy/D1BRV40-acme-corp-ecommerce",
                "retentionInDays": 30,
                "tags": {"Name": name, "deployment-id": "D1BRV40", "environment": "dev", "managed-by": "cloud-engine", "project": project, "stack": stack},
                "tagsAll": {"Name": name, "deployment-id": "D1BRV40", "environment": "dev", "managed-by": "cloud-engine", "project": project, "stack": stack},
            });
            let mut outputs = inputs.clone();
            let id = (stacks * 40 + i) * 7919;
            outputs["id"] = json!(format!("{short}-{id:017x}"));
            outputs["arn"] = json!(format!("arn:aws:ec2:eu-west-1:123456789012:{short}/{short}-{id:017x}"));
            outputs["ownerId"] = json!("123456789012");
            let update = i % 3 == 0;
            let state = |outs: &serde_json::Value| json!({"type": ty, "urn": urn, "custom": true, "id": outs.get("id").cloned().unwrap_or(json!("")), "parent": root, "inputs": inputs, "outputs": outs, "provider": provider});
            let op = if update { "update" } else { "create" };
            let old = if update { state(&outputs) } else { json!(null) };
            let diff = if update {
                json!({"tags": {"diffKind": "update", "inputDiff": true}})
            } else {
                json!(null)
            };
            let meta = |new: serde_json::Value| json!({"op": op, "urn": urn, "type": ty, "old": old, "new": new, "detailedDiff": diff, "logical": true, "provider": provider});
            written += emit(
                &mut out,
                "resourcePreEvent",
                json!({"metadata": meta(state(&json!({}))), "planning": true}),
            )?;
            written += emit(
                &mut out,
                "resOutputsEvent",
                json!({"metadata": meta(state(&outputs)), "planning": true}),
            )?;
            if update {
                changes.1 += 1;
            } else {
                changes.0 += 1;
            }
            if i % 10 == 9 {
                written += emit(
                    &mut out,
                    "diagnosticEvent",
                    json!({"urn": urn, "prefix": "warning: ", "message": "<{%fg 3%}>warning: <{%reset%}>argument `tagsAll` is deprecated\n", "color": "raw", "severity": "warning"}),
                )?;
            }
        }
        written += emit(
            &mut out,
            "summaryEvent",
            json!({"maybeCorrupt": false, "durationSeconds": 3, "resourceChanges": {"create": changes.0, "update": changes.1, "same": 1}, "PolicyPacks": {}, "isPreview": true}),
        )?;
        written += emit(&mut out, "cancelEvent", json!({}))?;
        stacks += 1;
    }
    out.flush()?;
    Ok((seq, stacks))
}

/// Run `program args…` with stdout to /dev/null; wall time, the child's peak RSS and CPU time.
fn timed(program: &Path, args: &[&str]) -> anyhow::Result<(Duration, f64, f64)> {
    let start = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| UserError::failed(format!("cannot run {}: {e}", program.display())))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid pointers; it reaps the child, so the Child
    // handle is forgotten below instead of being waited for again.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    let mut child = child;
    let stderr = child
        .stderr
        .take()
        .map(|mut e| {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
            s
        })
        .unwrap_or_default();
    std::mem::forget(child);
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(UserError::failed(format!("{} {} failed: {stderr}", program.display(), args.join(" "))).into());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
    // Linux reports ru_maxrss in KiB.
    Ok((wall, usage.ru_maxrss as f64 / 1024.0, cpu))
}

fn run((wall, peak_rss_mb, cpu): (Duration, f64, f64), events: u64, bytes: u64) -> ReaderRun {
    let secs = wall.as_secs_f64().max(1e-9);
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    ReaderRun {
        wall_s: r2(secs),
        events_per_sec: (events as f64 / secs).round(),
        cpu_s: r2(cpu),
        events_per_cpu_sec: (events as f64 / cpu.max(1e-9)).round(),
        mib_per_sec: r2(bytes as f64 / secs / (1024.0 * 1024.0)),
        peak_rss_mb: r2(peak_rss_mb),
    }
}

/// The `cloud` binary beside this one.
fn cloud_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let cloud = exe
        .parent()
        .map(|d| d.join(format!("cloud{}", std::env::consts::EXE_SUFFIX)))
        .filter(|p| p.is_file());
    cloud.ok_or_else(|| {
        UserError::invalid("`cloud bench plan-show` runs the `cloud` binary built beside cloud-bench: `cargo build --release -p cloud -p cloud-bench`").into()
    })
}

fn python() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("python3"))
            .find(|p| p.is_file())
    })
}

/// The plain Python reader the goal compares with.
const PYTHON_LOOP: &str = "import json, sys\nn = 0\nwith open(sys.argv[1]) as f:\n    for line in f:\n        json.loads(line)\n        n += 1\nprint(n)\n";

/// `cloud bench plan-show`.
pub fn cmd_bench_plan_show(args: &PlanShowArgs) -> anyhow::Result<PlanShowReport> {
    if args.size_mb == 0 {
        return Err(UserError::invalid("--size-mb must be at least 1").into());
    }
    let cloud = cloud_binary()?;
    let scratch = Scratch::new()?;
    let log = scratch.path().join("events.jsonl");
    let (events, stacks) = generate(&log, args.size_mb << 20)?;
    let bytes = std::fs::metadata(&log)?.len();
    let file = log.display().to_string();

    let text = run(timed(&cloud, &["plan", "show", "--event-log", &file])?, events, bytes);
    let json_run = run(
        timed(&cloud, &["plan", "show", "--event-log", &file, "--json"])?,
        events,
        bytes,
    );
    let python = match (args.no_python, python()) {
        (false, Some(py)) => {
            let script = scratch.path().join("loads.py");
            std::fs::write(&script, PYTHON_LOOP)?;
            Some(run(timed(&py, &[&script.display().to_string(), &file])?, events, bytes))
        }
        _ => None,
    };
    drop(scratch);
    let ok = |r: &ReaderRun| {
        r.events_per_sec >= EVENTS_PER_SEC_GOAL
            && r.peak_rss_mb <= PEAK_RSS_GOAL_MB
            && python.as_ref().is_none_or(|p| r.wall_s < p.wall_s)
    };
    let goals_met = ok(&text) && ok(&json_run);
    Ok(PlanShowReport {
        file_mib: (bytes as f64 / (1024.0 * 1024.0)).round(),
        events,
        stacks,
        text,
        json: json_run,
        python,
        goal_events_per_sec: EVENTS_PER_SEC_GOAL,
        goal_peak_rss_mb: PEAK_RSS_GOAL_MB,
        goals_met,
    })
}

pub fn print_plan_show(report: &PlanShowReport, json: bool, check: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        let py = report
            .python
            .as_ref()
            .map(|p| {
                format!(
                    "; python json.loads loop {:.2} s ({:.0} events/s, {:.0}/CPU-s, {:.1} MB)",
                    p.wall_s, p.events_per_sec, p.events_per_cpu_sec, p.peak_rss_mb
                )
            })
            .unwrap_or_else(|| "; python3 not found".into());
        println!(
            "plan-show: {} MiB, {} events in {} stacks — text {:.2} s ({:.0} events/s, {:.0}/CPU-s, peak {:.1} MB), json {:.2} s ({:.0} events/s, {:.0}/CPU-s, peak {:.1} MB){py} (goal ≥ {:.0} events/s, ≤ {:.0} MB, faster than python): {}",
            report.file_mib,
            report.events,
            report.stacks,
            report.text.wall_s,
            report.text.events_per_sec,
            report.text.events_per_cpu_sec,
            report.text.peak_rss_mb,
            report.json.wall_s,
            report.json.events_per_sec,
            report.json.events_per_cpu_sec,
            report.json.peak_rss_mb,
            report.goal_events_per_sec,
            report.goal_peak_rss_mb,
            if report.goals_met { "PASS" } else { "FAIL" },
        );
    }
    if check && !report.goals_met {
        return Err(UserError::failed("bench plan-show: a goal was not met (see FAIL above)").into());
    }
    Ok(())
}
