//! Rollback: a new session that returns a deployment's stacks to the configuration of an earlier
//! APPLIED session, through the same plan → approve → apply path as any deploy.
//!
//! Every plan records the configuration each stack was planned with (secret values are never
//! stored: only their keys). A rollback session copies the recorded configuration of its target
//! and is resolved with it instead of the manifest's current values; secrets take their current
//! values. The target is the newest APPLIED session of the environment whose configuration
//! differs from what the manifest says now — so after a failed deploy it is the last good one,
//! and after an applied but unwanted change it is the one before.
//!
//! What is rolled back is configuration. Program code (`stacks/<name>/`) is not versioned here:
//! revert it in git if the program changed.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use super::{OrchResult, Orchestrator, OrchestratorError, ResolvedDeployment};
use crate::engine::ConfigValue;
use crate::store::{NewAudit, SavedConfig, SessionFilter, SessionRecord};
use cloud_domain::error::UserError;
use cloud_domain::session::{Operation, SessionState, StackName};

/// What a session records of a stack's configuration.
pub(super) fn saved(config: &[ConfigValue]) -> Vec<SavedConfig> {
    config
        .iter()
        .map(|c| SavedConfig {
            key: c.key.clone(),
            value: (!c.secret).then(|| c.value.clone()),
            secret: c.secret,
        })
        .collect()
}

/// `saved` with the current secret values filled in.
fn restore(stack: &StackName, saved: &[SavedConfig], current: &[ConfigValue]) -> Result<Vec<ConfigValue>, UserError> {
    saved
        .iter()
        .map(|s| match (&s.value, s.secret) {
            (Some(value), false) => Ok(ConfigValue { key: s.key.clone(), value: value.clone(), secret: false }),
            _ => current
                .iter()
                .find(|c| c.key == s.key)
                .map(|c| ConfigValue { key: s.key.clone(), value: c.value.clone(), secret: true })
                .ok_or_else(|| {
                    UserError::invalid(format!(
                        "cannot roll back {stack}: the secret `{}` it was applied with is no longer configured (secrets are never stored); set it in the manifest again",
                        s.key
                    ))
                }),
        })
        .collect()
}

/// How many APPLIED sessions a rollback reads at a time while it looks for its target.
const ROLLBACK_PAGE: u32 = 20;

impl Orchestrator {
    /// The session's stacks resolved for the engine: the manifest's, or for a rollback the
    /// configuration it restores (with a content hash that says so).
    pub(super) async fn resolve_session(&self, session: &SessionRecord) -> OrchResult<ResolvedDeployment> {
        let mut resolved = self
            .resolve_current(
                &session.project,
                Some(&session.deployment_id),
                &session.env,
                Some(&session.stacks),
            )
            .await?;
        if session.operation.restores_recorded_config() {
            let configs = self.store.stack_configs(session.id).await?;
            for stack in &mut resolved.stacks {
                let Some(saved) = configs.get(&stack.name) else {
                    continue;
                };
                stack.target.config = restore(&stack.name, saved, &stack.target.config)?;
                let mut h = Sha256::new();
                h.update(stack.content_hash.as_bytes());
                h.update(b"\0rollback\0");
                h.update(serde_json::to_string(saved).expect("config serialises").as_bytes());
                stack.content_hash = hex::encode(h.finalize());
            }
        }
        Ok(resolved)
    }

    /// Open a rollback session for `project`/`env` (see the module documentation). Busy stacks
    /// are reported like for any session ([`OrchestratorError::Busy`]); the session then keeps
    /// its configuration for a later queue.
    pub async fn start_rollback(
        &self,
        actor: impl Into<crate::policy::Actor>,
        project: &str,
        env: &str,
    ) -> OrchResult<SessionRecord> {
        let actor = actor.into();
        let principal = &actor.principal;
        self.env_policy(env)?;
        // `project` may name a deployment by id; `start` below reads it the same way.
        let named = project;
        let target = self.deployment_target(named).await?;
        let project = target.project.as_str();
        self.known_project(project).await?;
        self.gate(&actor, project, env, crate::policy::Intent::Deploy).await?;
        let current = self
            .resolve_current(project, target.deployment.as_ref(), env, None)
            .await?;
        let now: BTreeMap<&StackName, Vec<SavedConfig>> = current
            .stacks
            .iter()
            .map(|s| (&s.name, saved(&s.target.config)))
            .collect();
        // Newest APPLIED first, a page at a time: the target is usually one of the last few,
        // so the walk stops long before the history's end.
        let mut target = None;
        let mut before = None;
        'pages: loop {
            let page = self
                .store
                .sessions(&SessionFilter {
                    state: Some(SessionState::Applied),
                    project: Some(project.into()),
                    env: Some(env.into()),
                    limit: Some(ROLLBACK_PAGE),
                    before,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            for candidate in page.into_iter().filter(|s| s.operation.leaves_resources()) {
                let configs = self.store.stack_configs(candidate.id).await?;
                let differs = configs
                    .iter()
                    .any(|(stack, cfg)| now.get(stack).is_some_and(|n| n != cfg));
                if differs {
                    target = Some((candidate, configs));
                    break 'pages;
                }
            }
        }
        let Some((target, configs)) = target else {
            return Err(UserError::invalid(format!(
                "nothing to roll back in {project}/{env}: no APPLIED session has a configuration different from the manifest's current one"
            ))
            .into());
        };
        let stacks: Vec<StackName> = current
            .stacks
            .iter()
            .map(|s| s.name.clone())
            .filter(|n| configs.contains_key(n))
            .collect();
        let started = self
            .start(&actor, named, env, Some(&stacks), Operation::Rollback, None)
            .await;
        let id = match &started {
            Ok(s) => s.id,
            Err(OrchestratorError::Busy { session, .. }) => *session,
            Err(_) => return started,
        };
        for stack in &stacks {
            self.store.set_stack_config(id, stack, &configs[stack]).await?;
        }
        self.store
            .audit(NewAudit {
                actor: principal.to_string(),
                action: "session.rollback_of".into(),
                session_id: Some(id),
                project: Some(project.to_string()),
                details: serde_json::json!({"restores": target.id.to_string(), "stacks": stacks}),
            })
            .await?;
        started
    }

    /// A follow-up of a rollback restores the same configuration.
    pub(super) async fn copy_configs(
        &self,
        from: cloud_domain::session::SessionId,
        to: cloud_domain::session::SessionId,
    ) -> OrchResult<()> {
        for (stack, config) in self.store.stack_configs(from).await? {
            self.store.set_stack_config(to, &stack, &config).await?;
        }
        Ok(())
    }
}
