//! `/cloud-token`: a person gets an API token for the CLI (`CLOUD_TOKEN`) from chat, where the
//! platform has already verified who they are, lists their tokens and revokes one. The same for
//! Discord and Slack; the rules (a token for oneself only, capped role and projects, bounded
//! lifetime, stored as its sha256) are the orchestrator's.
//!
//! Every answer is ephemeral — the secret above all, which exists only in that one reply: it is
//! never posted in a channel, never logged, and the store keeps its hash.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::refusal::from_orch;
use crate::service::Core;
use crate::view::Reply;
use crate::Actor;
use cloud_core::orchestrator::{TokenParams, DEFAULT_TOKEN_TTL};
use cloud_core::policy::Role;
use cloud_core::store::TokenRow;

/// What `/cloud-token create` asks for; `None` takes the default.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest<'a> {
    /// The most the token may do (default `deploy`; the holder's grants still apply).
    pub role: Option<&'a str>,
    /// Only this project (default: every project).
    pub project: Option<&'a str>,
    /// How long it lives (default 30 days, at most 366).
    pub expires: Option<&'a str>,
    /// A note to tell tokens apart.
    pub label: Option<&'a str>,
}

/// The token's limits in one line (`at most deploy on ecommerce, until …`).
pub fn scope_line(t: &TokenRow) -> String {
    let projects = match &t.projects {
        None => "every project".to_string(),
        Some(list) => list.join(", "),
    };
    let label = if t.label.is_empty() {
        String::new()
    } else {
        format!(" [{}]", t.label)
    };
    format!(
        "at most `{}` on {projects}, until {}{label}",
        t.role,
        t.expires_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// `/cloud-token [role] [project] [expires] [label]`: a new token for the person asking,
/// shown once, to them only.
pub async fn create(core: &Arc<Core>, actor: &Actor, req: TokenRequest<'_>) -> Reply {
    let role: Role = match req.role.map(str::trim).filter(|r| !r.is_empty()) {
        Some(text) => match crate::actions::parse_role(text) {
            Ok(r) => r,
            Err(refusal) => return refusal,
        },
        None => Role::Deploy,
    };
    let ttl = match req.expires.map(str::trim).filter(|e| !e.is_empty()) {
        Some(text) => match crate::actions::parse_duration(text) {
            Ok(d) => d,
            Err(refusal) => return refusal,
        },
        None => DEFAULT_TOKEN_TTL,
    };
    let projects = req
        .project
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| vec![p.to_string()]);
    let params = TokenParams {
        principal: actor.principal.clone(),
        role,
        projects,
        ttl: Some(ttl),
        label: req.label.unwrap_or("").trim().to_string(),
    };
    match core.orchestrator().create_token(actor.clone(), params).await {
        Ok(issued) => Reply::ephemeral(format!(
            "🔑 Token `{}` for you, {}. It is shown once, only to you: keep it in `CLOUD_TOKEN` or in a file only you can read (chmod 600). `/cloud-token list` shows your tokens, `/cloud-token revoke {} <reason>` ends this one.",
            issued.row.id,
            scope_line(&issued.row),
            issued.row.id
        ))
        .with_code(issued.secret.expose_secret()),
        Err(e) => from_orch(e),
    }
}

/// `/cloud-token list`: the asker's own active tokens (ids and limits, never secrets).
pub async fn list(core: &Arc<Core>, actor: &Actor) -> Reply {
    let rows = match core.orchestrator().tokens(actor.clone(), false).await {
        Ok(rows) => rows,
        Err(e) => return from_orch(e),
    };
    let mine: Vec<String> = rows
        .iter()
        .filter(|t| t.principal == actor.principal)
        .map(|t| format!("• `{}` {}", t.id, scope_line(t)))
        .collect();
    if mine.is_empty() {
        return Reply::ephemeral("You have no active tokens. `/cloud-token` creates one.");
    }
    Reply::ephemeral(crate::actions::clip(
        &format!("Your active tokens:\n{}", mine.join("\n")),
        1900,
    ))
}

/// `/cloud-token revoke id reason`: ends one of the asker's tokens (an admin may end anyone's,
/// as in the CLI). Someone else's token id gets the same answer as a made-up one.
pub async fn revoke(core: &Arc<Core>, actor: &Actor, id: &str, reason: &str) -> Reply {
    match core.orchestrator().revoke_token(actor.clone(), id, reason).await {
        Ok(row) => Reply::ephemeral(format!("✅ Token `{}` revoked: it no longer works.", row.id)),
        Err(e) => from_orch(e),
    }
}
