//! Engine failures seen from the command line (issue 3, "Bad input"): `cloud deploy` against a
//! missing binary, a failing preview, a crash, a hang, and an engine whose event log is damaged.
//! Each gives a clear message and an exit code, and no session is left PLANNING or APPLYING.

#[path = "support/cli.rs"]
mod cli;

use cli::{script, standin, Cli};

/// `cloud deploy ecommerce dev --approve` on the network stack only (the smallest real run).
const DEPLOY: &[&str] = &["deploy", "ecommerce", "dev", "--approve", "--stacks", "network"];

#[test]
fn a_missing_binary_fails_the_plan_with_exit_2_and_names_the_config_key() {
    let mut cli = Cli::new();
    // One environment each: a PLAN_FAILED session keeps its stacks (it can be retried).
    for (env, binary, why) in [
        (
            "dev",
            "/nonexistent/bin/pulumi",
            "the engine binary `/nonexistent/bin/pulumi` was not found",
        ),
        ("stage", "bin/pulumi", "the engine binary `bin/pulumi` was not found"),
        (
            "prod",
            "pulumi-not-installed-here",
            "the engine binary `pulumi-not-installed-here` was not found on PATH",
        ),
    ] {
        cli.set("CLOUD_PULUMI_BINARY", binary);
        let run = cli.run(&["deploy", "ecommerce", env, "--approve", "--stacks", "network"]);
        run.expect_code(2);
        assert!(run.stdout.contains("PLAN_FAILED"), "{}", run.stdout);
        assert!(
            run.stderr.starts_with(&format!("error: the plan failed because {why}")),
            "{}",
            run.stderr
        );
        for needle in [
            "`pulumi.binary`",
            "CLOUD_PULUMI_BINARY",
            "curl -fsSL https://get.pulumi.com | sh",
            "cloud refresh ",
        ] {
            assert!(run.stderr.contains(needle), "{needle} missing from {}", run.stderr);
        }
    }
    let sessions = cli.sessions();
    assert_eq!(sessions.len(), 3);
    assert!(sessions.iter().all(|(_, state)| state == "PLAN_FAILED"), "{sessions:?}");

    // Still missing: a retry says the same; once configured, the same session recovers.
    let id = sessions[0].0.clone();
    cli.run(&["refresh", &id]).expect_code(2);
    cli.set("CLOUD_PULUMI_BINARY", &standin().display().to_string());
    let run = cli.run(&["refresh", &id]);
    run.expect_code(0);
    assert!(run.stdout.contains("PLAN_READY"), "{}", run.stdout);
    assert_eq!(cli.sessions()[0], (id, "PLAN_READY".to_string()));
}

#[test]
fn a_failing_preview_ends_plan_failed_with_its_diagnostics_and_exit_1() {
    let cli = Cli::new();
    let run = cli.run_with(
        DEPLOY,
        &[("PULUMI_STANDIN_PREVIEW_FAIL", "VPC limit exceeded in us-east-1")],
    );
    run.expect_code(1);
    assert!(run.stdout.contains("VPC limit exceeded in us-east-1"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("the plan failed; fix the problem and run `cloud refresh"),
        "{}",
        run.stderr
    );
    let sessions = cli.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].1, "PLAN_FAILED");
}

#[test]
fn a_crash_during_apply_ends_failed_and_says_which_stack() {
    let cli = Cli::new();
    let run = cli.run_with(
        &[
            "deploy",
            "ecommerce",
            "dev",
            "--approve",
            "--stacks",
            "network,security",
        ],
        &[("PULUMI_STANDIN_CRASH_AT", "2")],
    );
    run.expect_code(1);
    assert!(run.stdout.contains("crashed on D1BRV40-network-dev"), "{}", run.stdout);
    assert!(run.stderr.contains("ended FAILED"), "{}", run.stderr);
    let (id, state) = cli.sessions().remove(0);
    assert_eq!(state, "FAILED");
    let status = cli.run(&["status", &id, "--json"]);
    status.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let text = v.to_string();
    assert!(
        text.contains("\"failed\"") && text.contains("\"skipped\""),
        "network failed, security skipped: {text}"
    );
}

#[test]
fn a_hanging_engine_times_out_and_the_session_ends() {
    let mut cli = Cli::new();
    std::fs::write(cli.path("cloud.yaml"), "pulumi:\n  timeout: 2s\n  cancel_grace: 1s\n").unwrap();
    let config = cli.path("cloud.yaml").display().to_string();
    cli.set("CLOUD_CONFIG", &config);
    // A `cloud` that never ended would fail the run at the harness's safety net; this one ends
    // because the 2 s operation timeout stops the hanging engine, as its output says.
    let run = cli.run_with(DEPLOY, &[("PULUMI_STANDIN_HANG", "1")]);
    run.expect_code(1);
    assert!(
        run.stdout
            .contains("network: the operation on D1BRV40-network-dev timed out after 2s and was stopped"),
        "{}",
        run.stdout
    );
    // The stand-in hangs in the preview, so the plan fails (not left PLANNING).
    assert_eq!(cli.sessions().remove(0).1, "PLAN_FAILED");
}

// ---------------------------------------------------------------------------------------------
// A damaged event log: the stand-in runs, then its log is rewritten before the "engine" exits.

/// A `pulumi` that runs the stand-in with its event log redirected, then writes the log the
/// adapter reads according to `PULUMI_TEST_MANGLE` (passed through like every `PULUMI_*`
/// variable): `garbage` inserts a line that is not JSON, `truncated` cuts the last event (the
/// `cancelEvent`) in half with no newline, as a writer stopped mid-line leaves it, `nosummary`
/// drops the summary and cancel events.
fn mangling_engine(cli: &Cli) -> String {
    let body = r#"log=""; prev=""
for a in "$@"; do
  if [ "$prev" = "--event-log" ]; then log="$a"; fi
  prev="$a"
done
if [ -z "$log" ] || [ -z "$PULUMI_TEST_MANGLE" ]; then exec STANDIN "$@"; fi
real="$log.real"; n=$#; prev=""
for a in "$@"; do
  if [ "$prev" = "--event-log" ]; then set -- "$@" "$real"; else set -- "$@" "$a"; fi
  prev="$a"
done
shift $n
STANDIN "$@"; rc=$?
case "$PULUMI_TEST_MANGLE" in
  garbage) awk 'NR==2 { print "this is not JSON at all" } { print }' "$real" > "$log" ;;
  truncated) awk '{ if (NR > 1) print prev; prev = $0 } END { printf "%s", substr(prev, 1, 20) }' "$real" > "$log" ;;
  nosummary) grep -v -e '"summaryEvent"' -e '"cancelEvent"' "$real" > "$log" ;;
esac
rm -f "$real"
exit $rc
"#
    .replace("STANDIN", &standin().display().to_string());
    script(&cli.path("pulumi"), &body).display().to_string()
}

#[test]
fn a_non_json_line_in_the_event_log_is_skipped_logged_and_the_run_goes_on() {
    let mut cli = Cli::new();
    let engine = mangling_engine(&cli);
    cli.set("CLOUD_PULUMI_BINARY", &engine);
    let run = cli.run_with(DEPLOY, &[("PULUMI_TEST_MANGLE", "garbage")]);
    run.expect_code(0);
    assert!(run.stdout.contains("Applied."), "{}", run.stdout);
    assert!(
        run.stderr.contains("skipping engine-stream input that is not an event"),
        "logged: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("this is not JSON at all"),
        "the skipped text is shown: {}",
        run.stderr
    );
    // The same plan as with an undamaged log: nothing was lost around the bad line.
    let clean = Cli::new().run(DEPLOY);
    clean.expect_code(0);
    let table = |s: &str| {
        s.lines()
            .filter(|l| l.trim_start().starts_with("network "))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(table(&run.stdout), table(&clean.stdout));
    assert_eq!(cli.sessions()[0].1, "APPLIED");
}

#[test]
fn a_truncated_final_line_is_reported_and_the_complete_events_count() {
    let mut cli = Cli::new();
    let engine = mangling_engine(&cli);
    cli.set("CLOUD_PULUMI_BINARY", &engine);
    let run = cli.run_with(DEPLOY, &[("PULUMI_TEST_MANGLE", "truncated")]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("event log ended with a truncated event"),
        "logged: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("Applied."),
        "the summary before the cut counts: {}",
        run.stdout
    );
    assert_eq!(cli.sessions()[0].1, "APPLIED");
}

#[test]
fn an_engine_that_exits_0_without_a_summary_fails_the_plan() {
    let mut cli = Cli::new();
    let engine = mangling_engine(&cli);
    cli.set("CLOUD_PULUMI_BINARY", &engine);
    let run = cli.run_with(DEPLOY, &[("PULUMI_TEST_MANGLE", "nosummary")]);
    run.expect_code(1);
    assert!(run.stdout.contains("without a summary"), "{}", run.stdout);
    assert_eq!(cli.sessions()[0].1, "PLAN_FAILED");
}
