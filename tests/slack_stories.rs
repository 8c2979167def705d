//! The Slack app end to end, read as transcripts: people type slash commands and click buttons
//! in a fake Slack (cloud_testkit::fake_slack), the real app answers through the real
//! slack-morphism client, sessions run on the Pulumi stand-in.

mod support {
    pub mod cli;
    pub mod plan_story;
    pub mod slack_world;
}

use std::time::Duration;

use cloud_core::policy::Role;
use cloud_testkit::fake_slack::{Signing, Transport};
use support::plan_story;
use support::slack_world::{SlackWorld, ALICE, BOB, CAROL};

/// alice deploys ecommerce/stage; bob approves; it applies; the thread tells the story.
async fn happy_path(world: SlackWorld) {
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(BOB, "ecommerce", "*", Role::Approve).await;

    let ack = world
        .slash(ALICE, "/cloud-deploy", "ecommerce stage network,dns security")
        .await;
    assert_eq!(ack.status, 200);
    assert_eq!(ack.response_type(), "ephemeral");
    assert!(ack.text().contains("opened for ecommerce/stage"), "{}", ack.text());

    let lobby = world.lobby_showing("PLAN_READY").await;
    let text = lobby.rendered();
    assert!(text.contains("Deploy ecommerce/stage (D1BRV40)"), "{text}");
    assert!(text.contains("`network` previewed — +"), "{text}");
    assert!(text.contains("approvals 0/1"), "{text}");
    assert!(text.contains("[Approve & Deploy] [Refresh] [Cancel]"), "{text}");

    let ack = world.click(BOB, &lobby, "approve").await;
    assert_eq!(ack.status, 200);
    let confirmation = world
        .fake
        .wait_for("bob's confirmation", |f| {
            f.responses()
                .into_iter()
                .find_map(|r| r["text"].as_str().filter(|t| t.contains("Approved")).map(String::from))
        })
        .await;
    assert!(confirmation.contains("follow along in the thread"), "{confirmation}");

    let done = world.lobby_showing("APPLIED").await;
    assert_eq!(done.ts, lobby.ts, "the lobby is updated in place");
    assert!(
        done.rendered().contains(&format!("approvals 1/1 (<@{BOB}>)")),
        "{}",
        done.rendered()
    );
    assert!(
        done.action_ids().is_empty(),
        "a finished session has no buttons: {:?}",
        done.action_ids()
    );

    let summary = world
        .fake
        .wait_for("the summary in the thread", |f| {
            f.thread(&lobby.ts)
                .into_iter()
                .find(|m| m.text.contains("D1BRV40: applied"))
        })
        .await;
    assert!(
        summary.text.contains("✅") && summary.text.contains("ecommerce/stage D1BRV40: applied in"),
        "{}",
        summary.text
    );
    let thread = world.fake.thread(&lobby.ts);
    assert!(
        thread
            .iter()
            .any(|m| m.text.contains("network") && m.text.contains("100%")),
        "{}",
        world.fake.transcript()
    );
    // Lines the thread could not hold (the batcher's budget, a loaded machine) are in the
    // attached full log: the phase headers are looked for in both.
    let full_log: String = world.fake.files().into_iter().map(|f| f.content).collect();
    progress_tells_the_truth(&thread, &world.fake.transcript(), &full_log);
    assert_eq!(world.fake.rate_limited(), 0, "{}", world.fake.transcript());
    world.shutdown().await;
}

/// dns and security read network's outputs, so they are re-previewed before they apply: their
/// bars count only the apply's steps (never past the plan, never above 100 %), each resource
/// is reported created once, and the re-preview has its own header.
fn progress_tells_the_truth(thread: &[cloud_testkit::fake_slack::Message], transcript: &str, full_log: &str) {
    let mut created = std::collections::BTreeMap::<String, u32>::new();
    for line in thread
        .iter()
        .flat_map(|m| m.rendered().lines().map(str::to_string).collect::<Vec<_>>())
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| w.contains('▓') || w.contains('░')) {
            let (done, total) = words[i - 1].split_once('/').expect("`done/total` before the bar");
            let done: u32 = done.parse().unwrap();
            if let Ok(total) = total.parse::<u32>() {
                assert!(done <= total, "a bar past its plan: {line}\n{transcript}");
            }
            let pct: u32 = words[i + 1].trim_end_matches('%').parse().unwrap();
            assert!(pct <= 100, "{line}\n{transcript}");
        }
        if line.starts_with('[') && line.contains("] + ") && line.ends_with(" created") {
            *created.entry(line.clone()).or_default() += 1;
        }
    }
    assert!(!created.is_empty(), "{transcript}");
    let twice: Vec<_> = created.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "resources reported created more than once: {twice:?}\n{transcript}"
    );
    for header in ["── re-preview ──", "── apply ──"] {
        assert!(
            transcript.contains(header) || full_log.contains(header),
            "the re-preview and the apply have headers ({header} missing): {transcript}\nfull log:\n{full_log}"
        );
    }
}

/// Slack refuses the progress post eight times in a row, longer than the client's five retries:
/// the post goes out on a later try with the text it has by then, the edits meant for it are
/// not lost, and the thread ends with the stack at 100 % and the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_post_refused_eight_times_in_a_row_lands_later() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(BOB, "ecommerce", "*", Role::Approve).await;
    // Only the progress message has a bar.
    world.fake.rate_limit_posts_containing("░", 8);

    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let lobby = world.lobby_showing("PLAN_READY").await;
    world.click(BOB, &lobby, "approve").await;
    world
        .fake
        .wait_for("the summary", |f| {
            f.thread(&lobby.ts)
                .into_iter()
                .find(|m| m.text.contains("D1BRV40: applied"))
        })
        .await;
    let transcript = world.fake.transcript();
    assert!(world.fake.rate_limited() >= 8, "{transcript}");
    let progress: Vec<_> = world
        .fake
        .thread(&lobby.ts)
        .into_iter()
        .filter(|m| m.text.starts_with("network  "))
        .collect();
    assert_eq!(progress.len(), 1, "one progress message: {transcript}");
    assert!(
        progress[0].text.contains("100%") && progress[0].text.contains("✓ applied"),
        "{transcript}"
    );
    world.shutdown().await;
}

/// The plan reaches the lobby's thread when the session is ready for approval: per stack in
/// apply order, each change with its operation, and for an update the property it changes,
/// old → new (a configuration change between two deploys makes that update). No secret the app
/// knows appears in the thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_is_posted_in_the_thread_when_it_is_ready_with_the_changed_properties() {
    let world = SlackWorld::http().await;
    assert!(
        world.workspace.link_node_modules(),
        "stacks/node_modules is missing: run `cd stacks && npm ci --ignore-scripts --no-audit --no-fund`"
    );
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(BOB, "ecommerce", "*", Role::Approve).await;

    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network,dns").await;
    let lobby = world.lobby_showing("PLAN_READY").await;
    let plan = world
        .fake
        .wait_for("the plan in the thread", |f| {
            f.thread(&lobby.ts)
                .into_iter()
                .find(|m| m.text.contains("Plan of session"))
        })
        .await;
    let text = &plan.text;
    plan_story::assert_first_plan(text);
    world.click(BOB, &lobby, "approve").await;
    world.lobby_showing("APPLIED").await;

    // Someone changes the CAA issuer of the zone; the next plan updates the CAA record.
    plan_story::change_the_caa_issuer(&world.workspace);
    world.slash(ALICE, "/cloud-deploy", "ecommerce stage dns").await;
    let second = world
        .fake
        .wait_for("the second lobby", |f| {
            f.channel_messages()
                .into_iter()
                .rev()
                .find(|m| m.ts != lobby.ts && m.rendered().contains("PLAN_READY"))
        })
        .await;
    let plan = world
        .fake
        .wait_for("the second plan", |f| {
            f.thread(&second.ts)
                .into_iter()
                .find(|m| m.text.contains("Plan of session"))
        })
        .await;
    let text = &plan.text;
    plan_story::assert_second_plan(text);
    let transcript = world.fake.transcript();
    assert!(
        !transcript.contains(&world.fake.signing_secret) && !transcript.contains(&world.fake.bot_token),
        "a secret reached chat: {transcript}"
    );
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_approve_over_http() {
    happy_path(SlackWorld::http().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_approve_over_socket_mode() {
    let world = SlackWorld::socket().await;
    assert!(matches!(world.transport, Transport::Socket));
    happy_path(world).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_stale_requests_are_refused_and_a_290_s_old_one_is_accepted() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    let Transport::Http(app) = world.transport.clone() else {
        unreachable!()
    };

    let forged = Signing {
        age_secs: 0,
        secret: Some("not-the-signing-secret".into()),
    };
    let ack = world
        .fake
        .slash_signed(&app, ALICE, "/cloud-deploy", "ecommerce stage network", &forged)
        .await;
    assert_eq!(ack.status, 401, "a forged signature: {:?}", ack.body);

    let stale = Signing {
        age_secs: 310,
        secret: None,
    };
    let ack = world
        .fake
        .slash_signed(&app, ALICE, "/cloud-deploy", "ecommerce stage network", &stale)
        .await;
    assert_eq!(ack.status, 401, "a request 310 s old: {:?}", ack.body);
    assert!(
        world.app.store.sessions(&Default::default()).await.unwrap().is_empty(),
        "nothing was started"
    );

    let recent = Signing {
        age_secs: 290,
        secret: None,
    };
    let ack = world.fake.slash_signed(&app, ALICE, "/cloud-list", "", &recent).await;
    let ack = world.answer(ack).await;
    assert_eq!(ack.status, 200);
    assert!(ack.text().contains("Latest sessions you can read"), "{}", ack.text());
    assert!(world.fake.channel_messages().is_empty(), "{}", world.fake.transcript());
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_cannot_approve_their_own_stage_plan() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Approve).await;

    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let lobby = world.lobby_showing("PLAN_READY").await;
    let session = world.app.store.sessions(&Default::default()).await.unwrap().remove(0);
    let digest = session.digest.as_ref().unwrap().short().to_string();
    insta::assert_snapshot!(lobby.rendered().replace(&session.id.short(), "<session>").replace(&digest, "<digest>"), @r"
    🟢 Deploy ecommerce/stage (D1BRV40)
    *PLAN_READY* · requested by <@U0ALICE> · session `<session>`
    Waiting for 1 approval(s) from someone other than the requester with `approve`.
    • `network` previewed — +16
    Total +16 · approvals 0/1 · digest `<digest>` · engine v3.226.0
    ```
    Cost +$36.50/month, +$0.050/hour (now $0.00 → $36.50; us-east-1 prices)
    ```
    [Approve & Deploy] [Refresh] [Cancel]
    ");
    assert!(
        lobby
            .action_ids()
            .contains(&format!("cloud:approve:{}:{digest}", session.id)),
        "{:?}",
        lobby.action_ids()
    );
    let ack = world.click(ALICE, &lobby, "approve").await;
    assert_eq!(
        ack.status, 200,
        "clicks are acknowledged; the refusal follows as an ephemeral message"
    );

    // The refusal reaches alice alone, through the click's response URL.
    let refusal = world
        .fake
        .wait_for("alice's refusal", |f| {
            f.response_message(ack.request)
                .and_then(|r| r["text"].as_str().map(String::from))
        })
        .await;
    assert!(refusal.contains("four-eyes rule"), "{refusal}");
    let lobby = world.fake.message(&lobby.ts).unwrap();
    assert!(lobby.rendered().contains("PLAN_READY"), "{}", lobby.rendered());
    assert!(lobby.rendered().contains("approvals 0/1"), "{}", lobby.rendered());
    // The thread holds the plan posted at PLAN_READY, and nothing of an apply.
    let thread = world.fake.thread(&lobby.ts);
    assert!(
        thread.len() == 1 && thread[0].text.contains("Plan of session"),
        "nothing was applied: {}",
        world.fake.transcript()
    );
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_lobby_still_works_after_the_app_restarts() {
    let mut world = SlackWorld::socket().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(BOB, "ecommerce", "*", Role::Approve).await;

    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let lobby = world.lobby_showing("PLAN_READY").await;

    world.restart().await;
    assert_eq!(
        world.fake.socket_connections(),
        2,
        "the new instance opened its own connection"
    );

    world.click(BOB, &lobby, "approve").await;
    let done = world.lobby_showing("APPLIED").await;
    assert_eq!(done.ts, lobby.ts);
    world
        .fake
        .wait_for("the summary in the old lobby's thread", |f| {
            f.thread(&lobby.ts)
                .into_iter()
                .find(|m| m.text.contains("D1BRV40: applied"))
        })
        .await;
    assert_eq!(world.fake.rate_limited(), 0, "{}", world.fake.transcript());
    world.shutdown().await;
}

/// One stack declaring 400 resources: far more output than a thread should hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_apply_streams_without_a_429_and_loses_no_line() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..400)
        .map(|i| format!("D1BRV40-network-stage-subnet-{i:04}"))
        .collect();
    let resources: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| serde_json::json!({"type": "aws:ec2/subnet:Subnet", "name": name, "parent": null, "inputs": {"cidrBlock": format!("10.{}.{}.0/24", i / 256, i % 256)}}))
        .collect();
    let file = dir.path().join("resources.json");
    let doc = serde_json::json!({"stack": "network", "env": "stage", "deploymentId": "D1BRV40", "org": "organization", "project": "ecommerce", "resources": resources});
    std::fs::write(&file, doc.to_string()).unwrap();
    let pulumi = support::cli::script(
        &dir.path().join("pulumi"),
        &format!(
            "PULUMI_STANDIN_RESOURCES='{}' exec '{}' \"$@\"\n",
            file.display(),
            support::cli::standin().display()
        ),
    );
    let world = SlackWorld::start(cloud_core::config::SlackTransport::Http, Some(pulumi)).await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(BOB, "ecommerce", "*", Role::Approve).await;

    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let lobby = world.lobby_showing("PLAN_READY").await;
    assert!(
        lobby.rendered().contains("`network` previewed — +401"),
        "{}",
        lobby.rendered()
    );
    world.click(BOB, &lobby, "approve").await;
    let summary = world
        .fake
        .wait_for("the summary", |f| {
            f.thread(&lobby.ts)
                .into_iter()
                .find(|m| m.text.contains("D1BRV40: applied"))
        })
        .await;

    assert_eq!(world.fake.rate_limited(), 0, "{}", world.fake.calls().join("\n"));
    let thread: String = world
        .fake
        .thread(&lobby.ts)
        .iter()
        .map(|m| m.text.clone())
        .collect::<Vec<_>>()
        .join("\n");
    let in_chat: Vec<&String> = names
        .iter()
        .filter(|n| thread.contains(&format!("{n} created")))
        .collect();
    // Chat shows what fits its budget (how much depends on how fast the engine ran); whatever
    // chat did not show is in the full log attached to the thread, which has every line in order.
    if in_chat.len() < names.len() {
        // The plan posted at PLAN_READY may have its own file (`plan-….txt`); the log is the other.
        let files: Vec<_> = world
            .fake
            .files()
            .into_iter()
            .filter(|f| !f.filename.starts_with("plan-"))
            .collect();
        assert_eq!(
            files.len(),
            1,
            "{} lines missed chat, so the full log is attached: {}",
            names.len() - in_chat.len(),
            world.fake.transcript()
        );
        let log = &files[0];
        assert_eq!(
            log.thread_ts.as_deref(),
            Some(lobby.ts.as_str()),
            "in the lobby's thread"
        );
        assert!(
            summary.text.contains(&log.filename),
            "the summary points at the log: {}",
            summary.text
        );
        let mut last = 0;
        for name in &names {
            let at = log
                .content
                .find(&format!("{name} created"))
                .unwrap_or_else(|| panic!("{name} missing from the full log"));
            assert!(at >= last, "{name} out of order in the full log");
            last = at;
        }
    }
    assert!(
        thread.matches("```").count() >= 4,
        "the output took several messages: {thread}"
    );
    assert!(
        world.fake.thread(&lobby.ts).len() <= 45,
        "a bounded thread: {} messages",
        world.fake.thread(&lobby.ts).len()
    );
    world.shutdown().await;
}

/// The slack-morphism client against the fake: round trips, Slack's errors, and a 429 whose
/// Retry-After the client follows.
#[tokio::test]
async fn the_web_api_client_round_trips_and_follows_retry_after() {
    use cloud_testkit::fake_slack::{FakeSlack, Limits, BOT_USER, CHANNEL};
    use slack_morphism::errors::SlackClientError;
    use slack_morphism::prelude::*;

    // One post per 2 s: stricter than the client's own pacing (1/s), so Slack has to say 429.
    let fake = FakeSlack::start_with(Limits {
        post_burst: 1,
        post_interval: Duration::from_secs(2),
        ..Limits::default()
    })
    .await;
    let client = cloud_slack::client(&fake.api_url()).unwrap();
    let token = SlackApiToken::new(fake.bot_token.clone().into());
    let session = client.open_session(&token);
    assert_eq!(session.auth_test().await.unwrap().user_id.to_string(), BOT_USER);

    let post = |channel: &str, text: String| {
        SlackApiChatPostMessageRequest::new(channel.to_string().into(), SlackMessageContent::new().with_text(text))
    };
    // The fake's rate window moves only when the test says: the second post is refused however
    // slowly this machine sends it.
    fake.freeze_clock();
    let first = session.chat_post_message(&post(CHANNEL, "hello".into())).await.unwrap();
    assert_eq!(fake.message(first.ts.as_ref()).unwrap().text, "hello");
    // The bucket is empty: Slack answers 429 + Retry-After: 2, the client waits and retries.
    let started = std::time::Instant::now();
    let second = tokio::spawn({
        let session_client = client.clone();
        let token = token.clone();
        let request = post(CHANNEL, "again".into());
        async move { session_client.open_session(&token).chat_post_message(&request).await }
    });
    fake.wait_for("the 429", |f| (f.rate_limited() == 1).then_some(()))
        .await;
    // The two seconds pass for the fake while the client sleeps through its Retry-After.
    fake.advance_clock(Duration::from_secs(2));
    let second = second.await.unwrap().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "waited for Retry-After: {:?}",
        started.elapsed()
    );
    // At least the one 429 (a retry that raced the test's advance would meet another).
    assert!(fake.rate_limited() >= 1);
    assert_ne!(first.ts, second.ts);

    let error = |r: Result<SlackApiChatPostMessageResponse, SlackClientError>| match r {
        Err(SlackClientError::ApiError(e)) => e.code,
        other => panic!("expected a Slack error, got {other:?}"),
    };
    // Slack checks the channel and the size before the rate limit.
    assert_eq!(
        error(session.chat_post_message(&post("C0NOPE", "x".into())).await),
        "channel_not_found"
    );
    assert_eq!(
        error(session.chat_post_message(&post(CHANNEL, "x".repeat(40_001))).await),
        "msg_too_long"
    );
    let wrong_token = SlackApiToken::new("xoxb-wrong".to_string().into());
    let wrong = client.open_session(&wrong_token);
    assert!(matches!(wrong.auth_test().await, Err(SlackClientError::ApiError(e)) if e.code == "invalid_auth"));
    fake.fail_next("chat.update", "cant_update_message");
    let update = SlackApiChatUpdateRequest::new(
        CHANNEL.to_string().into(),
        SlackMessageContent::new().with_text("edited".to_string()),
        first.ts.clone(),
    );
    assert!(
        matches!(session.chat_update(&update).await, Err(SlackClientError::ApiError(e)) if e.code == "cant_update_message")
    );
    session.chat_update(&update).await.unwrap();
    assert_eq!(fake.message(first.ts.as_ref()).unwrap().edits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_on_busy_stacks_can_queue_and_runs_when_they_are_free() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(CAROL, "ecommerce", "*", Role::Deploy).await;

    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let first = world.lobby_showing("PLAN_READY").await;

    let ack = world.slash(CAROL, "/cloud-deploy", "ecommerce stage network").await;
    assert!(ack.text().contains("its stacks are busy"), "{}", ack.text());
    assert!(ack.text().contains("Press *Queue*"), "{}", ack.text());
    let second = world.lobby_showing("Its stacks are busy").await;
    assert_ne!(second.ts, first.ts);
    assert!(second.rendered().contains("[Queue] [Cancel]"), "{}", second.rendered());

    world.click(CAROL, &second, "queue").await;
    let queued = world.lobby_showing("Queued for its stacks: position 1").await;
    assert_eq!(queued.ts, second.ts);

    world.click(ALICE, &first, "cancel").await;
    world.lobby_showing("CANCELLED").await;
    let ready = world
        .fake
        .wait_for("carol's session to be planned", |f| {
            f.message(&second.ts).filter(|m| m.rendered().contains("PLAN_READY"))
        })
        .await;
    assert!(
        ready.rendered().contains(&format!("requested by <@{CAROL}>")),
        "{}",
        ready.rendered()
    );
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_ephemeral_answer_that_says_what_to_do() {
    let world = SlackWorld::socket().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;

    let ack = world.slash(ALICE, "/cloud-deploy", "ecommerce").await;
    assert_eq!(ack.response_type(), "ephemeral");
    insta::assert_snapshot!(ack.text(), @r"
    :no_entry: the following required arguments were not provided: <ENV>
    usage: `/cloud-deploy <PROJECT> <ENV> [STACKS]...`
    more: `/cloud-deploy help`
    ");

    let ack = world.slash(ALICE, "/cloud-deploy", "shop stage").await;
    assert!(ack.text().contains("shop"), "{}", ack.text());
    let ack = world.slash(ALICE, "/cloud-deploy", "ecommerce stage warp-drive").await;
    assert!(ack.text().contains("warp-drive"), "{}", ack.text());
    let ack = world.slash(BOB, "/cloud-deploy", "ecommerce stage").await;
    assert!(
        ack.text().contains("you need `deploy` on ecommerce/stage"),
        "{}",
        ack.text()
    );
    assert!(ack.text().contains("/cloud-grant"), "{}", ack.text());
    let ack = world.slash(ALICE, "/cloud-status", "ffffffff").await;
    assert!(ack.text().contains("no session ffffffff"), "{}", ack.text());

    assert!(
        world.fake.channel_messages().is_empty(),
        "nothing was posted: {}",
        world.fake.transcript()
    );
    assert!(
        world.app.store.sessions(&Default::default()).await.unwrap().is_empty(),
        "no session was opened"
    );
    world.shutdown().await;
}

/// carol is an admin (configuration); the approvers user group may approve ecommerce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_grant_and_revoke_and_user_groups_map_to_roles() {
    let yaml = "admins: [\"slack:U0CAROL\"]\nrole_mappings:\n  - {platform: slack, group: S0APPROVERS, project: ecommerce, role: approve}\n";
    let world = SlackWorld::start_with(cloud_core::config::SlackTransport::Http, None, yaml).await;
    world.fake.set_user_groups(BOB, &["S0APPROVERS"]);

    let ack = world
        .slash(
            ALICE,
            "/cloud-grant",
            "<@U0ALICE|alice> ecommerce deploy stage 2h release day",
        )
        .await;
    assert_eq!(ack.response_type(), "ephemeral");
    assert!(
        ack.text().contains("you need `admin` on ecommerce/stage"),
        "{}",
        ack.text()
    );

    let ack = world
        .slash(
            CAROL,
            "/cloud-grant",
            "<@U0ALICE|alice> ecommerce deploy stage 2h release day",
        )
        .await;
    assert_eq!(ack.response_type(), "in_channel", "grants are announced");
    assert!(
        ack.text()
            .contains("granted <@U0ALICE> `deploy` on ecommerce/stage until"),
        "{}",
        ack.text()
    );
    assert!(ack.text().contains("release day"), "{}", ack.text());
    let grant = ack
        .text()
        .split("(grant `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .expect("grant id")
        .to_string();

    // alice deploys with her new grant; bob approves through his user group.
    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let lobby = world.lobby_showing("PLAN_READY").await;
    world.click(BOB, &lobby, "approve").await;
    world.lobby_showing("APPLIED").await;

    let ack = world
        .slash(CAROL, "/cloud-revoke", &format!("{grant} release is over"))
        .await;
    assert!(
        ack.text().contains(&format!("revoked grant `{grant}`")),
        "{}",
        ack.text()
    );
    let ack = world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    assert!(
        ack.text().contains("you need `deploy` on ecommerce/stage"),
        "{}",
        ack.text()
    );

    let ack = world.slash(CAROL, "/cloud-stats", "").await;
    assert!(ack.text().contains("APPLIED"), "{}", ack.text());
    assert!(ack.text().contains("ecommerce"), "{}", ack.text());
    world.shutdown().await;
}

/// Slack gives an app 3 s to acknowledge a command. When the answer takes longer (here Slack
/// itself is slow to list the user groups the role mappings need), the acknowledgement leaves at
/// once saying the answer is coming, and the answer follows through the command's response URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_command_is_acknowledged_at_once_and_answered_through_the_response_url() {
    let yaml = "role_mappings:\n  - {platform: slack, group: S0APPROVERS, project: ecommerce, role: approve}\n";
    let world = SlackWorld::start_with(cloud_core::config::SlackTransport::Http, None, yaml).await;
    world.grant(ALICE, "ecommerce", "*", Role::Read).await;
    // Slack does not list the user groups until the test says so: the acknowledgement below
    // cannot have waited for them.
    let usergroups = world.fake.hold_next("usergroups.list");

    let ack = world.fake.slash(&world.transport, ALICE, "/cloud-list", "").await;
    assert_eq!(ack.status, 200);
    assert_eq!(ack.response_type(), "ephemeral");
    assert_eq!(ack.text(), cloud_slack::WORKING_ON_IT);
    assert!(world.fake.responses().is_empty(), "nothing can have followed yet");
    usergroups.release();
    // The answer replaces the note, for alice alone.
    let answer = world.answer(ack.clone()).await;
    assert!(
        answer.text().contains("Latest sessions you can read"),
        "{}",
        answer.text()
    );
    assert_eq!(answer.response_type(), "ephemeral");
    assert_eq!(answer.body["replace_original"], true, "{}", answer.body);
    assert_eq!(world.fake.responses().len(), 1, "{:?}", world.fake.responses());
    world.shutdown().await;
}

/// Response URLs have no per-second limit on Slack (five uses each in 30 minutes): when a team
/// clicks at once, every click is answered at once, not one a second as slack-morphism's webhook
/// call would have it (five answers would then take at least four seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_people_clicking_at_once_are_all_answered_without_a_queue() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let lobby = world.lobby_showing("PLAN_READY").await;

    // Five colleagues without `approve` click Approve together: five refusals to send.
    let people = ["U0DAN", "U0ERIN", "U0FRANK", "U0GRACE", "U0HEIDI"];
    let started = std::time::Instant::now();
    let clicks = futures::future::join_all(people.iter().map(|who| world.click(who, &lobby, "approve"))).await;
    let answers = world
        .fake
        .wait_for("an answer to every click", |f| {
            clicks
                .iter()
                .map(|ack| f.response_message(ack.request))
                .collect::<Option<Vec<_>>>()
        })
        .await;
    let took = started.elapsed();
    for answer in &answers {
        assert!(
            answer["text"]
                .as_str()
                .is_some_and(|t| t.contains("you need `approve`")),
            "{answer}"
        );
    }
    assert!(took < Duration::from_millis(3000), "five answers took {took:?}");
    world.shutdown().await;
}

/// A late answer everyone should see (a grant is announced) goes to the channel through the
/// command's response URL, and the "working on it" note is deleted: nobody reads a note that
/// never resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_announcement_goes_to_the_channel_and_the_note_is_deleted() {
    let yaml = "admins: [\"slack:U0CAROL\"]\nrole_mappings:\n  - {platform: slack, group: S0APPROVERS, project: ecommerce, role: approve}\n";
    let world = SlackWorld::start_with(cloud_core::config::SlackTransport::Http, None, yaml).await;
    let usergroups = world.fake.hold_next("usergroups.list");

    let ack = world
        .fake
        .slash(
            &world.transport,
            CAROL,
            "/cloud-grant",
            "<@U0ALICE|alice> ecommerce deploy stage 2h release day",
        )
        .await;
    assert_eq!(ack.text(), cloud_slack::WORKING_ON_IT);
    usergroups.release();
    let answer = world.answer(ack.clone()).await;
    assert_eq!(answer.response_type(), "in_channel", "{}", answer.body);
    assert!(
        answer.text().contains("granted <@U0ALICE> `deploy` on ecommerce/stage"),
        "{}",
        answer.text()
    );
    let deleted = world
        .fake
        .wait_for("the note to be deleted", |f| {
            f.responses().into_iter().find(|r| r["delete_original"] == true)
        })
        .await;
    assert!(
        deleted.get("text").is_none() && deleted.get("blocks").is_none(),
        "{deleted}"
    );
    world.shutdown().await;
}

/// Slack asks Socket Mode apps to reconnect now and then (`disconnect`); commands keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_mode_reconnects_after_slack_says_disconnect() {
    let world = SlackWorld::socket().await;
    world.grant(ALICE, "ecommerce", "*", Role::Read).await;
    world.fake.disconnect_socket();
    world
        .fake
        .wait_for("a new Socket Mode connection", |f| {
            (f.socket_connections() == 2 && f.socket_connected()).then_some(())
        })
        .await;
    let ack = world.slash(ALICE, "/cloud-list", "").await;
    assert!(ack.text().contains("Latest sessions you can read"), "{}", ack.text());
    assert_eq!(
        world
            .fake
            .calls()
            .iter()
            .filter(|c| *c == "apps.connections.open")
            .count(),
        2
    );
    world.shutdown().await;
}

/// The bot was never invited to the channel: the lobby cannot be posted, so the session gives its
/// stacks back and the requester learns how to fix it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lobby_that_cannot_be_posted_cancels_the_session_and_says_how_to_fix_it() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.fake.fail_next("chat.postMessage", "not_in_channel");

    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let reply = world
        .fake
        .wait_for("the reply through the response URL", |f| {
            f.responses()
                .into_iter()
                .find(|r| r["text"].as_str().is_some_and(|t| t.contains("not_in_channel")))
        })
        .await;
    let text = reply["text"].as_str().unwrap_or_default().to_string();
    assert!(
        text.contains("`not_in_channel`") && text.contains("/invite @cloud"),
        "{text}"
    );
    // The session was cancelled before the reply was sent.
    let sessions = world.app.store.sessions(&Default::default()).await.unwrap();
    assert_eq!(sessions.len(), 1);
    let s = world.app.store.session(sessions[0].id).await.unwrap();
    assert_eq!(s.state.to_string(), "CANCELLED", "{s:?}");
    assert!(world.fake.channel_messages().is_empty());
    world.shutdown().await;
}

/// The real binary: `cloud serve --discord --slack` runs both bots over one core (Slack over
/// Socket Mode), `/healthz` reports both connected, a Slack command is answered, and SIGTERM
/// stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_serve_runs_discord_and_slack_over_one_core_and_stops_on_sigterm() {
    use cloud_testkit::fake_discord::{FakeConfig, FakeDiscord};
    use cloud_testkit::wait::SAFETY_NET;
    use http_body_util::{BodyExt, Empty};

    let slack = cloud_testkit::fake_slack::FakeSlack::start().await;
    let discord = FakeDiscord::start(FakeConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let workspace = cloud_testkit::workspace::TempWorkspace::sample();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloud"))
        .args(["serve", "--discord", "--slack"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("CLOUD_WORKSPACE", workspace.root())
        .env("CLOUD_DATA_DIR", dir.path().join("data"))
        .env("CLOUD_PULUMI_BINARY", support::cli::standin())
        .env("CLOUD_SERVE_LISTEN", "127.0.0.1:0")
        .env("DISCORD_TOKEN", FakeConfig::default().token)
        .env("CLOUD_DISCORD_API_URL", discord.base_url())
        .env("CLOUD_DISCORD_GUILD_ID", FakeConfig::default().guild_id.to_string())
        .env("CLOUD_SLACK_TRANSPORT", "socket")
        .env("CLOUD_SLACK_API_URL", slack.api_url())
        .env("SLACK_BOT_TOKEN", &slack.bot_token)
        .env("SLACK_APP_TOKEN", &slack.app_token)
        // Its log is how the test learns what happened inside: where /healthz listens, and when
        // each transport reported itself connected.
        .env("CLOUD_LOG", "info")
        .env("CLOUD_LOG_FORMAT", "json")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut log = support::cli::LogLines::new(child.stderr.take().unwrap());

    let serving = log
        .wait_for("/healthz listening", |e| {
            e["fields"]["message"] == "serving /healthz and /metrics"
        })
        .await;
    let ops = serving["fields"]["addr"].as_str().unwrap().to_string();
    let mut connected = std::collections::BTreeSet::new();
    log.wait_for("both transports connected", |e| {
        if e["fields"]["message"] == "chat transport connected" {
            connected.insert(e["fields"]["transport"].as_str().unwrap_or_default().to_string());
        }
        connected.len() == 2
    })
    .await;
    slack
        .wait_for("cloud serve's Socket Mode connection", |f| {
            f.socket_connected().then_some(())
        })
        .await;
    assert!(
        discord.wait_connected(SAFETY_NET).await,
        "the Discord bot connected to the fake gateway"
    );

    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let uri: hyper::Uri = format!("http://{ops}/healthz").parse().unwrap();
    let resp = tokio::time::timeout(SAFETY_NET, client.get(uri))
        .await
        .expect("/healthz answers")
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["transports"]["slack"], "connected", "{report}");
    assert_eq!(report["transports"]["discord"], "connected", "{report}");
    assert_eq!(report["store"], "ok", "{report}");

    let ack = slack
        .slash(&Transport::Socket, ALICE, "/cloud-deploy", "ecommerce stage")
        .await;
    assert!(
        ack.text().contains("you need `deploy` on ecommerce/stage"),
        "{}",
        ack.text()
    );

    // SAFETY: sending SIGTERM to the child we spawned (its pid is valid while we hold `child`).
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(SAFETY_NET, child.wait())
        .await
        .unwrap_or_else(|_| panic!("cloud serve did not stop on SIGTERM; its log:\n{}", log.so_far()))
        .unwrap();
    let stderr = log.rest().await;
    assert!(status.success(), "exit {status:?}\n{stderr}");
    slack
        .wait_for("the Socket Mode connection to close", |f| {
            (!f.socket_connected()).then_some(())
        })
        .await;
}

/// After a restart the new instance finds the lobbies its predecessor posted (recorded in the
/// store) and keeps them current without anyone clicking: here an admin cancels from the CLI side
/// of the same core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_app_keeps_updating_the_lobbies_it_posted_before() {
    let mut world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let lobby = world.lobby_showing("PLAN_READY").await;
    let session = world.app.store.sessions(&Default::default()).await.unwrap().remove(0);

    world.restart().await;
    let admin = cloud_domain::session::Principal::cli("admin");
    world.grant_principal(&admin, "*", "*", Role::Admin).await;
    world
        .app
        .orchestrator
        .cancel(session.id, &admin, "release frozen")
        .await
        .unwrap();

    let cancelled = world.lobby_showing("CANCELLED").await;
    assert_eq!(cancelled.ts, lobby.ts, "the old lobby, updated in place");
    assert!(
        cancelled.rendered().contains("release frozen"),
        "{}",
        cancelled.rendered()
    );
    assert!(cancelled.action_ids().is_empty(), "no buttons on a cancelled session");
    world.shutdown().await;
}

/// A slow apply is cancelled from the lobby: in-flight steps finish, the thread ends with the
/// cancellation, the lobby says CANCELLED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_the_apply_stops_it_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    // The apply holds its first resource step until it is cancelled (the gate never opens).
    let pulumi = support::cli::script(
        &dir.path().join("pulumi"),
        &format!(
            "PULUMI_STANDIN_APPLY_GATE='{}' exec '{}' \"$@\"\n",
            dir.path().join("gate").display(),
            support::cli::standin().display()
        ),
    );
    let world = SlackWorld::start(cloud_core::config::SlackTransport::Http, Some(pulumi)).await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(BOB, "ecommerce", "*", Role::Approve).await;

    world.slash(ALICE, "/cloud-deploy", "ecommerce stage network").await;
    let lobby = world.lobby_showing("PLAN_READY").await;
    world.click(BOB, &lobby, "approve").await;
    let applying = world.lobby_showing("APPLYING").await;
    world.click(ALICE, &applying, "cancel").await;
    let answer = world
        .fake
        .wait_for("alice's answer", |f| {
            f.responses().into_iter().find_map(|r| {
                r["text"]
                    .as_str()
                    .filter(|t| t.contains("Cancel requested"))
                    .map(String::from)
            })
        })
        .await;
    assert!(answer.contains("in-flight steps finish"), "{answer}");

    let done = world.lobby_showing("CANCELLED").await;
    assert_eq!(done.ts, lobby.ts);
    // The stack the cancel stopped reads "cancelled" in the lobby, not "failed — cancelled".
    let shown = done.rendered();
    assert!(shown.contains("`network` cancelled"), "{shown}");
    assert!(!shown.contains("failed"), "{shown}");
    let summary = world
        .fake
        .wait_for("the summary", |f| {
            f.thread(&lobby.ts)
                .into_iter()
                .find(|m| m.text.contains("D1BRV40: cancelled"))
        })
        .await;
    assert!(summary.text.contains("⏹️"), "{}", summary.text);
    // The stack stopped by the cancel is summarised as such, with how far it got, not as a
    // failure that created what its preview planned.
    assert!(
        summary.text.contains("network — cancelled after "),
        "{}",
        world.fake.transcript()
    );
    assert!(!summary.text.contains("network — failed"), "{}", summary.text);
    assert!(
        summary.text.contains("Changes: +0 ~0 -0 ±0"),
        "nothing was applied, so no changes are claimed: {}",
        summary.text
    );
    let s = world.app.store.sessions(&Default::default()).await.unwrap().remove(0);
    let rows = world.app.store.session_stacks(s.id).await.unwrap();
    assert!(
        rows.iter().all(|r| r.state.to_string() != "applying"),
        "nothing left running: {rows:?}"
    );
    assert_eq!(world.fake.rate_limited(), 0);
    world.shutdown().await;
}

/// `cloud serve --slack` without the tokens its transport needs says which to set (exit 2) and
/// starts nothing.
#[test]
fn cloud_serve_slack_names_the_missing_token() {
    let cli = support::cli::Cli::new();
    let run = cli.run(&["serve", "--slack"]);
    run.expect_code(2);
    assert!(run.stderr.contains("SLACK_BOT_TOKEN"), "{}", run.stderr);
    let run = cli.run_with(&["serve", "--slack"], &[("SLACK_BOT_TOKEN", "xoxb-1")]);
    run.expect_code(2);
    assert!(run.stderr.contains("SLACK_SIGNING_SECRET"), "{}", run.stderr);
    let run = cli.run_with(
        &["serve", "--slack"],
        &[("SLACK_BOT_TOKEN", "xoxb-1"), ("CLOUD_SLACK_TRANSPORT", "socket")],
    );
    run.expect_code(2);
    assert!(run.stderr.contains("SLACK_APP_TOKEN"), "{}", run.stderr);
    assert!(!run.all().contains("xoxb-1"), "tokens are never printed");
    assert!(!cli.path("data/cloud.db").exists(), "nothing was started");
}

/// A request that is not Slack's is refused with 401 before anything else reads it: no signature
/// headers at all, only one of the two, a signature that is not Slack's scheme or not hex, a
/// timestamp that is not a number. Nothing is started, nothing is answered in the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_malformed_signatures_are_refused_with_401() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    let Transport::Http(app) = world.transport.clone() else {
        unreachable!()
    };
    let now = cloud_testkit::fake_slack::unix_now().to_string();
    let hex64 = format!("v0={}", "0".repeat(64));
    let cases: Vec<(&str, Vec<(&'static str, String)>)> = vec![
        ("no signature headers", vec![]),
        (
            "a timestamp without a signature",
            vec![("x-slack-request-timestamp", now.clone())],
        ),
        (
            "a signature without a timestamp",
            vec![("x-slack-signature", hex64.clone())],
        ),
        (
            "a signature that is not hex",
            vec![
                ("x-slack-request-timestamp", now.clone()),
                ("x-slack-signature", "v0=not-a-signature".into()),
            ],
        ),
        (
            "an empty signature",
            vec![
                ("x-slack-request-timestamp", now.clone()),
                ("x-slack-signature", String::new()),
            ],
        ),
        (
            "another signing scheme",
            vec![
                ("x-slack-request-timestamp", now.clone()),
                ("x-slack-signature", hex64.replace("v0=", "v1=")),
            ],
        ),
        (
            "a timestamp that is not a number",
            vec![
                ("x-slack-request-timestamp", "yesterday".into()),
                ("x-slack-signature", hex64.clone()),
            ],
        ),
    ];
    for (what, headers) in &cases {
        let ack = world
            .fake
            .slash_with_headers(&app, ALICE, "/cloud-deploy", "ecommerce stage network", headers)
            .await;
        assert_eq!(ack.status, 401, "{what}: {:?}", ack.body);
    }
    eprintln!("{} unsigned or malformed requests: all 401", cases.len());
    assert!(
        world.app.store.sessions(&Default::default()).await.unwrap().is_empty(),
        "nothing was started"
    );
    assert!(
        world.fake.channel_messages().is_empty(),
        "nothing was posted: {}",
        world.fake.transcript()
    );
    world.shutdown().await;
}

/// Slack user ids are not all nine characters: older and Enterprise Grid workspaces issue short
/// ones (`U1234`, `W12AB`). Such a person is granted by mention, deploys and is named in replies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_slack_user_ids_are_people_like_any_other() {
    let yaml = "admins: [\"slack:U0CAROL\"]\n";
    let world = SlackWorld::start_with(cloud_core::config::SlackTransport::Http, None, yaml).await;
    for short in ["U1234", "W12AB"] {
        let ack = world
            .slash(
                CAROL,
                "/cloud-grant",
                &format!("<@{short}|dana> ecommerce read stage 2h onboarding"),
            )
            .await;
        assert!(
            ack.text()
                .contains(&format!("granted <@{short}> `read` on ecommerce/stage until")),
            "{short}: {}",
            ack.text()
        );
        let ack = world.slash(short, "/cloud-quota", "ecommerce").await;
        assert!(ack.text().contains("Quotas of ecommerce:"), "{short}: {}", ack.text());
        let ack = world.slash(short, "/cloud-deploy", "ecommerce stage network").await;
        assert!(
            ack.text().contains(&format!("slack:{short}")) && ack.text().contains("you need `deploy`"),
            "{short} is refused as themselves: {}",
            ack.text()
        );
    }
    let grants = world.app.store.grants(None, None, false).await.unwrap();
    for short in ["U1234", "W12AB"] {
        assert!(
            grants.iter().any(|g| g.principal.user == short),
            "{short} holds a grant: {grants:?}"
        );
    }
    world.shutdown().await;
}
