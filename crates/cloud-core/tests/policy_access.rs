//! Access and four-eyes rules through the orchestrator, as the chat adapters and the CLI drive
//! it: a generated permission matrix (every role × intent × environment), self-approval,
//! distinct approvers, a grant that expires between the plan and the click, revokes, chat-group
//! role mappings, admin functions and their audit rows.

use cloud_testkit::fake_engine;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cloud_core::config::{EnvironmentPolicy, RoleMapping};
use cloud_core::engine::StepOp;
use cloud_core::orchestrator::{
    GrantExpiry, GrantParams, GrantsFilter, Orchestrator, OrchestratorSettings, PolicySettings,
};
use cloud_core::policy::{Actor, Intent, Pricing, Role};
use cloud_core::store::{SessionFilter, Store};
use cloud_domain::error::ExitCode;
use cloud_domain::session::{Platform, Principal, SessionId, SessionState};
use fake_engine::{FakeEngine, MemoryResolver, StackScript};

const ENVS: [&str; 3] = ["dev", "stage", "prod"];

struct World {
    orch: Arc<Orchestrator>,
    store: Store,
    clock: Arc<Mutex<DateTime<Utc>>>,
    _dir: tempfile::TempDir,
}

impl World {
    fn advance(&self, by: Duration) {
        let mut now = self.clock.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }
}

fn root() -> Principal {
    Principal::cli("root")
}

fn user(name: &str) -> Principal {
    Principal::cli(name)
}

/// A world where only `cli:root` is a bootstrap admin; everyone else needs grants.
async fn world_with(role_mappings: Vec<RoleMapping>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).await.unwrap();
    store
        .sync_deployment(
            "D1BRV40",
            "acme-corp",
            "ecommerce",
            "aws",
            &ENVS.map(String::from),
            "deploy/D1BRV40-acme-corp-ecommerce",
        )
        .await
        .unwrap();
    let engine = FakeEngine::with(&[
        (
            "network",
            StackScript {
                steps: vec![("vpc", StepOp::Create)],
                ..Default::default()
            },
        ),
        (
            "security",
            StackScript {
                steps: vec![("sg", StepOp::Create)],
                ..Default::default()
            },
        ),
    ]);
    let resolver = MemoryResolver::new(vec![("network", vec![]), ("security", vec!["network"])]);
    let environments = ENVS
        .iter()
        .map(|e| (e.to_string(), EnvironmentPolicy::default_for(e)))
        .collect();
    let clock = Arc::new(Mutex::new(Utc::now()));
    let c = clock.clone();
    let policy = PolicySettings {
        admins: vec![root()],
        role_mappings,
        local_cli_admin: false,
        pricing: Arc::new(Pricing::builtin()),
        clock: Arc::new(move || *c.lock().unwrap()),
    };
    let orch = Orchestrator::with_policy(
        store.clone(),
        engine,
        resolver,
        OrchestratorSettings {
            environments,
            max_parallel: 2,
            lease_ttl: cloud_core::orchestrator::DEFAULT_LEASE_TTL,
        },
        policy,
    );
    World {
        orch,
        store,
        clock,
        _dir: dir,
    }
}

async fn world() -> World {
    world_with(vec![]).await
}

async fn grant(w: &World, who: &Principal, env: Option<&str>, role: Role, expiry: GrantExpiry) -> String {
    w.orch
        .grant(
            &root(),
            GrantParams {
                principal: who.clone(),
                project: "ecommerce".into(),
                env: env.map(String::from),
                role,
                expiry,
                reason: "test".into(),
            },
        )
        .await
        .unwrap()
        .id
}

/// Cancel (as the admin) the open sessions of `env`: each session holds its stacks' locks, and
/// these tests open many sessions of the same stacks one after the other.
async fn clear(w: &World, env: &str) {
    let filter = SessionFilter {
        env: Some(env.into()),
        active: true,
        ..Default::default()
    };
    for s in w.store.sessions(&filter).await.unwrap() {
        w.orch.admin_cancel(&root(), s.id, "next test step").await.unwrap();
    }
}

/// A PLAN_READY session of `requester` in `env` (after clearing the environment's open ones).
async fn ready(w: &World, requester: &Principal, env: &str) -> (SessionId, String) {
    clear(w, env).await;
    let s = w.orch.start_session(requester, "ecommerce", env, None).await.unwrap();
    let s = w.orch.plan(s.id, requester).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    (s.id, s.digest.unwrap().0)
}

/// Try `intent` as `who` on ecommerce/`env`; Ok(true) allowed, Ok(false) refused with exit 3.
async fn attempt(w: &World, who: &Principal, env: &str, intent: Intent) -> bool {
    let result = match intent {
        Intent::Read => {
            let (id, _) = ready(w, &root(), env).await;
            w.orch.view(id, who).await.map(|_| ())
        }
        Intent::Deploy => {
            clear(w, env).await;
            w.orch.start_session(who, "ecommerce", env, None).await.map(|_| ())
        }
        Intent::Approve => {
            let (id, digest) = ready(w, &root(), env).await;
            w.orch.approve(id, who, &digest).await.map(|_| ())
        }
        Intent::OverrideQuota => {
            let (id, digest) = ready(w, &root(), env).await;
            w.orch
                .approve_override(id, who, &digest, "launch week")
                .await
                .map(|_| ())
        }
        Intent::Administer => {
            let (id, _) = ready(w, &root(), env).await;
            w.orch.admin_cancel(who, id, "matrix").await.map(|_| ())
        }
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            let user = e.to_user();
            assert_eq!(
                user.code,
                ExitCode::Denied,
                "{intent:?} in {env} as {who}: {}",
                user.message
            );
            assert!(user.message.contains("you need `"), "{}", user.message);
            assert!(user.message.contains("cloud grant"), "{}", user.message);
            false
        }
    }
}

#[tokio::test]
async fn permission_matrix_every_role_intent_and_environment() {
    let w = world().await;
    // Generated: for each role (and no grant at all) a fresh user holding that role on exactly
    // one environment, tried against every intent in every environment.
    let mut observed = String::new();
    let mut cells = 0;
    for held in [
        None,
        Some(Role::Read),
        Some(Role::Deploy),
        Some(Role::Approve),
        Some(Role::Admin),
    ] {
        for grant_env in ENVS {
            let who = user(&format!("u-{}-{grant_env}", held.map(|r| r.as_str()).unwrap_or("none")));
            if let Some(role) = held {
                grant(&w, &who, Some(grant_env), role, GrantExpiry::Never).await;
            }
            for intent in Intent::ALL {
                for env in ENVS {
                    let allowed = attempt(&w, &who, env, intent).await;
                    let expected = held.is_some_and(|r| r >= intent.required_role()) && env == grant_env;
                    assert_eq!(allowed, expected, "{who} ({held:?} on {grant_env}) {intent:?} in {env}");
                    cells += 1;
                }
            }
            if grant_env == "dev" {
                // One line per role for the readable matrix (the grant's own environment).
                let row: Vec<&str> = Intent::ALL
                    .iter()
                    .map(|i| {
                        if held.is_some_and(|r| r >= i.required_role()) {
                            "allow"
                        } else {
                            "deny"
                        }
                    })
                    .collect();
                observed.push_str(&format!(
                    "{:<8} {}\n",
                    held.map(|r| r.as_str()).unwrap_or("none"),
                    row.join(" ")
                ));
            }
        }
    }
    assert_eq!(cells, 5 * 3 * 5 * 3);
    insta::assert_snapshot!(observed, @r"
    none     deny deny deny deny deny
    read     allow deny deny deny deny
    deploy   allow allow deny deny deny
    approve  allow allow allow deny deny
    admin    allow allow allow allow allow
    ");
}

#[tokio::test]
async fn a_project_wide_grant_covers_every_environment_and_no_other_project() {
    let w = world().await;
    let dana = user("dana");
    grant(&w, &dana, None, Role::Deploy, GrantExpiry::Never).await;
    for env in ENVS {
        w.orch.start_session(&dana, "ecommerce", env, None).await.unwrap();
    }
    // Project-wide admin work needs a project-wide grant: an admin of one environment cannot
    // set the project's quotas.
    let erin = user("erin");
    grant(&w, &erin, Some("prod"), Role::Admin, GrantExpiry::Never).await;
    let err = w
        .orch
        .quota_set(&erin, "ecommerce", "vm", 5.0)
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Denied);
    assert!(
        err.message
            .starts_with("you need `admin` on ecommerce to administer it"),
        "{}",
        err.message
    );
    let erin_wide = GrantParams {
        principal: erin.clone(),
        project: "ecommerce".into(),
        env: None,
        role: Role::Admin,
        expiry: GrantExpiry::Never,
        reason: "owner".into(),
    };
    w.orch.grant(&root(), erin_wide).await.unwrap();
    w.orch.quota_set(&erin, "ecommerce", "vm", 5.0).await.unwrap();
    // … and it stops at the project's edge.
    w.store
        .create_project("payments", "acme-corp", "aws", &["dev".into()], "cli:root")
        .await
        .unwrap();
    let err = w.orch.quota_show(&erin, "payments").await.unwrap_err().to_user();
    assert_eq!(err.code, ExitCode::Denied);
}

#[tokio::test]
async fn prod_needs_two_distinct_approvers_other_than_the_requester() {
    let w = world().await;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    grant(&w, &alice, Some("prod"), Role::Approve, GrantExpiry::Never).await;
    grant(&w, &bob, Some("prod"), Role::Approve, GrantExpiry::Never).await;
    grant(&w, &carol, Some("prod"), Role::Approve, GrantExpiry::Never).await;
    let (id, digest) = ready(&w, &alice, "prod").await;

    // The requester never counts when self-approval is off, whatever role she holds.
    let err = w.orch.approve(id, &alice, &digest).await.unwrap_err().to_user();
    assert_eq!(err.code, ExitCode::Denied);
    assert!(err.message.contains("four-eyes"), "{}", err.message);

    let s = w.orch.approve(id, &bob, &digest).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady, "one of two approvals");
    // Bob again is not a second approver.
    let err = w.orch.approve(id, &bob, &digest).await.unwrap_err().to_user();
    assert!(err.message.contains("already approved"), "{}", err.message);
    let s = w.orch.approve(id, &carol, &digest).await.unwrap();
    assert_eq!(s.state, SessionState::Approved);
    let approvers: Vec<String> = w
        .orch
        .status(id)
        .await
        .unwrap()
        .approvals
        .iter()
        .map(|a| a.approver.to_string())
        .collect();
    assert_eq!(approvers, vec!["cli:bob", "cli:carol"]);
}

#[tokio::test]
async fn dev_allows_self_approval_stage_does_not() {
    let w = world().await;
    let erin = user("erin");
    grant(&w, &erin, None, Role::Approve, GrantExpiry::Never).await;
    let (id, digest) = ready(&w, &erin, "dev").await;
    assert_eq!(
        w.orch.approve(id, &erin, &digest).await.unwrap().state,
        SessionState::Approved
    );
    let (id, digest) = ready(&w, &erin, "stage").await;
    let err = w.orch.approve(id, &erin, &digest).await.unwrap_err().to_user();
    assert_eq!(err.code, ExitCode::Denied);
    // Even an admin does not approve their own stage plan.
    let (id, digest) = ready(&w, &root(), "stage").await;
    assert_eq!(
        w.orch.approve(id, &root(), &digest).await.unwrap_err().to_user().code,
        ExitCode::Denied
    );
}

#[tokio::test]
async fn a_grant_that_expires_between_plan_and_click_does_not_authorise() {
    let w = world().await;
    let bob = user("bob");
    grant(
        &w,
        &bob,
        Some("stage"),
        Role::Approve,
        GrantExpiry::For(Duration::from_secs(2 * 3600)),
    )
    .await;
    let (id, digest) = ready(&w, &root(), "stage").await;

    // Bob sees the plan, goes to lunch; his 2h grant ends while the Approve button waits.
    w.advance(Duration::from_secs(2 * 3600 + 1));
    let err = w.orch.approve(id, &bob, &digest).await.unwrap_err().to_user();
    assert_eq!(err.code, ExitCode::Denied);
    assert!(
        err.message.starts_with("you need `approve` on ecommerce/stage"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("cloud grant cli:bob ecommerce approve --env stage --for 2h"),
        "{}",
        err.message
    );
    assert_eq!(
        w.orch.status(id).await.unwrap().session.state,
        SessionState::PlanReady,
        "nothing recorded"
    );

    // The sweeper records the expiry once.
    let swept = w.orch.sweep_grant_expiries().await.unwrap();
    assert_eq!(swept.len(), 1);
    assert!(w.orch.sweep_grant_expiries().await.unwrap().is_empty());
    let expired = w
        .store
        .audit_entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "grant.expired")
        .count();
    assert_eq!(expired, 1);

    // A fresh just-in-time grant works at once.
    grant(
        &w,
        &bob,
        Some("stage"),
        Role::Approve,
        GrantExpiry::For(Duration::from_secs(600)),
    )
    .await;
    assert_eq!(
        w.orch.approve(id, &bob, &digest).await.unwrap().state,
        SessionState::Approved
    );
}

#[tokio::test]
async fn a_revoked_grant_stops_at_once_and_both_are_audited() {
    let w = world().await;
    let bob = user("bob");
    let id = grant(&w, &bob, Some("dev"), Role::Deploy, GrantExpiry::Never).await;
    w.orch.start_session(&bob, "ecommerce", "dev", None).await.unwrap();
    w.orch.revoke(&root(), &id, "left the team").await.unwrap();
    let err = w
        .orch
        .start_session(&bob, "ecommerce", "dev", None)
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(err.code, ExitCode::Denied);
    let err = w.orch.revoke(&root(), &id, "again").await.unwrap_err().to_user();
    assert!(err.message.contains("no active grant"), "{}", err.message);

    let actions: Vec<(String, String)> = w
        .store
        .audit_entries(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("grant."))
        .map(|e| (e.actor, e.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("cli:root".into(), "grant.created".into()),
            ("cli:root".into(), "grant.revoked".into())
        ]
    );
    let active = w.orch.grants(&root(), &GrantsFilter::default()).await.unwrap();
    assert!(active.is_empty(), "{active:?}");
    let all = w
        .orch
        .grants(
            &root(),
            &GrantsFilter {
                all: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn chat_groups_map_to_roles_per_project_and_environment() {
    let w = world_with(vec![RoleMapping {
        platform: "discord".into(),
        group: "112233445566778899".into(),
        project: "ecommerce".into(),
        env: "stage".into(),
        role: "approve".into(),
    }])
    .await;
    let someone = Principal::new(Platform::Discord, "80351110224678912");
    let in_group = Actor::with_groups(someone.clone(), vec!["112233445566778899".into()]);
    let (id, digest) = ready(&w, &root(), "stage").await;
    // Without the group (e.g. the role was removed in Discord) the same user is refused.
    assert_eq!(
        w.orch.approve(id, &someone, &digest).await.unwrap_err().to_user().code,
        ExitCode::Denied
    );
    assert_eq!(
        w.orch.approve(id, &in_group, &digest).await.unwrap().state,
        SessionState::Approved
    );
    // The mapping is for stage only.
    let (id, digest) = ready(&w, &root(), "prod").await;
    assert_eq!(
        w.orch.approve(id, &in_group, &digest).await.unwrap_err().to_user().code,
        ExitCode::Denied
    );
}

#[tokio::test]
async fn bad_grants_are_refused_and_write_nothing() {
    let w = world().await;
    let now: DateTime<Utc> = *w.clock.lock().unwrap();
    let before = w.store.audit_entries(None).await.unwrap().len();
    let base = GrantParams {
        principal: user("bob"),
        project: "ecommerce".into(),
        env: None,
        role: Role::Deploy,
        expiry: GrantExpiry::Never,
        reason: "on call".into(),
    };
    let cases: Vec<(GrantParams, &str)> = vec![
        (
            GrantParams {
                project: "nope".into(),
                ..base.clone()
            },
            "unknown project `nope`",
        ),
        (
            GrantParams {
                env: Some("qa".into()),
                ..base.clone()
            },
            "has no environment `qa`",
        ),
        (
            GrantParams {
                expiry: GrantExpiry::Until(now - chrono::Duration::hours(1)),
                ..base.clone()
            },
            "is in the past",
        ),
        (
            GrantParams {
                expiry: GrantExpiry::For(Duration::from_secs(400 * 86400)),
                ..base.clone()
            },
            "366 days",
        ),
        (
            GrantParams {
                expiry: GrantExpiry::For(Duration::ZERO),
                ..base.clone()
            },
            "longer than 0",
        ),
        (
            GrantParams {
                reason: "  ".into(),
                ..base.clone()
            },
            "needs a reason",
        ),
        (
            GrantParams {
                principal: Principal::new(Platform::Discord, "bob"),
                ..base.clone()
            },
            "unknown user `discord:bob`",
        ),
    ];
    for (params, expected) in cases {
        let err = w.orch.grant(&root(), params).await.unwrap_err().to_user();
        assert_eq!(err.code, ExitCode::Invalid, "{}", err.message);
        assert!(
            err.message.contains(expected),
            "expected `{expected}` in: {}",
            err.message
        );
    }
    assert!(w.store.grants(None, None, true).await.unwrap().is_empty());
    assert_eq!(
        w.store.audit_entries(None).await.unwrap().len(),
        before,
        "nothing audited either"
    );
}

#[tokio::test]
async fn admin_cancel_needs_admin_and_a_reason_and_is_audited() {
    let w = world().await;
    let (alice, bob) = (user("alice"), user("bob"));
    grant(&w, &alice, Some("dev"), Role::Deploy, GrantExpiry::Never).await;
    grant(&w, &bob, Some("dev"), Role::Approve, GrantExpiry::Never).await;
    let (id, _) = ready(&w, &alice, "dev").await;
    assert_eq!(
        w.orch
            .admin_cancel(&bob, id, "cleanup")
            .await
            .unwrap_err()
            .to_user()
            .code,
        ExitCode::Denied
    );
    assert_eq!(
        w.orch.admin_cancel(&root(), id, "").await.unwrap_err().to_user().code,
        ExitCode::Invalid
    );
    let s = w.orch.admin_cancel(&root(), id, "stuck since Friday").await.unwrap();
    assert_eq!(s.state, SessionState::Cancelled);
    let last = w.store.audit_entries(Some(id)).await.unwrap().pop().unwrap();
    assert_eq!(last.actor, "cli:root");
    assert!(
        last.details["reason"]
            .as_str()
            .unwrap()
            .contains("admin cancel: stuck since Friday"),
        "{:?}",
        last.details
    );
    // Ordinary cancel: one's own session with deploy; someone else's needs approve.
    let (id, _) = ready(&w, &root(), "dev").await;
    assert_eq!(
        w.orch.cancel(id, &alice, "mine?").await.unwrap_err().to_user().code,
        ExitCode::Denied
    );
    assert_eq!(
        w.orch.cancel(id, &bob, "superseded").await.unwrap().state,
        SessionState::Cancelled
    );
    let listed = w.orch.admin_list(&root(), &Default::default()).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        w.orch
            .admin_list(&bob, &Default::default())
            .await
            .unwrap_err()
            .to_user()
            .code,
        ExitCode::Denied
    );
}

#[tokio::test]
async fn stats_count_states_success_rate_and_lead_time() {
    let w = world().await;
    let alice = user("alice");
    grant(&w, &alice, None, Role::Approve, GrantExpiry::Never).await;
    for _ in 0..2 {
        let (id, digest) = ready(&w, &alice, "dev").await;
        w.orch.approve(id, &alice, &digest).await.unwrap();
        w.orch.apply(id, &alice).await.unwrap();
    }
    let (id, _) = ready(&w, &root(), "dev").await;
    w.orch.cancel(id, &root(), "no").await.unwrap();
    ready(&w, &root(), "stage").await;

    let since = *w.clock.lock().unwrap() - chrono::Duration::days(7);
    // The store stamps rows with the wall clock: give the window room on both sides.
    w.advance(Duration::from_secs(3600));
    let s = w.orch.stats(&root(), since).await.unwrap();
    assert_eq!(s.sessions, 4);
    let states: BTreeMap<&str, u64> = s
        .by_state
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([("APPLIED", 2), ("CANCELLED", 1), ("PLAN_READY", 1)])
    );
    assert_eq!(s.success_rate, Some(1.0));
    assert!(s.median_lead_time_secs.unwrap() >= 0.0);
    assert_eq!(s.top_requesters[0].name, "cli:alice");
    assert_eq!(s.top_requesters[0].sessions, 2);
    assert_eq!(s.top_projects[0].name, "ecommerce");
    assert_eq!(
        w.orch.stats(&alice, since).await.unwrap_err().to_user().code,
        ExitCode::Denied
    );
}

#[tokio::test]
async fn the_background_sweeper_records_expiries() {
    let w = world().await;
    grant(
        &w,
        &user("bob"),
        Some("dev"),
        Role::Read,
        GrantExpiry::For(Duration::from_secs(60)),
    )
    .await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let clock = w.clock.clone();
    let mut passes = w.orch.sweeper_passes();
    let task = w.orch.spawn_sweeper(
        Duration::from_millis(10),
        Arc::new(move || *clock.lock().unwrap()),
        shutdown.clone(),
    );
    w.advance(Duration::from_secs(61));
    // Sync point: a whole pass that began after the clock moved has finished. The pass running
    // now may have read the clock before; the one after it cannot have.
    let finished = *passes.borrow_and_update();
    tokio::time::timeout(cloud_testkit::wait::SAFETY_NET, passes.wait_for(|n| *n >= finished + 2))
        .await
        .expect("the sweeper keeps sweeping")
        .unwrap();
    let rows = w.store.audit_entries(None).await.unwrap();
    let expired: Vec<_> = rows.iter().filter(|e| e.action == "grant.expired").collect();
    assert_eq!(expired.len(), 1, "{rows:#?}");
    assert_eq!(expired[0].actor, "system:sweeper");
    assert_eq!(expired[0].details["principal"], "cli:bob");
    shutdown.cancel();
    task.await.unwrap();
}

/// `cloud locks` / `/cloud-locks`: anyone with a grant can be told who holds a stack, but only an
/// admin lists every lock from chat and force-releases one, with a reason that is audited.
#[tokio::test]
async fn only_an_admin_force_releases_a_stack_lock_and_the_release_is_audited() {
    let w = world().await;
    grant(&w, &user("alice"), None, Role::Deploy, GrantExpiry::Never).await;
    let held = w
        .orch
        .start_session(&user("alice"), "ecommerce", "dev", None)
        .await
        .unwrap();
    let locks = w.orch.locks().await.unwrap();
    assert!(!locks.is_empty());
    assert!(locks.iter().all(|l| l.lock.session == held.id));
    assert!(
        locks[0].released_when.contains("cancelled (`cloud cancel"),
        "{}",
        locks[0].released_when
    );
    let key = locks[0].lock.stack.clone();

    let denied = w.orch.admin_locks(&user("alice")).await.unwrap_err().to_user();
    assert_eq!(denied.code, ExitCode::Denied);
    let denied = w
        .orch
        .force_release_lock(&user("alice"), &key, "mine anyway")
        .await
        .unwrap_err()
        .to_user();
    assert_eq!(denied.code, ExitCode::Denied);
    let no_reason = w
        .orch
        .force_release_lock(&root(), &key, " ")
        .await
        .unwrap_err()
        .to_user();
    assert!(no_reason.message.contains("needs a reason"), "{}", no_reason.message);
    assert_eq!(
        w.orch.locks().await.unwrap().len(),
        locks.len(),
        "refusals change nothing"
    );

    let (released, holder) = w
        .orch
        .force_release_lock(&root(), &key, "its owner left for the day")
        .await
        .unwrap();
    assert_eq!((released.as_str(), holder), (key.as_str(), held.id));
    assert!(w.orch.locks().await.unwrap().iter().all(|l| l.lock.stack != key));
    let audit = w.store.audit_entries(Some(held.id)).await.unwrap();
    let entry = audit.iter().find(|e| e.action == "locks.force_release").unwrap();
    assert_eq!(entry.actor, "cli:root");
    assert_eq!(entry.details["reason"], "its owner left for the day");
}
