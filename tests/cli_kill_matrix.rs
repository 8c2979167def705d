//! Issue 15, the kill -9 matrix through the binary: a `cloud` process is killed with SIGKILL
//! (with its whole process group, engine included, as a supervisor stopping it would) while it
//! holds a session at PLAN_READY (waiting at the approval prompt), APPLYING early (the first
//! stack's update) and APPLYING late (the last wave's update). After each kill the next `cloud`
//! process, with a short lease TTL, ends the session with the truth per stack, `cloud locks` shows
//! nothing held, and a new deploy of the same stacks succeeds.
//!
//! APPROVED is never held by a live process for longer than the step from the approval to
//! APPLYING (nothing in between waits on anything outside the process), so it cannot be killed
//! there on purpose: a session left APPROVED (`cloud approve --no-apply`) holds no lease, keeps
//! its stacks as approved and stays usable (`cloud apply`). DRAFT and PLANNING: `cli_recovery`.

#[path = "support/cli.rs"]
mod cli;

use cli::{session_in, stack_state, Cli};

/// Leases short enough that a frozen owner would be taken over within the test; a killed owner
/// on this host is taken over at once (its pid is provably gone).
fn cli() -> Cli {
    let mut cli = Cli::new();
    cli.set("CLOUD_LEASE_TTL", "2s").set("CLOUD_SWEEP_INTERVAL", "500ms");
    cli
}

const STACKS: &str = "network,security";

/// The next `cloud` process ends the session; then nothing is held and the stacks deploy again.
#[track_caller]
fn recovered_and_usable(cli: &Cli, id: &str, from: &str, to: &str) -> serde_json::Value {
    let run = cli.run(&["status", id]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!(
            "note: session {id} was {from} in a process that died; recovered: it is now {to}"
        )),
        "{}",
        run.stderr
    );
    let status = cli.status_json(id);
    assert_eq!(status["session"]["state"], to, "{status}");
    assert!(status["locks"].as_array().unwrap().is_empty(), "{status}");
    cli.stacks_free_and_deploy_again(STACKS, "recovery ran once");
    status
}

#[test]
fn a_deploy_killed_at_the_approval_prompt_is_cancelled_and_frees_its_stacks() {
    let cli = cli();
    let (mut deploy, _terminal) = cli.spawn_at_terminal(&["deploy", "ecommerce", "dev", "--stacks", STACKS]);
    let id = session_in(&deploy.wait_line("the session", |l| l.starts_with("Session ")));
    deploy.wait_line("the plan's next step", |l| l.starts_with("next: "));
    let status = cli.status_json(&id);
    assert_eq!(status["session"]["state"], "PLAN_READY");
    assert_eq!(
        status["session"]["owner"]["pid"],
        deploy.child.id(),
        "the prompt holds the session: {status}"
    );
    assert_eq!(cli.held_locks().len(), 2, "its plan holds both stacks");
    deploy.kill_group(); // SIGKILL at PLAN_READY

    let status = recovered_and_usable(&cli, &id, "PLAN_READY", "CANCELLED");
    let reason = status["session"]["reason"].as_str().unwrap();
    assert!(reason.contains("stopped while it was PLAN_READY"), "{reason}");
}

#[test]
fn an_apply_killed_in_its_first_stack_fails_it_and_skips_the_rest() {
    let cli = cli();
    let (mut deploy, id) = cli.deploy_held_at_the_gate(STACKS, "network");
    deploy.kill_group(); // SIGKILL at APPLYING, first wave

    let status = recovered_and_usable(&cli, &id, "APPLYING", "FAILED");
    let (state, error) = stack_state(&status, "network");
    assert_eq!(state, "failed");
    assert!(
        error.starts_with("interrupted: the process running the update died; ")
            && error.contains("1 pending operation(s)"),
        "per-stack truth: {error}"
    );
    assert_eq!(
        stack_state(&status, "security"),
        (
            "skipped".into(),
            "not reached: the process running the session died".into()
        )
    );
}

#[test]
fn an_apply_killed_in_its_last_wave_keeps_what_was_applied() {
    let cli = cli();
    let (mut deploy, id) = cli.deploy_held_at_the_gate(STACKS, "security");
    assert_eq!(stack_state(&cli.status_json(&id), "network").0, "applied");
    deploy.kill_group(); // SIGKILL at APPLYING, last wave

    let status = recovered_and_usable(&cli, &id, "APPLYING", "FAILED");
    assert_eq!(
        stack_state(&status, "network").0,
        "applied",
        "the first wave stays applied: {status}"
    );
    let (state, error) = stack_state(&status, "security");
    assert_eq!(state, "failed");
    assert!(
        error.starts_with("interrupted: the process running the update died; "),
        "per-stack truth: {error}"
    );
}

#[test]
fn a_session_left_approved_holds_no_lease_and_stays_usable() {
    let cli = cli();
    cli.run(&["plan", "ecommerce", "dev", "--stacks", STACKS])
        .expect_code(0);
    let id = cli.sessions()[0].0.clone();
    let run = cli.run(&["approve", &id, "--no-apply"]);
    run.expect_code(0);
    let status = cli.status_json(&id);
    assert_eq!(status["session"]["state"], "APPROVED");
    // No process drives it, so the next `cloud` takes nothing over: it waits for `cloud apply`.
    let run = cli.run(&["status", &id]);
    assert!(!run.stderr.contains("recovered"), "{}", run.stderr);
    assert_eq!(cli.held_locks().len(), 2, "the approved plan keeps its stacks");
    let apply = cli.run(&["apply", &id]);
    apply.expect_code(0);
    assert!(apply.stdout.contains("Applied."), "{}", apply.all());
    assert!(cli.held_locks().is_empty());
    let again = cli.run(&["deploy", "ecommerce", "dev", "--approve", "--stacks", STACKS]);
    again.expect_code(0);
}
