//! Quotas through the orchestrator: concurrent sessions refused before planning; resulting
//! resources and estimated monthly cost checked after the plan; an over-quota plan is shown with
//! the reason, cannot be approved, unless an admin approves it with an override reason (audited).

use cloud_testkit::fake_engine;

use std::sync::Arc;

use cloud_chat::view::LobbyView;
use cloud_core::config::EnvironmentPolicy;
use cloud_core::engine::StepOp;
use cloud_core::orchestrator::{GrantExpiry, GrantParams, Orchestrator, OrchestratorSettings, PolicySettings};
use cloud_core::policy::{QuotaKey, Role};
use cloud_core::store::Store;
use cloud_domain::error::ExitCode;
use cloud_domain::session::{Principal, SessionId, SessionState};
use fake_engine::{FakeEngine, MemoryResolver, StackScript};

/// The fake engine's resources are all `aws:s3/bucket:Bucket` (priced $0.23 a month).
const BUCKET: &str = "aws:s3/bucket:Bucket";

struct World {
    orch: Arc<Orchestrator>,
    store: Store,
    engine: Arc<FakeEngine>,
    _dir: tempfile::TempDir,
}

fn root() -> Principal {
    Principal::cli("root")
}

fn buckets(names: &[&'static str]) -> StackScript {
    StackScript {
        steps: names.iter().map(|n| (*n, StepOp::Create)).collect(),
        ..Default::default()
    }
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    store
        .sync_deployment(
            "D1BRV40",
            "acme-corp",
            "ecommerce",
            "aws",
            &["dev".into(), "stage".into(), "prod".into()],
            "deploy/x",
        )
        .await
        .unwrap();
    let engine = FakeEngine::with(&[
        ("network", buckets(&["logs", "assets"])),
        ("security", buckets(&["audit"])),
    ]);
    let resolver = MemoryResolver::new(vec![("network", vec![]), ("security", vec!["network"])]);
    let environments = ["dev", "stage", "prod"]
        .iter()
        .map(|e| (e.to_string(), EnvironmentPolicy::default_for(e)))
        .collect();
    let orch = Orchestrator::with_policy(
        store.clone(),
        engine.clone(),
        resolver,
        OrchestratorSettings {
            environments,
            max_parallel: 2,
            lease_ttl: cloud_core::orchestrator::DEFAULT_LEASE_TTL,
        },
        PolicySettings::strict(vec![root()]),
    );
    for (who, role) in [
        ("alice", Role::Deploy),
        ("bob", Role::Approve),
        ("carol", Role::Approve),
    ] {
        orch.grant(
            &root(),
            GrantParams {
                principal: Principal::cli(who),
                project: "ecommerce".into(),
                env: None,
                role,
                expiry: GrantExpiry::Never,
                reason: "team".into(),
            },
        )
        .await
        .unwrap();
    }
    World {
        orch,
        store,
        engine,
        _dir: dir,
    }
}

async fn ready(w: &World, who: &str, env: &str) -> (SessionId, String) {
    let s = w
        .orch
        .start_session(&Principal::cli(who), "ecommerce", env, None)
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &Principal::cli(who)).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady, "{:?}", s.reason);
    (s.id, s.digest.unwrap().0)
}

#[tokio::test]
async fn concurrent_sessions_are_refused_before_planning() {
    let w = world().await;
    w.orch.quota_set(&root(), "ecommerce", "sessions", 1.0).await.unwrap();
    let (first, _) = ready(&w, "alice", "dev").await;
    let err = w
        .orch
        .start_session(&Principal::cli("alice"), "ecommerce", "stage", None)
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Denied);
    assert!(
        err.message
            .contains("already has 1 open session(s) and its quota allows 1"),
        "{}",
        err.message
    );
    assert_eq!(
        w.engine.calls().iter().filter(|c| c.starts_with("preview")).count(),
        2,
        "nothing else previewed"
    );
    // Finishing the first frees the slot.
    w.orch.cancel(first, &Principal::cli("alice"), "done").await.unwrap();
    ready(&w, "alice", "stage").await;
    let usage = w.orch.quota_show(&root(), "ecommerce").await.unwrap();
    assert_eq!(usage.render(), "Quotas of ecommerce:\n  sessions 1/1 ▓▓▓▓▓▓▓▓▓▓ 100%\n");
}

#[tokio::test]
async fn an_over_quota_plan_is_shown_with_the_reason_and_needs_an_admin_override() {
    let w = world().await;
    w.orch.quota_set(&root(), "ecommerce", BUCKET, 2.0).await.unwrap();
    let (id, digest) = ready(&w, "alice", "prod").await;

    // The lobby (session view) says why.
    let view = w.orch.status(id).await.unwrap();
    let quota = view.quota.clone().unwrap();
    assert!(quota.is_over());
    assert_eq!(quota.reason(), "aws:s3/bucket:Bucket would be 3 (limit 2)");
    assert_eq!(
        quota.projected[0].render(),
        "aws:s3/bucket:Bucket 3/2 ▓▓▓▓▓▓▓▓▓▓ 150% OVER"
    );
    let cost = view.cost.clone().unwrap();
    assert!((cost.total_delta - 3.0 * 0.23).abs() < 1e-9, "{cost:?}");

    // The chat lobby renders the same facts: cost, bars, and a disabled Approve that says why.
    let lobby = LobbyView::new(&view, &Default::default());
    assert_eq!(
        lobby.cost.as_ref().unwrap().text(),
        "+$0.69/month, +$0.001/hour (now $0.00 → $0.69; us-east-1 prices)"
    );
    let bars: Vec<String> = lobby.quotas.as_ref().unwrap().iter().map(|b| b.line()).collect();
    assert_eq!(bars.len(), 1);
    assert!(
        bars[0].starts_with("aws:s3/bucket:Bucket") && bars[0].ends_with("0 → 3 / 2  ⚠ over"),
        "{bars:?}"
    );
    let approve = &lobby.buttons[0];
    assert!(!approve.enabled);
    assert!(
        approve.why_disabled.as_deref().unwrap().contains("--override-reason"),
        "{:?}",
        approve.why_disabled
    );

    // An approver cannot approve it; neither can they override.
    let err = w
        .orch
        .approve(id, &Principal::cli("bob"), &digest)
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Denied);
    assert!(
        err.message
            .contains("over the quota of ecommerce: aws:s3/bucket:Bucket would be 3 (limit 2)"),
        "{}",
        err.message
    );
    assert!(err.message.contains("--override-reason"), "{}", err.message);
    let err = w
        .orch
        .approve_override(id, &Principal::cli("bob"), &digest, "please")
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Denied);
    assert!(
        err.message.starts_with("you need `admin` on ecommerce/prod"),
        "{}",
        err.message
    );
    assert!(
        w.orch.status(id).await.unwrap().approvals.is_empty(),
        "nothing recorded"
    );

    // An admin overrides with a reason; the second prod approver then approves normally.
    let err = w
        .orch
        .approve_override(id, &root(), &digest, " ")
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Invalid);
    let s = w
        .orch
        .approve_override(id, &root(), &digest, "launch week, capacity agreed with finance")
        .await
        .unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    // The lobby enables Approve for the remaining (ordinary) approval.
    let lobby = LobbyView::new(&w.orch.status(id).await.unwrap(), &Default::default());
    assert!(lobby.buttons[0].enabled, "{:?}", lobby.buttons[0].why_disabled);
    let s = w.orch.approve(id, &Principal::cli("bob"), &digest).await.unwrap();
    assert_eq!(s.state, SessionState::Approved);

    let rows = w.store.audit_entries(Some(id)).await.unwrap();
    let over = rows
        .iter()
        .find(|e| e.action == "session.approve_override")
        .expect("override audited");
    assert_eq!(over.actor, "cli:root");
    assert_eq!(
        over.details["override_reason"],
        "launch week, capacity agreed with finance"
    );
}

#[tokio::test]
async fn usage_counts_what_is_applied_in_every_environment_plus_the_plan() {
    let w = world().await;
    // dev applied: 3 buckets.
    let (id, digest) = ready(&w, "bob", "dev").await;
    w.orch.approve(id, &Principal::cli("bob"), &digest).await.unwrap();
    w.orch.apply(id, &Principal::cli("bob")).await.unwrap();
    w.orch.quota_set(&root(), "ecommerce", BUCKET, 5.0).await.unwrap();
    w.orch.quota_set(&root(), "ecommerce", "cost", 1.0).await.unwrap();
    let usage = w.orch.quota_show(&root(), "ecommerce").await.unwrap();
    assert_eq!(
        usage.render(),
        "Quotas of ecommerce:\n  cost                 $0.69/$1.00 ▓▓▓▓▓▓▓░░░ 69%\n  aws:s3/bucket:Bucket 3/5 ▓▓▓▓▓▓░░░░ 60%\n"
    );
    // A stage plan adds 3 more: 6 > 5 buckets, $1.38 > $1.00.
    let (id, _) = ready(&w, "alice", "stage").await;
    let quota = w.orch.status(id).await.unwrap().quota.unwrap();
    let over: Vec<&QuotaKey> = quota.violations.iter().map(|v| &v.key).collect();
    assert_eq!(over, vec![&QuotaKey::MonthlyCost, &QuotaKey::Resources(BUCKET.into())]);
    assert_eq!(
        quota.reason(),
        "estimated monthly cost $1.38 would exceed the limit $1.00; aws:s3/bucket:Bucket would be 6 (limit 5)"
    );
    // Re-planning dev replaces dev's own resources instead of adding to them: within quota.
    let (id, _) = ready(&w, "alice", "dev").await;
    assert!(!w.orch.status(id).await.unwrap().quota.unwrap().is_over());
}

#[tokio::test]
async fn bad_quota_input_is_refused_and_writes_nothing() {
    let w = world().await;
    let before = w.store.audit_entries(None).await.unwrap().len();
    for (project, key, limit, expected) in [
        ("ecommerce", "vm", -1.0, "must be a number ≥ 0"),
        ("ecommerce", "vm", 1e12, "absurd"),
        ("ecommerce", "vm", 2.5, "whole number"),
        ("ecommerce", "cost", f64::NAN, "must be a number"),
        ("ecommerce", "cpus", 3.0, "unknown quota key `cpus`"),
        ("nope", "vm", 3.0, "unknown project `nope`"),
    ] {
        let err = w
            .orch
            .quota_set(&root(), project, key, limit)
            .await
            .unwrap_err()
            .to_user();
        assert_eq!(err.code, ExitCode::Invalid, "{}", err.message);
        assert!(err.message.contains(expected), "expected `{expected}`: {}", err.message);
    }
    assert!(w.store.quotas("ecommerce").await.unwrap().is_empty());
    assert_eq!(w.store.audit_entries(None).await.unwrap().len(), before);
    // Setting a quota is admin work, and audited with the previous value.
    let err = w
        .orch
        .quota_set(&Principal::cli("bob"), "ecommerce", "vm", 3.0)
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Denied);
    w.orch.quota_set(&root(), "ecommerce", "vm", 3.0).await.unwrap();
    w.orch.quota_set(&root(), "ecommerce", "vm", 4.0).await.unwrap();
    let last = w.store.audit_entries(None).await.unwrap().pop().unwrap();
    assert_eq!(last.action, "quota.set");
    assert_eq!(last.details["key"], "aws:ec2/instance:Instance");
    assert_eq!(last.details["previous"], 3.0);
}

#[tokio::test]
async fn a_follow_up_fits_the_session_quota_its_failed_parent_leaves() {
    let w = world().await;
    w.orch.quota_set(&root(), "ecommerce", "sessions", 1.0).await.unwrap();
    let (id, digest) = ready(&w, "alice", "stage").await;
    w.orch.approve(id, &Principal::cli("bob"), &digest).await.unwrap();
    // security (provisional: network changes) re-previews differently at apply time.
    w.engine.set("security", buckets(&["audit", "extra"]));
    let s = w.orch.apply(id, &Principal::cli("bob")).await.unwrap();
    assert_eq!(s.state, SessionState::Failed, "{:?}", s.reason);
    let follow = w
        .orch
        .list(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.follow_up_of == Some(id))
        .expect("a follow-up: the failed parent no longer counts against the quota of 1 session");
    assert_eq!(follow.state, SessionState::PlanReady, "{:?}", follow.reason);
    assert_eq!(follow.requester, Principal::cli("alice"));
    // People still meet the quota: the follow-up is the one open session.
    let err = w
        .orch
        .start_session(&Principal::cli("alice"), "ecommerce", "dev", None)
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Denied);
}
