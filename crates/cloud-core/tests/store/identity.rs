//! API tokens and people, as stored: a token is found by the hash of its secret only, revoked
//! once, audited without its secret; linked identities are one person.

use crate::store_in;
use cloud_core::policy::Role;
use cloud_core::store::NewToken;
use cloud_domain::session::Principal;
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(
    a_token_is_found_by_its_hash_and_revoked_once,
    linked_identities_are_one_person,
);

async fn a_token_is_found_by_its_hash_and_revoked_once(db: TestDatabase) {
    let store = store_in(&db).await;
    let secret = "cet_0123";
    let hash = cloud_store::identity::token_hash(secret);
    let row = store
        .create_token(NewToken {
            principal: Principal::cli("alice"),
            token_hash: hash.clone(),
            role: Role::Approve,
            projects: Some(vec!["ecommerce".into()]),
            label: "laptop".into(),
            created_by: "cli:root".into(),
            expires_at: chrono::Utc::now() + chrono::Duration::days(1),
        })
        .await
        .unwrap();
    let found = store.token_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(found, row);
    assert_eq!(found.projects, Some(vec!["ecommerce".to_string()]));
    assert!(
        store.token_by_hash(secret).await.unwrap().is_none(),
        "never by the secret itself"
    );
    assert_eq!(store.tokens(Some(&Principal::cli("bob")), false).await.unwrap(), vec![]);

    let revoked = store.revoke_token(&row.id, "cli:root", "lost").await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(store.revoke_token(&row.id, "cli:root", "again").await.is_err());
    assert_eq!(store.tokens(None, false).await.unwrap(), vec![]);
    assert_eq!(store.tokens(None, true).await.unwrap().len(), 1);
    let audit = serde_json::to_string(&store.audit_entries(None).await.unwrap()).unwrap();
    assert!(audit.contains("token.created") && audit.contains("token.revoked"));
    assert!(!audit.contains(&hash), "not even the hash reaches the audit log");
}

async fn linked_identities_are_one_person(db: TestDatabase) {
    let store = store_in(&db).await;
    let cli = Principal::cli("alice");
    let discord: Principal = "discord:80351110224678912".parse().unwrap();
    let slack: Principal = "slack:U024BE7LH".parse().unwrap();
    assert!(!store.same_person(&cli, &discord).await.unwrap());
    store
        .link_person("alice", &[cli.clone(), discord.clone()], "cli:root")
        .await
        .unwrap();
    assert!(store.same_person(&cli, &discord).await.unwrap());
    assert!(!store.same_person(&cli, &slack).await.unwrap());
    // Moving an identity to another person.
    store
        .link_person("bob", std::slice::from_ref(&discord), "cli:root")
        .await
        .unwrap();
    assert!(!store.same_person(&cli, &discord).await.unwrap());
    assert_eq!(store.person_of(&discord).await.unwrap().as_deref(), Some("bob"));
}
