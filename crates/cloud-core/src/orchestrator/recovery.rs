//! Start-up recovery: sessions a dead process left in PLANNING or APPLYING.
//!
//! Every process that starts driving a session records itself on it ([`ProcessOwner`]: pid plus
//! the kernel's start time of that pid, so a reused pid is not mistaken for the dead owner). At
//! start-up, [`Orchestrator::recover`] looks at the running sessions whose owner is gone and, per
//! session:
//!
//! 1. asks the engine to release what the dead run held (`pulumi cancel`: on the local backend it
//!    deletes the stale lock files) for every stack that was applying,
//! 2. reads each touched stack's state (`pulumi stack export`) and records the truth on the
//!    stack row — resources in state, operations that never finished,
//! 3. ends the session FAILED (from APPLYING) or PLAN_FAILED (from PLANNING) with the reason —
//!    FAILED is terminal, so its stack locks are released and the queue moves on,
//! 4. publishes [`SessionEventKind::Recovered`] so a chat thread that followed the session is told.
//!
//! A process never recovers a session whose owner is alive — its own included.

use tracing::{info, warn};

use super::{OrchResult, Orchestrator, OrchestratorError, SessionEventKind};
use crate::store::{is_alive, SessionFilter, SessionRecord, SessionUpdate, StoreError};
use cloud_domain::session::{SessionState, StackName, StackState};

/// What recovery did to one session.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecoveryReport {
    pub session: SessionRecord,
    pub from: SessionState,
    /// `(stack, what was found)` for the stacks the dead run was working on.
    pub stacks: Vec<(StackName, String)>,
}

impl Orchestrator {
    /// Reconcile the sessions dead processes left in PLANNING or APPLYING (see the module
    /// documentation). Call once at start-up; safe to call again and from several processes
    /// (the state compare-and-set lets exactly one finish each session).
    pub async fn recover(&self) -> OrchResult<Vec<RecoveryReport>> {
        let mut reports = Vec::new();
        for state in [SessionState::Planning, SessionState::Applying] {
            let sessions = self
                .store
                .sessions(&SessionFilter {
                    state: Some(state),
                    ..Default::default()
                })
                .await?;
            for session in sessions {
                if self.running.contains_key(&session.id) {
                    continue;
                }
                if session.owner.as_ref().is_some_and(is_alive) {
                    continue;
                }
                match self.recover_one(session).await {
                    Ok(report) => reports.push(report),
                    // Another process recovered it first.
                    Err(OrchestratorError::Store(StoreError::StateChanged { .. })) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(reports)
    }

    async fn recover_one(&self, session: SessionRecord) -> OrchResult<RecoveryReport> {
        let id = session.id;
        let from = session.state;
        let owner = session
            .owner
            .as_ref()
            .map(|o| format!("pid {}", o.pid))
            .unwrap_or_else(|| "an unknown process".into());
        warn!(session = %id, state = %from, owner = %owner, "recovering a session left behind by a dead process");
        // The stacks' targets; when the manifest no longer resolves, the rows still get an honest
        // "unknown" instead of the session staying stuck.
        let resolved = self.resolve_session(&session).await;
        let mut found = Vec::new();
        for row in self.store.session_stacks(id).await? {
            let in_flight = matches!(row.state, StackState::Applying | StackState::Previewing);
            let truth = if !in_flight {
                if matches!(row.state, StackState::Pending | StackState::Previewed) && from == SessionState::Applying {
                    self.set_stack(
                        id,
                        &row.stack,
                        StackState::Skipped,
                        None,
                        Some("not reached: the process running the session died"),
                    )
                    .await?;
                }
                continue;
            } else {
                let target = resolved
                    .as_ref()
                    .ok()
                    .and_then(|r| r.stacks.iter().find(|s| s.name == row.stack))
                    .map(|s| s.target.clone());
                match target {
                    None => "state unknown: the deployment no longer resolves this stack".to_string(),
                    Some(target) => {
                        let mut notes = Vec::new();
                        if row.state == StackState::Applying {
                            if let Err(e) = self.engine.unlock(&target).await {
                                notes.push(format!("could not release the engine lock: {e}"));
                            }
                        }
                        match self.engine.export(&target).await {
                            Ok(export) => notes.insert(0, export.describe()),
                            Err(e) => notes.insert(0, format!("state unknown: {e}")),
                        }
                        notes.join("; ")
                    }
                }
            };
            let what = if row.state == StackState::Applying {
                "update"
            } else {
                "preview"
            };
            let text = format!("interrupted: the process running the {what} died; {truth}");
            self.set_stack(id, &row.stack, StackState::Failed, None, Some(&text))
                .await?;
            found.push((row.stack.clone(), text));
        }
        let to = if from == SessionState::Applying {
            SessionState::Failed
        } else {
            SessionState::PlanFailed
        };
        let reason = format!(
            "the process running this session ({owner}) died while it was {from}; recovered at start-up{}",
            if found.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    found
                        .iter()
                        .map(|(s, t)| format!("{s}: {t}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        );
        let record = self
            .move_session(
                id,
                from,
                to,
                "system:recovery",
                SessionUpdate {
                    plan: None,
                    reason: Some(reason),
                },
            )
            .await?;
        info!(session = %id, %from, %to, "session recovered");
        self.publish(
            id,
            SessionEventKind::Recovered {
                from,
                to,
                stacks: found.clone(),
            },
        )
        .await;
        Ok(RecoveryReport {
            session: record,
            from,
            stacks: found,
        })
    }
}
