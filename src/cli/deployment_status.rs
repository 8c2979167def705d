//! `cloud status <deployment>`: every stack × environment of one deployment — the last session
//! that touched it, its last applied outputs and whether drift is known to be absent.
//!
//! Drift is only claimed absent when the newest session that touched the stack previewed it with
//! no change (a preview compares the configuration with the state); after an apply, or with no
//! session at all, it is `unknown` and the line says which command checks it.

use cloud_catalog::find_deployment;
use cloud_core::store::{SessionFilter, SessionRecord};
use cloud_domain::session::StackState;

use crate::app::App;

/// How many sessions of one environment are looked at for "last session" (newest first): a
/// stack untouched by the last this-many sessions shows `none recent`.
const RECENT: u32 = 200;

/// Does `text` look like a deployment selector rather than a session (`D` + 6 base36, or
/// `org/project`)? A session id or prefix is lowercase hex.
pub fn is_deployment_selector(text: &str) -> bool {
    let bytes = text.as_bytes();
    let id_like = bytes.len() >= 7
        && bytes[0] == b'D'
        && bytes[1..7].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    // `org/project`: two names of the safe alphabet (`../x` is a bad session id, not a deployment).
    let safe = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
    };
    let org_project = text
        .split_once('/')
        .is_some_and(|(org, project)| safe(org) && safe(project));
    id_like || org_project
}

/// What one stack in one environment looks like.
#[derive(Debug, serde::Serialize)]
pub struct StackStatus {
    pub env: String,
    pub stack: String,
    /// The newest session that touched the stack: `<id> <state> <operation> <when>`.
    pub last_session: Option<String>,
    pub outputs: serde_json::Value,
    /// `drift-free` or `unknown`.
    pub drift: &'static str,
}

pub async fn cmd_status_deployment(app: &App, selector: &str, json: bool) -> anyhow::Result<()> {
    let d = find_deployment(&app.config.workspace, selector)?;
    let id = d.id().map(|i| i.to_string()).unwrap_or_else(|| d.dir_name.clone());
    let project = d.manifest.project.clone();
    let mut rows = Vec::new();
    for (env, spec) in d.manifest.environments.iter() {
        if !spec.enabled {
            continue;
        }
        let sessions = app
            .orchestrator
            .list_for(
                &app.actor,
                &SessionFilter {
                    project: Some(project.clone()),
                    env: Some(env.to_string()),
                    limit: Some(RECENT),
                    ..Default::default()
                },
            )
            .await
            .map_err(super::common::user)?;
        let sessions: Vec<&SessionRecord> = sessions.iter().filter(|s| s.deployment_id.to_string() == id).collect();
        let outputs = app
            .store
            .project_stack_outputs(&project, env)
            .await
            .map_err(super::common::store_user)?;
        let outputs = outputs.get(&id);
        for stack in d.manifest.enabled_stacks(Some(env)) {
            let last = sessions.iter().find(|s| s.stacks.iter().any(|n| n.as_str() == stack));
            let mut drift = "unknown";
            if let Some(s) = last {
                let stacks = app
                    .store
                    .session_stacks(s.id)
                    .await
                    .map_err(super::common::store_user)?;
                let previewed_same = stacks.iter().any(|r| {
                    r.stack.as_str() == stack
                        && r.state == StackState::Previewed
                        && r.counts.iter().all(|(op, n)| op == "same" || *n == 0)
                });
                if previewed_same {
                    drift = "drift-free";
                }
            }
            let out = outputs
                .and_then(|o| o.iter().find(|(n, _)| n.as_str() == stack).map(|(_, v)| v.clone()))
                .unwrap_or(serde_json::Value::Null);
            rows.push(StackStatus {
                env: env.to_string(),
                stack: stack.to_string(),
                last_session: last.map(|s| {
                    format!(
                        "{} {} {} {}",
                        s.id.short(),
                        s.state.as_str(),
                        s.operation,
                        s.updated_at.format("%Y-%m-%d %H:%M UTC")
                    )
                }),
                outputs: out,
                drift,
            });
        }
    }
    if json {
        return super::common::print_json(&rows);
    }
    crate::outln!(
        "Deployment {id} ({}/{project}): {} stack × environment pairs",
        d.manifest.org,
        rows.len()
    );
    let mut env = String::new();
    for r in &rows {
        if r.env != env {
            env = r.env.clone();
            crate::outln!("\n{env}:");
        }
        let outputs = match &r.outputs {
            serde_json::Value::Object(m) if !m.is_empty() => {
                let keys: Vec<String> = m
                    .iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => format!("{k}={s}"),
                        other => format!("{k}={other}"),
                    })
                    .collect();
                keys.join(" ")
            }
            _ => "-".into(),
        };
        crate::outln!(
            "  {:<22} {:<50} {:<13} outputs {}",
            r.stack,
            r.last_session.as_deref().unwrap_or("no session yet"),
            if r.drift == "unknown" { "drift unknown" } else { r.drift },
            outputs
        );
    }
    if rows.iter().any(|r| r.drift == "unknown") {
        crate::outln!(
            "\ndrift unknown: preview to check — `cloud plan {project} <env> --stacks <stack>` (no change: drift-free)"
        );
    }
    Ok(())
}
