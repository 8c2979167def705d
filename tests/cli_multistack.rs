//! Multi-stack sessions through the `cloud` binary: a process killed with SIGKILL mid-apply and
//! the next `cloud` run recovering its session; busy stacks refused or queued; single-stack
//! deploys and destroys; status with per-stack sub-states and waves numbered from 1.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::{session_in, stack_state, Cli};

/// Lock files the stand-in keeps under the local backend while it updates a stack.
fn engine_lock_files(data: &Path) -> usize {
    let dir = data.join("pulumi-state/.pulumi/locks");
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&dir)
}

#[test]
fn a_cloud_process_killed_mid_apply_is_recovered_by_the_next_run() {
    let cli = Cli::new();
    let data = cli.path("data");
    // The stand-in holds network's first update step, running (its pending operation saved),
    // until this file exists, which it never will: the process is killed in that step.
    let gate = cli.path("gate").display().to_string();
    let mut deploy = cli.spawn(
        &[
            "deploy",
            "ecommerce",
            "dev",
            "--approve",
            "--stacks",
            "network,security",
        ],
        &[("PULUMI_STANDIN_APPLY_GATE", &gate)],
    );
    let id = session_in(&deploy.wait_line("the plan", |l| l.starts_with("Session ")));
    deploy.wait_line("network's update", |l| l == "network: applying");
    // Once the update's first resource step shows in the session's log (followed by a second
    // `cloud`, next to the live one), the checkpoint on disk holds what a crash leaves behind.
    cli.held_at_the_gate(&id, "network");
    assert!(engine_lock_files(&data) > 0, "the running update holds the engine lock");
    let deploy = &mut deploy.child;
    // The runs above (logs, status) ran start-up recovery next to a live owner: untouched.
    assert_eq!(cli.status_json(&id)["session"]["owner"]["pid"], deploy.id());

    deploy.kill().unwrap(); // SIGKILL: no cleanup at all
    deploy.wait().unwrap();

    // The next run of any command reconciles the session.
    let run = cli.run(&["status", &id]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!(
            "note: session {id} was APPLYING in a process that died; recovered: it is now FAILED"
        )),
        "{}",
        run.stderr
    );
    let status = cli.status_json(&id);
    assert_eq!(status["session"]["state"], "FAILED");
    let reason = status["session"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("(pid {} on ", deploy.id())) && reason.contains(") died while it was APPLYING"),
        "the lease names the process and its host: {reason}"
    );
    let (state, error) = stack_state(&status, "network");
    assert_eq!(state, "failed");
    assert!(
        error.starts_with("interrupted: the process running the update died; "),
        "{error}"
    );
    assert!(
        error.contains("resource(s) in state; 1 pending operation(s), unknown state: creating "),
        "the export's truth: {error}"
    );
    assert_eq!(
        stack_state(&status, "security"),
        (
            "skipped".into(),
            "not reached: the process running the session died".into()
        )
    );
    assert!(status["locks"].as_array().unwrap().is_empty(), "stack locks released");
    assert_eq!(
        engine_lock_files(&data),
        0,
        "`pulumi cancel` removed the dead run's engine lock"
    );
    let audit = cli.run(&["audit", "--session", &id, "--json"]);
    assert!(audit.stdout.contains("system:recovery"), "{}", audit.stdout);

    // Nothing is stuck: the same stacks deploy again, and recovery does not run twice.
    let again = cli.run(&[
        "deploy",
        "ecommerce",
        "dev",
        "--approve",
        "--stacks",
        "network,security",
    ]);
    again.expect_code(0);
    assert!(!again.stderr.contains("recovered"), "{}", again.stderr);
    assert!(again.stdout.contains("Applied."), "{}", again.stdout);
}

#[test]
fn busy_stacks_are_refused_with_the_holder_or_queued_in_order() {
    let cli = Cli::new();
    // Alice's plan holds network and security (PLAN_READY in stage waits for another approver).
    let run = cli.run(&["plan", "ecommerce", "stage", "--stacks", "network,security"]);
    run.expect_code(0);
    let holder = cli.sessions()[0].0.clone();

    let run = cli.run_with(
        &["deploy-stack", "D1BRV40", "network", "stage"],
        &[("CLOUD_USER", "bob")],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "ecommerce/D1BRV40-network-stage is held by session {holder} (cli:alice, PLAN_READY)"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--queue"), "{}", run.stderr);
    assert!(
        run.stderr.contains("released when it is applied, cancelled"),
        "the holder and what releases it are named: {}",
        run.stderr
    );
    let sessions = cli.sessions();
    assert_eq!(
        sessions.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        [holder.as_str()],
        "a refusal leaves no session behind (issue 15.4): {sessions:?}"
    );
    assert!(run.stderr.contains("No session was opened"), "{}", run.stderr);
    assert_eq!(
        cli.status_json(&holder)["session"]["state"],
        "PLAN_READY",
        "the holder is untouched"
    );

    // Bob waits in line instead; the holder is cancelled and Bob's deploy goes on.
    let mut waiting = cli.spawn(
        &["deploy-stack", "D1BRV40", "network", "stage", "--queue"],
        &[("CLOUD_USER", "bob")],
    );
    let queued = session_in(&waiting.wait_line("bob's place in the queue", |l| {
        l.ends_with("is queued for its stacks: position 1.")
    }));
    assert_eq!(cli.status_json(&queued)["queue"]["position"], 1);
    let status = cli.run(&["status", &queued]);
    assert!(status.stdout.contains("queue    position 1"), "{}", status.stdout);
    cli.run(&["cancel", &holder]).expect_code(0);
    waiting.wait_line("bob's turn", |l| l == format!("Session {queued} holds its stacks now."));
    let done = waiting.child.wait().unwrap();
    // Stage needs another approver: Bob's session is planned and waits for approval.
    assert!(done.success());
    let status = cli.status_json(&queued);
    assert_eq!(status["session"]["state"], "PLAN_READY");
    assert_eq!(status["locks"], serde_json::json!(["ecommerce/D1BRV40-network-stage"]));
    assert!(status["queue"].is_null());
}

#[test]
fn single_stacks_deploy_and_destroy_and_status_numbers_waves_from_one() {
    let cli = Cli::new();
    let run = cli.run(&["deploy-stack", "D1BRV40", "network", "dev", "--approve"]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("wave 1/1: network\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("network: applied"),
        "plain progress lines off a terminal: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("    wave 1  network              applied    +16"),
        "{}",
        run.stdout
    );

    let run = cli.run(&[
        "deploy",
        "ecommerce",
        "dev",
        "--approve",
        "--stacks",
        "network,security,dns",
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("wave 1/2: network\nwave 2/2: dns, security\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("    wave 2  security"), "{}", run.stdout);

    // One stack of the second wave alone is the session's only wave.
    let run = cli.run(&["deploy-stack", "D1BRV40", "dns", "dev", "--approve"]);
    run.expect_code(0);
    assert!(run.stdout.starts_with("wave 1/1: dns\n"), "{}", run.stdout);
    assert!(run.stdout.contains("    wave 1  dns"), "{}", run.stdout);

    let run = cli.run(&["destroy-stack", "D1BRV40", "dns", "dev", "--approve"]);
    run.expect_code(0);
    assert!(run.stdout.contains("dns: applied"), "{}", run.stdout);
    let id = cli.sessions()[0].0.clone();
    let status = cli.status_json(&id);
    assert_eq!(status["session"]["operation"], "destroy");
    assert_eq!(status["stacks"][0]["counts"]["delete"], 5);

    let run = cli.run(&[
        "destroy",
        "ecommerce",
        "dev",
        "--approve",
        "--stacks",
        "network,security",
    ]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("wave 1/2: security\nwave 2/2: network\n"),
        "destroy walks the reverse order: {}",
        run.stdout
    );

    // Bad input: an unknown stack or deployment changes nothing.
    let before = cli.sessions();
    let run = cli.run(&["deploy-stack", "D1BRV40", "no-such-stack", "dev"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("stack `no-such-stack` is not enabled"),
        "{}",
        run.stderr
    );
    let run = cli.run(&["destroy-stack", "DXXXXXX", "network", "dev"]);
    run.expect_code(2);
    assert!(run.stderr.contains("no deployment `DXXXXXX`"), "{}", run.stderr);
    assert_eq!(cli.sessions(), before);
}
