//! Session leases with fencing: one driver at a time, renewed while it works, taken over when it
//! stops renewing, and a stale driver's writes refused without changing anything.

use std::time::Duration;

use crate::{new_session, store_in};
use cloud_core::store::{SessionUpdate, StoreError, Transition};
use cloud_domain::session::{SessionState, StackState};
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(
    a_lease_is_taken_renewed_and_refused_to_a_second_owner_while_it_runs,
    an_expired_lease_is_claimed_and_the_stale_owners_writes_change_nothing,
    replicas_sweeping_together_take_an_expired_session_over_exactly_once,
);

const LONG: Duration = Duration::from_secs(30);

fn planning(id: cloud_domain::session::SessionId) -> Transition {
    Transition {
        id,
        from: SessionState::Draft,
        to: SessionState::Planning,
        actor: "cli:alice".into(),
        details: serde_json::json!({}),
        update: SessionUpdate::default(),
    }
}

async fn a_lease_is_taken_renewed_and_refused_to_a_second_owner_while_it_runs(db: TestDatabase) {
    let store = store_in(&db).await;
    let s = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let a = store.take_lease(s.id, "host/1/proc:1/a", LONG).await.unwrap();
    assert_eq!((a.owner.as_str(), a.token), ("host/1/proc:1/a", 1));
    let again = store.take_lease(s.id, "host/1/proc:1/a", LONG).await.unwrap();
    assert_eq!(again.token, 1, "the holder taking it again keeps its token");
    assert!(again.expires_at >= a.expires_at);
    store.renew_lease(s.id, &a.fence(), LONG).await.unwrap();

    let refused = store.take_lease(s.id, "host/2/proc:2/b", LONG).await.unwrap_err();
    assert!(
        matches!(&refused, StoreError::LeaseHeld { owner, .. } if owner == "host/1/proc:1/a"),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("driven by another process"), "{refused}");
    assert!(
        store
            .claim_expired_leases("host/2/proc:2/b", LONG)
            .await
            .unwrap()
            .is_empty(),
        "a running lease is not claimed"
    );

    // Writes under the lease go through.
    let moved = store.transition_fenced(planning(s.id), Some(&a.fence())).await.unwrap();
    assert_eq!(moved.state, SessionState::Planning);
    assert!(store.release_lease(s.id, &a.fence()).await.unwrap());
    assert_eq!(store.lease(s.id).await.unwrap(), None);
}

async fn an_expired_lease_is_claimed_and_the_stale_owners_writes_change_nothing(db: TestDatabase) {
    let store = store_in(&db).await;
    let s = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    // A lease nobody renews: expired as soon as it is written.
    let stale = store.take_lease(s.id, "host/1/proc:1/a", Duration::ZERO).await.unwrap();
    let claimed = store.claim_expired_leases("host/2/proc:2/b", LONG).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].previous_owner, "host/1/proc:1/a");
    let fresh = claimed[0].lease.clone();
    assert_eq!(
        (fresh.session, fresh.owner.as_str(), fresh.token),
        (s.id, "host/2/proc:2/b", 2)
    );

    // The stale owner wakes up: every write it makes is refused and nothing changes.
    let network = "network".parse().unwrap();
    let err = store
        .transition_fenced(planning(s.id), Some(&stale.fence()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced { token: 1, .. }), "{err:?}");
    let err = store
        .set_stack_state_fenced(s.id, &network, StackState::Previewing, None, None, Some(&stale.fence()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }), "{err:?}");
    assert!(matches!(
        store.renew_lease(s.id, &stale.fence(), LONG).await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(
        !store.release_lease(s.id, &stale.fence()).await.unwrap(),
        "not its lease any more"
    );
    let after = store.session(s.id).await.unwrap();
    assert_eq!(after.state, SessionState::Draft);
    assert_eq!(store.session_stacks(s.id).await.unwrap()[0].state, StackState::Pending);
    assert_eq!(store.lease(s.id).await.unwrap(), Some(fresh.clone()));

    // The new owner's writes go through.
    store
        .set_stack_state_fenced(s.id, &network, StackState::Previewing, None, None, Some(&fresh.fence()))
        .await
        .unwrap();
}

async fn replicas_sweeping_together_take_an_expired_session_over_exactly_once(db: TestDatabase) {
    let store = store_in(&db).await;
    let mut sessions = Vec::new();
    for _ in 0..5 {
        let s = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
        store
            .take_lease(s.id, "host/1/proc:1/dead", Duration::ZERO)
            .await
            .unwrap();
        sessions.push(s.id);
    }
    let sweeps = (0..6).map(|n| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_expired_leases(&format!("host/9/proc:9/r{n}"), LONG).await })
    });
    let mut claimed = Vec::new();
    for sweep in sweeps {
        claimed.extend(sweep.await.unwrap().unwrap());
    }
    let mut ids: Vec<_> = claimed.iter().map(|c| c.lease.session).collect();
    ids.sort();
    sessions.sort();
    assert_eq!(ids, sessions, "every expired session claimed exactly once");
    assert!(claimed.iter().all(|c| c.lease.token == 2));
}
