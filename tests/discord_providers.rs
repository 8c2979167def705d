//! Providers in Discord (issue 18.4): `/cloud-create-project` takes a `provider` (autocompleted
//! with every provider), `/cloud-deploy` takes one autocompleted with what the project supports,
//! and a deploy naming another provider is refused before any session opens.

#[path = "support/discord.rs"]
mod support;

use cloud_core::policy::Role;
use serde_json::json;
use support::{DiscordTester, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_get_a_provider_and_deploys_are_held_to_it() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let root = t.moderator("root");
    t.grant(&root, "*", "*", Role::Admin, None).await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Deploy, None).await;

    // Creating a project offers every provider.
    let ac = t.fake.autocomplete(
        &root,
        t.channel,
        "cloud-create-project",
        &[("name", json!("shop")), ("org", json!("acme")), ("provider", json!(""))],
        "provider",
    );
    let choices = t
        .fake
        .wait_for(WAIT, |s| s.interactions.get(&ac.id).and_then(|i| i.choices.clone()))
        .await
        .unwrap_or_else(|| panic!("no autocomplete answer\n{}", t.transcript()));
    assert_eq!(
        choices,
        json!([{"name": "aws", "value": "aws"}, {"name": "gcp", "value": "gcp"}])
    );
    let ask = t.slash(
        &root,
        "cloud-create-project",
        &[("name", "shop"), ("org", "acme"), ("provider", "gcp")],
    );
    let reply = t.reply_to(&ask).await;
    assert!(
        reply.content.contains("Project **shop** (org acme, gcp) created"),
        "{}",
        reply.content
    );
    let shop = t.core().store().project("shop").await.unwrap().unwrap();
    assert_eq!(shop.provider, "gcp");

    // An unknown provider is refused, and nothing is created.
    let ask = t.slash(
        &root,
        "cloud-create-project",
        &[("name", "cafe"), ("org", "acme"), ("provider", "azure")],
    );
    let reply = t.reply_to(&ask).await;
    assert!(reply.is_ephemeral());
    assert!(
        reply.content.contains("unknown provider `azure`: use one of aws, gcp"),
        "{}",
        reply.content
    );
    assert!(t.core().store().project("cafe").await.unwrap().is_none());

    // Deploying offers what the project supports: its own provider.
    let ac = t.fake.autocomplete(
        &alice,
        t.channel,
        "cloud-deploy",
        &[
            ("project", json!("D1BRV40")),
            ("env", json!("dev")),
            ("provider", json!("")),
        ],
        "provider",
    );
    let choices = t
        .fake
        .wait_for(WAIT, |s| s.interactions.get(&ac.id).and_then(|i| i.choices.clone()))
        .await
        .unwrap_or_else(|| panic!("no autocomplete answer\n{}", t.transcript()));
    assert_eq!(choices, json!([{"name": "aws", "value": "aws"}]));

    // Another provider is refused before a session opens.
    let ask = t.slash(
        &alice,
        "cloud-deploy",
        &[
            ("project", "ecommerce"),
            ("env", "dev"),
            ("stacks", "network"),
            ("provider", "gcp"),
        ],
    );
    let reply = t.reply_to(&ask).await;
    assert!(reply.is_ephemeral());
    assert!(
        reply.content.contains("project `ecommerce` deploys to aws, not gcp"),
        "{}",
        reply.content
    );
    assert!(t.core().store().sessions(&Default::default()).await.unwrap().is_empty());

    // Its own provider deploys.
    let ask = t.slash(
        &alice,
        "cloud-deploy",
        &[
            ("project", "ecommerce"),
            ("env", "dev"),
            ("stacks", "network"),
            ("provider", "aws"),
        ],
    );
    let reply = t.reply_to(&ask).await;
    assert!(reply.content.contains("opened for ecommerce/dev"), "{}", reply.content);
    let short = DiscordTester::short_id(&reply);
    let lobby = t.lobby(&short).await;
    t.lobby_state(lobby.id, "PLAN_READY").await;
    t.finish().await;
}
