//! Admin work in chat (issue 16): `/cloud-grants` lists the active grants with their ids, and
//! `/cloud-override` approves a plan over quota with an audited reason. Discord offers both only
//! to members with Manage Server; the bot still checks the cloud grants, and a non-admin learns
//! nothing about grants. A project that does not exist is "unknown project" whoever asks.

#[path = "support/discord.rs"]
mod discord;

use cloud_core::policy::Role;
use discord::DiscordTester;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_list_grants_with_ids_and_nobody_else_learns_anything() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let carol = t.moderator("carol");
    let mallory = t.moderator("mallory");
    let member = t.user("member");
    let alice = t.user("alice");
    t.grant(&carol, "*", "*", Role::Admin, None).await;
    t.grant(&alice, "ecommerce", "stage", Role::Deploy, None).await;
    let grant_of_alice = t
        .core()
        .store()
        .grants(Some(&DiscordTester::principal(&alice)), None, false)
        .await
        .unwrap()[0]
        .id
        .clone();

    // A plain member is not offered the command at all.
    assert!(t.try_slash(&member, "cloud-grants", &[]).is_err());

    // carol sees every grant with its id, and one project's.
    let ask = t.slash(&carol, "cloud-grants", &[]);
    let all = t.reply_to(&ask).await;
    assert!(all.is_ephemeral());
    assert!(
        all.content.contains(&grant_of_alice) && all.content.contains(&format!("<@{}>", alice.id)),
        "{}",
        all.content
    );
    let ask = t.slash(&carol, "cloud-grants", &[("project", "ecommerce")]);
    let one = t.reply_to(&ask).await;
    assert!(one.content.contains(&grant_of_alice), "{}", one.content);

    // mallory (Manage Server, no cloud grant) is refused the same way with or without a project
    // that has grants, and is told nothing about them.
    let mut refusals = Vec::new();
    for project in [None, Some("ecommerce")] {
        let options: Vec<(&str, &str)> = project.map(|p| ("project", p)).into_iter().collect();
        let ask = t.slash(&mallory, "cloud-grants", &options);
        let reply = t.reply_to(&ask).await;
        assert!(
            reply.is_ephemeral() && reply.content.starts_with("🚫"),
            "{}",
            reply.content
        );
        assert!(!reply.content.contains(&grant_of_alice), "{}", reply.content);
        assert!(!reply.content.contains(&alice.id.to_string()), "{}", reply.content);
        refusals.push(reply.content.clone());
    }

    // An unknown project: the same answer for the admin and for mallory.
    let mut unknown = Vec::new();
    for who in [&carol, &mallory] {
        let ask = t.slash(who, "cloud-grants", &[("project", "shop")]);
        let reply = t.reply_to(&ask).await;
        unknown.push(reply.content.clone());
    }
    assert!(unknown[0].contains("Unknown project `shop`"), "{}", unknown[0]);
    assert_eq!(unknown[0], unknown[1]);
    t.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_approves_an_over_quota_plan_in_chat_with_an_audited_reason() {
    let mut t = DiscordTester::new().await;
    t.start_bot().await;
    let carol = t.moderator("carol");
    let bob = t.moderator("bob");
    let alice = t.user("alice");
    t.grant(&carol, "*", "*", Role::Admin, None).await;
    t.grant(&bob, "ecommerce", "stage", Role::Approve, None).await;
    t.grant(&alice, "ecommerce", "stage", Role::Deploy, None).await;
    // No NAT gateway allowed: the network stack's plan is over quota.
    t.core()
        .orchestrator()
        .quota_set(DiscordTester::principal(&carol), "ecommerce", "nat", 0.0)
        .await
        .unwrap();

    let (short, lobby) = t.deploy_to_plan_ready(&alice, "stage", "network").await;

    // bob may approve, but not over quota, and not override it.
    let ask = t.slash(&bob, "cloud-approve", &[("session", &short)]);
    let reply = t.reply_to(&ask).await;
    assert!(reply.content.contains("over the quota"), "{}", reply.content);
    let ask = t.slash(&bob, "cloud-override", &[("session", &short), ("reason", "please")]);
    let reply = t.reply_to(&ask).await;
    assert!(
        reply.is_ephemeral() && reply.content.contains("you need `admin` on ecommerce/stage"),
        "{}",
        reply.content
    );

    // carol overrides with a reason: approved, applied, audited.
    let ask = t.slash(
        &carol,
        "cloud-override",
        &[("session", &short), ("reason", "NAT needed for the launch")],
    );
    let reply = t.reply_to(&ask).await;
    assert!(
        reply.is_ephemeral() && reply.content.contains("Approved"),
        "{}",
        reply.content
    );
    t.lobby_state(lobby.id, "APPLIED").await;
    let session = t.core().store().find_session(&short).await.unwrap();
    let audit = t.core().store().audit_entries(Some(session.id)).await.unwrap();
    let row = audit
        .iter()
        .find(|r| r.action == "session.approve_override")
        .unwrap_or_else(|| panic!("an override row in {audit:?}"));
    assert_eq!(row.details["override_reason"], "NAT needed for the launch");
    assert_eq!(row.actor, DiscordTester::principal(&carol).to_string());
    t.finish().await;
}
