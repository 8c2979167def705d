//! `cloud serve --slack` as an operator runs it, in its own process against the fake Slack: the
//! Slack twin of `discord_serve`'s shutdown story.

#[path = "support/cli.rs"]
mod cli;

use cloud_testkit::fake_slack::{FakeSlack, Message, Transport};
use cloud_testkit::wait::SAFETY_NET;

const ALICE: &str = "U0ALICE";

/// Waits for the lobby (a channel message) to show `text`.
async fn lobby_showing(slack: &FakeSlack, text: &str) -> Message {
    slack
        .wait_for(&format!("a lobby showing {text:?}"), |f| {
            f.channel_messages()
                .into_iter()
                .rev()
                .find(|m| m.rendered().contains(text))
        })
        .await
}

fn action_id(slack: &FakeSlack, lobby: &Message, action: &str) -> String {
    let prefix = format!("cloud:{action}:");
    lobby
        .action_ids()
        .into_iter()
        .find(|id| id.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {action} button on the lobby\n{}", slack.transcript()))
}

/// The operator stops `cloud serve --slack` (SIGTERM) while an apply runs and cannot finish: the
/// thread hears that the bot is stopping, the apply is cancelled through the engine once the
/// shutdown timeout is over — as the system, not as the approver — and before the process exits
/// 0 the thread has the summary and the full log file, and the lobby shows CANCELLED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_apply_cancels_it_as_the_system_and_slack_shows_the_end_before_exit() {
    let slack = FakeSlack::start().await;
    let mut cli = cli::Cli::new();
    // The apply cannot finish within the shutdown timeout: it holds its first resource step
    // (the gate never opens) until it is cancelled.
    let config = cli.path("cloud.yaml");
    std::fs::write(&config, "serve:\n  shutdown_timeout: 2s\n").unwrap();
    cli.set("CLOUD_CONFIG", &config.display().to_string());
    let gate = cli.path("gate").display().to_string();
    cli.run(&[
        "grant",
        &format!("slack:{ALICE}"),
        "ecommerce",
        "approve",
        "--env",
        "dev",
        "--reason",
        "the shutdown story",
    ])
    .expect_code(0);

    let mut command = tokio::process::Command::from(cli.command(
        &["serve", "--slack"],
        &[
            ("PULUMI_STANDIN_APPLY_GATE", gate.as_str()),
            ("CLOUD_SERVE_LISTEN", "127.0.0.1:0"),
            ("CLOUD_SLACK_TRANSPORT", "socket"),
            ("CLOUD_SLACK_API_URL", &slack.api_url()),
            ("SLACK_BOT_TOKEN", &slack.bot_token),
            ("SLACK_APP_TOKEN", &slack.app_token),
            ("CLOUD_LOG", "info"),
            ("CLOUD_LOG_FORMAT", "json"),
        ],
    ));
    let mut serve = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = cli::LogLines::new(serve.stderr.take().unwrap());
    log.wait_for("the Slack transport connected", |e| {
        e["fields"]["message"] == "chat transport connected" && e["fields"]["transport"] == "slack"
    })
    .await;
    slack
        .wait_for("cloud serve's Socket Mode connection", |f| {
            f.socket_connected().then_some(())
        })
        .await;

    slack
        .slash(&Transport::Socket, ALICE, "/cloud-deploy", "ecommerce dev network")
        .await;
    let lobby = lobby_showing(&slack, "PLAN_READY").await;
    slack
        .click(
            &Transport::Socket,
            ALICE,
            &lobby.ts,
            &action_id(&slack, &lobby, "approve"),
        )
        .await;
    let applying = lobby_showing(&slack, "APPLYING").await;
    assert_eq!(applying.ts, lobby.ts, "one lobby per session");

    // SAFETY: SIGTERM to the child this test spawned (its pid is valid while we hold `serve`).
    unsafe { libc::kill(serve.id().expect("serve runs") as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(SAFETY_NET, serve.wait())
        .await
        .unwrap_or_else(|_| panic!("cloud serve did not stop on SIGTERM; its log:\n{}", log.so_far()))
        .unwrap();
    let stderr = log.rest().await;
    assert_eq!(status.code(), Some(0), "{stderr}\n{}", slack.transcript());

    // The process is gone: whatever Slack shows now, it showed before its transport stopped.
    let thread = slack.thread(&lobby.ts);
    let said = |what: &str| thread.iter().any(|m| m.rendered().contains(what));
    assert!(said("shutting down"), "no shutdown notice\n{}", slack.transcript());
    assert!(
        thread.iter().any(|m| {
            let text = m.rendered();
            text.contains(": cancelled") && text.contains("system:shutdown")
        }),
        "no summary of the apply cancelled by the system\n{}",
        slack.transcript()
    );
    assert!(
        slack
            .files()
            .iter()
            .any(|f| f.thread_ts.as_deref() == Some(lobby.ts.as_str())
                && f.filename.ends_with(".log")
                && !f.content.is_empty()),
        "no log file in the thread: {:?}\n{}",
        slack.files().iter().map(|f| &f.filename).collect::<Vec<_>>(),
        slack.transcript()
    );
    let shown = slack.message(&lobby.ts).expect("the lobby").rendered();
    assert!(shown.contains("CANCELLED"), "the lobby shows: {shown}");

    // The store tells the same story, through the CLI on the same database.
    let sessions = cli.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let (id, state) = &sessions[0];
    assert_eq!(state, "CANCELLED");
    let run = cli.run(&["audit", "--session", id, "--json"]);
    run.expect_code(0);
    let audit: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let by = |actor: &str| -> Vec<String> {
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["actor"] == actor)
            .map(|e| e["action"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let by_system = by("system:shutdown");
    assert!(by_system.iter().any(|a| a == "serve.shutdown_cancel"), "{audit}");
    assert!(by_system.iter().any(|a| a == "session.cancel_requested"), "{audit}");
    assert!(
        !by(&format!("slack:{ALICE}")).iter().any(|a| a.contains("cancel")),
        "the cancel is not the approver's: {audit}"
    );
    let run = cli.run(&["locks", "--json"]);
    run.expect_code(0);
    assert_eq!(run.stdout.trim(), "[]", "no stack lock is left");
}
