//! `/cloud-token`: a person gets an API token for the CLI from chat, where Discord or Slack has
//! already verified who they are. The secret is shown once, only to them (an ephemeral reply,
//! never a channel message), the store keeps its hash, and the `cloud` CLI accepts it as
//! `CLOUD_TOKEN` as that person — on a shared store where `--as` is refused. They list and revoke
//! their own tokens; a revoked token stops working at once.

mod support {
    pub mod cli;
    pub mod slack_world;
}
#[path = "support/discord.rs"]
mod discord;

use cloud_core::policy::Role;
use discord::DiscordTester;
use support::cli::Cli;
use support::slack_world::{SlackWorld, ALICE, BOB};

/// The token secret in a reply: the one word that starts with the token prefix.
fn secret_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '`')
        .find(|w| w.starts_with("cet_") && w.len() > 40)
        .map(str::to_string)
}

/// The token id in a reply ("Token `abc…` for you").
fn token_id_in(text: &str) -> String {
    text.split("Token `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap_or_else(|| panic!("a token id in {text}"))
        .to_string()
}

/// No file under the data directory (the SQLite database, its write-ahead log, the audit key)
/// contains the secret: the store keeps only its hash. Searched by `grep` in its own process:
/// opening and closing the database file in the bot's process would drop the bot's SQLite
/// locks (POSIX locks belong to the process), letting another process checkpoint the
/// write-ahead log away underneath the bot.
fn assert_secret_not_stored(data_dir: &std::path::Path, secret: &str) {
    assert!(
        data_dir.join("cloud.db").exists(),
        "no store under {}",
        data_dir.display()
    );
    let status = std::process::Command::new("grep")
        .args(["-r", "-F", "-q", "-a", "--", secret])
        .arg(data_dir)
        .status()
        .expect("grep runs");
    assert_eq!(
        status.code(),
        Some(1),
        "a file under {} holds the token secret",
        data_dir.display()
    );
}

/// `cloud` on the chat bot's store, as a shared store runs it: no admin by running `cloud`, no
/// `--as`; who acts comes from `CLOUD_TOKEN` only.
fn cli_on(data_dir: &std::path::Path, workspace: &std::path::Path) -> Cli {
    let mut c = Cli::new();
    c.set("CLOUD_DATA_DIR", &data_dir.display().to_string());
    c.set("CLOUD_WORKSPACE", &workspace.display().to_string());
    c.set("CLOUD_LOCAL_CLI_ADMIN", "false");
    c.unset("CLOUD_USER");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_member_gets_a_cli_token_only_they_see_and_it_works_until_revoked() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "*", Role::Read, None).await;

    // Every member is offered /cloud-token (a token for oneself needs no admin).
    assert!(t.fake.commands_visible_to(&alice).iter().any(|c| c == "cloud-token"));
    let ask = t.slash(
        &alice,
        "cloud-token",
        &[
            ("role", "read"),
            ("project", "ecommerce"),
            ("expires", "2h"),
            ("label", "laptop"),
        ],
    );
    let reply = t.reply_to(&ask).await;
    assert!(
        reply.is_ephemeral(),
        "the token is shown to its holder only: {}",
        reply.content
    );
    let secret = secret_in(&reply.content).unwrap_or_else(|| panic!("a secret in {}", reply.content));
    let id = token_id_in(&reply.content);
    assert!(
        reply.content.contains("at most `read` on ecommerce") && reply.content.contains("[laptop]"),
        "{}",
        reply.content
    );
    // Nowhere else in Discord: no channel message, no other reply carries it.
    {
        let st = t.fake.state();
        let elsewhere: Vec<u64> = st
            .messages
            .values()
            .filter(|m| m.id != reply.id && m.text().contains(&secret))
            .map(|m| m.id)
            .collect();
        assert!(elsewhere.is_empty(), "the secret also appears in {elsewhere:?}");
        assert!(st
            .messages
            .values()
            .all(|m| m.is_ephemeral() || !m.text().contains(&secret)));
    }
    // Stored hashed: the row names alice, and no file of the store holds the secret.
    let row = t.core().store().token(&id).await.unwrap();
    assert_eq!(row.principal, DiscordTester::principal(&alice));
    assert_secret_not_stored(&t.data_dir(), &secret);

    // The CLI on the same store acts as alice with it.
    let cli = cli_on(&t.data_dir(), t.workspace.root());
    let run = cli.run_with(&["tokens", "list"], &[("CLOUD_TOKEN", secret.as_str())]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(&id) && run.stdout.contains(&format!("discord:{}", alice.id)),
        "{}",
        run.all()
    );
    let run = cli.run_with(&["quota", "show", "ecommerce"], &[("CLOUD_TOKEN", secret.as_str())]);
    run.expect_code(0);
    // Capped at read: it cannot deploy, whatever the holder could.
    let run = cli.run_with(&["deploy", "ecommerce", "dev"], &[("CLOUD_TOKEN", secret.as_str())]);
    run.expect_code(3);

    // Listing shows the id and limits, never the secret.
    let ask = t.slash(&alice, "cloud-token", &[("action", "list")]);
    let listed = t.reply_to(&ask).await;
    assert!(listed.is_ephemeral());
    assert!(
        listed.content.contains(&id) && !listed.content.contains(&secret),
        "{}",
        listed.content
    );

    // Someone else cannot revoke it, and learns nothing about it.
    let bob = t.user("bob");
    let ask = t.slash(
        &bob,
        "cloud-token",
        &[("action", "revoke"), ("token", &id), ("reason", "mine now")],
    );
    let refused = t.reply_to(&ask).await;
    let ask = t.slash(
        &bob,
        "cloud-token",
        &[("action", "revoke"), ("token", "tok_nosuch"), ("reason", "mine now")],
    );
    let made_up = t.reply_to(&ask).await;
    assert!(
        refused.is_ephemeral() && refused.content.contains("no active token"),
        "{}",
        refused.content
    );
    assert_eq!(
        refused.content.replace(&id, "<id>"),
        made_up.content.replace("tok_nosuch", "<id>"),
        "the same answer for alice's token and a made-up one"
    );

    // Alice revokes it: the CLI refuses it from then on.
    let ask = t.slash(
        &alice,
        "cloud-token",
        &[("action", "revoke"), ("token", &id), ("reason", "laptop lost")],
    );
    let revoked = t.reply_to(&ask).await;
    assert!(
        revoked.is_ephemeral() && revoked.content.contains("revoked"),
        "{}",
        revoked.content
    );
    let row = t.core().store().token(&id).await.unwrap();
    assert!(
        row.revoked_at.is_some(),
        "revoked in the store: {row:?} {}",
        revoked.content
    );
    let run = cli.run_with(&["tokens", "list"], &[("CLOUD_TOKEN", secret.as_str())]);
    run.expect_code(3);
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_member_gets_a_cli_token_in_an_ephemeral_reply() {
    let world = SlackWorld::http().await;
    world.grant(ALICE, "ecommerce", "*", Role::Deploy).await;

    let ack = world.slash(ALICE, "/cloud-token", "--for 7d --label ci").await;
    assert_eq!(ack.status, 200);
    assert_eq!(ack.response_type(), "ephemeral", "{:?}", ack.body);
    let text = ack.text();
    let secret = secret_in(&text).unwrap_or_else(|| panic!("a secret in {text}"));
    let id = token_id_in(&text);
    assert!(text.contains("at most `deploy` on every project"), "{text}");
    assert!(
        world
            .fake
            .channel_messages()
            .iter()
            .all(|m| !m.text.contains(&secret) && !format!("{:?}", m.blocks).contains(&secret)),
        "the secret was posted in a channel: {}",
        world.fake.transcript()
    );

    assert_secret_not_stored(&world.dir.path().join("data"), &secret);
    let cli = cli_on(&world.dir.path().join("data"), world.workspace.root());
    let run = cli.run_with(&["tokens", "list"], &[("CLOUD_TOKEN", secret.as_str())]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(&id) && run.stdout.contains("slack:U0ALICE"),
        "{}",
        run.all()
    );

    // Bad input is refused with the fix, and creates nothing.
    for (text, expected) in [
        ("--role owner", "unknown role `owner`"),
        ("--for 500d", "at most 366 days"),
        ("--for soon", "Invalid duration"),
        ("revoke", "say which token"),
        ("rotate", "unknown action `rotate`"),
    ] {
        let ack = world.slash(ALICE, "/cloud-token", text).await;
        assert_eq!(ack.response_type(), "ephemeral");
        assert!(ack.text().contains(expected), "{text}: {}", ack.text());
    }
    let ack = world.slash(ALICE, "/cloud-token", "list").await;
    assert_eq!(ack.text().matches("• `").count(), 1, "{}", ack.text());

    // Bob cannot touch alice's token; alice revokes it.
    let ack = world.slash(BOB, "/cloud-token", &format!("revoke {id} curious")).await;
    assert!(ack.text().contains("no active token"), "{}", ack.text());
    let ack = world
        .slash(ALICE, "/cloud-token", &format!("revoke {id} rotating"))
        .await;
    assert!(ack.text().contains("revoked"), "{}", ack.text());
    let run = cli.run_with(&["tokens", "list"], &[("CLOUD_TOKEN", secret.as_str())]);
    run.expect_code(3);
    world.shutdown().await;
}
