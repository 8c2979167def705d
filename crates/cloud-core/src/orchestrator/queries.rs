//! Queries: one session with everything a person needs to decide (stacks, approvals, cost, quota
//! standing, locks, queue place), and lists of sessions filtered by what the asker may read.

use std::collections::HashMap;

use super::{OrchResult, Orchestrator};
use crate::policy::{Actor, CostEstimate, Intent, QuotaCheck};
use crate::store::{ApprovalRow, QueueEntry, SessionFilter, SessionRecord, StackRow};
use cloud_domain::session::SessionId;

/// A session with its per-stack rows and approvals — what `status` shows and the lobby renders.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionView {
    pub session: SessionRecord,
    pub stacks: Vec<StackRow>,
    pub approvals: Vec<ApprovalRow>,
    /// The plan's estimated monthly cost, per stack and total (once there is a plan).
    pub cost: Option<CostEstimate>,
    /// How the plan stands against the project's quotas (once there is a plan). An over-quota
    /// plan can only be approved by an admin with an override reason.
    pub quota: Option<QuotaCheck>,
    /// The stack locks the session holds.
    pub locks: Vec<String>,
    /// Its place in the lock queue, while it waits for stacks.
    pub queue: Option<QueueEntry>,
}

impl Orchestrator {
    /// A session with its stacks, approvals, cost estimate and quota standing.
    pub async fn status(&self, id: SessionId) -> OrchResult<SessionView> {
        let session = self.store.session(id).await?;
        let (cost, quota) = match &session.plan {
            Some(plan) => {
                let cost = crate::policy::cost::estimate_plan(&self.pricing, plan);
                let quota = self.quota_check(&session, &cost).await?;
                (Some(cost), Some(quota))
            }
            None => (None, None),
        };
        Ok(SessionView {
            stacks: self.store.session_stacks(id).await?,
            approvals: self.store.approvals(id).await?,
            locks: self.store.session_locks(id).await?,
            queue: self.store.queue_entry(id).await?,
            session,
            cost,
            quota,
        })
    }

    /// [`Orchestrator::status`] for an actor who needs `read` on the session's project/env.
    pub async fn view(&self, id: SessionId, actor: impl Into<Actor>) -> OrchResult<SessionView> {
        let actor = actor.into();
        let session = self.store.session(id).await?;
        self.gate(&actor, &session.project, &session.env, Intent::Read).await?;
        self.status(id).await
    }

    /// Sessions matching a filter, newest first (unchecked: for the core and for callers that
    /// already checked; people get [`Orchestrator::list_for`]).
    pub async fn list(&self, filter: &SessionFilter) -> OrchResult<Vec<SessionRecord>> {
        Ok(self.store.sessions(filter).await?)
    }

    /// The sessions matching a filter that `actor` may read (`read` on their project/env),
    /// newest first.
    pub async fn list_for(&self, actor: impl Into<Actor>, filter: &SessionFilter) -> OrchResult<Vec<SessionRecord>> {
        let actor = actor.into();
        let mut readable: HashMap<(String, String), bool> = HashMap::new();
        let mut out = Vec::new();
        for s in self.store.sessions(filter).await? {
            let key = (s.project.clone(), s.env.clone());
            let ok = match readable.get(&key) {
                Some(ok) => *ok,
                None => {
                    let role = self.access.role_of(&actor, &s.project, &s.env).await?;
                    let ok = role.is_some_and(|r| r >= Intent::Read.required_role());
                    readable.insert(key, ok);
                    ok
                }
            };
            if ok {
                out.push(s);
            }
        }
        Ok(out)
    }
}
