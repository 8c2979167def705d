//! The store keeps sessions safe under concurrency and across restarts.

use crate::{new_session, plan, plan_ready_session, store_in, walk};
use cloud_core::engine::Progress;
use cloud_core::orchestrator::SessionEventKind;
use cloud_core::store::{NewAudit, SessionFilter, Store, StoreError, Transition};
use cloud_domain::session::{Principal, SessionState, StackName, StackState};
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(
    a_hundred_concurrent_approvals_have_exactly_one_winner,
    the_state_changed_error_tells_what_happened,
    two_approvals_are_needed_when_required_and_the_same_person_counts_once,
    an_approval_for_another_digest_is_refused,
    sessions_survive_a_restart_unchanged,
    audit_verify_names_the_first_altered_row,
    migrations_apply_to_a_non_empty_database_and_are_idempotent,
    many_openers_of_a_fresh_database_all_get_it_migrated,
    fifty_concurrent_audit_appends_make_one_unbroken_chain,
    a_terminal_move_records_its_reason_and_end_and_frees_the_stacks,
    a_refresh_with_another_plan_clears_the_approvals_and_the_same_plan_keeps_them,
    sessions_list_newest_first_and_filter_by_state_project_env_and_activity,
    a_page_of_summaries_leaves_the_plans_in_the_store,
    a_session_is_found_by_a_unique_prefix_of_its_id,
    stack_states_counts_and_logs_are_kept_in_order,
);

async fn a_hundred_concurrent_approvals_have_exactly_one_winner(db: TestDatabase) {
    let store = store_in(&db).await;
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

async fn the_state_changed_error_tells_what_happened(db: TestDatabase) {
    let store = store_in(&db).await;
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

async fn two_approvals_are_needed_when_required_and_the_same_person_counts_once(db: TestDatabase) {
    let store = store_in(&db).await;
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

async fn an_approval_for_another_digest_is_refused(db: TestDatabase) {
    let store = store_in(&db).await;
    let id = plan_ready_session(&store, 1).await;
    let err = store
        .record_approval(id, &Principal::cli("bob"), "0123456789abcdef", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the plan is now"), "{err}");
    assert_eq!(store.session(id).await.unwrap().state, SessionState::PlanReady);
    assert!(store.approvals(id).await.unwrap().is_empty());
}

async fn sessions_survive_a_restart_unchanged(db: TestDatabase) {
    let (id, before, stacks_before) = {
        let store = store_in(&db).await;
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
    let store = db.open().await;
    assert_eq!(store.session(id).await.unwrap(), before);
    assert_eq!(store.session_stacks(id).await.unwrap(), stacks_before);
    assert_eq!(store.approvals(id).await.unwrap().len(), 1);
    assert_eq!(before.plan.unwrap(), plan());
}

async fn audit_verify_names_the_first_altered_row(db: TestDatabase) {
    let store = store_in(&db).await;
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

    db.execute("UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 4")
        .await
        .unwrap();
    let bad = store.audit_verify().await.unwrap().first_bad.unwrap();
    assert_eq!(bad.seq, 4);
    assert!(bad.reason.contains("altered"), "{}", bad.reason);
}

async fn migrations_apply_to_a_non_empty_database_and_are_idempotent(db: TestDatabase) {
    let store = store_in(&db).await;
    let id = plan_ready_session(&store, 1).await;
    store.close().await;
    // A second start-up re-runs the migrator against the populated database.
    let store = db.open().await;
    assert_eq!(store.session(id).await.unwrap().state, SessionState::PlanReady);
    let unknown = new_session("dev", &["network"], 1);
    let mut orphan = unknown.clone();
    orphan.deployment_id = "DNOPE00".parse().unwrap();
    let err = store.create_session(orphan).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Db(_)),
        "a session of an unknown deployment is refused: {err}"
    );
    // (The step-by-step migration of old data is `migrations::*`; SQLite's WAL and foreign-key
    // settings are `schema::sqlite_runs_in_wal_mode_with_foreign_keys_on`.)
}

async fn many_openers_of_a_fresh_database_all_get_it_migrated(db: TestDatabase) {
    // The bot and a `cloud status` started at the same moment on a new database: both find it
    // empty and both want to run migration 1; neither may fail with "already exists".
    let url = db.url.clone();
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::open(&url).await.map(|_| ()) })
        })
        .collect();
    for opener in openers {
        opener.await.unwrap().expect("every opener gets a migrated database");
    }
}

async fn fifty_concurrent_audit_appends_make_one_unbroken_chain(db: TestDatabase) {
    // Each append reads the chain head and writes the next row: without the store-wide write
    // lock two writers would read the same head (a duplicate seq, or a fork).
    let store = db.open().await;
    let tasks: Vec<_> = (0..50)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .audit(NewAudit {
                        actor: format!("cli:user{n}"),
                        action: "test.append".into(),
                        session_id: None,
                        project: None,
                        details: serde_json::json!({"n": n}),
                    })
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().expect("every append succeeds"));
    }
    seqs.sort();
    assert_eq!(seqs, (1..=50).collect::<Vec<i64>>());
    let verify = store.audit_verify().await.unwrap();
    assert_eq!((verify.rows, verify.first_bad), (50, None));
}

async fn a_terminal_move_records_its_reason_and_end_and_frees_the_stacks(db: TestDatabase) {
    use SessionState::*;
    let store = store_in(&db).await;
    let session = store
        .create_session(new_session("dev", &["network", "security"], 1))
        .await
        .unwrap();
    let id = session.id;
    assert!(matches!(
        store.acquire_locks(id, false).await.unwrap(),
        cloud_core::store::LockOutcome::Granted
    ));
    walk(&store, id, &[Draft, Planning]).await;
    let running = store.session(id).await.unwrap();
    assert_eq!(running.owner.as_ref().map(|o| o.pid), Some(std::process::id()));
    assert_eq!((running.finished_at, running.reason.clone()), (None, None));
    let failed = store
        .transition(Transition {
            id,
            from: Planning,
            to: Cancelled,
            actor: "cli:bob".into(),
            details: serde_json::json!({"why": "test"}),
            update: cloud_core::store::SessionUpdate {
                plan: None,
                reason: Some("bob cancelled it".into()),
            },
        })
        .await
        .unwrap();
    assert_eq!(failed.state, Cancelled);
    assert_eq!(failed.reason.as_deref(), Some("bob cancelled it"));
    assert!(failed.finished_at.is_some_and(|t| t >= failed.created_at));
    assert_eq!(
        failed.owner, running.owner,
        "the owner stays recorded after the session ends"
    );
    assert!(
        store.session_locks(id).await.unwrap().is_empty(),
        "a terminal session holds no lock"
    );
    let last = store.audit_entries(Some(id)).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.action.as_str()),
        ("cli:bob", "session.transition")
    );
    assert_eq!(
        last.details,
        serde_json::json!({"from": "PLANNING", "to": "CANCELLED", "why": "test", "reason": "bob cancelled it"})
    );
    let err = store
        .transition(Transition {
            id,
            from: Cancelled,
            to: Planning,
            actor: "cli:bob".into(),
            details: serde_json::json!({}),
            update: Default::default(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Transition(_)), "{err}");
}

async fn a_refresh_with_another_plan_clears_the_approvals_and_the_same_plan_keeps_them(db: TestDatabase) {
    use SessionState::*;
    let store = store_in(&db).await;
    let id = plan_ready_session(&store, 2).await;
    store
        .record_approval(id, &Principal::cli("bob"), &plan().digest().0, None)
        .await
        .unwrap();
    // A refresh to the same plan keeps bob's approval.
    walk(&store, id, &[PlanReady, Planning, PlanReady]).await;
    assert_eq!(store.approvals(id).await.unwrap().len(), 1);
    // A refresh to a different plan clears it.
    let mut other = plan();
    other.stacks[0].content_hash = "changed".into();
    walk(&store, id, &[PlanReady, Planning]).await;
    let refreshed = store
        .transition(Transition {
            id,
            from: Planning,
            to: PlanReady,
            actor: "cli:alice".into(),
            details: serde_json::json!({}),
            update: cloud_core::store::SessionUpdate {
                plan: Some(other.clone()),
                reason: None,
            },
        })
        .await
        .unwrap();
    assert_eq!(refreshed.digest, Some(other.digest()));
    assert_eq!(refreshed.plan, Some(other));
    assert!(refreshed.plan_ready_at.is_some());
    assert!(store.approvals(id).await.unwrap().is_empty());
}

async fn sessions_list_newest_first_and_filter_by_state_project_env_and_activity(db: TestDatabase) {
    use SessionState::*;
    let store = store_in(&db).await;
    let first = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let second = store.create_session(new_session("prod", &["dns"], 2)).await.unwrap();
    let third = store.create_session(new_session("dev", &["storage"], 1)).await.unwrap();
    walk(&store, second.id, &[Draft, Cancelled]).await;

    let ids = |list: Vec<cloud_core::store::SessionRecord>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let all = store.sessions(&SessionFilter::default()).await.unwrap();
    assert_eq!(ids(all), [third.id, second.id, first.id]);
    let dev = SessionFilter {
        env: Some("dev".into()),
        ..Default::default()
    };
    assert_eq!(ids(store.sessions(&dev).await.unwrap()), [third.id, first.id]);
    let cancelled = SessionFilter {
        state: Some(Cancelled),
        project: Some("ecommerce".into()),
        ..Default::default()
    };
    assert_eq!(ids(store.sessions(&cancelled).await.unwrap()), [second.id]);
    let active = SessionFilter {
        active: true,
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(store.sessions(&active).await.unwrap()), [third.id]);
    let elsewhere = SessionFilter {
        project: Some("payments".into()),
        ..Default::default()
    };
    assert!(store.sessions(&elsewhere).await.unwrap().is_empty());
    let counts = store.session_counts().await.unwrap();
    assert_eq!(counts.into_iter().collect::<Vec<_>>(), [(Draft, 2), (Cancelled, 1)]);
}

async fn a_page_of_summaries_leaves_the_plans_in_the_store(db: TestDatabase) {
    let store = store_in(&db).await;
    let id = plan_ready_session(&store, 1).await;
    let summaries = SessionFilter {
        without_plans: true,
        ..Default::default()
    };
    let page = store.sessions(&summaries).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(
        (page[0].id, page[0].plan.as_ref()),
        (id, None),
        "a summary decodes no plan"
    );
    assert_eq!(
        page[0].digest,
        Some(plan().digest()),
        "the digest is a column, not the plan"
    );
    // The plan is still there for whoever reads the session itself or asks for plans.
    assert_eq!(store.session(id).await.unwrap().plan, Some(plan()));
    let whole = store.sessions(&SessionFilter::default()).await.unwrap();
    assert_eq!(whole[0].plan, Some(plan()));
}

async fn a_session_is_found_by_a_unique_prefix_of_its_id(db: TestDatabase) {
    let store = store_in(&db).await;
    let mut mine = new_session("dev", &["network"], 1);
    mine.id = "abcd1111-0000-4000-8000-000000000001".parse().unwrap();
    let session = store.create_session(mine).await.unwrap();
    let text = session.id.to_string();
    assert_eq!(store.find_session("abcd1111").await.unwrap().id, session.id);
    assert_eq!(store.find_session(&text.to_uppercase()).await.unwrap().id, session.id);
    let missing = store.find_session("ffffffff").await.unwrap_err();
    assert!(matches!(missing, StoreError::SessionNotFound(_)), "{missing}");
    let not_hex = store.find_session("network").await.unwrap_err();
    assert!(matches!(not_hex, StoreError::SessionNotFound(_)), "{not_hex}");
    // Two sessions whose ids share a prefix: the prefix is ambiguous, a longer one is not.
    let mut twin = new_session("dev", &["dns"], 1);
    twin.id = "abcd2222-0000-4000-8000-000000000002".parse().unwrap();
    store.create_session(twin).await.unwrap();
    let err = store.find_session("abcd").await.unwrap_err();
    assert!(matches!(err, StoreError::AmbiguousSession(_)), "{err}");
    assert_eq!(store.find_session("abcd1").await.unwrap().id, session.id);
}

async fn stack_states_counts_and_logs_are_kept_in_order(db: TestDatabase) {
    let store = store_in(&db).await;
    let session = store
        .create_session(new_session("dev", &["network", "security"], 1))
        .await
        .unwrap();
    let id = session.id;
    let network: StackName = "network".parse().unwrap();
    let counts = [("create".to_string(), 3), ("same".to_string(), 1)]
        .into_iter()
        .collect();
    store
        .set_stack_state(id, &network, StackState::Previewed, Some(&counts), None)
        .await
        .unwrap();
    store
        .set_stack_state(id, &network, StackState::Failed, None, Some("boom"))
        .await
        .unwrap();
    let stacks = store.session_stacks(id).await.unwrap();
    assert_eq!(
        stacks
            .iter()
            .map(|s| (s.stack.as_str(), s.position, s.wave, s.state))
            .collect::<Vec<_>>(),
        [
            ("network", 0, 0, StackState::Failed),
            ("security", 1, 1, StackState::Pending)
        ]
    );
    assert_eq!(stacks[0].counts, counts, "counts stay when a later update gives none");
    assert_eq!(stacks[0].error.as_deref(), Some("boom"));
    let unknown = store
        .set_stack_state(id, &"dns".parse().unwrap(), StackState::Applied, None, None)
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("has no stack dns"), "{unknown}");

    // Engine output lives in the session event log, batched per stack; `cloud logs` reads it.
    let output = |stack: &str, lines: &[&str]| {
        SessionEventKind::Output {
            stack: stack.parse().unwrap(),
            items: lines.iter().map(|l| Progress::Line(l.to_string())).collect(),
        }
        .to_new_event()
        .unwrap()
    };
    store
        .append_events(id, &[output("network", &["one", "two"])])
        .await
        .unwrap();
    store.append_events(id, &[]).await.unwrap();
    store
        .append_events(id, &[output("security", &["three"])])
        .await
        .unwrap();
    let logs = store.logs(id, 0).await.unwrap();
    assert_eq!(
        logs.iter()
            .map(|l| (l.stack.as_str(), l.line.as_str()))
            .collect::<Vec<_>>(),
        [("network", "one"), ("network", "two"), ("security", "three")]
    );
    assert_eq!(logs[0].seq, logs[1].seq, "the lines of one batch share its cursor");
    assert!(logs[2].seq > logs[1].seq);
    assert_eq!(
        store.logs(id, logs[1].seq).await.unwrap().len(),
        1,
        "a follower gets what came after"
    );
}
