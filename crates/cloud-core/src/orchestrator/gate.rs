//! The gates every intent passes first: the actor's role on the project/environment (at the
//! moment of the intent, so an expired grant never authorises), then quotas — concurrent sessions
//! before planning, resulting resources and estimated monthly cost after the plan.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use tracing::info;

use super::{OrchResult, Orchestrator, OrchestratorError};
use crate::config::RoleMapping;
use crate::policy::cost::{estimate_steps, CostEstimate};
use crate::policy::quota::{check_projection, QuotaKey, QuotaLine, QuotaUsage};
use crate::policy::{system_clock, AccessError, Actor, Clock, Intent, Pricing, QuotaCheck, Role};
use crate::store::SessionRecord;
use cloud_domain::error::UserError;
use cloud_domain::session::{Principal, SessionId, StackName};

/// Who may do what, and the price list: what the orchestrator needs from configuration besides
/// [`super::OrchestratorSettings`].
#[derive(Clone)]
pub struct PolicySettings {
    /// Bootstrap admins (configuration `admins`, `CLOUD_ADMINS`).
    pub admins: Vec<Principal>,
    /// Chat groups that hold a role on a project.
    pub role_mappings: Vec<RoleMapping>,
    /// Every `cli:` principal is an admin (a single-user checkout).
    pub local_cli_admin: bool,
    pub pricing: Arc<Pricing>,
    /// "Now" for grant expiry; tests inject their own.
    pub clock: Clock,
}

impl PolicySettings {
    /// For a single-user checkout and for tests: every `cli:` user is an admin, chat users need
    /// grants, the built-in price list, the system clock.
    pub(crate) fn local() -> PolicySettings {
        PolicySettings {
            admins: vec![],
            role_mappings: vec![],
            local_cli_admin: true,
            pricing: Arc::new(Pricing::builtin()),
            clock: system_clock(),
        }
    }

    /// Nobody but the given admins (and grant holders) may do anything.
    pub fn strict(admins: Vec<Principal>) -> PolicySettings {
        PolicySettings {
            admins,
            local_cli_admin: false,
            ..PolicySettings::local()
        }
    }
}

/// Per stack and environment, what the latest applied session left: resources by type and
/// their monthly cost.
#[derive(Debug, Clone, Default)]
struct Inventory {
    stacks: BTreeMap<(String, StackName), (BTreeMap<String, u64>, f64)>,
}

impl Inventory {
    /// Totals, leaving out the given (env, stack) pairs (the ones a plan replaces).
    fn totals(&self, except: &HashSet<(String, StackName)>) -> (BTreeMap<String, u64>, f64) {
        let mut resources = BTreeMap::new();
        let mut cost = 0.0;
        for (key, (counts, monthly)) in &self.stacks {
            if except.contains(key) {
                continue;
            }
            for (ty, n) in counts {
                *resources.entry(ty.clone()).or_default() += n;
            }
            cost += monthly;
        }
        (resources, cost)
    }
}

impl Orchestrator {
    /// Allow `intent` for `actor` on `project`/`env` or refuse with what is missing.
    pub(crate) async fn gate(&self, actor: &Actor, project: &str, env: &str, intent: Intent) -> OrchResult<Role> {
        match self.access.require(actor, project, env, intent).await {
            Ok(role) => Ok(role),
            Err(AccessError::Denied(user)) => {
                info!(actor = %actor.principal, project, env, ?intent, "refused: missing role");
                Err(user.into())
            }
            Err(AccessError::Store(e)) => Err(e.into()),
        }
    }

    /// The project's limits as stored.
    pub(crate) async fn limits(&self, project: &str) -> OrchResult<BTreeMap<QuotaKey, f64>> {
        let mut out = BTreeMap::new();
        for row in self.store.quotas(project).await? {
            let key: QuotaKey = row
                .key
                .parse()
                .map_err(|e: UserError| crate::store::StoreError::Corrupt(format!("quota key: {}", e.message)))?;
            out.insert(key, row.limit);
        }
        Ok(out)
    }

    /// Non-terminal sessions of the project, leaving out `except` (counted by the database).
    async fn active_sessions(&self, project: &str, except: Option<SessionId>) -> OrchResult<usize> {
        Ok(self.store.count_open_sessions(project, except).await? as usize)
    }

    /// Refuse a new (or re-planned) session when the project already runs its maximum.
    pub(crate) async fn check_concurrency(&self, project: &str, except: Option<SessionId>) -> OrchResult<()> {
        let limits = self.limits(project).await?;
        let Some(limit) = limits.get(&QuotaKey::ConcurrentSessions) else {
            return Ok(());
        };
        let active = self.active_sessions(project, except).await?;
        if active as f64 >= *limit {
            return Err(UserError::denied(format!(
                "{project} already has {active} open session(s) and its quota allows {limit}; finish or cancel one (`cloud list --project {project}`), or ask an admin to raise it: cloud quota set {project} sessions <n>"
            ))
            .into());
        }
        Ok(())
    }

    /// What the latest applied session of every (env, stack) of the project left behind.
    /// The store keeps that session per stack (`stack_heads`), so this reads at most one plan
    /// per stack and environment, however long the history.
    async fn inventory(&self, project: &str) -> OrchResult<Inventory> {
        let heads = self.store.stack_heads(project).await?;
        let mut sessions: HashMap<SessionId, SessionRecord> = HashMap::new();
        let mut inv = Inventory::default();
        for head in heads {
            let s = match sessions.entry(head.session) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => slot.insert(self.store.session(head.session).await?),
            };
            let Some(plan) = &s.plan else { continue };
            let Some(entry) = plan.stacks.iter().find(|e| e.stack == head.stack) else {
                continue;
            };
            let value = if s.operation.leaves_resources() {
                let cost = estimate_steps(&self.pricing, entry.stack.as_str(), &entry.preview.steps);
                (cost.resulting, cost.monthly_after)
            } else {
                (BTreeMap::new(), 0.0)
            };
            inv.stacks.insert((head.env, head.stack), value);
        }
        Ok(inv)
    }

    /// How a session's plan stands against its project's quotas: the inventory of every other
    /// stack and environment plus what this plan leaves.
    pub(crate) async fn quota_check(&self, session: &SessionRecord, cost: &CostEstimate) -> OrchResult<QuotaCheck> {
        let limits = self.limits(&session.project).await?;
        if limits.keys().all(|k| *k == QuotaKey::ConcurrentSessions) {
            return Ok(QuotaCheck {
                projected: vec![],
                current: vec![],
                violations: vec![],
            });
        }
        let inventory = self.inventory(&session.project).await?;
        let replaced: HashSet<(String, StackName)> = session
            .stacks
            .iter()
            .map(|s| (session.env.clone(), s.clone()))
            .collect();
        let (mut resources, mut monthly) = inventory.totals(&replaced);
        for (ty, n) in cost.resulting() {
            *resources.entry(ty).or_default() += n;
        }
        monthly += cost.total_after;
        let mut check = check_projection(&limits, &resources, monthly);
        let (now_resources, now_monthly) = inventory.totals(&HashSet::new());
        check.current = check_projection(&limits, &now_resources, now_monthly).projected;
        Ok(check)
    }

    /// Refuse a plain approval of an over-quota plan (an admin may override with a reason),
    /// unless an admin has already approved this plan with an override.
    pub(crate) async fn refuse_over_quota(&self, session: &SessionRecord) -> OrchResult<()> {
        let Some(plan) = &session.plan else { return Ok(()) };
        let cost = crate::policy::cost::estimate_plan(&self.pricing, plan);
        let check = self.quota_check(session, &cost).await?;
        if !check.is_over() {
            return Ok(());
        }
        let overridden =
            self.store.approvals(session.id).await?.iter().any(|a| {
                a.override_reason.is_some() && session.digest.as_ref().map(|d| d.0 == a.digest).unwrap_or(false)
            });
        if overridden {
            return Ok(());
        }
        Err(OrchestratorError::User(UserError::denied(format!(
            "this plan is over the quota of {}: {}. It cannot be approved as it is: shrink the change, ask an admin to raise the quota (cloud quota set {} <key> <limit>), or an admin approves it with an override: cloud approve {} --override-reason \"…\"",
            session.project,
            check.reason(),
            session.project,
            session.id.short()
        ))))
    }

    /// A project's quotas with current usage: the resources and estimated cost of the latest
    /// applied plan of every stack and environment, and the open sessions.
    pub(crate) async fn quota_usage(&self, project: &str) -> OrchResult<QuotaUsage> {
        let limits = self.limits(project).await?;
        let inventory = self.inventory(project).await?;
        let (resources, monthly) = inventory.totals(&HashSet::new());
        let active = self.active_sessions(project, None).await? as f64;
        let lines = limits
            .iter()
            .map(|(key, limit)| {
                let used = match key {
                    QuotaKey::ConcurrentSessions => active,
                    QuotaKey::MonthlyCost => (monthly * 100.0).round() / 100.0,
                    QuotaKey::Resources(ty) => resources.get(ty).copied().unwrap_or(0) as f64,
                };
                QuotaLine::new(key.clone(), used, *limit)
            })
            .collect();
        Ok(QuotaUsage {
            project: project.to_string(),
            lines,
            basis: format!(
                "resources and {} monthly cost ({} prices of {}) of the latest applied plan of every stack and environment; open sessions",
                self.pricing.currency, self.pricing.region, self.pricing.as_of
            ),
        })
    }
}
