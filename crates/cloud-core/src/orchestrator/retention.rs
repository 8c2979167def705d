//! Retention (issue 17.2): a finished session keeps what it was — its row, digest, per-stack
//! results, approvals, recorded configuration and audit trail — for ever, while its engine log
//! and plan document go once they are older than the configured retention. Without it the
//! database grows by the size of every log and plan ever written.
//!
//! `cloud prune` (admin) shows what would go and removes it with `--yes`; `cloud serve` runs the
//! same sweep once a day as the process itself.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::info;

use super::{OrchResult, Orchestrator};
use crate::config::RetentionConfig;
use crate::policy::{Actor, Intent};
use crate::store::PruneCounts;
use cloud_domain::session::Principal;

/// What a prune removed, or would remove on a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Nothing was removed: this is what `--yes` would remove.
    pub dry_run: bool,
    /// Logs of sessions that ended before this go.
    pub logs_before: DateTime<Utc>,
    /// Plan documents of sessions that ended before this go (except a stack's latest applied).
    pub plans_before: DateTime<Utc>,
    #[serde(flatten)]
    pub counts: PruneCounts,
    /// Terminal sessions in the store, and their stored text per session after this prune (as
    /// it stands, on a dry run): the storage goal is ≤ 30 KB.
    pub terminal_sessions: u64,
    pub bytes_per_terminal_session: f64,
}

impl Orchestrator {
    /// `cloud prune`: an admin's prune (or its dry run) with these retention periods.
    pub async fn prune(
        &self,
        actor: impl Into<Actor>,
        retention: RetentionConfig,
        apply: bool,
    ) -> OrchResult<PruneReport> {
        let actor = actor.into();
        self.gate(&actor, "*", "*", Intent::Administer).await?;
        self.prune_unchecked(&actor.principal, retention, apply).await
    }

    /// The daily sweep of `cloud serve`: no permission gate (nobody asked); `principal` names the
    /// process in the audit log.
    pub async fn prune_as_system(&self, principal: &Principal, retention: RetentionConfig) -> OrchResult<PruneReport> {
        self.prune_unchecked(principal, retention, true).await
    }

    async fn prune_unchecked(
        &self,
        principal: &Principal,
        retention: RetentionConfig,
        apply: bool,
    ) -> OrchResult<PruneReport> {
        let now = self.now();
        let back = |d: std::time::Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let (logs_before, plans_before) = (back(retention.logs), back(retention.plans));
        let counts = if apply {
            let removed = self
                .store
                .prune(logs_before, plans_before, &principal.to_string())
                .await?;
            info!(actor = %principal, log_entries = removed.log_entries, plans = removed.plans, bytes = removed.log_bytes + removed.plan_bytes, "retention: pruned");
            removed
        } else {
            self.store.prune_preview(logs_before, plans_before).await?
        };
        let (terminal_sessions, per) = self.store.terminal_session_bytes().await?;
        Ok(PruneReport {
            dry_run: !apply,
            logs_before,
            plans_before,
            counts,
            terminal_sessions,
            bytes_per_terminal_session: per.round(),
        })
    }
}
