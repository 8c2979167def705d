//! `cloud bench` runs and reports what it measured. The numbers themselves are not asserted
//! (they depend on the machine); their shape and invariants are.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

/// `cloud bench` runs the separate cloud-bench program found beside `cloud`: built here if this
/// checkout has not built it yet, so the tests do not depend on an earlier `cargo build --bins`.
fn cli() -> Cli {
    cloud_testkit::paths::bench();
    Cli::new()
}

#[test]
fn bench_waves_reports_plan_and_apply_against_the_critical_path() {
    let cli = cli();
    let run = cli.run(&["bench", "waves", "--delay-ms", "20", "--json"]);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(v["stacks"], 16);
    assert_eq!(v["waves"], 6);
    for phase in ["plan", "apply"] {
        let p = &v[phase];
        let (critical, wall, sequential) = (
            p["critical_path_s"].as_f64().unwrap(),
            p["wall_s"].as_f64().unwrap(),
            p["sequential_s"].as_f64().unwrap(),
        );
        assert!(critical > 0.0 && critical <= sequential, "{phase}: {p}");
        // The chain's stacks run one after the other inside the measured run (stack times are
        // stamped when the bench receives the events: allow for that lag).
        assert!(wall * 1.05 + 0.05 >= critical, "{phase}: {p}");
        assert_eq!(p["critical_path"][0], "network", "{phase}: {p}");
        assert_eq!(
            p["critical_path"].as_array().unwrap().last().unwrap(),
            "monitoring",
            "{phase}: {p}"
        );
    }
    // It used a scratch directory: the user's data dir holds no session.
    assert!(cli.sessions().is_empty());
}

#[test]
fn bench_stream_reports_lines_messages_and_no_budget_violation() {
    let cli = cli();
    let run = cli.run(&["bench", "stream", "--lines", "3000", "--json"]);
    run.expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(v["lines_in"], 3000);
    assert_eq!(v["budget_violations"], 0);
    assert_eq!(v["oversize_messages"], 0);
    assert!(v["messages"].as_u64().unwrap() > 0);
    let run = cli.run(&["bench", "stream", "--lines", "0"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--lines must be at least 1"), "{}", run.stderr);
}

#[test]
fn bench_waves_refuses_a_real_pulumi() {
    let mut cli = cli();
    let fake = cli::script(&cli.path("pulumi"), "echo v3.226.0\n");
    cli.set("CLOUD_PULUMI_BINARY", &fake.display().to_string());
    let run = cli.run(&["bench", "waves"]);
    run.expect_code(2);
    assert!(run.stderr.contains("runs on the Pulumi stand-in"), "{}", run.stderr);
}
