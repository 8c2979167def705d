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
use support::fake_slack::{Signing, Transport};
use support::slack_world::{SlackWorld, ALICE, BOB};

const LONG: Duration = Duration::from_secs(60);

/// alice deploys ecommerce/stage; bob approves; it applies; the thread tells the story.
async fn happy_path(world: SlackWorld) {
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    world.grant(BOB, "ecommerce", "*", Role::Approve).await;

    let ack = world.slash(ALICE, "/cloud-deploy", "ecommerce stage network,dns security").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_stale_requests_are_refused_and_a_290_s_old_one_is_accepted() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;
    let Transport::Http(app) = world.transport.clone() else { unreachable!() };

    let forged = Signing { age_secs: 0, secret: Some("not-the-signing-secret".into()) };
    let ack = world.fake.slash_signed(&app, ALICE, "/cloud-deploy", "ecommerce stage network", &forged).await;
    assert_eq!(ack.status, 401, "a forged signature: {:?}", ack.body);

    let stale = Signing { age_secs: 310, secret: None };
    let ack = world.fake.slash_signed(&app, ALICE, "/cloud-deploy", "ecommerce stage network", &stale).await;
    assert_eq!(ack.status, 401, "a request 310 s old: {:?}", ack.body);
    assert!(world.app.store.sessions(&Default::default()).await.unwrap().is_empty(), "nothing was started");

    let recent = Signing { age_secs: 290, secret: None };
    let ack = world.fake.slash_signed(&app, ALICE, "/cloud-list", "", &recent).await;
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
    let ack = world.click(ALICE, &lobby, "approve").await;
    assert_eq!(ack.status, 200, "clicks are acknowledged; the refusal follows as an ephemeral message");

    let refusal = world
        .fake
        .wait_for("alice's refusal", LONG, |f| f.ephemerals().into_iter().find(|e| e.user == ALICE))
        .await;
    assert!(refusal.text.contains("four-eyes rule"), "{}", refusal.text);
    let lobby = world.fake.message(&lobby.ts).unwrap();
    assert!(lobby.rendered().contains("PLAN_READY"), "{}", lobby.rendered());
    assert!(lobby.rendered().contains("approvals 0/1"), "{}", lobby.rendered());
    assert!(world.fake.thread(&lobby.ts).is_empty(), "nothing was applied: {}", world.fake.transcript());
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
    assert_eq!(world.fake.socket_connections(), 2, "the new instance opened its own connection");

    world.click(BOB, &lobby, "approve").await;
    let done = world.lobby_showing("APPLIED").await;
    assert_eq!(done.ts, lobby.ts);
    world
        .fake
        .wait_for("the summary in the old lobby's thread", LONG, |f| f.thread(&lobby.ts).into_iter().find(|m| m.text.contains("APPLIED")))
        .await;
    assert_eq!(world.fake.rate_limited(), 0, "{}", world.fake.transcript());
    world.shutdown().await;
}
