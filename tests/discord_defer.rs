//! A slash command whose work is slow on Discord: the bot defers (Discord shows the person that
//! the bot is thinking, to them alone), the answer then replaces the deferral in place, and an
//! answer meant for everyone (a grant's announcement) follows into the channel where everyone
//! sees it. The real bot against the fake Discord; the work is made slow by a writer holding the
//! bot's database (the bot's write waits on SQLite's busy timeout), released once Discord has the
//! deferral.

#[path = "support/discord.rs"]
mod discord;

use cloud_core::policy::Role;
use cloud_testkit::fake_discord::{AckKind, FakeUser, StoredMessage};
use discord::{DiscordTester, WAIT};
use sqlx::Connection;

/// Whether `user` holds a grant (any) in the bot's store.
async fn has_a_grant(t: &DiscordTester, user: &FakeUser) -> bool {
    t.store()
        .await
        .grants(None, None, false)
        .await
        .unwrap()
        .iter()
        .any(|g| g.principal == DiscordTester::principal(user))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_grant_is_deferred_answered_in_place_and_announced_to_the_channel() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let carol = t.moderator("carol");
    t.grant(&carol, "ecommerce", "*", Role::Admin, None).await;
    let alice = t.user("alice");

    // Someone else writes to the bot's database right now: SQLite's write lock is taken, so the
    // grant the bot is about to write waits for it.
    let url = format!("sqlite://{}", t.data_dir().join("cloud.db").display());
    let mut writer = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut writer).await.unwrap();

    // carol: /cloud-grant user:@alice project:ecommerce role:deploy env:stage reason:on call
    let alice_id = alice.id.to_string();
    let ask = t.slash(
        &carol,
        "cloud-grant",
        &[
            ("user", &alice_id),
            ("project", "ecommerce"),
            ("role", "deploy"),
            ("env", "stage"),
            ("reason", "on call"),
        ],
    );

    // bot: defers at once — carol alone sees that it is thinking
    let deferral: Option<StoredMessage> = t
        .fake
        .wait_for(WAIT, |s| {
            let i = s.interactions.get(&ask.id)?;
            if !matches!(i.acked, Some((AckKind::DeferredMessage, _))) {
                return None;
            }
            s.messages.get(&i.original?).cloned()
        })
        .await;
    let deferral = deferral.unwrap_or_else(|| panic!("the slow grant was not deferred\n{}", t.transcript()));
    assert!(deferral.loading, "{}", t.transcript());
    assert!(deferral.is_ephemeral(), "a deferral only carol sees");
    assert!(!has_a_grant(&t, &alice).await, "the grant waits for the database");

    // The other writer is done: the grant is written.
    sqlx::query("ROLLBACK").execute(&mut writer).await.unwrap();
    writer.close().await.unwrap();

    // bot: the answer replaces the deferral, still for carol alone…
    let answer = t.reply_to(&ask).await;
    assert_eq!(answer.id, deferral.id, "the answer replaces the deferral in place");
    assert!(answer.is_ephemeral());
    assert!(
        answer.content.contains("granted") && answer.content.contains("`deploy` on ecommerce/stage"),
        "{}",
        answer.content
    );
    assert!(has_a_grant(&t, &alice).await);

    // …and the announcement follows into the channel, for everyone.
    let channel = t.channel;
    let announcement = t
        .fake
        .wait_for(WAIT, |s| {
            s.messages_in(channel)
                .into_iter()
                .find(|m| m.interaction == Some(ask.id) && m.id != answer.id)
                .cloned()
        })
        .await
        .unwrap_or_else(|| panic!("the grant was not announced in the channel\n{}", t.transcript()));
    assert!(!announcement.is_ephemeral(), "everyone sees the announcement");
    assert!(!announcement.loading);
    assert_eq!(announcement.content, answer.content);
    t.finish().await;
}
