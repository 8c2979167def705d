//! Deployments chosen exactly, in chat: the project option offers each deployment as
//! `D1BRV40 ecommerce (dev, stage, prod)` and takes its id; a project name that matches several
//! deployments is refused with their ids instead of one being picked.

#[path = "support/discord.rs"]
mod support;

use cloud_core::policy::Role;
use serde_json::json;
use support::{DiscordTester, WAIT};

/// A second deployment of the sample project, `D2SHOP0`, enabled in dev only.
fn add_second_deployment(t: &DiscordTester) {
    let sample = t.workspace.path("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml");
    let text = std::fs::read_to_string(sample).unwrap();
    let text = text
        .replace("deployment_id: D1BRV40", "deployment_id: D2SHOP0")
        .replace("  stage:\n    enabled: true", "  stage:\n    enabled: false")
        .replace("  prod:\n    enabled: true", "  prod:\n    enabled: false");
    let dir = t.workspace.path("deploy/D2SHOP0-acme-corp-ecommerce");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.yaml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_project_option_offers_deployments_by_id_and_a_shared_project_name_is_refused() {
    let mut t = DiscordTester::new().await;
    add_second_deployment(&t);
    t.start_bot().await;
    let alice = t.user("alice");
    t.grant(&alice, "ecommerce", "dev", Role::Deploy, None).await;

    // alice types "ecom" into /cloud-deploy's project option.
    let ac = t.fake.autocomplete(
        &alice,
        t.channel,
        "cloud-deploy",
        &[("project", json!("ecom"))],
        "project",
    );
    let choices = t
        .fake
        .wait_for(WAIT, |s| s.interactions.get(&ac.id).and_then(|i| i.choices.clone()))
        .await
        .unwrap_or_else(|| panic!("no autocomplete answer\n{}", t.transcript()));
    assert_eq!(
        choices,
        json!([
            {"name": "D1BRV40 ecommerce (dev, stage, prod)", "value": "D1BRV40"},
            {"name": "D2SHOP0 ecommerce (dev)", "value": "D2SHOP0"},
        ])
    );

    // Picking the second one deploys exactly it.
    let ask = t.slash(
        &alice,
        "cloud-deploy",
        &[("project", "D2SHOP0"), ("env", "dev"), ("stacks", "network")],
    );
    let reply = t.reply_to(&ask).await;
    assert!(reply.content.contains("opened for ecommerce/dev"), "{}", reply.content);
    let short = DiscordTester::short_id(&reply);
    let session = t.core().store().find_session(&short).await.unwrap();
    assert_eq!(session.deployment_id.as_str(), "D2SHOP0");
    let lobby = t.lobby(&short).await;
    t.lobby_state(lobby.id, "PLAN_READY").await;

    // The project name alone is ambiguous now: refused, naming both ids.
    let ask = t.slash(
        &alice,
        "cloud-deploy",
        &[("project", "ecommerce"), ("env", "dev"), ("stacks", "network")],
    );
    let reply = t.reply_to(&ask).await;
    assert!(reply.is_ephemeral());
    for words in ["2 deployments", "D1BRV40", "D2SHOP0", "name one by its id"] {
        assert!(reply.content.contains(words), "`{words}` missing: {}", reply.content);
    }
    t.finish().await;
}
