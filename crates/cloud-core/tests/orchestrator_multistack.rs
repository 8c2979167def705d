//! Multi-stack sessions through the orchestrator: stack locks and the FIFO queue, apply-time
//! re-preview of provisional stacks with follow-up sessions, the expiry sweeper, and start-up
//! recovery of sessions a dead process left behind.

use cloud_testkit::fake_engine;

use std::sync::Arc;
use std::time::Duration;

use cloud_core::config::EnvironmentPolicy;
use cloud_core::engine::StepOp;
use cloud_core::orchestrator::{Orchestrator, OrchestratorError, OrchestratorSettings, SessionEventKind};
use cloud_core::store::{LockOutcome, Store, Transition};
use cloud_domain::session::{Principal, SessionId, SessionState, StackName, StackState};
use fake_engine::{creates, world, FakeEngine, Gate, MemoryResolver, StackScript, World};

fn alice() -> Principal {
    Principal::cli("alice")
}
fn bob() -> Principal {
    Principal::cli("bob")
}
fn carol() -> Principal {
    Principal::cli("carol")
}
fn stacks(names: &[&str]) -> Vec<StackName> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

fn busy_session(err: OrchestratorError) -> SessionId {
    match err {
        OrchestratorError::Busy { session, .. } => session,
        other => panic!("expected Busy, got {other:?}"),
    }
}

#[tokio::test]
async fn a_second_session_on_a_held_stack_is_refused_with_the_holder() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let first = w
        .orch
        .start_session(&alice(), "ecommerce", "stage", None)
        .await
        .unwrap();
    assert_eq!(
        w.store.session_locks(first.id).await.unwrap().len(),
        4,
        "the session owns its stacks from the start"
    );

    let err = w
        .orch
        .start_session(&bob(), "ecommerce", "stage", Some(&stacks(&["dns"])))
        .await
        .unwrap_err();
    let text = err.to_user().message;
    assert!(
        text.contains(&format!(
            "ecommerce/D1BRV40-dns-stage is held by session {} (cli:alice, DRAFT)",
            first.id.short()
        )),
        "{text}"
    );
    assert!(text.contains("cloud queue"), "says how to wait instead: {text}");
    let refused = busy_session(err);
    assert!(
        w.store.session_locks(refused).await.unwrap().is_empty(),
        "a refused session holds nothing"
    );
    // Planning it is refused the same way, and runs no engine.
    let err = w.orch.plan(refused, &bob()).await.unwrap_err();
    assert!(matches!(err, OrchestratorError::Busy { .. }), "{err:?}");
    assert!(w.engine.calls().is_empty());

    // Another environment is another stack: no conflict.
    w.orch
        .start_session(&bob(), "ecommerce", "prod", Some(&stacks(&["dns"])))
        .await
        .unwrap();
}

/// A queued session whose stacks were just freed can take them itself — its waiter polls, or
/// someone plans it — before the queue is promoted. It must still be announced like a
/// promotion: the Discord lobby of a queued session plans it when it hears `LocksGranted`, and
/// would otherwise sit in DRAFT holding the stacks until the sweeper cancels it. (Found as a
/// flake of the FIFO story above on a loaded machine.)
#[tokio::test]
async fn a_queued_session_that_takes_its_freed_stacks_itself_is_announced() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let holder = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["network"])))
        .await
        .unwrap();
    let bobs = busy_session(
        w.orch
            .start_session(&bob(), "ecommerce", "dev", Some(&stacks(&["network"])))
            .await
            .unwrap_err(),
    );
    w.orch.queue_session(bobs, &bob()).await.unwrap();
    let mut events = w.orch.subscribe();
    // The holder ends and its stacks are free, but nobody has promoted the queue yet.
    w.store
        .transition(Transition {
            id: holder.id,
            from: SessionState::Draft,
            to: SessionState::Cancelled,
            actor: "cli:alice".into(),
            details: serde_json::json!({}),
            update: Default::default(),
        })
        .await
        .unwrap();

    // Bob plans: his session takes the stacks on its own.
    let s = w.orch.plan(bobs, &bob()).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    assert_eq!(
        w.store.session_locks(bobs).await.unwrap(),
        vec!["ecommerce/D1BRV40-network-dev".to_string()]
    );
    let mut granted = 0;
    while let Ok(e) = events.try_recv() {
        if e.session == bobs && e.kind == SessionEventKind::LocksGranted {
            granted += 1;
        }
    }
    assert_eq!(granted, 1, "bob's turn was announced once");
}

#[tokio::test]
async fn queued_sessions_get_the_stacks_in_fifo_order_with_visible_positions() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let mut events = w.orch.subscribe();
    let holder = w.orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let bobs = busy_session(
        w.orch
            .start_session(&bob(), "ecommerce", "dev", Some(&stacks(&["network"])))
            .await
            .unwrap_err(),
    );
    let carols = busy_session(
        w.orch
            .start_session(&carol(), "ecommerce", "dev", Some(&stacks(&["network", "dns"])))
            .await
            .unwrap_err(),
    );

    assert!(matches!(
        w.orch.queue_session(bobs, &bob()).await.unwrap(),
        LockOutcome::Queued { position: 1, .. }
    ));
    assert!(matches!(
        w.orch.queue_session(carols, &carol()).await.unwrap(),
        LockOutcome::Queued { position: 2, .. }
    ));
    assert_eq!(w.orch.status(carols).await.unwrap().queue.unwrap().position, 2);
    let err = w.orch.plan(bobs, &bob()).await.unwrap_err().to_user();
    assert!(err.message.contains("position 1 in the queue"), "{}", err.message);

    // Alice's session ends: Bob is next, Carol moves up but still waits (Bob holds network).
    w.orch.cancel(holder.id, &alice(), "not today").await.unwrap();
    assert!(w.store.session_locks(holder.id).await.unwrap().is_empty());
    assert_eq!(
        w.store.session_locks(bobs).await.unwrap(),
        vec!["ecommerce/D1BRV40-network-dev".to_string()]
    );
    assert!(w.orch.status(bobs).await.unwrap().queue.is_none());
    assert_eq!(w.orch.status(carols).await.unwrap().queue.unwrap().position, 1);
    let s = w.orch.plan(bobs, &bob()).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);

    // Bob's session is applied: Carol gets both stacks; a waiter is woken.
    let waiter = {
        let orch = w.orch.clone();
        tokio::spawn(async move { orch.wait_for_locks(carols).await.map(|p| p.session()) })
    };
    w.orch
        .approve(bobs, &bob(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(w.orch.apply(bobs, &bob()).await.unwrap().state, SessionState::Applied);
    assert_eq!(waiter.await.unwrap().unwrap(), carols);
    assert_eq!(w.store.session_locks(carols).await.unwrap().len(), 2);

    let mut seen = vec![];
    while let Ok(e) = events.try_recv() {
        match e.kind {
            SessionEventKind::Queued { position } => seen.push(format!("{} queued {position}", e.session.short())),
            SessionEventKind::LocksGranted => seen.push(format!("{} granted", e.session.short())),
            _ => {}
        }
    }
    assert_eq!(
        seen,
        vec![
            format!("{} queued 1", bobs.short()),
            format!("{} queued 2", carols.short()),
            format!("{} granted", bobs.short()),
            // Carol moved up behind Bob.
            format!("{} queued 1", carols.short()),
            format!("{} granted", carols.short()),
        ]
    );
}

#[tokio::test]
async fn a_newcomer_does_not_jump_the_queue() {
    let w = world(FakeEngine::with(&[])).await;
    let holder = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["network"])))
        .await
        .unwrap();
    let bobs = busy_session(
        w.orch
            .start_session(&bob(), "ecommerce", "dev", Some(&stacks(&["network", "dns"])))
            .await
            .unwrap_err(),
    );
    w.orch.queue_session(bobs, &bob()).await.unwrap();
    // dns is free, but Bob queued for it first.
    let err = w
        .orch
        .start_session(&carol(), "ecommerce", "dev", Some(&stacks(&["dns"])))
        .await
        .unwrap_err()
        .to_user();
    assert!(
        err.message.contains(&format!(
            "ecommerce/D1BRV40-dns-dev is wanted by session {} (cli:bob, DRAFT, waiting in the queue ahead of you)",
            bobs.short()
        )),
        "{}",
        err.message
    );
    w.orch.cancel(holder.id, &alice(), "done").await.unwrap();
    assert_eq!(w.store.session_locks(bobs).await.unwrap().len(), 2);
}

#[tokio::test]
async fn two_processes_racing_for_one_stack_have_exactly_one_winner() {
    let w = world(FakeEngine::with(&[])).await;
    // Two DRAFTs refused by a holder, then the holder ends and both grab at once.
    let holder = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["network"])))
        .await
        .unwrap();
    let a = busy_session(
        w.orch
            .start_session(&bob(), "ecommerce", "dev", Some(&stacks(&["network"])))
            .await
            .unwrap_err(),
    );
    let b = busy_session(
        w.orch
            .start_session(&carol(), "ecommerce", "dev", Some(&stacks(&["network"])))
            .await
            .unwrap_err(),
    );
    w.orch.cancel(holder.id, &alice(), "done").await.unwrap();
    let (ra, rb) = tokio::join!(w.store.acquire_locks(a, false), w.store.acquire_locks(b, false));
    let granted = [ra.unwrap(), rb.unwrap()]
        .iter()
        .filter(|o| **o == LockOutcome::Granted)
        .count();
    assert_eq!(granted, 1);
}

#[tokio::test]
async fn locks_are_released_on_every_terminal_transition() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc"])),
        (
            "dns",
            StackScript {
                steps: vec![("zone", StepOp::Create)],
                up_error: Some("AccessDenied".into()),
                ..Default::default()
            },
        ),
    ]))
    .await;
    let net = stacks(&["network"]);
    let dns = stacks(&["dns"]);
    // APPLIED
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&net))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(w.orch.apply(s.id, &alice()).await.unwrap().state, SessionState::Applied);
    assert!(w.store.session_locks(s.id).await.unwrap().is_empty());
    // FAILED
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&dns))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(w.orch.apply(s.id, &alice()).await.unwrap().state, SessionState::Failed);
    assert!(w.store.session_locks(s.id).await.unwrap().is_empty());
    // EXPIRED
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "prod", Some(&net))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    assert_eq!(
        w.store.session_locks(s.id).await.unwrap().len(),
        1,
        "PLAN_READY keeps its stacks"
    );
    w.orch
        .expire_stale(s.plan_ready_at.unwrap() + chrono::Duration::hours(3))
        .await
        .unwrap();
    assert!(w.store.session_locks(s.id).await.unwrap().is_empty());
    // The stacks are free again.
    w.orch.start_session(&bob(), "ecommerce", "dev", None).await.unwrap();
    w.orch.start_session(&bob(), "ecommerce", "prod", None).await.unwrap();
}

#[tokio::test]
async fn a_provisional_stack_whose_re_preview_drifts_stops_the_apply_and_opens_a_follow_up() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc"])),
        ("security", creates(&["sg"])),
        ("dns", creates(&["zone"])),
        ("database-rds", creates(&["db"])),
    ]))
    .await;
    let mut events = w.orch.subscribe();
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "stage", None)
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    w.orch
        .approve(s.id, &bob(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    // network's new outputs change what security would do.
    w.engine.set(
        "security",
        StackScript {
            steps: vec![("sg", StepOp::Create), ("rule", StepOp::Create)],
            ..Default::default()
        },
    );

    let s = w.orch.apply(s.id, &bob()).await.unwrap();
    assert_eq!(s.state, SessionState::Failed);
    let reason = s.reason.clone().unwrap();
    assert!(
        reason
            .contains("stopped before security: its re-preview differs from the approved plan (now also create rule)"),
        "{reason}"
    );
    let rows: Vec<(String, StackState)> = w
        .orch
        .status(s.id)
        .await
        .unwrap()
        .stacks
        .into_iter()
        .map(|r| (r.stack.to_string(), r.state))
        .collect();
    // dns (re-previewed alongside security, unchanged) finishes; nothing new starts.
    assert_eq!(
        rows,
        vec![
            ("network".into(), StackState::Applied),
            ("security".into(), StackState::Skipped),
            ("dns".into(), StackState::Applied),
            ("database-rds".into(), StackState::Skipped),
        ]
    );
    let ups: Vec<String> = w.engine.calls().into_iter().filter(|c| c.starts_with("up ")).collect();
    assert_eq!(ups, vec!["up network", "up dns"], "nothing after the drift started");

    // The follow-up: linked, the remaining stacks, planned again, waiting for a fresh approval.
    let follow = w
        .orch
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.follow_up_of == Some(s.id))
        .expect("a follow-up");
    assert_eq!(follow.state, SessionState::PlanReady);
    assert_eq!(follow.requester, alice());
    assert_eq!(follow.stacks, stacks(&["security", "database-rds"]));
    assert_eq!(w.store.session_locks(follow.id).await.unwrap().len(), 2);
    assert!(w.store.approvals(follow.id).await.unwrap().is_empty());
    let mut opened = None;
    while let Ok(e) = events.try_recv() {
        if let SessionEventKind::FollowUpOpened { follow_up } = e.kind {
            opened = Some((e.session, follow_up));
        }
    }
    assert_eq!(opened, Some((s.id, follow.id)));

    // Approved and applied, the follow-up finishes the job.
    w.orch
        .approve(follow.id, &bob(), follow.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(
        w.orch.apply(follow.id, &bob()).await.unwrap().state,
        SessionState::Applied
    );
}

#[tokio::test]
async fn provisional_stacks_whose_re_preview_matches_are_applied() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc"])),
        ("security", creates(&["sg"])),
        (
            "dns",
            StackScript {
                steps: vec![("zone", StepOp::Same)],
                ..Default::default()
            },
        ),
        ("database-rds", creates(&["db"])),
    ]))
    .await;
    let s = w.orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    let provisional: Vec<String> = s
        .plan
        .as_ref()
        .unwrap()
        .stacks
        .iter()
        .filter(|e| e.provisional)
        .map(|e| e.stack.to_string())
        .collect();
    assert_eq!(provisional, vec!["security", "dns", "database-rds"]);
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(w.orch.apply(s.id, &alice()).await.unwrap().state, SessionState::Applied);
    let previews = |stack: &str| {
        w.engine
            .calls()
            .iter()
            .filter(|c| **c == format!("preview {stack}"))
            .count()
    };
    assert_eq!(
        (
            previews("network"),
            previews("security"),
            previews("dns"),
            previews("database-rds")
        ),
        (1, 2, 2, 2)
    );
}

#[tokio::test]
async fn the_sweeper_expires_stale_plans_on_its_clock_and_frees_their_stacks() {
    use std::sync::Mutex;
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "prod", Some(&stacks(&["network"])))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    let waiting = busy_session(
        w.orch
            .start_session(&bob(), "ecommerce", "prod", Some(&stacks(&["network"])))
            .await
            .unwrap_err(),
    );
    w.orch.queue_session(waiting, &bob()).await.unwrap();
    // Refused too, but nobody pressed Queue: abandoned.
    let abandoned = busy_session(
        w.orch
            .start_session(&carol(), "ecommerce", "prod", Some(&stacks(&["network"])))
            .await
            .unwrap_err(),
    );

    let now = Arc::new(Mutex::new(s.plan_ready_at.unwrap() + chrono::Duration::minutes(59)));
    let clock: cloud_core::policy::Clock = {
        let now = now.clone();
        Arc::new(move || *now.lock().unwrap())
    };
    let mut events = w.orch.subscribe();
    let stop = tokio_util::sync::CancellationToken::new();
    let sweeper = w
        .orch
        .spawn_sweeper(std::time::Duration::from_millis(5), clock, stop.clone());

    // The boundary itself is tested in orchestrator_sessions; here: the sweeper acts on its
    // clock, not the wall clock (the wall clock is far from the TTL).
    *now.lock().unwrap() += chrono::Duration::minutes(2);
    // Sync points: the queued session is granted, the abandoned draft is cancelled.
    let both = tokio::time::timeout(cloud_testkit::wait::SAFETY_NET, async {
        let (mut granted, mut cancelled) = (false, false);
        while !(granted && cancelled) {
            let e = events.recv().await.unwrap();
            granted |= e.session == waiting && e.kind == SessionEventKind::LocksGranted;
            cancelled |= e.session == abandoned
                && matches!(
                    e.kind,
                    SessionEventKind::StateChanged {
                        to: SessionState::Cancelled,
                        ..
                    }
                );
        }
    })
    .await;
    assert!(
        both.is_ok(),
        "the sweeper did not grant the queued session and cancel the abandoned one"
    );
    let expired = w.store.session(s.id).await.unwrap();
    assert_eq!(expired.state, SessionState::Expired);
    assert!(expired.reason.unwrap().contains("older than the 1h TTL of prod"));
    let gone = w.store.session(abandoned).await.unwrap();
    assert_eq!(gone.state, SessionState::Cancelled);
    assert!(gone
        .reason
        .unwrap()
        .contains("never started: its stacks were busy and it was not queued"));
    stop.cancel();
    sweeper.await.unwrap();
}

#[tokio::test]
async fn a_session_left_applying_by_a_dead_process_is_recovered_and_a_live_ones_is_not() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc"])),
        ("security", creates(&["sg"])),
    ]))
    .await;
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["network", "security"])))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    // What a killed process leaves behind: APPLYING, one stack done, one mid-update, and an
    // owner that no longer runs (this pid, but another start time: the pid was reused).
    sqlx::query("UPDATE sessions SET state = 'APPLYING', owner_pid = ?, owner_start = 'proc:1' WHERE id = ?")
        .bind(std::process::id() as i64)
        .bind(s.id.to_string())
        .execute(w.store.pool())
        .await
        .unwrap();
    w.store
        .set_stack_state(s.id, &"network".parse().unwrap(), StackState::Applied, None, None)
        .await
        .unwrap();
    w.store
        .set_stack_state(s.id, &"security".parse().unwrap(), StackState::Applying, None, None)
        .await
        .unwrap();
    let mut events = w.orch.subscribe();

    let reports = w.orch.recover().await.unwrap();
    assert_eq!(reports.len(), 1);
    let s = w.store.session(s.id).await.unwrap();
    assert_eq!(s.state, SessionState::Failed);
    assert!(
        s.reason.as_deref().unwrap().contains(&format!(
            "the process running this session (pid {}) died while it was APPLYING",
            std::process::id()
        )),
        "{:?}",
        s.reason
    );
    let rows = w.orch.status(s.id).await.unwrap().stacks;
    assert_eq!(rows[0].state, StackState::Applied, "what was applied stays applied");
    assert_eq!(rows[1].state, StackState::Failed);
    assert_eq!(
        rows[1].error.as_deref(),
        Some("interrupted: the process running the update died; 3 resource(s) in state; 1 pending operation(s), unknown state: creating vpc")
    );
    let calls = w.engine.calls();
    assert!(
        calls.contains(&"unlock security".to_string()) && calls.contains(&"export security".to_string()),
        "{calls:?}"
    );
    assert!(
        !calls.contains(&"unlock network".to_string()),
        "only in-flight stacks are unlocked: {calls:?}"
    );
    assert!(w.store.session_locks(s.id).await.unwrap().is_empty(), "locks released");
    let mut told = false;
    while let Ok(e) = events.try_recv() {
        if let SessionEventKind::Recovered { from, to, stacks } = e.kind {
            assert_eq!(
                (from, to, stacks.len()),
                (SessionState::Applying, SessionState::Failed, 1)
            );
            told = true;
        }
    }
    assert!(told, "the chat thread is told");

    // A session whose owner is alive (this very process) is not touched.
    let live = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["network"])))
        .await
        .unwrap();
    let live = w.orch.plan(live.id, &alice()).await.unwrap();
    sqlx::query("UPDATE sessions SET state = 'PLANNING' WHERE id = ?")
        .bind(live.id.to_string())
        .execute(w.store.pool())
        .await
        .unwrap();
    assert!(w.orch.recover().await.unwrap().is_empty());
    assert_eq!(w.store.session(live.id).await.unwrap().state, SessionState::Planning);
}

#[tokio::test]
async fn destroy_previews_deletions_and_walks_the_waves_in_reverse() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc"])),
        ("security", creates(&["sg"])),
        ("dns", creates(&["zone"])),
        ("database-rds", creates(&["db"])),
    ]))
    .await;
    let s = w.orch.start_destroy(&alice(), "ecommerce", "dev", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    let plan = s.plan.clone().unwrap();
    assert_eq!(plan.total_counts().get("delete"), Some(&4));
    assert!(plan.stacks.iter().all(|e| !e.provisional));
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(w.orch.apply(s.id, &alice()).await.unwrap().state, SessionState::Applied);
    let destroys: Vec<String> = w
        .engine
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("destroy "))
        .collect();
    // A stack goes only once every stack that depends on it is gone.
    let at = |stack: &str| {
        destroys
            .iter()
            .position(|c| c == &format!("destroy {stack}"))
            .unwrap_or_else(|| panic!("{stack} not destroyed: {destroys:?}"))
    };
    assert!(at("database-rds") < at("security"), "{destroys:?}");
    assert!(
        at("security") < at("network") && at("dns") < at("network"),
        "{destroys:?}"
    );
    assert_eq!(destroys.len(), 4);
}

fn set_config(w: &World, stack: &str, values: &[(&str, &str, bool)]) {
    use cloud_core::engine::ConfigValue;
    w.resolver.config.lock().unwrap().insert(
        stack.into(),
        values
            .iter()
            .map(|(k, v, secret)| ConfigValue {
                key: k.to_string(),
                value: v.to_string(),
                secret: *secret,
            })
            .collect(),
    );
}

async fn deploy_dev(w: &World, who: &Principal) -> SessionId {
    let s = w
        .orch
        .start_session(who, "ecommerce", "dev", Some(&stacks(&["network"])))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, who).await.unwrap();
    w.orch
        .approve(s.id, who, s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(w.orch.apply(s.id, who).await.unwrap().state, SessionState::Applied);
    s.id
}

#[tokio::test]
async fn rollback_restores_the_last_applied_configuration_through_plan_and_approval() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    set_config(
        &w,
        "network",
        &[
            ("network:instance", "small", false),
            ("network:token", "s3cret-one", true),
        ],
    );
    let good = deploy_dev(&w, &alice()).await;
    // Nothing differs from the manifest yet.
    let err = w
        .orch
        .start_rollback(&alice(), "ecommerce", "dev")
        .await
        .unwrap_err()
        .to_user();
    assert!(
        err.message.contains("nothing to roll back in ecommerce/dev"),
        "{}",
        err.message
    );

    set_config(
        &w,
        "network",
        &[
            ("network:instance", "large", false),
            ("network:cidr", "10.1.0.0/16", false),
            ("network:token", "s3cret-two", true),
        ],
    );
    deploy_dev(&w, &alice()).await;
    assert_eq!(
        w.engine.applied_config.lock().unwrap()["network"],
        vec![
            "network:instance=large",
            "network:cidr=10.1.0.0/16",
            "network:token=s3cret-two"
        ]
    );

    let s = w.orch.start_rollback(&bob(), "ecommerce", "dev").await.unwrap();
    assert_eq!((s.operation.as_str(), s.state), ("rollback", SessionState::Draft));
    let audit = w.store.audit_entries(Some(s.id)).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "session.rollback_of" && a.details["restores"] == good.to_string()),
        "{audit:?}"
    );
    let s = w.orch.plan(s.id, &bob()).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    w.orch
        .approve(s.id, &bob(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(w.orch.apply(s.id, &bob()).await.unwrap().state, SessionState::Applied);
    // The old values, the secret as configured now (secrets are never stored).
    assert_eq!(
        w.engine.applied_config.lock().unwrap()["network"],
        vec!["network:instance=small", "network:token=s3cret-two"]
    );
    let stored: Vec<String> = sqlx::query_scalar("SELECT config FROM session_stacks WHERE config IS NOT NULL")
        .fetch_all(w.store.pool())
        .await
        .unwrap();
    assert!(!stored.is_empty());
    assert!(stored.iter().all(|c| !c.contains("s3cret")), "{stored:?}");
}

#[tokio::test]
async fn independent_stacks_run_in_parallel_but_never_more_than_max_parallel() {
    use std::sync::atomic::Ordering;
    // Every update is held at its first step until the test opens the gate, so the updates
    // that may run at once are all running at once, however fast or slow the machine is.
    let gate = Gate::new();
    let held = |n: &'static str| StackScript {
        steps: vec![(n, StepOp::Create)],
        gate: Some(gate.clone()),
        ..Default::default()
    };
    let engine = FakeEngine::with(&[
        ("network", held("vpc")),
        ("security", held("sg")),
        ("dns", held("zone")),
        ("database-rds", held("db")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    store
        .sync_deployment(
            "D1BRV40",
            "acme-corp",
            "ecommerce",
            "aws",
            &["dev".into()],
            "deploy/D1BRV40-acme-corp-ecommerce",
        )
        .await
        .unwrap();
    // Four stacks without dependencies: one wave of four, two at a time.
    let resolver = MemoryResolver::new(vec![
        ("network", vec![]),
        ("security", vec![]),
        ("dns", vec![]),
        ("database-rds", vec![]),
    ]);
    let environments = [("dev".to_string(), EnvironmentPolicy::default_for("dev"))]
        .into_iter()
        .collect();
    let orch = Orchestrator::new(
        store,
        engine.clone(),
        resolver,
        OrchestratorSettings {
            environments,
            max_parallel: 2,
            lease_ttl: cloud_core::orchestrator::DEFAULT_LEASE_TTL,
        },
    );
    let s = orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let s = orch.plan(s.id, &alice()).await.unwrap();
    orch.approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    let apply = tokio::spawn({
        let orch = orch.clone();
        async move { orch.apply(s.id, &alice()).await }
    });
    gate.arrived(2).await;
    assert_eq!(engine.in_flight.load(Ordering::SeqCst), 2, "two updates run, two wait");
    gate.open();
    assert_eq!(apply.await.unwrap().unwrap().state, SessionState::Applied);
    assert_eq!(engine.max_in_flight.load(Ordering::SeqCst), 2);
    assert_eq!(engine.calls().iter().filter(|c| c.starts_with("up ")).count(), 4);
}

#[tokio::test]
async fn a_plan_left_running_by_a_dead_process_ends_plan_failed_and_frees_its_stacks() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc"])),
        ("dns", creates(&["zone"])),
    ]))
    .await;
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["network", "dns"])))
        .await
        .unwrap();
    sqlx::query("UPDATE sessions SET state = 'PLANNING', owner_pid = ?, owner_start = 'proc:1' WHERE id = ?")
        .bind(std::process::id() as i64)
        .bind(s.id.to_string())
        .execute(w.store.pool())
        .await
        .unwrap();
    w.store
        .set_stack_state(s.id, &"network".parse().unwrap(), StackState::Previewed, None, None)
        .await
        .unwrap();
    w.store
        .set_stack_state(s.id, &"dns".parse().unwrap(), StackState::Previewing, None, None)
        .await
        .unwrap();

    let reports = w.orch.recover().await.unwrap();
    assert_eq!(reports.len(), 1);
    let s = w.store.session(s.id).await.unwrap();
    assert_eq!(s.state, SessionState::PlanFailed);
    let rows = w.orch.status(s.id).await.unwrap().stacks;
    assert_eq!(rows[1].state, StackState::Failed);
    assert!(
        rows[1]
            .error
            .as_deref()
            .unwrap()
            .starts_with("interrupted: the process running the preview died; "),
        "{:?}",
        rows[1].error
    );
    assert!(
        !w.engine.calls().contains(&"unlock dns".to_string()),
        "a preview holds no engine lock"
    );
    // Nobody drives it any more: its stacks are free at once (issue 15.4), audited as the system.
    assert!(w.store.session_locks(s.id).await.unwrap().is_empty());
    assert!(w
        .store
        .audit_entries(Some(s.id))
        .await
        .unwrap()
        .iter()
        .any(|e| e.action == "locks.release" && e.actor == "system:recovery"));
    // PLAN_FAILED is not final: a retry takes the stacks again.
    assert_eq!(
        w.orch.plan(s.id, &alice()).await.unwrap().state,
        SessionState::PlanReady
    );
}

#[tokio::test]
async fn drafts_nobody_will_plan_are_cancelled_after_the_ttl_and_queued_ones_wait() {
    let w = world(FakeEngine::with(&[])).await;
    let net = stacks(&["network"]);
    let holder = w
        .orch
        .start_session(&alice(), "ecommerce", "prod", Some(&net))
        .await
        .unwrap();
    let queued = busy_session(
        w.orch
            .start_session(&bob(), "ecommerce", "prod", Some(&net))
            .await
            .unwrap_err(),
    );
    w.orch.queue_session(queued, &bob()).await.unwrap();
    let refused = busy_session(
        w.orch
            .start_session(&carol(), "ecommerce", "prod", Some(&net))
            .await
            .unwrap_err(),
    );
    let now = chrono::Utc::now();

    // Within prod's 1 h TTL nothing happens.
    assert!(w
        .orch
        .cancel_abandoned_drafts(now + chrono::Duration::minutes(59))
        .await
        .unwrap()
        .is_empty());
    // Past it: the refused draft and the holder that never planned go; the queued one waits, and
    // gets the stacks.
    let mut gone = w
        .orch
        .cancel_abandoned_drafts(now + chrono::Duration::minutes(61))
        .await
        .unwrap();
    gone.sort();
    let mut expected = vec![holder.id, refused];
    expected.sort();
    assert_eq!(gone, expected);
    assert!(w
        .store
        .session(holder.id)
        .await
        .unwrap()
        .reason
        .unwrap()
        .contains("never planned: it held its stacks for longer than the 1h TTL of prod"));
    assert_eq!(w.store.session(queued).await.unwrap().state, SessionState::Draft);
    assert_eq!(
        w.store.session_locks(queued).await.unwrap().len(),
        1,
        "the queue moved on"
    );
    // Its TTL counts from when it got the stacks.
    assert!(w
        .orch
        .cancel_abandoned_drafts(now + chrono::Duration::minutes(30))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        w.orch
            .cancel_abandoned_drafts(now + chrono::Duration::minutes(62))
            .await
            .unwrap(),
        vec![queued]
    );
}

/// Issue 15.3/15.4: a process on another host drove sessions and stopped renewing their leases
/// (it died, froze or lost the database). Whatever state each was in, the next sweep ends it as
/// the system and frees its stacks at once — not after the plan TTL.
#[tokio::test]
async fn sessions_whose_driver_stopped_renewing_its_lease_are_taken_over_in_any_state() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc"])),
        ("security", creates(&["sg"])),
        ("dns", creates(&["zone"])),
    ]))
    .await;
    let gone = "another-host/4242/proc:1/0123456789ab";
    let draft = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["network"])))
        .await
        .unwrap();
    let ready = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["security"])))
        .await
        .unwrap();
    w.orch.plan(ready.id, &alice()).await.unwrap();
    let approved = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&stacks(&["dns"])))
        .await
        .unwrap();
    let planned = w.orch.plan(approved.id, &alice()).await.unwrap();
    w.orch
        .approve(approved.id, &alice(), planned.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    for id in [draft.id, ready.id, approved.id] {
        // Taken by the remote driver; expired at once (it never renews).
        w.store.take_lease(id, gone, Duration::ZERO).await.unwrap();
    }
    // A live driver's lease is left alone.
    let live = w
        .orch
        .start_session(&bob(), "ecommerce", "stage", Some(&stacks(&["network"])))
        .await
        .unwrap();
    let guard = w.orch.drive(live.id).await.unwrap();

    let mut reports = w.orch.recover().await.unwrap();
    reports.sort_by_key(|r| r.from.to_string());
    assert_eq!(
        reports.iter().map(|r| (r.from, r.session.state)).collect::<Vec<_>>(),
        [
            (SessionState::Approved, SessionState::Cancelled),
            (SessionState::Draft, SessionState::Cancelled),
            (SessionState::PlanReady, SessionState::Cancelled),
        ]
    );
    for id in [draft.id, ready.id, approved.id] {
        let s = w.store.session(id).await.unwrap();
        assert!(
            s.reason
                .as_deref()
                .unwrap()
                .contains("(pid 4242 on another-host) stopped while it was"),
            "{:?}",
            s.reason
        );
        assert!(
            w.store.session_locks(id).await.unwrap().is_empty(),
            "stacks freed at once"
        );
        assert_eq!(w.store.lease(id).await.unwrap(), None, "the lease is given back");
        let audit = w.store.audit_entries(Some(id)).await.unwrap();
        assert_eq!(audit.last().unwrap().actor, "system:recovery");
    }
    assert_eq!(w.store.session(live.id).await.unwrap().state, SessionState::Draft);
    assert!(w.orch.recover().await.unwrap().is_empty(), "nothing twice");
    guard.release().await;

    // The stacks deploy again right away.
    let again = w
        .orch
        .start_session(
            &alice(),
            "ecommerce",
            "dev",
            Some(&stacks(&["network", "security", "dns"])),
        )
        .await
        .unwrap();
    let again = w.orch.plan(again.id, &alice()).await.unwrap();
    w.orch
        .approve(again.id, &alice(), again.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(
        w.orch.apply(again.id, &alice()).await.unwrap().state,
        SessionState::Applied
    );
}
