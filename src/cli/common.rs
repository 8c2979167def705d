//! Helpers every command module shares: errors mapped to exit codes, JSON and session-list
//! output, and the parsers of the values several commands take (stack names, users, durations).

use std::time::Duration;

use cloud_chat::text as render;
use cloud_core::orchestrator::OrchestratorError;
use cloud_core::store::{SessionRecord, StoreError};
use cloud_domain::error::UserError;
use cloud_domain::session::{Principal, StackName};

pub(super) fn user(e: OrchestratorError) -> anyhow::Error {
    e.to_user().into()
}

pub(super) fn store_user(e: StoreError) -> anyhow::Error {
    OrchestratorError::from(e).to_user().into()
}

pub(super) fn stack_names(raw: &[String]) -> anyhow::Result<Option<Vec<StackName>>> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.iter()
        .map(|s| {
            s.trim()
                .parse::<StackName>()
                .map_err(|e| UserError::invalid(e.to_string()).into())
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

pub(super) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    crate::outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Sessions one per line (or as JSON); `empty` says what to do when there are none.
pub(super) fn print_sessions(sessions: &[SessionRecord], json: bool, empty: &str) -> anyhow::Result<()> {
    if json {
        return print_json(&sessions);
    }
    if sessions.is_empty() {
        crate::outln!("{empty}");
    }
    for s in sessions {
        crate::outln!("{}", render::session_line(s));
    }
    Ok(())
}

/// `alice` → `cli:alice`; `discord:…` / `slack:…` as given.
pub(super) fn parse_user(text: &str) -> Result<Principal, UserError> {
    let text = text.trim();
    let full = if text.contains(':') {
        text.to_string()
    } else {
        format!("cli:{text}")
    };
    full.parse::<Principal>().map_err(|e| UserError::invalid(e.to_string()))
}

pub(super) fn parse_duration(text: &str, flag: &str) -> Result<Duration, UserError> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        UserError::invalid(format!(
            "{flag} `{text}` is not a duration ({e}): write e.g. 30m, 2h, 7d"
        ))
    })
}
