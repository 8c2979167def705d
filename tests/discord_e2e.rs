//! The Discord bot end to end: the real poise/serenity bot, the real core and the Pulumi
//! stand-in, driven through the fake Discord. Each test reads like the chat it produces.

#[path = "support/discord.rs"]
mod discord;

use cloud_engine::policy::Role;
use discord::DiscordTester;

/// One stack keeps the stand-in runs short.
const STACK: &str = "network";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_is_planned_approved_by_a_teammate_and_applied_in_a_thread() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let alice = t.user("alice");
    let bob = t.user("bob");
    t.grant(&alice, "ecommerce", "stage", Role::Deploy, None).await;
    t.grant(&bob, "ecommerce", "stage", Role::Approve, None).await;

    // alice: /cloud-deploy ecommerce stage network
    let ask = t.slash(&alice, "cloud-deploy", &[("project", "ecommerce"), ("env", "stage"), ("stacks", STACK)]);
    let reply = t.reply_to(&ask).await;
    assert!(reply.is_ephemeral());
    assert!(reply.content.contains("opened for ecommerce/stage"), "{}", reply.content);
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
        assert_eq!(ch.kind, cloud_engine::testing::fake_discord::ChannelKind::PublicThread);
        assert_eq!(ch.auto_archive_duration, 60);
    }
    t.wait_message(thread, "the approval", |m| m.content.contains(&format!("Approved by <@{}>", bob.id))).await;
    let summary = t.wait_message(thread, "the summary", |m| m.content.contains("applied in")).await;
    assert!(summary.content.contains("ecommerce/stage"), "{}", summary.content);
    t.lobby_state(lobby.id, "APPLIED").await;
    t.finish().await;
}
