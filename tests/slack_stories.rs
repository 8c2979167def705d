//! The Slack app end to end, read as transcripts: people type slash commands and click buttons
//! in a fake Slack (tests/support/fake_slack), the real app answers through the real
//! slack-morphism client, sessions run on the Pulumi stand-in.

mod support {
    pub mod cli;
    pub mod fake_slack;
    pub mod slack_world;
}

use std::time::Duration;

use cloud_engine::policy::Role;
use support::fake_slack::Transport;
use support::slack_world::{SlackWorld, ALICE, BOB};

const LONG: Duration = Duration::from_secs(60);

/// alice deploys ecommerce/stage; bob approves; it applies; the thread tells the story.
async fn happy_path(world: SlackWorld) {
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(BOB, "ecommerce", "*", Role::Approve).await;

    let ack = world.slash(ALICE, "/cloud-deploy", "ecommerce stage").await;
    assert_eq!(ack.status, 200);
    assert_eq!(ack.response_type(), "ephemeral");
    assert!(ack.text().contains("opened for ecommerce/stage"), "{}", ack.text());

    let lobby = world.lobby_showing("PLAN_READY").await;
    let text = lobby.rendered();
    assert!(text.contains("Deploy ecommerce/stage · D1BRV40"), "{text}");
    assert!(text.contains("`network` previewed — +"), "{text}");
    assert!(text.contains("approvals 0/1"), "{text}");
    assert!(text.contains("[Approve & Deploy] [Refresh] [Cancel]"), "{text}");

    let ack = world.click(BOB, &lobby, "approve").await;
    assert_eq!(ack.status, 200);

    let done = world.lobby_showing("APPLIED").await;
    assert_eq!(done.ts, lobby.ts, "the lobby is updated in place");
    assert!(done.rendered().contains(&format!("approvals 1/1 (<@{BOB}>)")), "{}", done.rendered());
    assert!(done.action_ids().is_empty(), "a finished session has no buttons: {:?}", done.action_ids());

    let summary = world
        .fake
        .wait_for("the summary in the thread", LONG, |f| f.thread(&lobby.ts).into_iter().find(|m| m.text.contains("✅")))
        .await;
    assert!(summary.text.contains("ecommerce/stage D1BRV40: APPLIED"), "{}", summary.text);
    let thread = world.fake.thread(&lobby.ts);
    assert!(thread.iter().any(|m| m.text.contains("network") && m.text.contains("100%")), "{}", world.fake.transcript());
    assert_eq!(world.fake.rate_limited(), 0, "{}", world.fake.transcript());
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
