//! A stack belongs to one unfinished session at a time; the others are refused or wait in line.

use crate::{new_session, store_in, walk};
use cloud_core::store::{EventKind, LockOutcome, NewEvent};
use cloud_domain::session::{SessionState, StackName};
use cloud_store::SavedConfig;
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(
    a_held_stack_is_refused_with_its_holder_or_waited_for_in_line,
    twenty_sessions_racing_for_one_stack_have_exactly_one_winner,
    a_session_records_the_configuration_each_stack_was_planned_with,
    the_queue_knows_its_turns_and_the_positions_it_told_without_reading_the_logs,
);

const KEY: &str = "ecommerce/D1BRV40-network-dev";

async fn a_held_stack_is_refused_with_its_holder_or_waited_for_in_line(db: TestDatabase) {
    use SessionState::*;
    let store = store_in(&db).await;
    let holder = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let second = store
        .create_session(new_session("dev", &["network", "dns"], 1))
        .await
        .unwrap();
    let third = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let other_env = store
        .create_session(new_session("prod", &["network"], 1))
        .await
        .unwrap();

    assert_eq!(
        store.acquire_locks(holder.id, false).await.unwrap(),
        LockOutcome::Granted
    );
    assert_eq!(
        store.acquire_locks(holder.id, false).await.unwrap(),
        LockOutcome::Granted,
        "idempotent"
    );
    assert!(backend!(store, s => s.locks_acquired_at(holder.id).await)
        .unwrap()
        .is_some());
    assert_eq!(store.session_locks(holder.id).await.unwrap(), [KEY]);
    assert_eq!(
        store.acquire_locks(other_env.id, false).await.unwrap(),
        LockOutcome::Granted
    );

    // Refused: nothing changes, and the answer names the holder.
    let LockOutcome::Busy { holders } = store.acquire_locks(second.id, false).await.unwrap() else {
        panic!("the stack is held")
    };
    assert_eq!(
        holders
            .iter()
            .map(|h| (h.stack.as_str(), h.session, h.queued))
            .collect::<Vec<_>>(),
        [(KEY, holder.id, false)]
    );
    assert!(holders[0].to_string().contains("is held by session"), "{}", holders[0]);
    assert!(store.session_locks(second.id).await.unwrap().is_empty());
    assert_eq!(backend!(store, s => s.queue_entry(second.id).await).unwrap(), None);

    // Queued: first come, first served.
    assert!(matches!(
        store.acquire_locks(second.id, true).await.unwrap(),
        LockOutcome::Queued { position: 1, .. }
    ));
    let LockOutcome::Queued { position, holders } = store.acquire_locks(third.id, true).await.unwrap() else {
        panic!("the third waits too")
    };
    assert_eq!(position, 2);
    // One blocker per stack: the holder (the second session, queued ahead, waits for it too).
    assert_eq!(
        holders.iter().map(|h| (h.session, h.queued)).collect::<Vec<_>>(),
        [(holder.id, false)]
    );
    assert_eq!(
        backend!(store, s => s.queue_entry(third.id).await)
            .unwrap()
            .unwrap()
            .position,
        2
    );
    assert_eq!(store.lock_blockers(third.id).await.unwrap().len(), 1);
    assert!(
        backend!(store, s => s.promote_queue().await).unwrap().is_empty(),
        "nothing is free yet"
    );

    // The holder ends: its locks go in the same transaction, and the queue moves in order.
    walk(&store, holder.id, &[Draft, Cancelled]).await;
    assert!(store.session_locks(holder.id).await.unwrap().is_empty());
    assert_eq!(backend!(store, s => s.promote_queue().await).unwrap(), [second.id]);
    assert_eq!(
        store.session_locks(second.id).await.unwrap(),
        ["ecommerce/D1BRV40-dns-dev", KEY]
    );
    assert_eq!(backend!(store, s => s.queue_entry(second.id).await).unwrap(), None);
    assert_eq!(
        backend!(store, s => s.queue_entry(third.id).await)
            .unwrap()
            .unwrap()
            .position,
        1
    );
    assert!(store.session_locks(third.id).await.unwrap().is_empty());

    // A queued session that ends leaves the queue; a finished one cannot take locks.
    walk(&store, third.id, &[Draft, Cancelled]).await;
    assert_eq!(backend!(store, s => s.queue_entry(third.id).await).unwrap(), None);
    let err = store.acquire_locks(third.id, false).await.unwrap_err();
    assert!(err.to_string().contains("which is final"), "{err}");
}

async fn twenty_sessions_racing_for_one_stack_have_exactly_one_winner(db: TestDatabase) {
    // Each attempt reads who holds the stack, then writes: two processes (or replicas) must
    // never both see it free.
    let store = store_in(&db).await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(
            store
                .create_session(new_session("dev", &["network"], 1))
                .await
                .unwrap()
                .id,
        );
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, id) = (store.clone(), *id);
            tokio::spawn(async move { store.acquire_locks(id, false).await })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            LockOutcome::Granted => granted += 1,
            LockOutcome::Busy { holders } => assert_eq!(holders.len(), 1),
            queued => panic!("nobody asked to queue: {queued:?}"),
        }
    }
    assert_eq!(granted, 1);
    let mut holders = Vec::new();
    for id in &ids {
        if !store.session_locks(*id).await.unwrap().is_empty() {
            holders.push(*id);
        }
    }
    assert_eq!(holders.len(), 1);
}

async fn a_session_records_the_configuration_each_stack_was_planned_with(db: TestDatabase) {
    let store = store_in(&db).await;
    let session = store
        .create_session(new_session("dev", &["network", "dns"], 1))
        .await
        .unwrap();
    let network: StackName = "network".parse().unwrap();
    let config = vec![
        SavedConfig {
            key: "aws:region".into(),
            value: Some("eu-west-1".into()),
            secret: false,
        },
        SavedConfig {
            key: "db:password".into(),
            value: None,
            secret: true,
        },
    ];
    backend!(store, s => s.set_stack_config(session.id, &network, &config).await).unwrap();
    let stored = backend!(store, s => s.stack_configs(session.id).await).unwrap();
    assert_eq!(stored.into_iter().collect::<Vec<_>>(), [(network, config)]);
}

async fn the_queue_knows_its_turns_and_the_positions_it_told_without_reading_the_logs(db: TestDatabase) {
    use SessionState::*;
    let store = store_in(&db).await;
    let holder = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let first = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let second = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let free = store
        .create_session(new_session("prod", &["network"], 1))
        .await
        .unwrap();
    let told = |position: u32| {
        NewEvent::new(
            EventKind::Queued,
            &serde_json::json!({"type": "queued", "position": position}),
        )
    };
    let moves = |store: &cloud_core::store::Store| {
        let store = store.clone();
        async move {
            store
                .queue_moves()
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.session, e.position))
                .collect::<Vec<_>>()
        }
    };

    // Stacks taken when a session opens are no turn of the queue.
    assert_eq!(
        store.acquire_locks(holder.id, false).await.unwrap(),
        LockOutcome::Granted
    );
    assert!(store.queue_turns().await.unwrap().is_empty());

    // Two sessions wait; nobody told them their place yet.
    for id in [first.id, second.id] {
        assert!(matches!(
            store.acquire_locks(id, true).await.unwrap(),
            LockOutcome::Queued { .. }
        ));
    }
    assert_eq!(moves(&store).await, [(first.id, 1), (second.id, 2)]);
    store.tell_queue_position(first.id, 1, &told(1)).await.unwrap();
    assert_eq!(moves(&store).await, [(second.id, 2)], "the first was told");
    store.tell_queue_position(second.id, 2, &told(2)).await.unwrap();
    assert!(moves(&store).await.is_empty(), "everyone knows their place");
    let logged = store.events_after(second.id, 0, 10).await.unwrap();
    assert_eq!(
        logged.iter().map(|e| (e.kind, e.payload.as_str())).collect::<Vec<_>>(),
        [
            (EventKind::Created, r#"{"type":"created"}"#),
            (EventKind::Queued, r#"{"type":"queued","position":2}"#)
        ],
        "the event is appended with the position"
    );
    assert!(store.queue_turns().await.unwrap().is_empty(), "nobody's turn came");

    // The holder ends: the first gets the stacks (its turn), the second moved up.
    walk(&store, holder.id, &[Draft, Cancelled]).await;
    assert_eq!(backend!(store, s => s.promote_queue().await).unwrap(), [first.id]);
    assert_eq!(store.queue_turns().await.unwrap(), [first.id]);
    assert_eq!(moves(&store).await, [(second.id, 1)]);
    store.tell_queue_position(second.id, 1, &told(1)).await.unwrap();
    assert!(moves(&store).await.is_empty());

    // Asking to queue for free stacks is a turn of the queue too.
    assert_eq!(store.acquire_locks(free.id, true).await.unwrap(), LockOutcome::Granted);
    let mut turns = store.queue_turns().await.unwrap();
    turns.sort();
    let mut expected = vec![first.id, free.id];
    expected.sort();
    assert_eq!(turns, expected);

    // A turn that is planned (or ends) is no longer waiting to be planned.
    walk(&store, first.id, &[Draft, Planning]).await;
    walk(&store, free.id, &[Draft, Cancelled]).await;
    assert!(store.queue_turns().await.unwrap().is_empty());
}
