//! The session event log: every change a session goes through is in it, in order, committed
//! with the change; readers in any process follow it from a cursor and are woken when it grows.

use crate::{new_session, plan, plan_ready_session, store_in, walk};
use cloud_core::event_feed::EventFeed;
use cloud_core::orchestrator::{LoggedEvent, SessionEventKind};
use cloud_core::store::{ChatLobbyRow, SessionUpdate, StoreError, Transition};
use cloud_domain::session::{Platform, Principal, SessionState, StackState};
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(
    every_change_of_a_session_is_in_its_log_in_order,
    a_move_that_loses_its_race_leaves_no_event,
    a_reader_pages_through_the_log_by_cursor_across_sessions,
    a_feed_in_another_process_wakes_when_the_log_grows,
    a_lobby_is_behind_until_its_renderer_catches_up,
);

fn kinds(events: &[LoggedEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.kind {
            SessionEventKind::StateChanged { from, to } => format!("{from}->{to}"),
            SessionEventKind::StackStateChanged { stack, state, .. } => format!("{stack}:{}", state.as_str()),
            SessionEventKind::Approved { by } => format!("approved by {by}"),
            other => other.stored_kind().map(|k| k.to_string()).unwrap_or_default(),
        })
        .collect()
}

async fn every_change_of_a_session_is_in_its_log_in_order(db: TestDatabase) {
    let store = store_in(&db).await;
    let id = plan_ready_session(&store, 1).await;
    store
        .set_stack_state(id, &"network".parse().unwrap(), StackState::Previewed, None, None)
        .await
        .unwrap();
    store
        .record_approval(id, &Principal::cli("bob"), &plan().digest().0, None)
        .await
        .unwrap();
    let mut feed = EventFeed::session(&store, id, 0);
    let events = feed.try_next().await.unwrap();
    assert_eq!(
        kinds(&events),
        [
            "created",
            "DRAFT->PLANNING",
            "PLANNING->PLAN_READY",
            "network:previewed",
            "approved by cli:bob",
            "PLAN_READY->APPROVED"
        ]
    );
    assert!(events.windows(2).all(|w| w[0].cursor < w[1].cursor), "cursors increase");
    assert!(events.iter().all(|e| e.session == id));
    assert_eq!(feed.cursor(), events.last().unwrap().cursor);
    assert!(feed.try_next().await.unwrap().is_empty(), "nothing after the last one");
}

async fn a_move_that_loses_its_race_leaves_no_event(db: TestDatabase) {
    let store = store_in(&db).await;
    let id = plan_ready_session(&store, 1).await;
    let before = store.events_after(id, 0, 100).await.unwrap().len();
    let lost = store
        .transition(Transition {
            id,
            from: SessionState::Applying,
            to: SessionState::Applied,
            actor: "cli:alice".into(),
            details: serde_json::json!({}),
            update: SessionUpdate::default(),
        })
        .await
        .unwrap_err();
    assert!(matches!(lost, StoreError::StateChanged { .. }), "{lost}");
    let unknown_stack = store
        .set_stack_state(id, &"dns".parse().unwrap(), StackState::Applied, None, None)
        .await;
    assert!(unknown_stack.is_err());
    assert_eq!(
        store.events_after(id, 0, 100).await.unwrap().len(),
        before,
        "a change that did not happen is not in the log"
    );
}

async fn a_reader_pages_through_the_log_by_cursor_across_sessions(db: TestDatabase) {
    let store = store_in(&db).await;
    let start = store.last_event_id().await.unwrap();
    let a = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let b = store.create_session(new_session("prod", &["dns"], 1)).await.unwrap();
    use SessionState::*;
    walk(&store, a.id, &[Draft, Planning]).await;
    walk(&store, b.id, &[Draft, Cancelled]).await;
    let all = store.events_since(start, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| (e.session_id, e.kind.as_str())).collect::<Vec<_>>(),
        [
            (a.id, "created"),
            (b.id, "created"),
            (a.id, "state_changed"),
            (b.id, "state_changed")
        ]
    );
    let page = store.events_since(start, 3).await.unwrap();
    assert_eq!(page.len(), 3, "the limit holds");
    let rest = store.events_since(page[2].id, 100).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        store.events_after(b.id, 0, 100).await.unwrap().len(),
        2,
        "one session's events only"
    );
    assert_eq!(store.last_event_id().await.unwrap(), rest[0].id);
    let (bytes, n) = store.event_log_size(a.id).await.unwrap();
    assert_eq!(n, 2);
    assert!(bytes > 0);
}

async fn a_feed_in_another_process_wakes_when_the_log_grows(db: TestDatabase) {
    // Two stores on one database stand for two processes: the writer's appends reach the
    // reader through the database (SQLite: its poll; PostgreSQL: LISTEN/NOTIFY), not memory.
    let writer = store_in(&db).await;
    let reader = db.open().await;
    let mut feed = EventFeed::all_from_now(&reader).await.unwrap();
    let waiting = tokio::spawn(async move { feed.next().await.unwrap() });
    // Let the reader find the log empty and wait.
    tokio::task::yield_now().await;
    let session = writer
        .create_session(new_session("dev", &["network"], 1))
        .await
        .unwrap();
    // Bounded by the test's safety net; the wake-up comes within a poll interval.
    let events = tokio::time::timeout(cloud_testkit::wait::SAFETY_NET, waiting)
        .await
        .expect("the reader was woken")
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].session, session.id);
    assert_eq!(events[0].kind, SessionEventKind::Created);
}

async fn a_lobby_is_behind_until_its_renderer_catches_up(db: TestDatabase) {
    let store = store_in(&db).await;
    let id = plan_ready_session(&store, 1).await;
    let row = ChatLobbyRow {
        session_id: id,
        platform: Platform::Discord,
        channel_id: "1".into(),
        message_id: "2".into(),
        thread_id: None,
    };
    store.save_lobby(&row).await.unwrap();
    let behind = store.lobbies_behind(Platform::Discord).await.unwrap();
    assert_eq!(behind, vec![(row.clone(), 0)]);
    assert!(store.lobbies_behind(Platform::Slack).await.unwrap().is_empty());
    let last = store.events_after(id, 0, 100).await.unwrap().last().unwrap().id;
    store.set_rendered_cursor(id, Platform::Discord, last).await.unwrap();
    store.set_rendered_cursor(id, Platform::Discord, 1).await.unwrap();
    assert_eq!(
        store.rendered_cursor(id, Platform::Discord).await.unwrap(),
        last,
        "never backwards"
    );
    assert!(store.lobbies_behind(Platform::Discord).await.unwrap().is_empty());
    // A lobby saved again (moved) keeps its cursor.
    store.save_lobby(&row).await.unwrap();
    assert_eq!(store.rendered_cursor(id, Platform::Discord).await.unwrap(), last);
    use SessionState::*;
    walk(&store, id, &[PlanReady, Cancelled]).await;
    assert_eq!(
        store.lobbies_behind(Platform::Discord).await.unwrap(),
        vec![(row, last)]
    );
}
