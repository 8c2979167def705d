//! The store suite: every test runs twice, as `<module>::sqlite::<test>` on a fresh SQLite file
//! and as `<module>::postgres::<test>` on a fresh PostgreSQL database (`CLOUD_TEST_POSTGRES_URL`;
//! `scripts/test.sh` starts a throwaway server). One suite, two backends, through the same
//! `Store` façade the orchestrator uses.
//!
//! `cargo test -p cloud-core --test store sqlite::` runs the SQLite half alone.

/// Calls a method the façade keeps crate-private on whichever backend `store` has: the suite
/// tests every store method on both backends, not only those other crates call.
macro_rules! backend {
    ($store:expr, $s:ident => $call:expr) => {
        match $store.backend() {
            cloud_core::store::Backend::Sqlite($s) => $call,
            cloud_core::store::Backend::Postgres($s) => $call,
        }
    };
}

mod access;
mod audit_checkpoint;
mod events;
mod history;
mod identity;
mod leases;
mod locks;
mod migrations;
mod outputs;
mod schema;
mod sessions;

use cloud_core::engine::{ResourceStep, StackPreview, StepOp};
use cloud_core::store::{NewSession, SessionUpdate, Store, Transition};
use cloud_domain::session::{Operation, Plan, Principal, SessionId, SessionState, StackName, StackPlanEntry};
use cloud_testkit::db::TestDatabase;

/// A one-stack plan that creates a VPC.
pub fn plan() -> Plan {
    Plan {
        engine_version: "v3.226.0".into(),
        stacks: vec![StackPlanEntry {
            stack: "network".parse().unwrap(),
            content_hash: "abc".into(),
            preview: StackPreview {
                steps: vec![ResourceStep {
                    urn: "urn:pulumi:D1BRV40-network-dev::ecommerce::aws:ec2/vpc:Vpc::vpc".into(),
                    resource_type: "aws:ec2/vpc:Vpc".into(),
                    name: "vpc".into(),
                    op: StepOp::Create,
                    inputs: None,
                    old_inputs: None,
                }],
                counts: [("create".to_string(), 1)].into_iter().collect(),
                diagnostics: vec![],
                duration_ms: 5,
            },
            provisional: false,
        }],
    }
}

/// The test's store, with the `ecommerce` project and its deployment D1BRV40 (dev, prod) known.
pub async fn store_in(db: &TestDatabase) -> Store {
    let store = db.open().await;
    store
        .sync_deployment(
            "D1BRV40",
            "acme-corp",
            "ecommerce",
            "aws",
            &["dev".into(), "prod".into()],
            "deploy/x",
        )
        .await
        .unwrap();
    store
}

/// What alice asks for: `stacks` (each in its own wave) of D1BRV40 in `env`.
pub fn new_session(env: &str, stacks: &[&str], approvals_required: u32) -> NewSession {
    NewSession {
        id: SessionId::new(),
        project: "ecommerce".into(),
        env: env.into(),
        deployment_id: "D1BRV40".parse().unwrap(),
        requester: Principal::cli("alice"),
        operation: Operation::Deploy,
        stacks: stacks
            .iter()
            .enumerate()
            .map(|(wave, s)| (s.parse::<StackName>().unwrap(), wave as u32))
            .collect(),
        approvals_required,
        allow_self_approve: false,
        follow_up_of: None,
    }
}

/// Moves a session along `path` (each step a legal transition), as the orchestrator does; the
/// step into PLAN_READY carries [`plan`].
pub async fn walk(store: &Store, id: SessionId, path: &[SessionState]) {
    for pair in path.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let plan = (to == SessionState::PlanReady).then(plan);
        store
            .transition(Transition {
                id,
                from,
                to,
                actor: "cli:alice".into(),
                details: serde_json::json!({}),
                update: SessionUpdate { plan, reason: None },
            })
            .await
            .unwrap();
    }
}

/// Walks a new session to PLAN_READY the way the orchestrator does.
pub async fn plan_ready_session(store: &Store, required: u32) -> SessionId {
    let session = store
        .create_session(new_session("dev", &["network"], required))
        .await
        .unwrap();
    use SessionState::*;
    walk(store, session.id, &[Draft, Planning, PlanReady]).await;
    session.id
}
