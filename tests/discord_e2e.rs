//! The Discord bot end to end: the real poise/serenity bot, the real core and the Pulumi
//! stand-in, driven through the fake Discord. Each test reads like the chat it produces.

#[path = "support/discord.rs"]
mod discord;
#[path = "support/plan_story.rs"]
mod plan_story;

use cloud_core::policy::Role;
use cloud_testkit::fake_discord::FakeUser;
use discord::DiscordTester;

/// One stack keeps the stand-in runs short.
const STACK: &str = "network";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_is_planned_approved_by_a_teammate_and_applied_in_a_thread() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (alice, bob) = alice_deploys_bob_approves(&mut t).await;

    // alice: /cloud-deploy ecommerce stage network
    let ask = t.slash(
        &alice,
        "cloud-deploy",
        &[("project", "ecommerce"), ("env", "stage"), ("stacks", STACK)],
    );
    let reply = t.reply_to(&ask).await;
    assert!(reply.is_ephemeral());
    assert!(
        reply.content.contains("opened for ecommerce/stage"),
        "{}",
        reply.content
    );
    let short = DiscordTester::short_id(&reply);

    // bot: lobby, planned
    let lobby = t.lobby(&short).await;
    let lobby = t.lobby_state(lobby.id, "PLAN_READY").await;
    let text = lobby.text();
    assert!(text.contains("network"), "{text}");
    assert!(text.contains("Approvals: 0/1"), "{text}");
    let approve = lobby.component("cloud:approve:").unwrap();
    assert_eq!(approve["disabled"], false);

    // bob: [Approve & Deploy]
    let click = t.click(&bob, lobby.id, "approve");
    let ack = t.reply_to(&click).await;
    assert!(ack.is_ephemeral());
    assert!(ack.content.contains("Approved"), "{}", ack.content);

    // bot: a public thread on the lobby, the approval announced, then the summary
    let thread = t.thread(lobby.id).await;
    {
        let st = t.fake.state();
        let ch = &st.channels[&thread];
        assert_eq!(ch.kind, cloud_testkit::fake_discord::ChannelKind::PublicThread);
        assert_eq!(ch.auto_archive_duration, 60);
    }
    t.wait_message(thread, "the approval", |m| {
        m.content.contains(&format!("Approved by <@{}>", bob.id))
    })
    .await;
    let summary = t
        .wait_message(thread, "the summary", |m| m.content.contains("applied in"))
        .await;
    assert!(summary.content.contains("ecommerce/stage"), "{}", summary.content);
    t.lobby_state(lobby.id, "APPLIED").await;
    t.finish().await;
}

/// alice may deploy ecommerce/stage and bob may approve it (grants without expiry).
async fn alice_deploys_bob_approves(t: &mut DiscordTester) -> (FakeUser, FakeUser) {
    let alice = t.user("alice");
    let bob = t.user("bob");
    t.grant(&alice, "ecommerce", "stage", Role::Deploy, None).await;
    t.grant(&bob, "ecommerce", "stage", Role::Approve, None).await;
    (alice, bob)
}

/// alice opens a stage deployment and waits for its plan; returns (lobby id, short id).
async fn planned_lobby(t: &mut DiscordTester, who: &FakeUser) -> (u64, String) {
    let (short, lobby) = t.deploy_to_plan_ready(who, "stage", STACK).await;
    (lobby.id, short)
}

/// Prod needs two approvals: the first approver is told, by mention, that one more is needed,
/// and the lobby counts the approval (never a raw `discord:…` principal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_of_two_approvals_counts_down_and_names_people_by_mention() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let alice = t.user("alice");
    let bob = t.user("bob");
    t.grant(&alice, "ecommerce", "prod", Role::Deploy, None).await;
    t.grant(&bob, "ecommerce", "prod", Role::Approve, None).await;
    let (_, lobby) = t.deploy_to_plan_ready(&alice, "prod", STACK).await;
    assert!(lobby.text().contains("Approvals: 0/2"), "{}", lobby.text());

    let click = t.click(&bob, lobby.id, "approve");
    let ack = t.reply_to(&click).await;
    assert_eq!(
        ack.content,
        format!("👍 Approval recorded (1/2 (<@{}>)). Waiting for 1 more.", bob.id)
    );
    assert!(!ack.content.contains("discord:"), "{}", ack.content);
    let lobby = t
        .wait_edit(lobby.id, "the lobby counting bob", |m| {
            m.text().contains("Approvals: 1/2")
        })
        .await;
    assert!(lobby.text().contains(&format!("<@{}>", bob.id)), "{}", lobby.text());
    t.finish().await;
}

/// The stack picker checks the choice before it touches the session: a stack that is not
/// enabled (a picker drawn before the catalog changed) is refused and the planned session, its
/// lobby and its buttons stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_stack_choice_leaves_the_session_as_it_was() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (alice, _bob) = alice_deploys_bob_approves(&mut t).await;
    let (lobby, short) = planned_lobby(&mut t, &alice).await;

    let pick = t.pick_stacks(&alice, lobby, &["network", "no-such-stack"]);
    let reply = t.reply_to(&pick).await;
    assert!(reply.is_ephemeral());
    assert!(
        reply
            .content
            .contains("no-such-stack is not enabled in ecommerce/stage"),
        "{}",
        reply.content
    );
    assert!(reply.content.contains("the session is unchanged"), "{}", reply.content);

    let sessions = t.core().store().sessions(&Default::default()).await.unwrap();
    assert_eq!(sessions.len(), 1, "no new session");
    assert_eq!(sessions[0].id.short(), short);
    assert_eq!(sessions[0].state.to_string(), "PLAN_READY");
    let now = t.lobby_state(lobby, "PLAN_READY").await;
    assert!(now.component("cloud:approve:").is_some());
    t.finish().await;
}

/// A command that arrives without an option it needs (a client with an outdated command list)
/// is answered, privately, with the command's usage; nothing is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_missing_an_option_is_answered_with_its_usage() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (alice, _bob) = alice_deploys_bob_approves(&mut t).await;
    let ask = t.slash_from_stale_client(&alice, "cloud-deploy", &[("project", "ecommerce")]);
    let reply = t.reply_to(&ask).await;
    assert!(reply.is_ephemeral());
    assert!(
        reply
            .content
            .contains("Usage: `/cloud-deploy project:<…> env:<…> [stacks:<…>] [provider:<…>]`"),
        "{}",
        reply.content
    );
    assert!(t.core().store().sessions(&Default::default()).await.unwrap().is_empty());
    t.finish().await;
}

/// What people type comes back in the bot's messages (a cancel reason in the lobby); none of
/// it pings anyone: every reply, post and edit carries allowed_mentions that allow nothing
/// (`finish` checks every message the fake holds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_people_type_are_echoed_without_pinging_anyone() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (alice, bob) = alice_deploys_bob_approves(&mut t).await;
    let (lobby, short) = planned_lobby(&mut t, &alice).await;

    // alice: /cloud-cancel <session> reason: @everyone <@bob> wrong environment
    let reason = format!("@everyone <@{}> wrong environment", bob.id);
    let ask = t.slash(&alice, "cloud-cancel", &[("session", &short), ("reason", &reason)]);
    let reply = t.reply_to(&ask).await;
    assert!(reply.is_ephemeral());
    assert!(reply.allowed_mentions.is_some(), "{reply:?}");

    let done = t.lobby_state(lobby, "CANCELLED").await;
    assert!(done.text().contains(&reason), "{}", done.text());
    assert!(!done.pings(), "{:?}", done.allowed_mentions);
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_cannot_approve_their_own_stage_plan() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "stage", Role::Approve, None).await;
    let (lobby, _) = planned_lobby(&mut t, &alice).await;

    let click = t.click(&alice, lobby, "approve");
    let reply = t.reply_to(&click).await;
    assert!(reply.is_ephemeral());
    insta::assert_snapshot!(reply.content, @"🚫 You requested this session, and in stage someone else must approve it (four-eyes rule). Ask a teammate with `approve` on ecommerce/stage.");
    t.lobby_state(lobby, "PLAN_READY").await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_without_a_grant_are_refused_with_what_to_ask_for() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let alice = t.user("alice");
    let mallory = t.user("mallory");
    t.grant(&alice, "ecommerce", "stage", Role::Deploy, None).await;

    // mallory: /cloud-deploy → refused, ephemeral, names the missing role and the fix
    let ask = t.slash(&mallory, "cloud-deploy", &[("project", "ecommerce"), ("env", "stage")]);
    let reply = t.reply_to(&ask).await;
    assert!(reply.is_ephemeral());
    assert!(reply.content.starts_with("🚫"), "{}", reply.content);
    assert!(
        reply.content.contains("you need `deploy` on ecommerce/stage") && reply.content.contains("/cloud-grant"),
        "{}",
        reply.content
    );

    // mallory clicks Approve on alice's lobby → refused, the session is untouched
    let (lobby, _) = planned_lobby(&mut t, &alice).await;
    let click = t.click(&mallory, lobby, "approve");
    let reply = t.reply_to(&click).await;
    assert!(reply.is_ephemeral());
    assert!(
        reply.content.contains("you need `approve` on ecommerce/stage"),
        "{}",
        reply.content
    );

    // and an admin command: Discord does not even offer it to a plain member…
    let hidden = t.try_slash(&mallory, "cloud-stats", &[]).unwrap_err();
    assert!(hidden.contains("default_member_permissions"), "{hidden}");
    // …and a server moderator (Manage Server) without a cloud grant is refused by the bot
    let moderator = t.moderator("mod");
    let ask = t.slash(&moderator, "cloud-stats", &[]);
    let reply = t.reply_to(&ask).await;
    assert!(
        reply.is_ephemeral() && reply.content.contains("you need `admin`"),
        "{}",
        reply.content
    );
    t.lobby_state(lobby, "PLAN_READY").await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_that_expired_before_the_click_does_not_approve() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let alice = t.user("alice");
    let bob = t.user("bob");
    t.grant(&alice, "ecommerce", "stage", Role::Deploy, None).await;
    t.grant(
        &bob,
        "ecommerce",
        "stage",
        Role::Approve,
        Some(std::time::Duration::from_secs(3600)),
    )
    .await;
    let (lobby, _) = planned_lobby(&mut t, &alice).await;

    t.advance_clock(std::time::Duration::from_secs(2 * 3600));
    let click = t.click(&bob, lobby, "approve");
    let reply = t.reply_to(&click).await;
    assert!(reply.is_ephemeral());
    assert!(reply.content.contains("you have no grant there"), "{}", reply.content);
    t.lobby_state(lobby, "PLAN_READY").await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approve_click_for_an_old_plan_is_refused_as_stale() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (alice, bob) = alice_deploys_bob_approves(&mut t).await;
    let (lobby, short) = planned_lobby(&mut t, &alice).await;

    // The plan is refreshed against a changed program (one resource fewer). Bob's Discord still
    // shows the old lobby — the bot's edits of it have not arrived yet (the fake holds them) —
    // so he clicks Approve on the old plan's button.
    let held = t.fake.hold_edits(lobby);
    let mut resources: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.workspace.path("stacks/network/inspect/stage.json")).unwrap())
            .unwrap();
    resources["resources"].as_array_mut().unwrap().pop();
    let changed = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(changed.path(), resources.to_string()).unwrap();
    t.stop_bot().await;
    t.engine_env
        .insert("PULUMI_STANDIN_RESOURCES".into(), changed.path().display().to_string());
    t.start_bot().await;
    let core = t.core();
    let session = core.store().find_session(&short).await.unwrap();
    let old = session.digest.clone().unwrap();
    let alice_p = DiscordTester::principal(&alice);
    let refreshed = core.orchestrator().plan(session.id, &alice_p).await.unwrap();
    assert_ne!(
        refreshed.digest.as_ref().unwrap(),
        &old,
        "the changed program must change the digest"
    );

    let click = t.click(&bob, lobby, "approve");
    let reply = t.reply_to(&click).await;
    assert!(reply.is_ephemeral());
    assert!(
        reply
            .content
            .contains(&format!("You clicked Approve for plan `{}`", old.short())),
        "{}",
        reply.content
    );
    assert!(
        reply.content.contains(refreshed.digest.as_ref().unwrap().short()),
        "{}",
        reply.content
    );
    // The lobby catches up with the new plan once its edits arrive; its button now carries the
    // new digest.
    held.release();
    let shown = t
        .wait_edit(lobby, "the new digest", |m| {
            m.text().contains(refreshed.digest.as_ref().unwrap().short())
        })
        .await;
    assert!(
        shown.component(&format!("cloud:approve:{}", session.id)).unwrap()["custom_id"]
            .as_str()
            .unwrap()
            .ends_with(refreshed.digest.as_ref().unwrap().short())
    );
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_apply_stops_gracefully_and_says_so_in_the_thread() {
    let mut t = DiscordTester::new().await;
    // The apply stays in its first step until the cancel arrives.
    t.hold_updates();
    t.start_bot().await;
    let (alice, bob) = alice_deploys_bob_approves(&mut t).await;
    let (lobby, _) = planned_lobby(&mut t, &alice).await;

    t.press(&bob, lobby, "approve").await;
    t.lobby_state(lobby, "APPLYING").await;
    let thread = t.thread(lobby).await;

    let cancel = t.click(&alice, lobby, "cancel");
    let reply = t.reply_to(&cancel).await;
    assert!(reply.is_ephemeral());
    assert!(reply.content.contains("Cancel requested"), "{}", reply.content);
    t.wait_message(thread, "the cancel announcement", |m| {
        m.content.contains(&format!("Cancel requested by <@{}>", alice.id))
    })
    .await;
    t.wait_message(thread, "the summary", |m| m.content.contains("cancelled"))
        .await;
    // The stack the cancel stopped reads "cancelled", not "failed — cancelled".
    let done = t.lobby_state(lobby, "CANCELLED").await;
    let text = done.text();
    assert!(text.contains("⏹ network  cancelled"), "{text}");
    assert!(!text.contains("failed"), "{text}");
    t.finish().await;
}

/// The plan reaches the thread when the session is ready for approval: per stack in apply order,
/// each change with its operation, and for an update the property it changes, old → new. A
/// configuration change between two deploys makes that update (the stand-in evaluates the
/// stack's program for its configuration). No secret the bot knows appears in the thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_is_posted_in_the_thread_when_it_is_ready_with_the_changed_properties() {
    let mut t = DiscordTester::new().await;
    assert!(
        t.workspace.link_node_modules(),
        "stacks/node_modules is missing: run `cd stacks && npm ci --ignore-scripts --no-audit --no-fund`"
    );
    t.start_bot().await;
    let (alice, bob) = alice_deploys_bob_approves(&mut t).await;

    // First deploy: everything is created; the plan is in the thread before anyone approves.
    let first = deploy_and_wait_for_the_plan(&mut t, &alice, "network,dns").await;
    let thread = t.thread(first).await;
    let plan = t
        .wait_message(thread, "the plan", |m| m.content.contains("📋 Plan of session"))
        .await;
    let text = &plan.content;
    plan_story::assert_first_plan(text);
    t.press(&bob, first, "approve").await;
    t.lobby_state(first, "APPLIED").await;

    // Someone changes the CAA issuer of the zone; the next plan updates the CAA record.
    plan_story::change_the_caa_issuer(&t.workspace);
    let second = deploy_and_wait_for_the_plan(&mut t, &alice, "dns").await;
    let thread = t.thread(second).await;
    let plan = t
        .wait_message(thread, "the second plan", |m| m.content.contains("📋 Plan of session"))
        .await;
    let text = &plan.content;
    plan_story::assert_second_plan(text);
    let token = t.fake.config().token;
    let everything = t.transcript();
    assert!(!everything.contains(&token), "the bot token leaked into chat");
    t.press(&alice, second, "cancel").await;
    t.lobby_state(second, "CANCELLED").await;
    t.finish().await;
}

/// alice deploys `stacks` to stage; returns the lobby once it shows PLAN_READY.
async fn deploy_and_wait_for_the_plan(t: &mut DiscordTester, alice: &FakeUser, stacks: &str) -> u64 {
    t.deploy_to_plan_ready(alice, "stage", stacks).await.1.id
}

/// Discord refuses the progress post eight times in a row (429 with Retry-After), longer than
/// the bot's own retries: the post goes out on a later try with the text it has by then, the
/// edits meant for it are not lost, and the thread ends with the stack at 100 % and the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_post_refused_eight_times_in_a_row_lands_later() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (alice, bob) = alice_deploys_bob_approves(&mut t).await;
    let (lobby, _) = planned_lobby(&mut t, &alice).await;
    // Only the stack's progress message starts with its name and two spaces.
    t.fake.rate_limit_posts_containing("network  ", 8);
    t.press(&bob, lobby, "approve").await;
    let thread = t.thread(lobby).await;
    t.wait_message(thread, "the summary", |m| m.content.contains("applied in"))
        .await;
    let transcript = t.transcript();
    // Eight refusals and no more: every try waited out the Retry-After of the refusal before.
    assert_eq!(t.fake.state().count_status(429), 8, "{transcript}");
    let progress: Vec<String> = t
        .fake
        .state()
        .messages_in(thread)
        .into_iter()
        .filter(|m| m.content.starts_with("network  "))
        .map(|m| m.content.clone())
        .collect();
    assert_eq!(progress.len(), 1, "one progress message: {transcript}");
    assert!(
        progress[0].contains("100%") && progress[0].contains("✓ applied"),
        "{transcript}"
    );
    t.lobby_state(lobby, "APPLIED").await;
    t.finish().await;
}

/// Discord refuses the lobby's first edits (429): the lobby is drawn again once the refusal
/// passes, so the plan and its Approve button still arrive; a refused edit is not the end of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lobby_edit_discord_refuses_is_drawn_again_and_approve_still_arrives() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (alice, bob) = alice_deploys_bob_approves(&mut t).await;
    t.fake.rate_limit_edits(3);
    let (lobby, _) = planned_lobby(&mut t, &alice).await;
    assert_eq!(t.fake.state().injected_429, 3, "{}", t.transcript());
    let click = t.click(&bob, lobby, "approve");
    t.reply_to(&click).await;
    t.lobby_state(lobby, "APPLIED").await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_old_lobby_buttons_still_work() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (alice, bob) = alice_deploys_bob_approves(&mut t).await;
    let (lobby, _) = planned_lobby(&mut t, &alice).await;

    t.restart_bot().await;

    let click = t.click(&bob, lobby, "approve");
    let ack = t.reply_to(&click).await;
    assert!(ack.content.contains("Approved"), "{}", ack.content);
    let thread = t.thread(lobby).await;
    t.wait_message(thread, "the summary", |m| m.content.contains("applied in"))
        .await;
    t.lobby_state(lobby, "APPLIED").await;
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_deploys_are_all_answered_within_three_seconds() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let stacks = ["network", "security", "dns", "storage", "containers-images"];
    let mut asks = Vec::new();
    for i in 0..20 {
        let u = t.user(&format!("user{i}"));
        t.grant(&u, "ecommerce", "dev", Role::Deploy, None).await;
        asks.push(u);
    }
    let mut refs = Vec::new();
    for (i, u) in asks.iter().enumerate() {
        refs.push(t.slash(
            u,
            "cloud-deploy",
            &[
                ("project", "ecommerce"),
                ("env", "dev"),
                ("stacks", stacks[i % stacks.len()]),
            ],
        ));
    }
    let mut slowest = std::time::Duration::ZERO;
    for r in &refs {
        let reply = t.reply_to(r).await;
        assert!(reply.is_ephemeral());
        let (_, age) = t.fake.interaction(r.id).unwrap().acked.unwrap();
        slowest = slowest.max(age);
    }
    assert!(
        slowest < std::time::Duration::from_secs(3),
        "slowest first response {slowest:?}"
    );
    eprintln!("slowest first response of 20 concurrent deploys: {slowest:?}");
    // Five got their stacks, the rest wait for them: every lobby is posted.
    for r in &refs {
        let reply = t
            .fake
            .state()
            .messages
            .values()
            .find(|m| m.interaction == Some(r.id))
            .cloned()
            .unwrap();
        t.lobby(&DiscordTester::short_id(&reply)).await;
    }
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_thousand_line_apply_streams_without_a_429_and_loses_no_line() {
    flood(DiscordTester::new().await).await.finish().await;
}

/// The same with serenity's real rate limiter reading the fake's `X-RateLimit-*` headers (REST
/// over HTTPS to "discord.com", resolved to the fake).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_thousand_line_apply_with_serenitys_real_rate_limiter_gets_no_429() {
    let mut t = DiscordTester::new().await;
    t.use_real_rate_limiter().await;
    let t = flood(t).await;
    assert!(t.tls_requests() > 0, "the bot did not go through the HTTPS endpoint");
    t.finish().await;
}

/// Streams a 20 000-line apply and checks every line reached the attached log with no 429.
async fn flood(mut t: DiscordTester) -> DiscordTester {
    use cloud_testkit::flood_engine::{flood_line, FloodEngine};
    const LINES: usize = 20_000;
    t.engine = Some(std::sync::Arc::new(FloodEngine { lines: LINES }));
    t.start_bot().await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Approve, None).await;
    let (_, lobby) = t.deploy_to_plan_ready(&alice, "dev", STACK).await;
    t.press(&alice, lobby.id, "approve").await; // dev: the requester may approve
    let thread = t.thread(lobby.id).await;
    let summary = t
        .wait_message(thread, "the summary", |m| m.content.contains("applied in"))
        .await;
    assert!(summary.content.contains("has every line"), "{}", summary.content);
    let st = t.fake.state();
    let log = st
        .messages_in(thread)
        .into_iter()
        .flat_map(|m| m.files.iter())
        .find(|f| f.filename.ends_with(".log"))
        .map(|f| String::from_utf8_lossy(&f.content).into_owned())
        .expect("the full log is attached");
    let logged: std::collections::HashSet<&str> = log.lines().map(|l| l.trim_start_matches("[network] ")).collect();
    let missing: Vec<usize> = (0..LINES)
        .filter(|i| !logged.contains(flood_line(STACK, *i).as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} lines missing from the full log, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(st.count_status(429), 0, "the bot hit Discord's rate limits");
    let chat_messages = st.messages_in(thread).len();
    drop(st);
    eprintln!("{LINES} lines: {chat_messages} thread messages, 0 × 429");
    t
}

/// Admin commands are registered with `default_member_permissions` (Manage Server), so members
/// do not see them; the commands every reader uses are registered for everyone. A non-admin's
/// `/cloud-revoke` says the same whether the grant exists or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_are_hidden_from_members_and_revoke_reveals_nothing() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let registered = t.fake.state().commands.clone();
    const MANAGE_GUILD: &str = "32";
    for admin in [
        "cloud-grant",
        "cloud-revoke",
        "cloud-create-project",
        "cloud-set-quota",
        "cloud-admin-list",
        "cloud-admin-cancel",
        "cloud-stats",
        "cloud-audit",
    ] {
        let perms =
            &registered.get(admin).unwrap_or_else(|| panic!("{admin} registered"))["default_member_permissions"];
        assert_eq!(perms, MANAGE_GUILD, "{admin}: {perms}");
    }
    for everyone in [
        "cloud-deploy",
        "cloud-list",
        "cloud-status",
        "cloud-quota",
        "cloud-approve",
    ] {
        let perms = &registered
            .get(everyone)
            .unwrap_or_else(|| panic!("{everyone} registered"))["default_member_permissions"];
        assert!(perms.is_null(), "{everyone}: {perms}");
    }

    // Discord enforces the registration: a plain member's client lists no admin command and
    // Discord refuses an invocation of one; a member with Manage Server sees them all.
    let member = t.user("member");
    let visible = t.fake.commands_visible_to(&member);
    let admin_commands = [
        "cloud-grant",
        "cloud-revoke",
        "cloud-create-project",
        "cloud-set-quota",
        "cloud-admin-list",
        "cloud-admin-cancel",
        "cloud-stats",
        "cloud-audit",
    ];
    for admin in admin_commands {
        assert!(
            !visible.iter().any(|c| c == admin),
            "{admin} offered to a member: {visible:?}"
        );
        let refused = t
            .try_slash(&member, admin, &[])
            .expect_err("Discord refuses a hidden command");
        assert!(refused.contains("default_member_permissions"), "{refused}");
    }
    assert!(visible.iter().any(|c| c == "cloud-deploy"), "{visible:?}");
    let carol = t.moderator("carol");
    let moderator_sees = t.fake.commands_visible_to(&carol);
    for admin in admin_commands {
        assert!(
            moderator_sees.iter().any(|c| c == admin),
            "{admin} hidden from a moderator"
        );
    }
    t.grant(&carol, "*", "*", Role::Admin, None).await;
    let stats = t.slash(&carol, "cloud-stats", &[]);
    let reply = t.reply_to(&stats).await;
    assert!(
        !reply.content.starts_with("🚫"),
        "an admin runs /cloud-stats: {}",
        reply.content
    );

    let alice = t.user("alice");
    // A server moderator sees the admin commands, but holds no cloud grant.
    let mallory = t.moderator("mallory");
    t.grant(&alice, "ecommerce", "stage", Role::Deploy, None).await;
    let grant = t
        .core()
        .store()
        .grants(None, None, false)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.principal == DiscordTester::principal(&alice))
        .expect("alice's grant")
        .id
        .clone();
    let mut answers = Vec::new();
    for id in [grant.as_str(), "nosuchgrant"] {
        let ask = t.slash(&mallory, "cloud-revoke", &[("grant", id), ("reason", "curious")]);
        let reply = t.reply_to(&ask).await;
        assert!(
            reply.is_ephemeral() && reply.content.starts_with("🚫"),
            "{}",
            reply.content
        );
        answers.push(reply.content.clone());
    }
    assert_eq!(
        answers[0], answers[1],
        "the same answer for a real and a made-up grant id"
    );
    assert!(!answers[0].contains("ecommerce"), "{}", answers[0]);
    t.finish().await;
}
