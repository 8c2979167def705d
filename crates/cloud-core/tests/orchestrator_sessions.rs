//! Sessions driven through the orchestrator the way chat adapters and the CLI drive them.

use cloud_testkit::fake_engine;

use cloud_core::engine::StepOp;
use cloud_core::orchestrator::SessionEventKind;
use cloud_domain::error::ExitCode;
use cloud_domain::session::{Principal, SessionState, StackState};
use fake_engine::{creates, world, FakeEngine, Gate, StackScript};

fn alice() -> Principal {
    Principal::cli("alice")
}
fn bob() -> Principal {
    Principal::cli("bob")
}

#[tokio::test]
async fn alice_deploys_to_stage_and_bob_approves() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc", "subnet-a"])),
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
    let mut events = w.orch.subscribe();

    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "stage", None)
        .await
        .unwrap();
    assert_eq!(s.state, SessionState::Draft);
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    let plan = s.plan.clone().unwrap();
    assert_eq!(plan.total_counts().get("create"), Some(&4));
    // Stacks downstream of a changing stack saw old outputs: provisional.
    let provisional: Vec<(String, bool)> = plan
        .stacks
        .iter()
        .map(|e| (e.stack.to_string(), e.provisional))
        .collect();
    assert_eq!(
        provisional,
        vec![
            ("network".into(), false),
            ("security".into(), true),
            ("dns".into(), true),
            ("database-rds".into(), true),
        ]
    );
    let digest = s.digest.clone().unwrap();

    // Alice may not approve her own stage session.
    let err = w
        .orch
        .approve(s.id, &alice(), digest.short())
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Denied);
    assert!(err.message.contains("four-eyes"), "{}", err.message);

    let s = w.orch.approve(s.id, &bob(), digest.short()).await.unwrap();
    assert_eq!(s.state, SessionState::Approved);
    let s = w.orch.apply(s.id, &bob()).await.unwrap();
    assert_eq!(s.state, SessionState::Applied);

    let view = w.orch.status(s.id).await.unwrap();
    assert!(
        view.stacks.iter().all(|r| r.state == StackState::Applied),
        "{:?}",
        view.stacks
    );
    assert_eq!(
        view.stacks
            .iter()
            .find(|r| r.stack.as_str() == "network")
            .unwrap()
            .counts
            .get("create"),
        Some(&2)
    );
    // Over the DAG: network first, database-rds after security (dns may run alongside).
    let ups: Vec<String> = w.engine.calls().into_iter().filter(|c| c.starts_with("up ")).collect();
    assert_eq!(ups.first().unwrap(), "up network");
    let at = |s: &str| ups.iter().position(|c| c == &format!("up {s}")).unwrap();
    assert!(at("security") < at("database-rds"), "{ups:?}");

    let logs = w.orch.store().logs(s.id, 0).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.stack == "network" && l.line == "create aws:s3/bucket:Bucket vpc done"),
        "{logs:?}"
    );

    let mut states = vec![];
    while let Ok(event) = events.try_recv() {
        if let SessionEventKind::StateChanged { to, .. } = event.kind {
            states.push(to);
        }
    }
    use SessionState::*;
    assert_eq!(states, vec![Planning, PlanReady, Approved, Applying, Applied]);
}

#[tokio::test]
async fn in_dev_the_requester_may_approve_her_own_plan() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let s = w
        .orch
        .start_session(&alice(), "ecommerce", "dev", Some(&["network".parse().unwrap()]))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    let s = w
        .orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    assert_eq!(s.state, SessionState::Approved);
}

#[tokio::test]
async fn a_failed_preview_fails_the_plan_and_a_retry_recovers() {
    let w = world(FakeEngine::with(&[(
        "security",
        StackScript {
            preview_error: Some("error: aws:ec2:SecurityGroup invalid ingress".into()),
            ..Default::default()
        },
    )]))
    .await;
    let s = w.orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    assert_eq!(s.state, SessionState::PlanFailed);
    assert!(
        s.reason.as_deref().unwrap().contains("security: preview of"),
        "{:?}",
        s.reason
    );
    let view = w.orch.status(s.id).await.unwrap();
    let sec = view.stacks.iter().find(|r| r.stack.as_str() == "security").unwrap();
    assert_eq!(sec.state, StackState::Failed);
    assert!(sec.error.as_deref().unwrap().contains("invalid ingress"));

    w.engine.set("security", creates(&["sg"]));
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
}

#[tokio::test]
async fn a_failed_stack_skips_its_dependents_and_independent_stacks_finish() {
    let w = world(FakeEngine::with(&[
        ("network", creates(&["vpc"])),
        (
            "security",
            StackScript {
                steps: vec![("sg", StepOp::Create)],
                up_error: Some("AccessDenied".into()),
                ..Default::default()
            },
        ),
        ("dns", creates(&["zone"])),
        ("database-rds", creates(&["db"])),
    ]))
    .await;
    let s = w.orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    let s = w.orch.apply(s.id, &alice()).await.unwrap();
    assert_eq!(s.state, SessionState::Failed);
    assert!(s.reason.as_deref().unwrap().contains("AccessDenied"));
    let states: Vec<(String, StackState)> = w
        .orch
        .status(s.id)
        .await
        .unwrap()
        .stacks
        .into_iter()
        .map(|r| (r.stack.to_string(), r.state))
        .collect();
    assert!(states.contains(&("network".into(), StackState::Applied)));
    assert!(
        states.contains(&("dns".into(), StackState::Applied)),
        "independent stack of the same wave finishes"
    );
    assert!(states.contains(&("security".into(), StackState::Failed)));
    assert!(states.contains(&("database-rds".into(), StackState::Skipped)));
    assert!(!w.engine.calls().contains(&"up database-rds".to_string()));
}

#[tokio::test]
async fn cancelling_a_running_apply_stops_it_gracefully() {
    let gate = Gate::new();
    let held = StackScript {
        steps: vec![("a", StepOp::Create), ("b", StepOp::Create)],
        gate: Some(gate.clone()),
        ..Default::default()
    };
    let w = world(FakeEngine::with(&[("network", held)])).await;
    let s = w.orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    let orch = w.orch.clone();
    let id = s.id;
    let apply = tokio::spawn(async move { orch.apply(id, &alice()).await });
    // The update of network is running (held at its first step): cancel it now.
    gate.arrived(1).await;
    assert_eq!(w.orch.store().session(id).await.unwrap().state, SessionState::Applying);
    w.orch.cancel(id, &bob(), "wrong window").await.unwrap();
    let s = apply.await.unwrap().unwrap();
    assert_eq!(s.state, SessionState::Cancelled);
    let view = w.orch.status(id).await.unwrap();
    assert!(view.stacks.iter().any(|r| r.state == StackState::Skipped));
    let audit = w.orch.store().audit_entries(Some(id)).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "session.cancel_requested" && a.actor == "cli:bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_from_another_process_stops_a_running_apply_within_a_second() {
    let gate = Gate::new();
    let held = StackScript {
        steps: vec![("a", StepOp::Create), ("b", StepOp::Create)],
        gate: Some(gate.clone()),
        ..Default::default()
    };
    let w = world(FakeEngine::with(&[("network", held)])).await;
    let s = w.orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    let orch = w.orch.clone();
    let id = s.id;
    let apply = tokio::spawn(async move { orch.apply(id, &alice()).await });
    gate.arrived(1).await;
    // An admin's `cloud cancel` in another process: its own store on the same database file
    // (nothing shared in memory), its own orchestrator.
    let other_store = cloud_core::store::Store::open(&w.store_url()).await.unwrap();
    let other = w.orchestrator_on(other_store);
    let asked = std::time::Instant::now();
    let answer = other.cancel(id, &bob(), "wrong window").await.unwrap();
    assert_eq!(
        answer.state,
        SessionState::Applying,
        "the running process records the outcome"
    );
    let s = apply.await.unwrap().unwrap();
    let took = asked.elapsed();
    assert_eq!(s.state, SessionState::Cancelled);
    assert!(
        took < std::time::Duration::from_secs(1),
        "the apply stopped {took:?} after the cancel was asked"
    );
    let view = w.orch.status(id).await.unwrap();
    assert!(view.stacks.iter().any(|r| r.state == StackState::Skipped));
    let audit = w.orch.store().audit_entries(Some(id)).await.unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "session.cancel_requested" && a.actor == "cli:bob"));
}

#[tokio::test]
async fn an_edited_program_after_approval_is_refused_until_refreshed() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let s = w.orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    w.orch
        .approve(s.id, &alice(), s.digest.as_ref().unwrap().short())
        .await
        .unwrap();
    w.resolver
        .hashes
        .lock()
        .unwrap()
        .insert("network".into(), "edited".into());
    let err = w.orch.apply(s.id, &alice()).await.unwrap_err().to_user();
    assert!(
        err.message.contains("changed since the plan was approved"),
        "{}",
        err.message
    );
    assert_eq!(
        w.orch.store().session(s.id).await.unwrap().state,
        SessionState::Approved
    );
}

#[tokio::test]
async fn a_refresh_with_an_identical_plan_keeps_approvals_and_a_changed_plan_clears_them() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let s = w.orch.start_session(&alice(), "ecommerce", "prod", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    let first = s.digest.clone().unwrap();
    w.orch.approve(s.id, &bob(), first.short()).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    assert_eq!(s.digest.as_ref(), Some(&first));
    assert_eq!(
        w.orch.store().approvals(s.id).await.unwrap().len(),
        1,
        "same digest keeps approvals"
    );

    w.engine.set("network", creates(&["vpc", "igw"]));
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    assert_ne!(s.digest.as_ref(), Some(&first));
    assert!(
        w.orch.store().approvals(s.id).await.unwrap().is_empty(),
        "new digest clears approvals"
    );
    let err = w
        .orch
        .approve(s.id, &Principal::cli("carol"), first.short())
        .await
        .unwrap_err()
        .to_user();
    assert!(err.message.contains("the plan is now"), "{}", err.message);
}

#[tokio::test]
async fn plans_older_than_the_environment_ttl_expire() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let s = w.orch.start_session(&alice(), "ecommerce", "prod", None).await.unwrap();
    let s = w.orch.plan(s.id, &alice()).await.unwrap();
    let ready_at = s.plan_ready_at.unwrap();
    assert!(w
        .orch
        .expire_stale(ready_at + chrono::Duration::minutes(59))
        .await
        .unwrap()
        .is_empty());
    let expired = w
        .orch
        .expire_stale(ready_at + chrono::Duration::minutes(61))
        .await
        .unwrap();
    assert_eq!(expired, vec![s.id]);
    assert_eq!(w.orch.store().session(s.id).await.unwrap().state, SessionState::Expired);
}

#[tokio::test]
async fn unknown_project_or_environment_is_invalid_input_and_writes_nothing() {
    let w = world(FakeEngine::with(&[])).await;
    let err = w
        .orch
        .start_session(&alice(), "shop", "dev", None)
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Invalid);
    assert!(err.message.contains("unknown project `shop`"), "{}", err.message);
    let err = w
        .orch
        .start_session(&alice(), "ecommerce", "qa", None)
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Invalid);
    assert!(
        err.message
            .contains("unknown environment `qa`; known environments: dev, prod, stage"),
        "{}",
        err.message
    );
    assert!(w.orch.list(&Default::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_illegal_transition_is_a_clear_error() {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc"]))])).await;
    let s = w.orch.start_session(&alice(), "ecommerce", "dev", None).await.unwrap();
    let err = w.orch.apply(s.id, &alice()).await.unwrap_err().to_user();
    assert!(
        err.message.contains("only an APPROVED session can be applied"),
        "{}",
        err.message
    );
    let s = w.orch.cancel(s.id, &alice(), "not needed").await.unwrap();
    assert_eq!(s.state, SessionState::Cancelled);
    let err = w.orch.cancel(s.id, &alice(), "again").await.unwrap_err().to_user();
    assert_eq!(
        err.message,
        format!(
            "session {} is CANCELLED (cancelled by cli:alice: not needed); nothing left to cancel",
            s.id.short()
        )
    );
}
