//! Retention (issue 17.2) through the binary: an admin looks at what `cloud prune` would remove,
//! removes it with `--yes`, and every finished session still says what it was — state, digest,
//! per-stack results — while the audit trail still verifies and quota usage is unchanged.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

const DEPLOY: &[&str] = &["deploy", "ecommerce", "dev", "--approve", "--stacks", "network"];

fn json(run: &cli::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn an_admin_prunes_old_logs_and_plans_and_every_session_keeps_its_summary_and_audit_trail() {
    let cli = Cli::new();
    cli.run(DEPLOY).expect_code(0);
    cli.run(DEPLOY).expect_code(0);
    let sessions = cli.sessions();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let (newest, oldest) = (sessions[0].0.clone(), sessions[1].0.clone());
    let logs_before = cli.run(&["logs", &oldest]);
    logs_before.expect_code(0);
    assert!(logs_before.stdout.lines().count() > 3, "{}", logs_before.stdout);
    let quota_before = json(cli.run(&["quota", "show", "ecommerce", "--json"]).expect_code(0));
    let status_before = json(cli.run(&["status", &oldest, "--json"]).expect_code(0));

    // With the configured retention (30 days of logs) nothing is old enough yet.
    let run = cli.run(&["prune"]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("Would remove 0 engine log batch(es)"),
        "{}",
        run.stdout
    );

    // Everything finished counts as old with --older-than 0s; a dry run lists it and keeps it.
    let run = cli.run(&["prune", "--older-than", "0s", "--json"]);
    run.expect_code(0);
    let dry = json(&run);
    assert_eq!(dry["dry_run"], true);
    assert!(dry["log_entries"].as_u64().unwrap() > 3, "{dry}");
    assert!(dry["log_bytes"].as_u64().unwrap() > 100, "{dry}");
    // The newest session is the latest applied one of network in dev: its plan is what quota
    // usage is computed from, so only the older plan may go.
    assert_eq!(dry["plans"], 1, "{dry}");
    assert_eq!(cli.run(&["logs", &oldest]).expect_code(0).stdout, logs_before.stdout);
    let text = cli.run(&["prune", "--older-than", "0s"]);
    text.expect_code(0);
    assert!(text.stdout.contains("Nothing was removed (dry run)"), "{}", text.stdout);

    let run = cli.run(&["prune", "--older-than", "0s", "--yes", "--json"]);
    run.expect_code(0);
    let done = json(&run);
    assert_eq!(done["dry_run"], false);
    for key in ["log_entries", "log_bytes", "plans", "plan_bytes"] {
        assert_eq!(done[key], dry[key], "{key}: {done} vs {dry}");
    }
    assert_eq!(done["terminal_sessions"], 2, "{done}");
    let per_session = done["bytes_per_terminal_session"].as_f64().unwrap();
    assert!(
        per_session > 0.0 && per_session < dry["bytes_per_terminal_session"].as_f64().unwrap(),
        "{done} vs {dry}"
    );
    assert!(per_session <= 30_000.0, "storage goal: {done}");

    // The logs are gone; the sessions still say what they were.
    assert_eq!(cli.run(&["logs", &oldest]).expect_code(0).stdout.trim(), "");
    let status_after = json(cli.run(&["status", &oldest, "--json"]).expect_code(0));
    assert!(status_after["session"]["plan"].is_null(), "{status_after}");
    for key in ["state", "digest", "requester", "created_at", "finished_at"] {
        assert_eq!(status_after["session"][key], status_before["session"][key], "{key}");
    }
    assert_eq!(
        status_after["stacks"], status_before["stacks"],
        "per-stack results are kept"
    );
    assert_eq!(status_after["approvals"], status_before["approvals"]);
    let newest_status = json(cli.run(&["status", &newest, "--json"]).expect_code(0));
    assert!(newest_status["session"]["plan"].is_object(), "the head plan is kept");
    assert_eq!(
        json(cli.run(&["quota", "show", "ecommerce", "--json"]).expect_code(0)),
        quota_before,
        "quota usage is unchanged"
    );

    // The audit trail is intact and says what was pruned.
    cli.run(&["audit", "verify"]).expect_code(0);
    let audit = cli.run(&["audit", "--json"]);
    audit.expect_code(0);
    let rows = json(&audit);
    let prune = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "retention.prune")
        .unwrap_or_else(|| panic!("no retention.prune row: {rows}"));
    assert_eq!(prune["details"]["plans"], 1, "{prune}");

    // A second prune finds nothing more and writes no audit row.
    let again = json(
        cli.run(&["prune", "--older-than", "0s", "--yes", "--json"])
            .expect_code(0),
    );
    assert_eq!(
        (again["log_entries"].as_u64(), again["plans"].as_u64()),
        (Some(0), Some(0))
    );
    let rows_after = json(cli.run(&["audit", "--json"]).expect_code(0));
    assert_eq!(rows_after.as_array().unwrap().len(), rows.as_array().unwrap().len());
}

#[test]
fn prune_is_for_admins_and_refuses_a_bad_duration_without_touching_anything() {
    // A shared store: root (the mapped OS user) is the admin, alice acts with her API token.
    let cli = Cli::strict();
    cli.run(DEPLOY).expect_code(0);
    let id = cli.sessions()[0].0.clone();
    let logs = cli.run(&["logs", &id]).expect_code(0).stdout.clone();

    let run = cli.run(&["prune", "--older-than", "soon", "--yes"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("--older-than `soon` is not a duration"),
        "{}",
        run.stderr
    );

    let run = cli.as_user("alice", &["prune", "--older-than", "0s", "--yes"]);
    run.expect_code(3);
    assert!(run.stderr.contains("admin"), "{}", run.stderr);

    assert_eq!(
        cli.run(&["logs", &id]).expect_code(0).stdout,
        logs,
        "nothing was removed"
    );
}
