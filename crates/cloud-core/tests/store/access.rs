//! Grants, quotas, projects and chat lobbies, as stored.

use crate::{new_session, store_in};
use cloud_core::policy::Role;
use cloud_core::store::{ChatLobbyRow, NewGrant, StoreError};
use cloud_domain::session::{Platform, Principal};
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(
    grants_are_listed_filtered_revoked_and_expire_once,
    quota_changes_are_audited_with_the_previous_limit,
    projects_keep_their_environments_and_manifests_sync_idempotently,
    a_lobby_is_saved_moved_and_given_its_thread,
);

fn grant(user: &str, project: &str, role: Role, expires_at: Option<chrono::DateTime<chrono::Utc>>) -> NewGrant {
    NewGrant {
        principal: Principal::cli(user),
        project: project.into(),
        env: "*".into(),
        role,
        expires_at,
        reason: "on call".into(),
        granted_by: "cli:admin".into(),
    }
}

async fn grants_are_listed_filtered_revoked_and_expire_once(db: TestDatabase) {
    let store = store_in(&db).await;
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let bob = store
        .create_grant(grant("bob", "ecommerce", Role::Approve, Some(now + hour)))
        .await
        .unwrap();
    let carol = store
        .create_grant(grant("carol", "ecommerce", Role::Deploy, Some(now - hour)))
        .await
        .unwrap();
    let dave = store
        .create_grant(grant("dave", "payments", Role::Admin, None))
        .await
        .unwrap();
    assert_eq!(
        (bob.role, bob.principal.to_string()),
        (Role::Approve, "cli:bob".to_string())
    );
    assert!(bob.is_active(now) && !carol.is_active(now) && dave.is_active(now));
    assert_eq!(backend!(store, s => s.grant(&bob.id).await).unwrap(), bob);

    let ids = |list: Vec<cloud_core::store::GrantRow>| list.into_iter().map(|g| g.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.grants(None, None, false).await.unwrap()),
        [bob.id.as_str(), carol.id.as_str(), dave.id.as_str()]
    );
    assert_eq!(
        ids(store.grants(None, Some("ecommerce"), false).await.unwrap()),
        [bob.id.as_str(), carol.id.as_str()]
    );
    assert_eq!(
        ids(store.grants(Some(&Principal::cli("dave")), None, false).await.unwrap()),
        [dave.id.as_str()]
    );

    let revoked = backend!(store, s => s.revoke_grant(&bob.id, "cli:admin", "left the team").await).unwrap();
    assert!(revoked.revoked_at.is_some());
    let again = backend!(store, s => s.revoke_grant(&bob.id, "cli:admin", "twice").await).unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again}");
    assert_eq!(
        ids(store.grants(None, Some("ecommerce"), false).await.unwrap()),
        [carol.id.as_str()]
    );
    assert_eq!(
        ids(store.grants(None, Some("ecommerce"), true).await.unwrap()),
        [bob.id.as_str(), carol.id.as_str()]
    );

    // Expiry is recorded once, for the expired and unrevoked grant only.
    assert_eq!(
        backend!(store, s => s.record_grant_expiries(now).await).unwrap(),
        [carol.id.as_str()]
    );
    assert!(backend!(store, s => s.record_grant_expiries(now).await)
        .unwrap()
        .is_empty());
    let actions: Vec<String> = store
        .audit_entries(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("grant."))
        .collect();
    assert_eq!(
        actions,
        [
            "grant.created",
            "grant.created",
            "grant.created",
            "grant.revoked",
            "grant.expired"
        ]
    );
    let missing = backend!(store, s => s.grant("nope").await).unwrap_err();
    assert!(missing.to_string().contains("no grant `nope`"), "{missing}");
}

async fn quota_changes_are_audited_with_the_previous_limit(db: TestDatabase) {
    let store = store_in(&db).await;
    backend!(store, s => s.set_quota("ecommerce", "max_monthly_cost", 500.0, "cli:admin").await).unwrap();
    backend!(store, s => s.set_quota("ecommerce", "aws:rds/instance:Instance", 2.0, "cli:admin").await).unwrap();
    backend!(store, s => s.set_quota("ecommerce", "max_monthly_cost", 750.5, "cli:admin").await).unwrap();
    let quotas = store.quotas("ecommerce").await.unwrap();
    assert_eq!(
        quotas.iter().map(|q| (q.key.as_str(), q.limit)).collect::<Vec<_>>(),
        [("aws:rds/instance:Instance", 2.0), ("max_monthly_cost", 750.5)]
    );
    let last = store.audit_entries(None).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "quota.set");
    assert_eq!(
        last.details,
        serde_json::json!({"key": "max_monthly_cost", "limit": 750.5, "previous": 500.0})
    );
    assert!(store.quotas("payments").await.unwrap().is_empty());
}

async fn projects_keep_their_environments_and_manifests_sync_idempotently(db: TestDatabase) {
    let store = store_in(&db).await;
    let envs = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let created = store
        .create_project(
            "payments",
            "acme-corp",
            "aws",
            &envs(&["qa", "prod", "dev", "stage"]),
            "cli:admin",
        )
        .await
        .unwrap();
    assert_eq!(created.environments, ["dev", "stage", "prod", "qa"]);
    let twice = store
        .create_project("payments", "acme-corp", "aws", &[], "cli:admin")
        .await
        .unwrap_err();
    assert!(twice.to_string().contains("already exists"), "{twice}");
    // The manifest names a new environment of an existing project: added, nothing duplicated.
    for _ in 0..2 {
        store
            .sync_deployment(
                "D2PAY00",
                "acme-corp",
                "payments",
                "aws",
                &envs(&["dev", "perf"]),
                "deploy/y",
            )
            .await
            .unwrap();
    }
    let payments = backend!(store, s => s.project("payments").await).unwrap().unwrap();
    assert_eq!(payments.environments, ["dev", "stage", "prod", "perf", "qa"]);
    assert_eq!(
        (payments.org.as_str(), payments.created_by.as_str()),
        ("acme-corp", "cli:admin")
    );
    let ecommerce = backend!(store, s => s.project("ecommerce").await).unwrap().unwrap();
    assert_eq!(
        (ecommerce.created_by.as_str(), ecommerce.environments.clone()),
        ("system:manifest", envs(&["dev", "prod"]))
    );
    assert_eq!(
        store
            .projects()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>(),
        ["ecommerce", "payments"]
    );
    assert_eq!(backend!(store, s => s.project("nope").await).unwrap(), None);
}

async fn a_lobby_is_saved_moved_and_given_its_thread(db: TestDatabase) {
    let store = store_in(&db).await;
    let session = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let mut lobby = ChatLobbyRow {
        session_id: session.id,
        platform: Platform::Discord,
        channel_id: "100".into(),
        message_id: "200".into(),
        thread_id: None,
    };
    store.save_lobby(&lobby).await.unwrap();
    assert_eq!(
        store.lobby(session.id, Platform::Discord).await.unwrap(),
        Some(lobby.clone())
    );
    assert_eq!(store.lobby(session.id, Platform::Slack).await.unwrap(), None);
    store
        .set_lobby_thread(session.id, Platform::Discord, "300")
        .await
        .unwrap();
    lobby.thread_id = Some("300".into());
    assert_eq!(
        store.lobby(session.id, Platform::Discord).await.unwrap(),
        Some(lobby.clone())
    );
    // Re-posting the lobby moves it.
    lobby.message_id = "201".into();
    lobby.thread_id = None;
    store.save_lobby(&lobby).await.unwrap();
    assert_eq!(store.lobby(session.id, Platform::Discord).await.unwrap(), Some(lobby));
}
