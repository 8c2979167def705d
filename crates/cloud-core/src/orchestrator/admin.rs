//! Administration as plain core functions: grants, revokes, quotas, projects, every session,
//! admin cancel, the audit log and statistics. Each takes the [`Actor`] asking, checks its role
//! first, validates everything before writing anything, and returns a value the CLI and the chat
//! adapters render their own way.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::info;

use super::{OrchResult, Orchestrator};
use crate::policy::quota::QuotaUsage;
use crate::policy::stats::{self, Stats};
use crate::policy::{Actor, Intent, QuotaKey, Role};
use crate::store::{AuditEntry, AuditVerify, GrantRow, NewGrant, ProjectRow, SessionFilter, SessionRecord};
use cloud_domain::error::UserError;
use cloud_domain::session::{Platform, Principal, SessionId};

/// The longest a grant may run (`--for` / `--until`); a longer need is a permanent grant.
pub(crate) const MAX_GRANT_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// When a grant ends.
#[derive(Debug, Clone, PartialEq)]
pub enum GrantExpiry {
    /// Until revoked.
    Never,
    /// For this long from now (`--for 2h`).
    For(Duration),
    /// Until this moment (`--until 2026-11-24T18:00:00Z`).
    Until(DateTime<Utc>),
}

/// What `grant` needs.
#[derive(Debug, Clone)]
pub struct GrantParams {
    pub principal: Principal,
    /// A project name, or `*` for every project.
    pub project: String,
    /// An environment, or `None` / `*` for every environment of the project.
    pub env: Option<String>,
    pub role: Role,
    pub expiry: GrantExpiry,
    pub reason: String,
}

/// Which grants to list.
#[derive(Debug, Clone, Default)]
pub struct GrantsFilter {
    pub principal: Option<Principal>,
    pub project: Option<String>,
    /// Revoked and expired grants too.
    pub all: bool,
}

/// What `projects create` needs.
#[derive(Debug, Clone)]
pub struct ProjectParams {
    pub name: String,
    pub org: String,
    pub provider: String,
    pub environments: Vec<String>,
}

pub(crate) fn require_reason(reason: &str, what: &str) -> OrchResult<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(UserError::invalid(format!(
            "{what} needs a reason (--reason \"…\"); it goes into the audit log"
        ))
        .into());
    }
    if reason.chars().count() > 500 {
        return Err(UserError::invalid("the reason is longer than 500 characters; keep it to a sentence").into());
    }
    // The audit log and every chat thread show it: one plain line, nothing that steers a terminal.
    cloud_domain::input::check_text("the reason", reason, 500, false).map_err(UserError::invalid)?;
    Ok(reason.to_string())
}

/// A principal that can exist on its platform: Discord ids are snowflakes (digits), Slack user
/// ids start with U or W.
pub(crate) fn check_principal(p: &Principal) -> Result<(), UserError> {
    let ok = match p.platform {
        Platform::Cli => true,
        Platform::Discord => p.user.len() >= 15 && p.user.len() <= 21 && p.user.bytes().all(|b| b.is_ascii_digit()),
        // Slack issues short ids too (`U1234`): any length past the prefix, up to 21.
        Platform::Slack => {
            (2..=21).contains(&p.user.len())
                && (p.user.starts_with('U') || p.user.starts_with('W'))
                && p.user.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(UserError::invalid(format!(
            "unknown user `{p}`: a Discord user id is a 17–20 digit number (discord:80351110224678912), a Slack user id starts with U or W (slack:U024BE7LH)"
        )))
    }
}

fn valid_project_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

impl Orchestrator {
    /// Now, by the policy clock (injectable in tests).
    pub fn now(&self) -> DateTime<Utc> {
        self.access.now()
    }

    pub(crate) async fn known_project(&self, project: &str) -> OrchResult<ProjectRow> {
        self.store.project(project).await?.ok_or_else(|| {
            UserError::invalid(format!(
                "unknown project `{project}`; `cloud projects list` shows the projects, an admin creates one with `cloud projects create {project} --org <org>`"
            ))
            .into()
        })
    }

    /// Grant a role, optionally for one environment and for a limited time. Needs `admin` on
    /// the project (and environment) granted.
    pub async fn grant(&self, actor: impl Into<Actor>, params: GrantParams) -> OrchResult<GrantRow> {
        let actor = actor.into();
        let env = params.env.clone().unwrap_or_else(|| "*".into());
        // An unknown project is "unknown project" whoever asks (not a permission problem).
        if params.project != "*" {
            self.known_project(&params.project).await?;
        }
        self.gate(&actor, &params.project, &env, Intent::Administer).await?;
        check_principal(&params.principal)?;
        let reason = require_reason(&params.reason, "a grant")?;
        if params.project != "*" {
            let project = self.known_project(&params.project).await?;
            if env != "*" && !project.environments.contains(&env) {
                return Err(UserError::invalid(format!(
                    "project {} has no environment `{env}`; its environments: {}",
                    project.name,
                    project.environments.join(", ")
                ))
                .into());
            }
        } else if env != "*" && !self.settings.environments.contains_key(&env) {
            let known: Vec<&str> = self.settings.environments.keys().map(String::as_str).collect();
            return Err(UserError::invalid(format!(
                "unknown environment `{env}`; known environments: {}",
                known.join(", ")
            ))
            .into());
        }
        let now = self.now();
        let expires_at = match params.expiry {
            GrantExpiry::Never => None,
            GrantExpiry::For(d) => {
                if d.is_zero() {
                    return Err(UserError::invalid("--for must be longer than 0 (e.g. --for 2h)").into());
                }
                if d > MAX_GRANT_DURATION {
                    return Err(UserError::invalid(format!(
                        "--for {} is longer than the maximum of 366 days; give a shorter time, or no --for for a grant until revoked",
                        humantime::format_duration(d)
                    ))
                    .into());
                }
                Some(now + chrono::Duration::from_std(d).expect("bounded above"))
            }
            GrantExpiry::Until(t) => {
                if t <= now {
                    return Err(UserError::invalid(format!(
                        "--until {} is in the past (now is {}); give a future time",
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ))
                    .into());
                }
                if (t - now).to_std().unwrap_or_default() > MAX_GRANT_DURATION {
                    return Err(UserError::invalid("--until is more than 366 days away; give a nearer time, or no --until for a grant until revoked").into());
                }
                Some(t)
            }
        };
        let row = self
            .store
            .create_grant(NewGrant {
                principal: params.principal,
                project: params.project,
                env,
                role: params.role,
                expires_at,
                reason,
                granted_by: actor.principal.to_string(),
            })
            .await?;
        info!(grant = %row.id, principal = %row.principal, project = %row.project, env = %row.env, role = %row.role, by = %actor.principal, "grant created");
        Ok(row)
    }

    /// Revoke a grant. Needs `admin` on the grant's project/environment.
    pub async fn revoke(&self, actor: impl Into<Actor>, grant_id: &str, reason: &str) -> OrchResult<GrantRow> {
        let actor = actor.into();
        // Someone who may not revoke it learns nothing about the grant: not whether it exists,
        // nor whose it is or on which project — one answer for every id.
        let refused = || -> super::OrchestratorError {
            UserError::denied(
                "you need `admin` on the grant's project to revoke it; ask an admin (`cloud grants list` shows them the grant ids)",
            )
            .into()
        };
        let grant = match self.store.grant(grant_id.trim()).await {
            Ok(grant) => grant,
            Err(not_found) => {
                return match self.gate(&actor, "*", "*", Intent::Administer).await {
                    Ok(_) => Err(not_found.into()),
                    Err(_) => Err(refused()),
                }
            }
        };
        self.gate(&actor, &grant.project, &grant.env, Intent::Administer)
            .await
            .map_err(|_| refused())?;
        let reason = require_reason(reason, "a revoke")?;
        let row = self
            .store
            .revoke_grant(&grant.id, &actor.principal.to_string(), &reason)
            .await?;
        info!(grant = %row.id, by = %actor.principal, "grant revoked");
        Ok(row)
    }

    /// Grants, active ones only unless `filter.all`. Needs `admin` on the project filtered on,
    /// or on every project (`*`) to list them all.
    pub async fn grants(&self, actor: impl Into<Actor>, filter: &GrantsFilter) -> OrchResult<Vec<GrantRow>> {
        let actor = actor.into();
        let scope = filter.project.as_deref().unwrap_or("*");
        self.gate(&actor, scope, "*", Intent::Administer).await?;
        let now = self.now();
        let rows = self
            .store
            .grants(filter.principal.as_ref(), filter.project.as_deref(), filter.all)
            .await?;
        Ok(rows.into_iter().filter(|g| filter.all || g.is_active(now)).collect())
    }

    /// Record expired grants in the audit log (once each). The sweeper runs it periodically;
    /// authorisation never waits for it (an expired grant is refused at every check).
    pub async fn sweep_grant_expiries(&self) -> OrchResult<Vec<String>> {
        Ok(self.store.record_grant_expiries(self.now()).await?)
    }

    /// Set one quota limit of a project (audited with the previous value).
    pub async fn quota_set(
        &self,
        actor: impl Into<Actor>,
        project: &str,
        key: &str,
        limit: f64,
    ) -> OrchResult<QuotaUsage> {
        let actor = actor.into();
        self.known_project(project).await?;
        self.gate(&actor, project, "*", Intent::Administer).await?;
        let key: QuotaKey = key.parse()?;
        let limit = key.check_limit(limit)?;
        self.store
            .set_quota(project, key.as_str(), limit, &actor.principal.to_string())
            .await?;
        info!(project, key = %key, limit, by = %actor.principal, "quota set");
        self.quota_usage(project).await
    }

    /// A project's quotas with usage bars.
    ///
    /// Anyone who may read the project (on any of its environments) may see them: the quota is
    /// what limits their own deploys. An unknown project is "unknown project" whoever asks.
    pub async fn quota_show(&self, actor: impl Into<Actor>, project: &str) -> OrchResult<QuotaUsage> {
        let actor = actor.into();
        let row = self.known_project(project).await?;
        if let Err(refused) = self.gate(&actor, project, "*", Intent::Read).await {
            let mut allowed = false;
            for env in &row.environments {
                if self.gate(&actor, project, env, Intent::Read).await.is_ok() {
                    allowed = true;
                    break;
                }
            }
            if !allowed {
                return Err(refused);
            }
        }
        self.quota_usage(project).await
    }

    /// Create a project (needs `admin` on every project).
    pub async fn create_project(&self, actor: impl Into<Actor>, mut params: ProjectParams) -> OrchResult<ProjectRow> {
        let actor = actor.into();
        self.gate(&actor, "*", "*", Intent::Administer).await?;
        if !valid_project_name(&params.name) {
            return Err(UserError::invalid(format!(
                "invalid project name `{}`: use lowercase letters, digits and dashes (e.g. ecommerce)",
                params.name
            ))
            .into());
        }
        if !valid_project_name(&params.org) {
            return Err(UserError::invalid(format!(
                "invalid org `{}`: use lowercase letters, digits and dashes (e.g. acme-corp)",
                params.org
            ))
            .into());
        }
        match params.provider.parse::<cloud_domain::session::Provider>() {
            Ok(provider) => params.provider = provider.to_string(),
            Err(e) => return Err(UserError::invalid(e.to_string()).into()),
        }
        if params.environments.is_empty() {
            return Err(
                UserError::invalid("a project needs at least one environment (--environments dev,stage,prod)").into(),
            );
        }
        for env in &params.environments {
            if !self.settings.environments.contains_key(env) {
                let known: Vec<&str> = self.settings.environments.keys().map(String::as_str).collect();
                return Err(UserError::invalid(format!(
                    "unknown environment `{env}`; known environments: {}",
                    known.join(", ")
                ))
                .into());
            }
        }
        Ok(self
            .store
            .create_project(
                &params.name,
                &params.org,
                &params.provider,
                &params.environments,
                &actor.principal.to_string(),
            )
            .await?)
    }

    /// Every session (any project), newest first. Needs `admin` on every project.
    pub async fn admin_list(&self, actor: impl Into<Actor>, filter: &SessionFilter) -> OrchResult<Vec<SessionRecord>> {
        let actor = actor.into();
        self.gate(&actor, "*", "*", Intent::Administer).await?;
        Ok(self.store.sessions(filter).await?)
    }

    /// Cancel anyone's session as an admin, with a reason (audited).
    pub async fn admin_cancel(
        &self,
        actor: impl Into<Actor>,
        id: SessionId,
        reason: &str,
    ) -> OrchResult<SessionRecord> {
        let actor = actor.into();
        let session = self.store.session(id).await?;
        self.gate(&actor, &session.project, &session.env, Intent::Administer)
            .await?;
        let reason = require_reason(reason, "an admin cancel")?;
        if session.state.is_terminal() {
            return Err(self.lost_race(id, super::Attempt::Cancel).await);
        }
        self.cancel_unchecked(session, &actor.principal, &format!("admin cancel: {reason}"))
            .await
    }

    /// The audit log (one session's rows, or all). Needs `admin` on the session's project, or
    /// on every project for the whole log.
    pub async fn audit_log(&self, actor: impl Into<Actor>, session: Option<SessionId>) -> OrchResult<Vec<AuditEntry>> {
        let actor = actor.into();
        match session {
            Some(id) => {
                let s = self.store.session(id).await?;
                self.gate(&actor, &s.project, &s.env, Intent::Administer).await?;
            }
            None => {
                self.gate(&actor, "*", "*", Intent::Administer).await?;
            }
        }
        Ok(self.store.audit_entries(session).await?)
    }

    /// Walk the audit hash chain; names the first row that does not verify.
    pub async fn audit_verify(&self, actor: impl Into<Actor>) -> OrchResult<AuditVerify> {
        let actor = actor.into();
        self.gate(&actor, "*", "*", Intent::Administer).await?;
        Ok(self.store.audit_verify().await?)
    }

    /// Statistics of the sessions opened since `since` (until now).
    pub async fn stats(&self, actor: impl Into<Actor>, since: DateTime<Utc>) -> OrchResult<Stats> {
        let actor = actor.into();
        self.gate(&actor, "*", "*", Intent::Administer).await?;
        let now = self.now();
        if since >= now {
            return Err(UserError::invalid("--since must be in the past (e.g. --since 7d)").into());
        }
        let rows = self.store.session_stats(since, now, stats::TOP).await?;
        Ok(stats::compute(rows, since, now))
    }
}

/// One held stack lock as `cloud locks` and `/cloud-locks` show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LockView {
    #[serde(flatten)]
    pub lock: crate::store::HeldLock,
    /// The process driving the holding session right now, if one holds its lease.
    pub driver: Option<crate::store::Lease>,
    /// What will release the lock (`cloud_store::locks::released_when`).
    pub released_when: String,
}

impl Orchestrator {
    /// Every held stack lock, with its session, the process driving it and what will release
    /// it. Anyone may look: it only shows who blocks whom.
    pub async fn locks(&self) -> OrchResult<Vec<LockView>> {
        let leases: std::collections::BTreeMap<SessionId, crate::store::Lease> =
            self.store.leases().await?.into_iter().map(|l| (l.session, l)).collect();
        Ok(self
            .store
            .held_locks()
            .await?
            .into_iter()
            .map(|lock| LockView {
                driver: leases.get(&lock.session).cloned(),
                released_when: cloud_store::locks::released_when(lock.session, lock.state),
                lock,
            })
            .collect())
    }

    /// [`Orchestrator::locks`] for the chat admin command (`/cloud-locks`): needs `admin` on every
    /// project, like the other admin listings.
    pub async fn admin_locks(&self, actor: impl Into<Actor>) -> OrchResult<Vec<LockView>> {
        let actor = actor.into();
        self.gate(&actor, "*", "*", Intent::Administer).await?;
        self.locks().await
    }

    /// Force-release the stack lock `stack_or_key` (a full lock key, or a stack name that matches
    /// exactly one held lock), whoever holds it. Needs `admin` on the holding session's project and
    /// a reason; audited (`locks.force_release`). The holding session is not moved: it learns
    /// that it lost the stack when it next needs it. Returns the released key and its holder.
    pub async fn force_release_lock(
        &self,
        actor: impl Into<Actor>,
        stack_or_key: &str,
        reason: &str,
    ) -> OrchResult<(String, SessionId)> {
        let actor = actor.into();
        let wanted = stack_or_key.trim();
        let held = self.store.held_locks().await?;
        let matching: Vec<&crate::store::HeldLock> = match held.iter().find(|l| l.stack == wanted) {
            Some(exact) => vec![exact],
            None => held
                .iter()
                .filter(|l| l.stack.contains(&format!("-{wanted}-")))
                .collect(),
        };
        let lock = match matching.as_slice() {
            [one] => *one,
            [] => {
                return Err(UserError::invalid(format!(
                    "no held stack lock matches `{wanted}`; `cloud locks` lists them"
                ))
                .into())
            }
            several => {
                return Err(UserError::invalid(format!(
                    "`{wanted}` matches several held locks ({}); give the full key",
                    several.iter().map(|l| l.stack.as_str()).collect::<Vec<_>>().join(", ")
                ))
                .into())
            }
        };
        let session = self.store.session(lock.session).await?;
        self.gate(&actor, &session.project, &session.env, Intent::Administer)
            .await?;
        let reason = require_reason(reason, "releasing a stack lock")?;
        let holder = self
            .store
            .force_release_lock(&lock.stack, &actor.principal.to_string(), &reason)
            .await?;
        info!(lock = %lock.stack, session = %lock.session, by = %actor.principal, "stack lock force-released");
        self.promote_queue().await?;
        Ok((lock.stack.clone(), holder.unwrap_or(lock.session)))
    }
}
