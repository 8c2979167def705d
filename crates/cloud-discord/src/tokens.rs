//! `/cloud-token`: a member's own API token for the CLI, answered ephemerally (see
//! [`cloud_chat::tokens`]). Offered to every member: anyone may hold a token for themselves, and
//! it can never do more than their grants. Also the issue-16 admin commands `/cloud-grants`
//! (grants with their ids) and `/cloud-override` (approve over quota, audited).

use super::answer::{actor_of, answer, Ctx};
use super::Error;
use cloud_chat::tokens::{self, TokenRequest};
use cloud_chat::view::Reply;

async fn ac_action(_ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    ["create", "list", "revoke"]
        .into_iter()
        .filter(|a| a.starts_with(&partial.to_ascii_lowercase()))
        .map(String::from)
        .collect()
}

async fn ac_token_role(_ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    ["read", "deploy", "approve", "admin"]
        .into_iter()
        .filter(|r| r.starts_with(&partial.to_ascii_lowercase()))
        .map(String::from)
        .collect()
}

/// Your API token for the CLI (CLOUD_TOKEN): create (shown once, only to you), list or revoke.
#[poise::command(slash_command, rename = "cloud-token")]
#[allow(clippy::too_many_arguments)]
pub(crate) async fn cmd_token(
    ctx: Ctx<'_>,
    #[description = "create (default), list or revoke"]
    #[autocomplete = "ac_action"]
    action: Option<String>,
    #[description = "create: the most it may do: read, deploy (default), approve or admin"]
    #[autocomplete = "ac_token_role"]
    role: Option<String>,
    #[description = "create: only this project (default: every project)"] project: Option<String>,
    #[description = "create: how long it lives, e.g. 7days (default 30days, at most 366days)"] expires: Option<String>,
    #[description = "create: a note to tell your tokens apart (e.g. laptop)"] label: Option<String>,
    #[description = "revoke: the token id (as create or list showed it)"] token: Option<String>,
    #[description = "revoke: why (goes to the audit log)"] reason: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        match action.as_deref().map(str::trim).unwrap_or("create") {
            "create" | "" => {
                let req = TokenRequest {
                    role: role.as_deref(),
                    project: project.as_deref(),
                    expires: expires.as_deref(),
                    label: label.as_deref(),
                };
                tokens::create(&core, &actor, req).await
            }
            "list" => tokens::list(&core, &actor).await,
            "revoke" => match token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                Some(id) => tokens::revoke(&core, &actor, id, reason.as_deref().unwrap_or("")).await,
                None => Reply::refusal(
                    cloud_domain::error::ExitCode::Invalid,
                    "⚠️ Say which token: `/cloud-token action:revoke token:<id> reason:<why>` (`/cloud-token action:list` shows their ids).",
                ),
            },
            other => Reply::refusal(
                cloud_domain::error::ExitCode::Invalid,
                format!(
                    "⚠️ Unknown action `{}`: use create, list or revoke.",
                    cloud_domain::input::escape_for_display(other)
                ),
            ),
        }
    })
    .await
}

/// The active grants with their ids (admin).
#[poise::command(slash_command, rename = "cloud-grants", default_member_permissions = "MANAGE_GUILD")]
pub(crate) async fn cmd_grants(
    ctx: Ctx<'_>,
    #[description = "Only this project (default: every project)"] project: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        cloud_chat::actions::grants(&core, &actor, project.as_deref()).await
    })
    .await
}

/// Approve a plan over quota, with the reason audited (admin).
#[poise::command(
    slash_command,
    rename = "cloud-override",
    default_member_permissions = "MANAGE_GUILD"
)]
pub(crate) async fn cmd_override(
    ctx: Ctx<'_>,
    #[description = "Session id"] session: String,
    #[description = "Why the quota may be exceeded (goes to the audit log)"] reason: String,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        cloud_chat::actions::approve_override(&core, &actor, &session, &reason).await
    })
    .await
}
