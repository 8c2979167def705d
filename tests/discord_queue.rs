//! The Queue button's promise on Discord (issue 18.5): a deploy on busy stacks is refused with a
//! Queue button; a queued session's lobby says where it stands in line and who holds the stacks;
//! when its turn comes it is planned with no further click — whichever process freed the stacks
//! (a click in chat, `cloud cancel` in a terminal) and even when no bot ran at that moment.

#[path = "support/discord.rs"]
mod discord;

use cloud_core::policy::Role;
use cloud_testkit::fake_discord::{FakeUser, StoredMessage};
use discord::DiscordTester;

/// One stack keeps the stand-in runs short.
const STACK: &str = "network";

/// `names` may deploy ecommerce/stage; the last one only approves.
async fn team(t: &mut DiscordTester, deployers: &[&str]) -> (Vec<FakeUser>, FakeUser) {
    let mut users = Vec::new();
    for name in deployers {
        let user = t.user(name);
        t.grant(&user, "ecommerce", "stage", Role::Deploy, None).await;
        users.push(user);
    }
    let approver = t.user("bob");
    t.grant(&approver, "ecommerce", "stage", Role::Approve, None).await;
    (users, approver)
}

/// `who` runs /cloud-deploy ecommerce stage network; returns the reply and the lobby.
async fn deploy(t: &mut DiscordTester, who: &FakeUser) -> (StoredMessage, StoredMessage, String) {
    let ask = t.slash(
        who,
        "cloud-deploy",
        &[("project", "ecommerce"), ("env", "stage"), ("stacks", STACK)],
    );
    let reply = t.reply_to(&ask).await;
    let short = DiscordTester::short_id(&reply);
    let lobby = t.lobby(&short).await;
    (reply, lobby, short)
}

/// `who` deploys the busy stacks, is told to press Queue, presses it and is told the position.
async fn deploy_and_queue(t: &mut DiscordTester, who: &FakeUser, position: u32) -> (u64, String) {
    let (reply, lobby, short) = deploy(t, who).await;
    assert!(reply.is_ephemeral());
    assert!(reply.content.contains("Press **Queue**"), "{}", reply.content);
    assert!(lobby.component("cloud:queue:").is_some(), "{}", t.transcript());
    let click = t.click(who, lobby.id, "queue");
    let ack = t.reply_to(&click).await;
    assert!(ack.is_ephemeral());
    assert!(
        ack.content.contains(&format!("number {position} in the queue")),
        "{}",
        ack.content
    );
    (lobby.id, short)
}

/// The lobby's Queue field, once it says `what`.
async fn queue_field(t: &DiscordTester, lobby: u64, what: &str) -> String {
    let shown = t
        .wait_edit(lobby, what, |m| queue_text(m).is_some_and(|q| q.contains(what)))
        .await;
    queue_text(&shown).unwrap()
}

fn queue_text(m: &StoredMessage) -> Option<String> {
    m.embeds.first()?["fields"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == "Queue")
        .and_then(|f| f["value"].as_str().map(str::to_string))
}

/// The story of the issue: alice holds the stacks with a plan; carol and dave queue behind her
/// and their lobbies say where they stand and who they wait for; alice cancels, and carol's
/// session is planned on its own (buttons live), while dave moves up behind carol.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_deploy_is_planned_when_its_turn_comes_and_the_line_moves_up() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (people, _bob) = team(&mut t, &["alice", "carol", "dave"]).await;
    let (alice, carol, dave) = (&people[0], &people[1], &people[2]);

    let (_, first, alices) = deploy(&mut t, alice).await;
    t.lobby_state(first.id, "PLAN_READY").await;

    let (second, carols) = deploy_and_queue(&mut t, carol, 1).await;
    let shown = queue_field(&t, second, "Position 1 in the queue").await;
    assert_eq!(
        shown,
        format!(
            "Position 1 in the queue · the stacks are held by <@{}> (session `{alices}`) · planned automatically when its turn comes",
            alice.id
        )
    );
    let (third, _) = deploy_and_queue(&mut t, dave, 2).await;
    let shown = queue_field(&t, third, "Position 2 in the queue").await;
    assert!(
        shown.contains(&format!("held by <@{}> (session `{alices}`)", alice.id)),
        "{shown}"
    );

    // alice gives the stacks up: carol's session is planned with no further click.
    let cancel = t.click(alice, first.id, "cancel");
    t.reply_to(&cancel).await;
    t.lobby_state(first.id, "CANCELLED").await;
    let ready = t.lobby_state(second, "PLAN_READY").await;
    assert!(
        ready.text().contains(&format!("requested by <@{}>", carol.id)),
        "{}",
        ready.text()
    );
    assert_eq!(ready.component("cloud:approve:").unwrap()["disabled"], false);
    assert!(
        queue_text(&ready).is_none(),
        "a planned session is out of the queue: {}",
        ready.text()
    );

    // dave moved up: first in line, behind carol who holds the stacks now.
    let shown = queue_field(&t, third, "Position 1 in the queue").await;
    assert!(
        shown.contains(&format!("held by <@{}> (session `{carols}`)", carol.id)),
        "{shown}"
    );
    assert!(!shown.contains("queued ahead"), "{shown}");
    t.finish().await;
}

/// The holder is cancelled from a terminal (`cloud cancel`, another process) while `cloud serve
/// --discord` runs: the bot reads the turn from the session log and plans the queued session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_from_the_cli_gives_the_queued_chat_session_its_turn() {
    let mut t = DiscordTester::new().await;
    let (people, _bob) = team(&mut t, &["alice", "carol"]).await;
    let (alice, carol) = (&people[0], &people[1]);
    let _serve = t.start_serve_process().await;

    let (_, first, alices) = deploy(&mut t, alice).await;
    t.lobby_state(first.id, "PLAN_READY").await;
    let (second, _) = deploy_and_queue(&mut t, carol, 1).await;
    queue_field(&t, second, "Position 1 in the queue").await;

    let out = t.cli(&["cancel", &alices]).await;
    assert!(out.contains(&alices), "{out}");
    t.lobby_state(first.id, "CANCELLED").await;
    let ready = t.lobby_state(second, "PLAN_READY").await;
    assert_eq!(ready.component("cloud:approve:").unwrap()["disabled"], false);
    t.finish().await;
}

/// `cloud queue` from a terminal, and a turn that comes while no bot runs: the session is queued
/// from the CLI (nothing waits in it), the holder is cancelled from the CLI while the bot is
/// down, and the bot plans the session when it starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_queued_from_the_cli_is_planned_by_the_bot_even_when_its_turn_came_while_it_was_down() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let (people, _bob) = team(&mut t, &["alice", "carol"]).await;
    let (alice, carol) = (&people[0], &people[1]);

    let (_, first, alices) = deploy(&mut t, alice).await;
    t.lobby_state(first.id, "PLAN_READY").await;
    let (reply, second, carols) = deploy(&mut t, carol).await;
    assert!(reply.content.contains("Press **Queue**"), "{}", reply.content);

    let out = t.cli(&["queue", &carols]).await;
    assert!(out.contains("is queued: position 1"), "{out}");
    assert!(out.contains("a running `cloud serve` plans it"), "{out}");
    queue_field(&t, second.id, "Position 1 in the queue").await;

    t.stop_bot().await;
    // The bot is down for longer than Discord's per-channel rate window, as a real restart
    // mostly is: its successor starts with a pacer that never saw its predecessor's lobby edits,
    // and within the window Discord would refuse some of its redraws (429) — Discord's doing,
    // not a mistake `finish()` should blame on it.
    t.fake.pass_time(t.fake.config().channel_bucket.1);
    t.cli(&["cancel", &alices]).await;
    let store = t.store().await;
    let waiting = store.find_session(&carols).await.unwrap();
    assert_eq!(waiting.state, cloud_domain::session::SessionState::Draft);
    assert!(
        !store.session_locks(waiting.id).await.unwrap().is_empty(),
        "its turn came"
    );

    t.start_bot().await;
    let ready = t.lobby_state(second.id, "PLAN_READY").await;
    assert_eq!(ready.component("cloud:approve:").unwrap()["disabled"], false);
    t.lobby_state(first.id, "CANCELLED").await;
    t.finish().await;
}
