//! `cloud serve --discord` as an operator runs it: clear errors and exit 2 for a missing or
//! rejected token, `/healthz` and `/metrics`, and a graceful SIGTERM.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/discord.rs"]
mod discord;

use std::time::Duration;

use cli::Cli;
use cloud_core::policy::Role;
use discord::DiscordTester;

#[test]
fn serve_without_a_token_exits_2_and_says_where_to_put_it() {
    let mut cli = Cli::new();
    cli.unset("DISCORD_TOKEN");
    let run = cli.run(&["serve", "--discord"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("no Discord bot token: set DISCORD_TOKEN"),
        "{}",
        run.stderr
    );
    let run = cli.run(&["serve"]);
    run.expect_code(2);
    assert!(run.stderr.contains("choose what to serve"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_exits_2_and_sigterm_stops_gracefully() {
    let mut t = DiscordTester::new().await;
    let out = t
        .serve_command("wrong-token")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Discord rejected the bot token"), "{stderr}");
    assert!(
        !stderr.contains("wrong-token"),
        "the token must never be printed: {stderr}"
    );

    let mut serve = t.start_serve_process().await;
    let status = t.stop_serve_process(&mut serve).await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_report_the_store_the_gateway_and_the_sessions() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Deploy, None).await;
    t.deploy_to_plan_ready(&alice, "dev", "network").await;

    let core = t.core();
    let stop = tokio_util::sync::CancellationToken::new();
    let (addr, server) = cloud::serve::serve_ops(core.clone(), "127.0.0.1:0", stop.clone())
        .await
        .unwrap();
    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["store"], "ok");
    assert_eq!(body["transports"]["discord"], "connected");

    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("cloud_sessions{state=\"PLAN_READY\"} 1"), "{metrics}");
    assert!(
        metrics.contains("cloud_interactions_total{platform=\"discord\",kind=\"command\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cloud_interaction_first_response_seconds"),
        "{metrics}"
    );
    assert!(metrics.contains("cloud_engine_run_seconds"), "{metrics}");
    assert!(
        metrics.contains("cloud_chat_api_calls_total{platform=\"discord\""),
        "{metrics}"
    );

    // The gateway goes away: unhealthy.
    core.set_connected("discord", false);
    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), 503);
    core.set_connected("discord", true);
    stop.cancel();
    server.await.unwrap();
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_applies_run_until_the_timeout_then_cancels_them_and_records_it() {
    let mut t = DiscordTester::new().await;
    // The apply stays in its first step: it cannot finish within the shutdown timeout.
    t.hold_updates();
    t.start_bot().await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Approve, None).await;
    let (short, lobby) = t.deploy_to_plan_ready(&alice, "dev", "network").await;
    t.press(&alice, lobby.id, "approve").await;
    t.lobby_state(lobby.id, "APPLYING").await;

    let core = t.core();
    let cancelled = core.shutdown(Duration::from_millis(300), discord::WAIT).await;
    assert_eq!(cancelled.len(), 1);
    assert!(!core.accepting());
    let session = core.store().find_session(&short).await.unwrap();
    assert_eq!(session.state, cloud_domain::session::SessionState::Cancelled);
    let audit = core.store().audit_entries(Some(session.id)).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "serve.shutdown_cancel"), "{audit:?}");

    // New sessions are refused while draining, with what to do.
    let ask = t.slash(
        &alice,
        "cloud-deploy",
        &[("project", "ecommerce"), ("env", "dev"), ("stacks", "network")],
    );
    let reply = t.reply_to(&ask).await;
    assert!(
        reply.is_ephemeral() && reply.content.contains("takes no new sessions"),
        "{}",
        reply.content
    );
    t.lobby_state(lobby.id, "CANCELLED").await;
    t.finish().await;
}

/// The operator stops `cloud serve` (SIGTERM) while an apply runs and cannot finish: the thread
/// hears that the bot is stopping, the apply is cancelled through the engine once the shutdown
/// timeout is over — as the system, not as the approver — and before the process exits 0 the
/// thread has the summary and the full log and the lobby shows CANCELLED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_apply_cancels_it_as_the_system_and_chat_shows_the_end_before_exit() {
    let mut t = DiscordTester::new().await;
    // The apply stays in its first step: it cannot finish within the shutdown timeout.
    t.hold_updates();
    t.set_shutdown_timeout("2s");
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Approve, None).await;
    let mut serve = t.start_serve_process().await;
    let (short, lobby) = t.deploy_to_plan_ready(&alice, "dev", "network").await;
    t.press(&alice, lobby.id, "approve").await;
    t.lobby_state(lobby.id, "APPLYING").await;
    let thread = t.thread(lobby.id).await;

    let status = t.stop_serve_process(&mut serve).await;
    assert_eq!(status.code(), Some(0), "{}", t.transcript());

    // The process is gone: whatever chat shows now, it showed before its transports stopped.
    {
        let st = t.fake.state();
        let in_thread = st.messages_in(thread);
        let said = |what: &str| in_thread.iter().any(|m| m.content.contains(what));
        assert!(said("shutting down"), "no shutdown notice\n{}", t.transcript());
        assert!(
            in_thread.iter().any(|m| m.content.contains("ecommerce/dev")
                && m.content.contains(": cancelled")
                && m.content.contains("system:shutdown")),
            "no summary of the apply cancelled by the system\n{}",
            t.transcript()
        );
        assert!(
            in_thread
                .iter()
                .flat_map(|m| m.files.iter())
                .any(|f| f.filename.ends_with(".log") && !f.content.is_empty()),
            "no log file in the thread\n{}",
            t.transcript()
        );
        let shown = st.messages[&lobby.id].embeds[0]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(shown.contains(" CANCELLED ·"), "the lobby shows: {shown}");
    }

    let store = t.store().await;
    let session = store.find_session(&short).await.unwrap();
    assert_eq!(session.state, cloud_domain::session::SessionState::Cancelled);
    let audit = store.audit_entries(Some(session.id)).await.unwrap();
    let by_system: Vec<&str> = audit
        .iter()
        .filter(|e| e.actor == "system:shutdown")
        .map(|e| e.action.as_str())
        .collect();
    assert!(by_system.contains(&"serve.shutdown_cancel"), "{audit:?}");
    assert!(by_system.contains(&"session.cancel_requested"), "{audit:?}");
    let approver = DiscordTester::principal(&alice).to_string();
    assert!(
        !audit.iter().any(|e| e.actor == approver && e.action.contains("cancel")),
        "the cancel is not the approver's: {audit:?}"
    );
    assert!(
        session
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("system:shutdown"),
        "{:?}",
        session.reason
    );
    assert!(store.held_locks().await.unwrap().is_empty(), "no stack lock is left");
    t.finish().await;
}

/// Everything said in a thread, oldest first.
fn thread_texts(t: &DiscordTester, thread: u64) -> Vec<String> {
    t.fake
        .state()
        .messages_in(thread)
        .into_iter()
        .map(|m| m.content.clone())
        .collect()
}

/// Waits until the thread has the session's summary (`ecommerce/dev` … `: <outcome>`); returns
/// everything said in it by then, oldest first.
async fn texts_up_to_the_summary(t: &DiscordTester, thread: u64, outcome: &str) -> Vec<String> {
    let end = format!(": {outcome}");
    t.fake
        .wait_for(discord::WAIT, |s| {
            let texts: Vec<String> = s.messages_in(thread).into_iter().map(|m| m.content.clone()).collect();
            texts
                .iter()
                .any(|m| m.contains("ecommerce/dev") && m.contains(&end))
                .then_some(texts)
        })
        .await
        .unwrap_or_else(|| panic!("the thread never got the summary\n{}", t.transcript()))
}

/// No text was posted twice.
#[track_caller]
fn each_posted_once(texts: &[String]) {
    let mut seen = std::collections::BTreeSet::new();
    for m in texts {
        assert!(seen.insert(m), "posted twice: {m}\n{texts:#?}");
    }
}

/// A session opened in chat is approved and applied by `cloud approve` in another process on
/// the same store: the bot follows that process's progress from the session events, so the
/// lobby reaches APPLIED and the thread gets the approval, the stack's progress and the summary,
/// each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_apply_of_a_session_opened_in_chat_shows_in_its_lobby_and_thread() {
    let mut t = DiscordTester::new().await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Deploy, None).await;
    let mut serve = t.start_serve_process().await;
    let (short, lobby) = t.deploy_to_plan_ready(&alice, "dev", "network").await;

    t.cli(&["approve", &short]).await;

    let applied = t.lobby_state(lobby.id, "APPLIED").await;
    assert!(
        applied.component("cloud:approve:").is_none(),
        "no approve button once applied"
    );
    let thread = t.thread(lobby.id).await;
    let texts = texts_up_to_the_summary(&t, thread, "applied").await;
    let progress = |m: &&String| m.contains("network") && m.contains("100%");
    assert_eq!(texts.iter().filter(progress).count(), 1, "{texts:#?}");
    assert_eq!(
        texts.iter().filter(|m| m.contains("Approved by")).count(),
        1,
        "{texts:#?}"
    );
    each_posted_once(&texts);

    let status = t.stop_serve_process(&mut serve).await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(thread_texts(&t, thread), texts, "nothing posted after the summary");
    t.finish().await;
}

/// A session that ended while the bot was down (cancelled from the CLI while `cloud serve` was
/// stopped): the restarted bot edits its lobby to the end state without anyone clicking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_serve_edits_the_lobby_of_a_session_that_ended_while_it_was_down() {
    let mut t = DiscordTester::new().await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Deploy, None).await;
    let mut serve = t.start_serve_process().await;
    let (short, lobby) = t.deploy_to_plan_ready(&alice, "dev", "network").await;
    assert_eq!(t.stop_serve_process(&mut serve).await.code(), Some(0));

    t.cli(&["cancel", &short, "--reason", "release frozen"]).await;
    assert!(
        t.fake.state().messages[&lobby.id].text().contains(" PLAN_READY ·"),
        "no bot runs: the lobby still shows PLAN_READY"
    );

    let mut serve = t.start_serve_process().await;
    let cancelled = t.lobby_state(lobby.id, "CANCELLED").await;
    assert!(cancelled.text().contains("release frozen"), "{}", cancelled.text());
    assert!(
        cancelled.component("cloud:approve:").is_none(),
        "no approve button on a cancelled session"
    );
    assert_eq!(t.stop_serve_process(&mut serve).await.code(), Some(0));
    t.finish().await;
}

/// The kill matrix with the bot running: `cloud approve` applies a session opened in chat and
/// is killed with SIGKILL (its whole process group, engine included) mid-apply. The bot's
/// sweeper ends the session with each stack's truth, and chat shows the outcome: the lobby
/// FAILED, the thread the takeover's report and the summary, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_apply_killed_mid_apply_ends_failed_in_the_lobby_and_thread() {
    let mut t = DiscordTester::new().await;
    t.hold_updates();
    t.engine_env.insert("CLOUD_LEASE_TTL".into(), "2s".into());
    t.engine_env.insert("CLOUD_SWEEP_INTERVAL".into(), "300ms".into());
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Deploy, None).await;
    let mut serve = t.start_serve_process().await;
    let (short, lobby) = t.deploy_to_plan_ready(&alice, "dev", "network").await;

    let mut apply = t.spawn_cloud(&["approve", &short]);
    t.lobby_state(lobby.id, "APPLYING").await;
    let thread = t.thread(lobby.id).await;
    t.wait_message(thread, "the stack's progress message", |m| {
        m.content.contains("network")
    })
    .await;
    let group = apply.id().expect("cloud approve runs") as i32;
    unsafe { libc::kill(-group, libc::SIGKILL) };
    apply.wait().await.unwrap();

    t.lobby_state(lobby.id, "FAILED").await;
    let texts = texts_up_to_the_summary(&t, thread, "failed").await;
    let died = texts
        .iter()
        .filter(|m| m.starts_with("The process driving this session died"))
        .count();
    assert_eq!(died, 1, "{texts:#?}");
    each_posted_once(&texts);
    let store = t.store().await;
    assert!(store.held_locks().await.unwrap().is_empty(), "no stack lock is left");

    assert_eq!(t.stop_serve_process(&mut serve).await.code(), Some(0));
    t.finish().await;
}
