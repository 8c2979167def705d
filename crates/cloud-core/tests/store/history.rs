//! The store answers questions about the history through indexes and aggregates (issue 17.1):
//! a list is read a page at a time, newest first; open sessions, follow-ups, each stack's latest
//! applied session and the statistics are asked of the database, never by loading the history.

use crate::{new_session, store_in, walk};
use cloud_core::engine::Progress;
use cloud_core::orchestrator::SessionEventKind;
use cloud_core::store::{SessionFilter, SessionRecord};
use cloud_domain::session::{Principal, SessionId, SessionState, StackName};
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(
    a_long_list_is_read_page_by_page_newest_first,
    open_sessions_are_listed_and_counted_per_project,
    follow_ups_of_a_session_are_found_by_their_link,
    each_stack_remembers_the_applied_session_that_changed_it_last,
    stats_are_aggregated_over_the_window_by_the_database,
    a_prune_removes_old_logs_and_plans_but_keeps_each_stacks_latest_applied_plan,
);

fn ids(list: Vec<SessionRecord>) -> Vec<SessionId> {
    list.into_iter().map(|s| s.id).collect()
}

async fn a_long_list_is_read_page_by_page_newest_first(db: TestDatabase) {
    let store = store_in(&db).await;
    let mut made = Vec::new();
    for _ in 0..7 {
        made.push(
            store
                .create_session(new_session("dev", &["network"], 1))
                .await
                .unwrap()
                .id,
        );
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .sessions(&SessionFilter {
                limit: Some(3),
                before,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before = page.last().map(|s| s.id);
        seen.extend(ids(page));
    }
    assert_eq!(seen, made, "every session exactly once, newest first");

    // An unknown `before` is an error that names it, not an empty page.
    let unknown = SessionId::new();
    let err = store
        .sessions(&SessionFilter {
            before: Some(unknown),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&unknown.to_string()[..8]), "{err}");
}

async fn open_sessions_are_listed_and_counted_per_project(db: TestDatabase) {
    use SessionState::*;
    let store = store_in(&db).await;
    let a = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let b = store.create_session(new_session("prod", &["dns"], 1)).await.unwrap();
    let c = store.create_session(new_session("dev", &["storage"], 1)).await.unwrap();
    walk(&store, b.id, &[Draft, Cancelled]).await;

    let open = |env: Option<&str>, before: Option<SessionId>| SessionFilter {
        active: true,
        project: Some("ecommerce".into()),
        env: env.map(str::to_string),
        before,
        ..Default::default()
    };
    assert_eq!(ids(store.sessions(&open(None, None)).await.unwrap()), [c.id, a.id]);
    assert_eq!(ids(store.sessions(&open(Some("prod"), None)).await.unwrap()), []);
    assert_eq!(ids(store.sessions(&open(None, Some(c.id))).await.unwrap()), [a.id]);
    assert_eq!(store.count_open_sessions("ecommerce", None).await.unwrap(), 2);
    assert_eq!(store.count_open_sessions("ecommerce", Some(a.id)).await.unwrap(), 1);
    assert_eq!(store.count_open_sessions("payments", None).await.unwrap(), 0);
}

async fn follow_ups_of_a_session_are_found_by_their_link(db: TestDatabase) {
    let store = store_in(&db).await;
    let parent = store
        .create_session(new_session("dev", &["network", "dns"], 1))
        .await
        .unwrap();
    let _unrelated = store.create_session(new_session("dev", &["storage"], 1)).await.unwrap();
    let mut follow = new_session("dev", &["dns"], 1);
    follow.follow_up_of = Some(parent.id);
    let follow = store.create_session(follow).await.unwrap();

    assert_eq!(ids(store.follow_ups(parent.id).await.unwrap()), [follow.id]);
    assert!(store.follow_ups(follow.id).await.unwrap().is_empty());
}

async fn each_stack_remembers_the_applied_session_that_changed_it_last(db: TestDatabase) {
    use SessionState::*;
    const APPLIED: &[SessionState] = &[Draft, Planning, PlanReady, Approved, Applying, Applied];
    let store = store_in(&db).await;
    let heads = |store: cloud_core::store::Store| async move {
        store
            .stack_heads("ecommerce")
            .await
            .unwrap()
            .into_iter()
            .map(|h| (h.env, h.stack.to_string(), h.session))
            .collect::<Vec<_>>()
    };
    assert!(heads(store.clone()).await.is_empty(), "nothing applied yet");

    let first = store
        .create_session(new_session("dev", &["network", "dns"], 1))
        .await
        .unwrap();
    walk(&store, first.id, APPLIED).await;
    let second = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    walk(&store, second.id, APPLIED).await;
    let prod = store
        .create_session(new_session("prod", &["network"], 1))
        .await
        .unwrap();
    walk(&store, prod.id, APPLIED).await;
    // A session that fails leaves the heads alone.
    let failed = store.create_session(new_session("dev", &["dns"], 1)).await.unwrap();
    walk(
        &store,
        failed.id,
        &[Draft, Planning, PlanReady, Approved, Applying, Failed],
    )
    .await;

    assert_eq!(
        heads(store.clone()).await,
        [
            ("dev".to_string(), "dns".to_string(), first.id),
            ("dev".to_string(), "network".to_string(), second.id),
            ("prod".to_string(), "network".to_string(), prod.id),
        ]
    );
}

async fn stats_are_aggregated_over_the_window_by_the_database(db: TestDatabase) {
    use SessionState::*;
    let store = store_in(&db).await;
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let applied = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    walk(
        &store,
        applied.id,
        &[Draft, Planning, PlanReady, Approved, Applying, Applied],
    )
    .await;
    let failed = store.create_session(new_session("dev", &["dns"], 1)).await.unwrap();
    walk(&store, failed.id, &[Draft, Planning, PlanFailed]).await;
    let mut bobs = new_session("prod", &["dns"], 1);
    bobs.requester = Principal::cli("bob");
    store.create_session(bobs).await.unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(1);

    let rows = store.session_stats(since, until, 5).await.unwrap();
    let mut by_state = rows.by_state.clone();
    by_state.sort();
    assert_eq!(by_state, [(Draft, 1), (PlanFailed, 1), (Applied, 1)]);
    assert_eq!(rows.top_projects, [("ecommerce".to_string(), 3)]);
    assert_eq!(
        rows.top_requesters,
        [("cli:alice".to_string(), 2), ("cli:bob".to_string(), 1)]
    );
    assert_eq!(rows.lead_times_secs.len(), 1);
    assert!(rows.lead_times_secs[0] >= 0.0);
    // One requester only when asked for the top one; nothing outside the window.
    assert_eq!(
        store.session_stats(since, until, 1).await.unwrap().top_requesters.len(),
        1
    );
    let earlier = store
        .session_stats(since - chrono::Duration::hours(1), since, 5)
        .await
        .unwrap();
    assert_eq!(earlier, Default::default());
}

async fn a_prune_removes_old_logs_and_plans_but_keeps_each_stacks_latest_applied_plan(db: TestDatabase) {
    use SessionState::*;
    const APPLIED: &[SessionState] = &[Draft, Planning, PlanReady, Approved, Applying, Applied];
    let store = store_in(&db).await;
    let old = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    walk(&store, old.id, APPLIED).await;
    let head = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    walk(&store, head.id, APPLIED).await;
    let open = store
        .create_session(new_session("prod", &["network"], 1))
        .await
        .unwrap();
    walk(&store, open.id, &[Draft, Planning, PlanReady]).await;
    for id in [old.id, head.id, open.id] {
        let output = SessionEventKind::Output {
            stack: "network".parse::<StackName>().unwrap(),
            items: vec![Progress::Line("+ vpc created".into())],
        };
        store
            .append_events(id, &[output.to_new_event().unwrap()])
            .await
            .unwrap();
    }
    let now = chrono::Utc::now() + chrono::Duration::seconds(1);
    let long_ago = now - chrono::Duration::days(30);

    // Nothing ended before a month ago.
    assert_eq!(
        store.prune_preview(long_ago, long_ago).await.unwrap(),
        Default::default()
    );
    let preview = store.prune_preview(now, now).await.unwrap();
    assert_eq!((preview.log_entries, preview.plans), (2, 1), "{preview:?}");
    let audit_rows = store.audit_entries(None).await.unwrap().len();
    let removed = backend!(store, s => s.prune(now, now, "cli:admin").await).unwrap();
    assert_eq!(removed, preview);

    assert!(store.logs(old.id, 0).await.unwrap().is_empty());
    assert!(store.logs(head.id, 0).await.unwrap().is_empty());
    assert_eq!(
        store.logs(open.id, 0).await.unwrap().len(),
        1,
        "an open session keeps its log"
    );
    let old_after = store.session(old.id).await.unwrap();
    assert!(old_after.plan.is_none());
    assert_eq!((old_after.state, old_after.digest.is_some()), (Applied, true));
    assert_eq!(store.session_stacks(old.id).await.unwrap().len(), 1);
    assert!(
        store.session(head.id).await.unwrap().plan.is_some(),
        "quota usage reads it"
    );
    assert!(store.session(open.id).await.unwrap().plan.is_some());
    let audit = store.audit_entries(None).await.unwrap();
    assert_eq!(audit.len(), audit_rows + 1);
    assert_eq!(audit.last().unwrap().action, "retention.prune");
    assert!(store.audit_verify().await.unwrap().first_bad.is_none());
    // Nothing left to remove: no second audit row.
    let again = backend!(store, s => s.prune(now, now, "cli:admin").await).unwrap();
    assert_eq!(again, Default::default());
    assert_eq!(store.audit_entries(None).await.unwrap().len(), audit_rows + 1);
}
