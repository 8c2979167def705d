//! Every chat front end gives the same answer to the same request. One table of requests runs
//! through the real Discord bot (against the fake Discord) and the real Slack app (against the
//! fake Slack), each over its own core with the same people and grants; the two answers must say
//! the same thing, markup aside (`**bold**` vs `*bold*`, code fences, how each platform mentions a
//! person), and say what the row expects.
//!
//! The cast, on both platforms: alice may approve ecommerce/stage (so she may deploy it, but not
//! approve her own plan there: stage needs someone else), carol is an admin of ecommerce, mallory
//! has no grant at all.

mod support {
    pub mod cli;
    pub mod slack_world;
}
#[path = "support/discord.rs"]
mod discord;

use std::collections::BTreeMap;
use std::time::Duration;

use cloud_core::policy::Role;
use cloud_testkit::fake_discord::{FakeUser, StoredMessage};
use discord::DiscordTester;
use support::slack_world::{SlackWorld, ALICE, CAROL};

const MALLORY: &str = "U0MALLORY";

/// One request as each platform spells it.
struct Ask {
    who: &'static str,
    /// Discord: the command and its typed options.
    discord: (&'static str, Vec<(&'static str, String)>),
    /// Slack: the command and its text.
    slack: (&'static str, String),
}

fn ask(who: &'static str, command: &'static str, options: &[(&'static str, &str)]) -> Ask {
    let text: Vec<&str> = options.iter().map(|(_, v)| *v).collect();
    Ask {
        who,
        discord: (command, options.iter().map(|(k, v)| (*k, v.to_string())).collect()),
        slack: (Box::leak(format!("/{command}").into_boxed_str()), text.join(" ")),
    }
}

/// A request about each platform's own session.
fn ask_each(who: &'static str, command: &'static str, discord: &str, slack: &str) -> Ask {
    Ask {
        who,
        discord: (command, vec![("session", discord.to_string())]),
        slack: (Box::leak(format!("/{command}").into_boxed_str()), slack.to_string()),
    }
}

/// Both platforms, the same cast on each.
struct Both {
    discord: DiscordTester,
    slack: SlackWorld,
    /// Name → Discord user.
    users: BTreeMap<&'static str, FakeUser>,
    /// What stands for a session and its plan on each side, and what replaces it in answers.
    placeholders: Vec<(String, String, &'static str)>,
}

impl Both {
    async fn start() -> Both {
        let mut discord = DiscordTester::new().await;
        discord.start_bot().await;
        let slack = SlackWorld::http().await;
        let mut users = BTreeMap::new();
        users.insert("alice", discord.user("alice"));
        // Discord offers admin commands only to members with Manage Server: carol administers,
        // and mallory moderates the server without holding any cloud grant.
        users.insert("carol", discord.moderator("carol"));
        users.insert("mallory", discord.moderator("mallory"));
        discord
            .grant(&users["alice"], "ecommerce", "stage", Role::Approve, None)
            .await;
        discord
            .grant(&users["carol"], "ecommerce", "*", Role::Admin, None)
            .await;
        slack.grant(ALICE, "ecommerce", "stage", Role::Approve).await;
        slack.grant(CAROL, "ecommerce", "*", Role::Admin).await;
        Both {
            discord,
            slack,
            users,
            placeholders: vec![],
        }
    }

    fn slack_user(who: &str) -> &'static str {
        match who {
            "alice" => ALICE,
            "carol" => CAROL,
            "mallory" => MALLORY,
            other => panic!("nobody called {other}"),
        }
    }

    /// The answer of each platform, normalised to compare.
    async fn answers(&mut self, a: &Ask) -> (String, String) {
        let user = self.users[a.who].clone();
        let (command, options) = &a.discord;
        let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let asked = self.discord.slash(&user, command, &options);
        let reply = self.discord.reply_to(&asked).await;
        let discord = self.normalise(&discord_text(&reply));
        let ack = self.slack.slash(Self::slack_user(a.who), a.slack.0, &a.slack.1).await;
        assert_eq!(ack.status, 200, "{:?}", ack.body);
        let slack = self.normalise(&ack.text());
        (discord, slack)
    }

    /// `who` clicks the lobby's `action` button on both platforms; their answers.
    async fn click_answers(
        &mut self,
        who: &str,
        discord_lobby: u64,
        slack_lobby: &cloud_testkit::fake_slack::Message,
        action: &str,
    ) -> (String, String) {
        let user = self.users[who].clone();
        let clicked = self.discord.click(&user, discord_lobby, action);
        let reply = self.discord.reply_to(&clicked).await;
        let discord = self.normalise(&discord_text(&reply));
        let ack = self.slack.click(Self::slack_user(who), slack_lobby, action).await;
        assert_eq!(ack.status, 200);
        let answer = self
            .slack
            .fake
            .wait_for("the answer to the click", |f| f.response_message(ack.request))
            .await;
        // A response-URL message reads like an acknowledgement's.
        let text = cloud_testkit::fake_slack::Ack {
            status: 200,
            body: answer,
            elapsed: Duration::ZERO,
            request: ack.request,
        }
        .text();
        (discord, self.normalise(&text))
    }

    /// Markup and identities aside: bold, code fences and escapes as plain text, people as
    /// `@name`, each side's session and digest as `<session>` and `<digest>`.
    fn normalise(&self, text: &str) -> String {
        let mut text = text.replace("**", "").replace('*', "").replace("```", "\n");
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
        for (name, user) in &self.users {
            let slack = Self::slack_user(name);
            for (from, to) in [
                (format!("<@{}>", user.id), format!("@{name}")),
                (format!("discord:{}", user.id), format!("@{name}")),
                (format!("<@{slack}>"), format!("@{name}")),
                (format!("slack:{slack}"), format!("@{name}")),
            ] {
                text = text.replace(&from, &to);
            }
        }
        for (discord, slack, placeholder) in &self.placeholders {
            text = text.replace(discord, placeholder).replace(slack, placeholder);
        }
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn finish(self) {
        self.discord.finish().await;
        self.slack.shutdown().await;
    }
}

/// A Discord reply as the person sees it: its text, then its buttons as `[label]`.
fn discord_text(m: &StoredMessage) -> String {
    let labels: Vec<String> = m
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["disabled"] != true)
        .filter_map(|c| c["label"].as_str().map(|l| format!("[{l}]")))
        .collect();
    if labels.is_empty() {
        m.content.clone()
    } else {
        format!("{}\n{}", m.content, labels.join(" "))
    }
}

/// The same answer on both platforms, and the one the row expects.
fn assert_same(what: &str, (discord, slack): &(String, String), expected: &[&str]) {
    assert_eq!(
        discord, slack,
        "{what}: Discord and Slack answer differently\n--- discord ---\n{discord}\n--- slack ---\n{slack}"
    );
    for e in expected {
        assert!(discord.contains(e), "{what}: expected {e:?} in\n{discord}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_and_slack_give_the_same_answer_to_the_same_request() {
    let mut both = Both::start().await;

    // Requests refused before anything happens: (what, request, what the answer must say).
    let refusals: Vec<(&str, Ask, Vec<&str>)> = vec![
        (
            "an unknown project, asked by someone with no grant at all",
            ask("mallory", "cloud-deploy", &[("project", "shop"), ("env", "stage")]),
            vec!["⚠️ Unknown project `shop`", "/cloud-projects"],
        ),
        (
            "an unknown project, asked by someone with grants elsewhere",
            ask("alice", "cloud-deploy", &[("project", "shop"), ("env", "stage")]),
            vec!["⚠️ Unknown project `shop`"],
        ),
        (
            "the quota of an unknown project, asked by someone with no grant",
            ask("mallory", "cloud-quota", &[("project", "shop")]),
            vec!["⚠️ Unknown project `shop`"],
        ),
        (
            "a deploy without a grant",
            ask("mallory", "cloud-deploy", &[("project", "ecommerce"), ("env", "stage")]),
            vec!["🚫", "you need `deploy` on ecommerce/stage", "/cloud-grant"],
        ),
        (
            "an unknown environment",
            ask("alice", "cloud-deploy", &[("project", "ecommerce"), ("env", "qa")]),
            vec!["⚠️ Invalid environment: `qa` is not configured", "dev, prod, stage"],
        ),
        (
            "a stack name that cannot be one",
            ask(
                "alice",
                "cloud-deploy",
                &[("project", "ecommerce"), ("env", "stage"), ("stacks", "Net_Work!")],
            ),
            vec!["⚠️ Invalid stack", "Net_Work!"],
        ),
        (
            "a stack the deployment does not have",
            ask(
                "alice",
                "cloud-deploy",
                &[("project", "ecommerce"), ("env", "stage"), ("stacks", "warp-drive")],
            ),
            vec!["warp-drive"],
        ),
        (
            "cancelling a session that does not exist",
            ask("alice", "cloud-cancel", &[("session", "ffffffff")]),
            vec!["no session ffffffff"],
        ),
        (
            "the status of a session that does not exist",
            ask("alice", "cloud-status", &[("session", "ffffffff")]),
            vec!["no session ffffffff"],
        ),
        (
            // Issue 16.7: quotas for anyone who can read the project (alice reads stage).
            "quotas for a reader",
            ask("alice", "cloud-quota", &[("project", "ecommerce")]),
            vec!["Quotas of ecommerce:"],
        ),
        (
            "quotas without any grant",
            ask("mallory", "cloud-quota", &[("project", "ecommerce")]),
            vec!["🚫", "you need `read`"],
        ),
        (
            "statistics without admin",
            ask("mallory", "cloud-stats", &[]),
            vec!["🚫", "you need `admin`"],
        ),
    ];
    for (what, request, expected) in &refusals {
        let answers = both.answers(request).await;
        assert_same(what, &answers, expected);
    }
    assert!(
        both.slack
            .app
            .store
            .sessions(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "no refused request opened a session on Slack"
    );
    assert!(
        both.discord
            .core()
            .store()
            .sessions(&Default::default())
            .await
            .unwrap()
            .is_empty(),
        "no refused request opened a session on Discord"
    );

    let answers = both
        .answers(&ask("carol", "cloud-quota", &[("project", "ecommerce")]))
        .await;
    assert_same(
        "an admin's quota show",
        &answers,
        &["Quotas of ecommerce:", "no quotas set"],
    );
    let answers = both.answers(&ask("alice", "cloud-list", &[])).await;
    assert_same(
        "the list before any session",
        &answers,
        &["Latest sessions you can read: none"],
    );

    // alice opens a stage session on each platform and waits for its plan.
    let opened = both
        .answers(&ask(
            "alice",
            "cloud-deploy",
            &[("project", "ecommerce"), ("env", "stage"), ("stacks", "network")],
        ))
        .await;
    let discord_session = both
        .discord
        .core()
        .store()
        .sessions(&Default::default())
        .await
        .unwrap()
        .remove(0);
    let slack_session = both
        .slack
        .app
        .store
        .sessions(&Default::default())
        .await
        .unwrap()
        .remove(0);
    both.placeholders
        .push((discord_session.id.short(), slack_session.id.short(), "<session>"));
    let opened = (both.normalise(&opened.0), both.normalise(&opened.1));
    assert_same(
        "a deploy",
        &opened,
        &["📝 Session `<session>` opened for ecommerce/stage; planning now"],
    );
    let discord_lobby = both.discord.lobby(&discord_session.id.short()).await;
    both.discord.lobby_state(discord_lobby.id, "PLAN_READY").await;
    let slack_lobby = both.slack.lobby_showing("PLAN_READY").await;
    let digest = |store_session: cloud_core::store::SessionRecord| store_session.digest.unwrap().short().to_string();
    let discord_digest = digest(both.discord.core().store().session(discord_session.id).await.unwrap());
    let slack_digest = digest(both.slack.app.store.session(slack_session.id).await.unwrap());
    both.placeholders.push((discord_digest, slack_digest, "<digest>"));

    let (d, s) = (discord_session.id.short(), slack_session.id.short());
    let answers = both.answers(&ask_each("alice", "cloud-status", &d, &s)).await;
    assert_same(
        "the status of a ready session",
        &answers,
        &[
            "Deploy ecommerce/stage (D1BRV40) — 🟢 PLAN_READY",
            "Session `<session>` · requested by @alice",
            "plan `<digest>`",
            "[Approve & Deploy] [Refresh] [Cancel]",
        ],
    );
    let answers = both.answers(&ask("alice", "cloud-list", &[])).await;
    assert_same(
        "the list with the session",
        &answers,
        &[
            "Latest sessions you can read",
            "`<session>` 🟢 PLAN_READY ecommerce/stage deploy by @alice",
        ],
    );

    // alice may approve stage, but not her own plan.
    let answers = both
        .click_answers("alice", discord_lobby.id, &slack_lobby, "approve")
        .await;
    assert_same(
        "approving one's own plan with the button",
        &answers,
        &["🚫 You requested this session", "four-eyes rule"],
    );
    let answers = both.answers(&ask_each("alice", "cloud-approve", &d, &s)).await;
    assert_same(
        "approving one's own plan with /cloud-approve",
        &answers,
        &["four-eyes rule"],
    );
    // Neither approval counted.
    for store_session in [
        both.discord.core().store().session(discord_session.id).await.unwrap(),
        both.slack.app.store.session(slack_session.id).await.unwrap(),
    ] {
        assert_eq!(store_session.state.to_string(), "PLAN_READY");
    }

    // mallory cannot cancel it; alice can.
    let answers = both.answers(&ask_each("mallory", "cloud-cancel", &d, &s)).await;
    assert_same(
        "cancelling someone else's session without a grant",
        &answers,
        &["🚫", "you need `approve` on ecommerce/stage"],
    );
    let answers = both.answers(&ask_each("alice", "cloud-cancel", &d, &s)).await;
    assert_same(
        "cancelling one's own session",
        &answers,
        &["⏹️ Session `<session>` cancelled."],
    );
    both.discord.lobby_state(discord_lobby.id, "CANCELLED").await;
    both.slack.lobby_showing("CANCELLED").await;
    both.finish().await;
}
