//! Issue 15, item 5 through the binary: Ctrl-C (SIGINT to the `cloud` process only, as a
//! terminal sends it) in `cloud deploy`. During an apply it cancels the running engine steps
//! through the engine (as the person running the command), waits for the end state, prints the
//! summary with the truth per stack and one line naming the session and its state, and exits
//! 130; at the approval prompt it cancels the session. Either way no stack stays locked, the
//! audit log names the cancel, and the same stacks deploy again.

#[path = "support/cli.rs"]
mod cli;

use cli::{session_in, stack_state, Cli, Running};

/// Three waves: network, then security (held), then secrets (never reached).
const STACKS: &str = "network,security,secrets";

/// Ctrl-C: SIGINT to the `cloud` process alone. It runs in a process group of its own (as a
/// job of an interactive shell would), and its engine processes in theirs: only `cloud` hears it.
fn ctrl_c(running: &Running) {
    // SAFETY: kill(2) of a child this test started and has not reaped; nothing is dereferenced.
    unsafe { libc::kill(running.child.id() as i32, libc::SIGINT) };
}

/// The audit rows of session `id` as `cloud audit --json` shows them: (actor, action, details).
fn audit_rows(cli: &Cli, id: &str) -> Vec<(String, String, String)> {
    let run = cli.run(&["audit", "--session", id, "--json"]);
    run.expect_code(0);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap_or_default().to_string(),
                r["action"].as_str().unwrap_or_default().to_string(),
                r["details"].to_string(),
            )
        })
        .collect()
}

#[test]
fn ctrl_c_during_an_apply_cancels_it_through_the_engine_and_prints_the_summary() {
    let cli = Cli::new();
    let (mut deploy, id) = cli.deploy_held_at_the_gate(STACKS, "security");

    ctrl_c(&deploy);

    // The engine was asked to stop (the held step gives up at a cancel), the apply ended, and
    // the usual summary says what became of each stack.
    deploy.wait_line("the summary", |l| l.starts_with(&format!("Session {id} (")));
    deploy.wait_line("the end state", |l| l.trim() == "state    CANCELLED");
    deploy.wait_line("network applied", |l| {
        l.trim_start().starts_with("wave 1  network") && l.contains(" applied ")
    });
    deploy.wait_line("security cancelled", |l| {
        l.trim_start().starts_with("wave 2  security") && l.contains(" failed ")
    });
    deploy.wait_line("why", |l| l.trim() == "cancelled");
    deploy.wait_line("secrets skipped", |l| {
        l.trim_start().starts_with("wave 3  secrets") && l.contains(" skipped ")
    });
    let last = deploy.wait_line("the line naming the session and its state", |l| {
        l.starts_with("interrupted (Ctrl-C): ")
    });
    assert!(
        last.contains(&format!("session {id} is CANCELLED")) && last.contains("cloud deploy ecommerce dev"),
        "{last}"
    );
    let code = deploy.child.wait().unwrap();
    assert_eq!(code.code(), Some(130), "exit 130 after Ctrl-C: {code:?}");

    let status = cli.status_json(&id);
    assert_eq!(status["session"]["state"], "CANCELLED", "{status}");
    let reason = status["session"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("cancelled by cli:alice") && reason.contains("interrupted (Ctrl-C)"),
        "{reason}"
    );
    assert_eq!(stack_state(&status, "network").0, "applied", "{status}");
    assert_eq!(stack_state(&status, "security"), ("failed".into(), "cancelled".into()));
    assert_eq!(
        stack_state(&status, "secrets"),
        ("skipped".into(), "not reached".into())
    );
    assert!(status["locks"].as_array().unwrap().is_empty(), "{status}");

    let audit = audit_rows(&cli, &id);
    assert!(
        audit.iter().any(|(actor, action, details)| actor == "cli:alice"
            && action == "session.cancel_requested"
            && details.contains("interrupted (Ctrl-C)")),
        "the audit log records the cancel as the person who pressed Ctrl-C: {audit:?}"
    );
    cli.stacks_free_and_deploy_again(STACKS, "nothing was left to recover");
}

#[test]
fn ctrl_c_at_the_approval_prompt_cancels_the_session_and_frees_its_stacks() {
    let cli = Cli::new();
    let (mut deploy, _terminal) = cli.spawn_at_terminal(&["deploy", "ecommerce", "dev", "--stacks", STACKS]);
    let id = session_in(&deploy.wait_line("the session", |l| l.starts_with("Session ")));
    // Printed just before the prompt; from the plan on, a Ctrl-C is the command's to handle.
    deploy.wait_line("the plan's next step", |l| l.starts_with("next: "));
    assert_eq!(cli.held_locks().len(), 3, "its plan holds the stacks");

    ctrl_c(&deploy);

    let last = deploy.wait_line("the line naming the session and its state", |l| {
        l.starts_with("interrupted (Ctrl-C) at the approval prompt: ")
    });
    assert!(last.contains(&format!("session {id} is CANCELLED")), "{last}");
    let code = deploy.child.wait().unwrap();
    assert_eq!(code.code(), Some(130), "exit 130 after Ctrl-C: {code:?}");

    let status = cli.status_json(&id);
    assert_eq!(status["session"]["state"], "CANCELLED", "{status}");
    let reason = status["session"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("interrupted (Ctrl-C)"), "{reason}");
    let audit = audit_rows(&cli, &id);
    assert!(
        audit
            .iter()
            .any(|(actor, _, details)| actor == "cli:alice" && details.contains("interrupted (Ctrl-C)")),
        "{audit:?}"
    );
    cli.stacks_free_and_deploy_again(STACKS, "nothing was left to recover");
}

/// The exit-code table in the README names the code an interrupted command exits with.
#[test]
fn the_readme_documents_the_exit_code_of_an_interrupted_command() {
    let readme = std::fs::read_to_string(cli::repo().join("README.md")).unwrap();
    let table = readme
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes:"))
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!table.is_empty(), "an exit-code paragraph in the README");
    for code in [
        cloud::cli::interrupt::EXIT_INTERRUPTED,
        cloud::cli::interrupt::EXIT_TERMINATED,
    ] {
        assert!(table.contains(&format!("`{code}`")), "{table}: does not name {code}");
    }
}
