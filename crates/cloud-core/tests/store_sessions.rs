//! The store keeps sessions safe under concurrency and across restarts.

use cloud_core::engine::{ResourceStep, StackPreview, StepOp};
use cloud_core::store::{NewAudit, NewSession, SessionUpdate, Store, StoreError, Transition};
use cloud_domain::session::{Operation, Plan, Principal, SessionId, SessionState, StackPlanEntry};

fn plan() -> Plan {
    Plan {
        engine_version: "v3.226.0".into(),
        stacks: vec![StackPlanEntry {
            stack: "network".parse().unwrap(),
            content_hash: "abc".into(),
            preview: StackPreview {
                steps: vec![ResourceStep {
                    urn: "urn:pulumi:D1BRV40-network-dev::ecommerce::aws:ec2/vpc:Vpc::vpc".into(),
                    resource_type: "aws:ec2/vpc:Vpc".into(),
                    name: "vpc".into(),
                    op: StepOp::Create,
                    inputs: None,
                    old_inputs: None,
                }],
                counts: [("create".to_string(), 1)].into_iter().collect(),
                diagnostics: vec![],
                duration_ms: 5,
            },
            provisional: false,
        }],
    }
}

async fn store_in(dir: &std::path::Path) -> Store {
    let store = Store::open_in(dir).await.unwrap();
    store
        .sync_deployment("D1BRV40", "acme-corp", "ecommerce", &["dev".into()], "deploy/x")
        .await
        .unwrap();
    store
}

/// Walks a new session to PLAN_READY the way the orchestrator does.
async fn plan_ready_session(store: &Store, required: u32) -> SessionId {
    let id = SessionId::new();
    store
        .create_session(NewSession {
            id,
            project: "ecommerce".into(),
            env: "dev".into(),
            deployment_id: "D1BRV40".parse().unwrap(),
            requester: Principal::cli("alice"),
            operation: Operation::Deploy,
            stacks: vec![("network".parse().unwrap(), 0)],
            approvals_required: required,
            allow_self_approve: false,
            follow_up_of: None,
        })
        .await
        .unwrap();
    for (from, to, update) in [
        (SessionState::Draft, SessionState::Planning, SessionUpdate::default()),
        (
            SessionState::Planning,
            SessionState::PlanReady,
            SessionUpdate {
                plan: Some(plan()),
                reason: None,
            },
        ),
    ] {
        store
            .transition(Transition {
                id,
                from,
                to,
                actor: "cli:alice".into(),
                details: serde_json::json!({}),
                update,
            })
            .await
            .unwrap();
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_approvals_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let id = plan_ready_session(&store, 1).await;
    let digest = plan().digest();
    let audit_before = store.audit_entries(Some(id)).await.unwrap().len();

    let mut tasks = Vec::new();
    for n in 0..100 {
        let store = store.clone();
        let digest = digest.0.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_approval(id, &Principal::cli(format!("approver{n}")), &digest, None)
                .await
        }));
    }
    let mut won = 0;
    let mut lost = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(session) => {
                assert_eq!(session.state, SessionState::Approved);
                won += 1;
            }
            Err(StoreError::StateChanged { expected, actual, .. }) => {
                assert_eq!((expected, actual), (SessionState::PlanReady, SessionState::Approved));
                lost += 1;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!((won, lost), (1, 99));
    let audit = store.audit_entries(Some(id)).await.unwrap();
    assert_eq!(audit.len() - audit_before, 1, "exactly one audit row for the approval");
    assert_eq!(store.approvals(id).await.unwrap().len(), 1);
    assert!(store.audit_verify().await.unwrap().first_bad.is_none());
}

#[tokio::test]
async fn the_state_changed_error_tells_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let id = plan_ready_session(&store, 1).await;
    let err = store
        .transition(Transition {
            id,
            from: SessionState::Planning,
            to: SessionState::PlanFailed,
            actor: "cli:bob".into(),
            details: serde_json::json!({}),
            update: Default::default(),
        })
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("it is now PLAN_READY (expected PLANNING)"), "{text}");
    assert!(
        text.contains(&format!("cloud status {}", &id.to_string()[..8])),
        "{text}"
    );
}

#[tokio::test]
async fn two_approvals_are_needed_when_required_and_the_same_person_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let id = plan_ready_session(&store, 2).await;
    let digest = plan().digest();
    let s = store
        .record_approval(id, &Principal::cli("bob"), digest.short(), None)
        .await
        .unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    let again = store
        .record_approval(id, &Principal::cli("bob"), digest.short(), None)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already approved"), "{again}");
    let s = store
        .record_approval(id, &Principal::cli("carol"), digest.short(), None)
        .await
        .unwrap();
    assert_eq!(s.state, SessionState::Approved);
}

#[tokio::test]
async fn an_approval_for_another_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let id = plan_ready_session(&store, 1).await;
    let err = store
        .record_approval(id, &Principal::cli("bob"), "0123456789abcdef", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the plan is now"), "{err}");
    assert_eq!(store.session(id).await.unwrap().state, SessionState::PlanReady);
    assert!(store.approvals(id).await.unwrap().is_empty());
}

#[tokio::test]
async fn sessions_survive_a_restart_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (id, before, stacks_before) = {
        let store = store_in(dir.path()).await;
        let id = plan_ready_session(&store, 2).await;
        store
            .record_approval(id, &Principal::cli("bob"), &plan().digest().0, None)
            .await
            .unwrap();
        let before = store.session(id).await.unwrap();
        let stacks = store.session_stacks(id).await.unwrap();
        store.close().await;
        (id, before, stacks)
    };
    let store = Store::open_in(dir.path()).await.unwrap();
    assert_eq!(store.session(id).await.unwrap(), before);
    assert_eq!(store.session_stacks(id).await.unwrap(), stacks_before);
    assert_eq!(store.approvals(id).await.unwrap().len(), 1);
    assert_eq!(before.plan.unwrap(), plan());
}

#[tokio::test]
async fn audit_verify_names_the_first_altered_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let _ = plan_ready_session(&store, 1).await;
    for n in 0..3 {
        store
            .audit(NewAudit {
                actor: "cli:admin".into(),
                action: "quota.set".into(),
                session_id: None,
                project: Some("ecommerce".into()),
                details: serde_json::json!({"n": n}),
            })
            .await
            .unwrap();
    }
    let ok = store.audit_verify().await.unwrap();
    assert!(ok.first_bad.is_none());
    let rows = ok.rows;
    assert!(rows >= 6);

    sqlx::query("UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 4")
        .execute(store.pool())
        .await
        .unwrap();
    let bad = store.audit_verify().await.unwrap().first_bad.unwrap();
    assert_eq!(bad.seq, 4);
    assert!(bad.reason.contains("altered"), "{}", bad.reason);
}

#[tokio::test]
async fn migrations_apply_to_a_non_empty_database_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let id = plan_ready_session(&store, 1).await;
    store.close().await;
    // A second start-up re-runs the migrator against the populated database.
    let store = Store::open_in(dir.path()).await.unwrap();
    assert_eq!(store.session(id).await.unwrap().state, SessionState::PlanReady);
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn many_openers_of_a_fresh_database_all_get_it_migrated() {
    // The bot and a `cloud status` started at the same moment on a new data dir: both open the
    // empty database and both want to run migration 1; neither may fail with "already exists".
    let dir = tempfile::tempdir().unwrap();
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let path = dir.path().to_path_buf();
            tokio::spawn(async move { Store::open_in(&path).await.map(|_| ()) })
        })
        .collect();
    for opener in openers {
        opener.await.unwrap().expect("every opener gets a migrated database");
    }
}
