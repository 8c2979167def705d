//! Issue 15 (items 3, 4, 6) through the `cloud` binary and the Pulumi stand-in: a `cloud deploy`
//! killed with SIGKILL while it waits in line (DRAFT) or while it plans (PLANNING) is taken over
//! by the next `cloud` process — the session ends, its stacks and queue place are free and a new
//! deploy of the same stacks succeeds; an engine that crashes or fills the disk leaves no lock
//! behind, so the stack deploys again at once; a session row that does not decode is skipped by
//! `list` and `status` and named by `cloud doctor`. (APPLYING: `cli_multistack`.)

#[path = "support/cli.rs"]
mod cli;

use cli::{session_in, Cli};

/// `cloud deploy ecommerce dev --approve --stacks network`: the smallest real run.
const DEPLOY: &[&str] = &["deploy", "ecommerce", "dev", "--approve", "--stacks", "network"];

/// Stops the stand-in processes a killed `cloud` left behind (their pids from the stand-in's
/// invocation log): a SIGKILL gives `cloud` no chance to stop its children.
fn kill_orphans(log: &std::path::Path) {
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        if let Some(pid) = line.split_whitespace().next().and_then(|p| p.parse::<i32>().ok()) {
            // SAFETY: a plain kill(2) of a pid this test's processes started; ESRCH is fine.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn a_deploy_killed_while_it_waits_in_line_is_cancelled_and_frees_its_place() {
    let cli = Cli::new();
    // Alice's plan in stage holds network (PLAN_READY: stage needs another approver).
    cli.run(&["plan", "ecommerce", "stage", "--stacks", "network"])
        .expect_code(0);
    let holder = cli.sessions()[0].0.clone();
    let mut waiting = cli.spawn(
        &["deploy", "ecommerce", "stage", "--stacks", "network", "--queue"],
        &[("CLOUD_USER", "bob")],
    );
    let queued = session_in(&waiting.wait_line("bob's place in the queue", |l| {
        l.ends_with("is queued for its stacks: position 1.")
    }));
    assert_eq!(cli.status_json(&queued)["session"]["state"], "DRAFT");
    waiting.child.kill().unwrap(); // SIGKILL at DRAFT
    waiting.child.wait().unwrap();

    // The next `cloud` process takes the session over: the owner is provably gone.
    let run = cli.run(&["status", &queued, "--json"]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!(
            "note: session {queued} was DRAFT in a process that died; recovered: it is now CANCELLED"
        )),
        "{}",
        run.stderr
    );
    let status = cli.status_json(&queued);
    assert_eq!(status["session"]["state"], "CANCELLED");
    assert!(status["queue"].is_null(), "its place in line is freed: {status}");
    let reason = status["session"]["reason"].as_str().unwrap();
    assert!(reason.contains("stopped while it was DRAFT"), "{reason}");
    let audit = cli.run(&["audit", "--session", &queued, "--json"]);
    assert!(
        audit.stdout.contains("system:recovery"),
        "audited as the system: {}",
        audit.stdout
    );

    // Only the holder holds the stack; once it is cancelled the stack deploys.
    let locks = cli.held_locks();
    assert!(
        locks
            .iter()
            .all(|l| l["session"].as_str().unwrap().starts_with(&holder)),
        "{locks:?}"
    );
    cli.run(&["cancel", &holder]).expect_code(0);
    assert!(cli.held_locks().is_empty());
    let again = cli.run(DEPLOY);
    again.expect_code(0);
    assert!(again.stdout.contains("Applied."), "{}", again.stdout);
}

#[test]
fn a_deploy_killed_while_it_plans_ends_plan_failed_without_holding_its_stacks() {
    let cli = Cli::new();
    let invocations = cli.path("invocations.log");
    let log = invocations.display().to_string();
    // The stand-in hangs after the preview's first resource step until it is cancelled.
    let mut deploy = cli.spawn(
        DEPLOY,
        &[("PULUMI_STANDIN_HANG", "1"), ("PULUMI_STANDIN_INVOCATION_LOG", &log)],
    );
    deploy.wait_line("the waves", |l| l.contains("network"));
    let id = cli.sessions()[0].0.clone();
    let mut logs = cli.spawn(&["logs", &id, "--follow"], &[]);
    logs.wait_line("network's first preview step", |l| {
        l.starts_with("[network] create aws:")
    });
    drop(logs);
    assert_eq!(cli.status_json(&id)["session"]["state"], "PLANNING");
    deploy.child.kill().unwrap(); // SIGKILL at PLANNING
    deploy.child.wait().unwrap();
    kill_orphans(&invocations);

    let run = cli.run(&["status", &id]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("recovered: it is now PLAN_FAILED"),
        "{}",
        run.stderr
    );
    let status = cli.status_json(&id);
    assert_eq!(status["session"]["state"], "PLAN_FAILED");
    let network = &status["stacks"][0];
    assert_eq!(network["state"], "failed");
    assert!(
        network["error"]
            .as_str()
            .unwrap()
            .starts_with("interrupted: the process running the preview died"),
        "per-stack truth: {network}"
    );
    assert!(
        cli.held_locks().is_empty(),
        "no lock held by a PLAN_FAILED nobody drives"
    );

    let again = cli.run(DEPLOY);
    again.expect_code(0);
    assert!(again.stdout.contains("Applied."), "{}", again.stdout);
}

#[test]
fn an_engine_that_crashes_or_fills_the_disk_leaves_no_lock_and_the_stack_deploys_again_at_once() {
    let cli = Cli::new();
    for (knob, words) in [
        ("PULUMI_STANDIN_CRASH_AT", "crashed on D1BRV40-network-dev"),
        ("PULUMI_STANDIN_DISK_FULL_AT", "no space left on device"),
    ] {
        let run = cli.run_with(DEPLOY, &[(knob, "1")]);
        run.expect_code(1);
        assert!(run.all().contains(words), "{knob}: {}", run.all());
        let locks_dir = cli.path("data/pulumi-state/.pulumi/locks");
        let left: usize = walk(&locks_dir);
        assert_eq!(left, 0, "{knob}: the engine's lock was released (`pulumi cancel`)");
        // At once: no lock, no hand work, the same stack deploys.
        let again = cli.run(DEPLOY);
        again.expect_code(0);
        assert!(again.stdout.contains("Applied."), "{knob}: {}", again.all());
    }
}

fn walk(p: &std::path::Path) -> usize {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_session_row_that_does_not_decode_is_skipped_and_named_by_doctor() {
    let cli = Cli::new();
    for stack in ["network", "dns", "security"] {
        cli.run(&["plan", "ecommerce", "stage", "--stacks", stack])
            .expect_code(0);
    }
    let sessions = cli.sessions();
    assert_eq!(sessions.len(), 3);
    let (bad, bad_plan, good) = (sessions[0].0.clone(), sessions[1].0.clone(), sessions[2].0.clone());
    // Damage rows behind the store's back: one in a column every listing reads, one in its
    // (compressed) plan, which only the session itself needs.
    let db = cli.path("data/cloud.db");
    let damage = |sql: String| assert_eq!(rusqlite_free_update(&db, &sql), 1);
    damage(format!("UPDATE sessions SET stacks = 'network' WHERE id LIKE '{bad}%'"));
    damage(format!(
        "UPDATE sessions SET plan = NULL, plan_z = X'DEADBEEF' WHERE id LIKE '{bad_plan}%'"
    ));

    let list = cli.run(&["list"]);
    list.expect_code(0);
    assert!(list.stdout.contains(&good), "the rest keeps working: {}", list.stdout);
    assert!(!list.stdout.contains(&bad), "{}", list.stdout);
    assert!(
        list.stderr.contains(&bad) && list.stderr.contains("column stacks"),
        "reported: {}",
        list.stderr
    );
    // A listing prints no plan: the session with the damaged plan is still listed ...
    assert!(list.stdout.contains(&bad_plan), "{}", list.stdout);
    cli.run(&["status"]).expect_code(0);
    cli.run(&["status", &good]).expect_code(0);
    // ... and what needs its plan says which row and column it cannot read.
    let status = cli.run(&["status", &bad_plan]);
    assert_ne!(status.code, Some(0), "{}", status.all());
    assert!(
        status.all().contains(&bad_plan) && status.all().contains("column plan_z"),
        "{}",
        status.all()
    );

    let doctor = cli.run(&["doctor"]);
    let line = doctor
        .stdout
        .lines()
        .find(|l| l.contains("session rows"))
        .unwrap_or_else(|| panic!("{}", doctor.stdout))
        .to_string();
    assert!(line.contains(&bad) && line.contains("column stacks"), "{line}");
    assert!(line.contains(&bad_plan) && line.contains("column plan_z"), "{line}");
}

/// Runs one UPDATE on the SQLite file with the `sqlite3` shell semantics but through sqlx (no
/// extra dependency), returning the rows changed.
fn rusqlite_free_update(db: &std::path::Path, sql: &str) -> u64 {
    let url = format!("sqlite://{}", db.display());
    let sql = sql.to_string();
    tokio::runtime::Runtime::new().unwrap().block_on(async move {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(&sql).execute(&mut conn).await.unwrap().rows_affected()
    })
}
