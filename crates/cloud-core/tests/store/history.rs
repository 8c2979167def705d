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
    stats_count_only_the_window_whatever_lies_outside_it,
    plans_and_large_output_are_stored_compressed_and_old_text_rows_still_read,
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

/// Moves session `id` to `created`, finishing `lead` later (what a session of another day left).
async fn backdate(
    store: &cloud_core::store::Store,
    id: SessionId,
    created: chrono::DateTime<chrono::Utc>,
    lead: chrono::Duration,
) {
    let (sid, created_s, finished_s) = (
        id.to_string(),
        cloud_store::time::format_time(created),
        cloud_store::time::format_time(created + lead),
    );
    let sql = "UPDATE sessions SET created_at = $1, finished_at = $2 WHERE id = $3";
    backend!(store, s => sqlx::query(sql).bind(&created_s).bind(&finished_s).bind(&sid).execute(s.pool()).await.map(|_| ()))
        .unwrap();
}

/// The answer `cloud stats` builds on (served by covering indexes since issue 17.1): exact
/// counts and lead times of the window's sessions, while a history of older and newer sessions,
/// with their plans, is left out.
async fn stats_count_only_the_window_whatever_lies_outside_it(db: TestDatabase) {
    use SessionState::*;
    const APPLIED: &[SessionState] = &[Draft, Planning, PlanReady, Approved, Applying, Applied];
    let store = store_in(&db).await;
    let until = chrono::Utc::now() - chrono::Duration::days(1);
    let since = until - chrono::Duration::days(7);
    let minutes = chrono::Duration::minutes;
    // Inside the window: APPLIED after 4, 10 and 30 minutes (median 10), one FAILED, one
    // CANCELLED by bob in prod.
    for (lead, day) in [(4, 1), (30, 3), (10, 6)] {
        let s = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
        walk(&store, s.id, APPLIED).await;
        backdate(&store, s.id, since + chrono::Duration::days(day), minutes(lead)).await;
    }
    let failed = store.create_session(new_session("prod", &["dns"], 1)).await.unwrap();
    walk(
        &store,
        failed.id,
        &[Draft, Planning, PlanReady, Approved, Applying, Failed],
    )
    .await;
    backdate(&store, failed.id, since + chrono::Duration::days(2), minutes(7)).await;
    let mut bobs = new_session("prod", &["dns"], 1);
    bobs.requester = Principal::cli("bob");
    let cancelled = store.create_session(bobs).await.unwrap();
    walk(&store, cancelled.id, &[Draft, Cancelled]).await;
    backdate(&store, cancelled.id, since + chrono::Duration::days(5), minutes(1)).await;
    // Outside it: twenty APPLIED sessions before the window (the first exactly one millisecond
    // before `since`), and one at `until` itself (the window is half-open).
    for k in 0..20 {
        let s = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
        walk(&store, s.id, APPLIED).await;
        let created = since - chrono::Duration::milliseconds(1) - chrono::Duration::days(k);
        backdate(&store, s.id, created, minutes(1000)).await;
    }
    let late = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    walk(&store, late.id, APPLIED).await;
    backdate(&store, late.id, until, minutes(1000)).await;

    let mut rows = store.session_stats(since, until, 5).await.unwrap();
    rows.by_state.sort();
    assert_eq!(rows.by_state, [(Applied, 3), (Failed, 1), (Cancelled, 1)]);
    assert_eq!(rows.top_projects, [("ecommerce".to_string(), 5)]);
    assert_eq!(
        rows.top_requesters,
        [("cli:alice".to_string(), 4), ("cli:bob".to_string(), 1)]
    );
    rows.lead_times_secs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(rows.lead_times_secs, [240.0, 600.0, 1800.0]);
}

/// The engine output batches of `id`, oldest first.
async fn output(store: &cloud_core::store::Store, id: SessionId) -> Vec<cloud_store::EventRow> {
    let events = store.events_after(id, 0, 100).await.unwrap();
    events
        .into_iter()
        .filter(|e| e.kind == cloud_store::EventKind::Output)
        .collect()
}

/// Plan documents and large engine output batches are stored compressed (retention, issue 17);
/// rows written as text before that are read as before.
async fn plans_and_large_output_are_stored_compressed_and_old_text_rows_still_read(db: TestDatabase) {
    use SessionState::*;
    let store = store_in(&db).await;
    let s = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    walk(&store, s.id, &[Draft, Planning, PlanReady]).await;
    let sid = s.id.to_string();
    let stored = "SELECT plan IS NULL, plan_z IS NOT NULL FROM sessions WHERE id = $1";
    let (text_gone, compressed) =
        backend!(store, b => sqlx::query_as::<_, (bool, bool)>(stored).bind(&sid).fetch_one(b.pool()).await).unwrap();
    assert!(text_gone && compressed, "the plan is stored compressed only");
    assert_eq!(store.session(s.id).await.unwrap().plan, Some(crate::plan()));

    // A plan stored as text by an older version still reads.
    let json = serde_json::to_string(&crate::plan()).unwrap();
    let old = "UPDATE sessions SET plan = $1, plan_z = NULL WHERE id = $2";
    backend!(store, b => sqlx::query(old).bind(&json).bind(&sid).execute(b.pool()).await.map(|_| ())).unwrap();
    assert_eq!(store.session(s.id).await.unwrap().plan, Some(crate::plan()));

    // Engine output: a large batch is compressed, a small one stays text; both read back.
    let lines = |n: usize| {
        let items: Vec<Progress> = (0..n)
            .map(|i| Progress::Line(format!("+ aws:ec2/subnet:Subnet private-{i} creating (1s)")))
            .collect();
        SessionEventKind::Output {
            stack: "network".parse().unwrap(),
            items,
        }
        .to_new_event()
        .unwrap()
    };
    let (large, small) = (lines(40), lines(1));
    store
        .append_events(s.id, &[large.clone(), small.clone()])
        .await
        .unwrap();
    let read = output(&store, s.id).await;
    let payloads: Vec<&str> = read.iter().map(|e| e.payload.as_str()).collect();
    assert_eq!(payloads, [large.payload.as_str(), small.payload.as_str()]);
    let shapes = "SELECT payload = '', payload_z IS NOT NULL FROM session_events WHERE session_id = $1 AND kind = 'output' ORDER BY id";
    let shapes =
        backend!(store, b => sqlx::query_as::<_, (bool, bool)>(shapes).bind(&sid).fetch_all(b.pool()).await).unwrap();
    assert_eq!(shapes, [(true, true), (false, false)]);
    // An output batch stored as text by an older version still reads.
    let old = "INSERT INTO session_events (session_id, kind, payload, at) VALUES ($1, 'output', $2, '2026-11-01T00:00:00.000Z')";
    backend!(store, b => sqlx::query(old).bind(&sid).bind(&large.payload).execute(b.pool()).await.map(|_| ())).unwrap();
    let read = output(&store, s.id).await;
    assert_eq!(read.len(), 3);
    assert_eq!(read[2].payload, large.payload);
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
