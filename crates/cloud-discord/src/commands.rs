//! The slash commands. Each reads its typed options, calls one [`cloud_chat::actions`] function
//! and answers through [`answer`] ([`super::answer`]).

use poise::serenity_prelude as serenity;

use super::answer::{actor_of, answer, Ctx};
use super::{Data, Error};
use cloud_chat::actions::{self, GrantParams};
use cloud_domain::session::{Platform, Principal};

/// The answer to a command whose options do not match it (a required one missing): its usage,
/// generated from the command's own parameters, e.g.
/// `/cloud-deploy project:<…> env:<…> [stacks:<…>]`.
pub(crate) fn usage_message(command: &poise::Command<Data, Error>) -> String {
    let mut usage = format!("/{}", command.name);
    for p in &command.parameters {
        if p.required {
            usage.push_str(&format!(" {}:<…>", p.name));
        } else {
            usage.push_str(&format!(" [{}:<…>]", p.name));
        }
    }
    format!(
        "⚠️ `/{}` is missing an option it needs. Usage: `{usage}`. If your Discord offered no such option, its command list is out of date: reload Discord and try again.",
        command.name
    )
}

// ----- autocomplete -------------------------------------------------------------------------

fn matching(items: impl IntoIterator<Item = String>, partial: &str) -> Vec<String> {
    let p = partial.to_ascii_lowercase();
    items
        .into_iter()
        .filter(|i| i.to_ascii_lowercase().contains(&p))
        .take(25)
        .collect()
}

async fn ac_project(ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    matching(actions::project_names(&ctx.data().core).await, partial)
}

/// Deployments as `D1BRV40 shop (dev, prod)`, the id as the value (see
/// `actions::deployment_choices`); matched on the label, so a project name finds its deployments.
async fn ac_deployment(ctx: Ctx<'_>, partial: &str) -> Vec<serenity::AutocompleteChoice> {
    let p = partial.to_ascii_lowercase();
    actions::deployment_choices(&ctx.data().core)
        .await
        .into_iter()
        .filter(|(label, _)| label.to_ascii_lowercase().contains(&p))
        .take(25)
        .map(|(label, value)| serenity::AutocompleteChoice::new(label, value))
        .collect()
}

async fn ac_env(ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    matching(actions::environment_names(&ctx.data().core), partial)
}

/// Stacks of the project/env typed so far; completes the last item of a comma-separated list.
async fn ac_stacks(ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    let (project, env) = match ctx {
        poise::Context::Application(a) => {
            let opt = |name: &str| {
                a.interaction
                    .data
                    .options
                    .iter()
                    .find(|o| o.name == name)
                    .and_then(|o| match &o.value {
                        serenity::CommandDataOptionValue::String(s) => Some(s.clone()),
                        serenity::CommandDataOptionValue::Autocomplete { value, .. } => Some(value.clone()),
                        _ => None,
                    })
            };
            (
                opt("project").unwrap_or_default(),
                opt("env").unwrap_or_else(|| "dev".into()),
            )
        }
        _ => return vec![],
    };
    let stacks = actions::available_stacks(&ctx.data().core, &project, &env);
    let (done, last) = match partial.rsplit_once(',') {
        Some((done, last)) => (format!("{},", done.trim_end()), last.trim().to_string()),
        None => (String::new(), partial.trim().to_string()),
    };
    let chosen: Vec<&str> = done.split(',').map(str::trim).collect();
    matching(
        stacks
            .into_iter()
            .map(|s| s.to_string())
            .filter(|s| !chosen.contains(&s.as_str()))
            .map(|s| format!("{done}{s}")),
        &format!("{done}{last}"),
    )
}

async fn ac_session(ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    matching(actions::active_session_ids(&ctx.data().core).await, partial)
}

/// The quota keys the parser accepts (`cloud_domain::policy::quota::quota_key_names`).
async fn ac_quota_key(_ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    matching(
        cloud_domain::policy::quota::quota_key_names()
            .into_iter()
            .map(String::from),
        partial,
    )
}

/// Every provider (creating a project).
async fn ac_provider_any(_ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    matching(cloud_domain::session::Provider::ALL.map(|p| p.to_string()), partial)
}

/// The providers the project typed so far supports (its own).
async fn ac_provider(ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    let project = match ctx {
        poise::Context::Application(a) => a
            .interaction
            .data
            .options
            .iter()
            .find(|o| o.name == "project")
            .and_then(|o| match &o.value {
                serenity::CommandDataOptionValue::String(s) => Some(s.clone()),
                serenity::CommandDataOptionValue::Autocomplete { value, .. } => Some(value.clone()),
                _ => None,
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    matching(actions::provider_choices(&ctx.data().core, &project).await, partial)
}

async fn ac_role(_ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    matching(["read", "deploy", "approve", "admin"].map(String::from), partial)
}

// ----- user commands ------------------------------------------------------------------------

/// Plan a deployment of a project to an environment; the lobby shows the plan and its buttons.
#[poise::command(slash_command, rename = "cloud-deploy")]
pub(crate) async fn cmd_deploy(
    ctx: Ctx<'_>,
    #[description = "Deployment id (D1BRV40) or project (e.g. ecommerce)"]
    #[autocomplete = "ac_deployment"]
    project: String,
    #[description = "Environment (dev, stage, prod)"]
    #[autocomplete = "ac_env"]
    env: String,
    #[description = "Only these stacks, comma-separated (default: all enabled)"]
    #[autocomplete = "ac_stacks"]
    stacks: Option<String>,
    #[description = "Cloud provider (default: the project's; must be the one it deploys to)"]
    #[autocomplete = "ac_provider"]
    provider: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::deploy_on(&core, &actor, &project, &env, stacks.as_deref(), provider.as_deref()).await
    })
    .await
}

/// List the latest sessions you can read.
#[poise::command(slash_command, rename = "cloud-list")]
pub(crate) async fn cmd_list(ctx: Ctx<'_>) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move { actions::list(&core, &actor).await }).await
}

/// Show one session (or the active ones).
#[poise::command(slash_command, rename = "cloud-status")]
pub(crate) async fn cmd_status(
    ctx: Ctx<'_>,
    #[description = "Session id (first 8 characters are enough)"]
    #[autocomplete = "ac_session"]
    session: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::status(&core, &actor, session.as_deref()).await
    })
    .await
}

/// Show a project's quotas.
#[poise::command(slash_command, rename = "cloud-quota")]
pub(crate) async fn cmd_quota(
    ctx: Ctx<'_>,
    #[description = "Project"]
    #[autocomplete = "ac_project"]
    project: String,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::quota(&core, &actor, &project).await
    })
    .await
}

/// List the projects.
#[poise::command(slash_command, rename = "cloud-projects")]
pub(crate) async fn cmd_projects(ctx: Ctx<'_>) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor, async move { actions::projects(&core).await }).await
}

/// Cancel a session (a running apply stops gracefully).
#[poise::command(slash_command, rename = "cloud-cancel")]
pub(crate) async fn cmd_cancel(
    ctx: Ctx<'_>,
    #[description = "Session id"]
    #[autocomplete = "ac_session"]
    session: String,
    #[description = "Why (goes to the audit log)"] reason: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::cancel(&core, &actor, &session, reason.as_deref()).await
    })
    .await
}

/// Show the tail of a session's engine output.
#[poise::command(slash_command, rename = "cloud-logs")]
pub(crate) async fn cmd_logs(
    ctx: Ctx<'_>,
    #[description = "Session id"]
    #[autocomplete = "ac_session"]
    session: String,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::logs(&core, &actor, &session).await
    })
    .await
}

// ----- admin commands -----------------------------------------------------------------------

/// Grant a user a role on a project (admin).
#[poise::command(slash_command, rename = "cloud-grant", default_member_permissions = "MANAGE_GUILD")]
pub(crate) async fn cmd_grant(
    ctx: Ctx<'_>,
    #[description = "Who"] user: serenity::User,
    #[description = "Project"]
    #[autocomplete = "ac_project"]
    project: String,
    #[description = "read, deploy, approve or admin"]
    #[autocomplete = "ac_role"]
    role: String,
    #[description = "Why (goes to the audit log)"] reason: String,
    #[description = "Environment (default: all)"]
    #[autocomplete = "ac_env"]
    env: Option<String>,
    #[description = "How long, e.g. 2h or 7days (default: until revoked)"] duration: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        let role = match actions::parse_role(&role) {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        let duration = match duration.as_deref().map(actions::parse_duration).transpose() {
            Ok(d) => d,
            Err(refusal) => return refusal,
        };
        let p = GrantParams {
            user: Principal::new(Platform::Discord, user.id.to_string()),
            project: &project,
            role,
            env: env.as_deref(),
            duration,
            reason: &reason,
        };
        actions::grant(&core, &actor, p).await
    })
    .await
}

/// Revoke a grant (admin).
#[poise::command(slash_command, rename = "cloud-revoke", default_member_permissions = "MANAGE_GUILD")]
pub(crate) async fn cmd_revoke(
    ctx: Ctx<'_>,
    #[description = "Grant id (as /cloud-grant printed it)"] grant: String,
    #[description = "Why"] reason: String,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::revoke(&core, &actor, &grant, &reason).await
    })
    .await
}

/// Create a project (admin).
#[poise::command(
    slash_command,
    rename = "cloud-create-project",
    default_member_permissions = "MANAGE_GUILD"
)]
pub(crate) async fn cmd_create_project(
    ctx: Ctx<'_>,
    #[description = "Project name"] name: String,
    #[description = "Owning organisation"] org: String,
    #[description = "Environments, comma-separated (default dev,stage,prod)"] environments: Option<String>,
    #[description = "Cloud provider: aws (default) or gcp"]
    #[autocomplete = "ac_provider_any"]
    provider: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        let environments: Vec<String> = environments.into_iter().collect();
        actions::create_project_on(&core, &actor, &name, &org, &environments, provider.as_deref()).await
    })
    .await
}

/// Set a project quota (admin).
#[poise::command(
    slash_command,
    rename = "cloud-set-quota",
    default_member_permissions = "MANAGE_GUILD"
)]
pub(crate) async fn cmd_set_quota(
    ctx: Ctx<'_>,
    #[description = "Project"]
    #[autocomplete = "ac_project"]
    project: String,
    #[description = "Quota key (see the autocomplete list) or a resource type"]
    #[autocomplete = "ac_quota_key"]
    key: String,
    #[description = "Limit"] limit: f64,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::set_quota(&core, &actor, &project, &key, limit).await
    })
    .await
}

/// List every active session of every project, or of one (admin).
#[poise::command(
    slash_command,
    rename = "cloud-admin-list",
    default_member_permissions = "MANAGE_GUILD"
)]
pub(crate) async fn cmd_admin_list(
    ctx: Ctx<'_>,
    #[description = "Only this project"]
    #[autocomplete = "ac_project"]
    project: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::admin_list(&core, &actor, project.as_deref()).await
    })
    .await
}

/// Held stack locks, or force-release one with a reason (admin).
#[poise::command(slash_command, rename = "cloud-locks")]
pub(crate) async fn cmd_locks(
    ctx: Ctx<'_>,
    #[description = "Release this lock (a lock key, or a stack name held once)"] release: Option<String>,
    #[description = "Why (needed to release; goes to the audit log)"] reason: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        let release = release.as_deref().map(|lock| (lock, reason.as_deref().unwrap_or("")));
        actions::locks(&core, &actor, release).await
    })
    .await
}

/// Cancel any session (admin).
#[poise::command(
    slash_command,
    rename = "cloud-admin-cancel",
    default_member_permissions = "MANAGE_GUILD"
)]
pub(crate) async fn cmd_admin_cancel(
    ctx: Ctx<'_>,
    #[description = "Session id"]
    #[autocomplete = "ac_session"]
    session: String,
    #[description = "Why"] reason: String,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::admin_cancel(&core, &actor, &session, &reason).await
    })
    .await
}

/// Sessions by state (admin).
#[poise::command(slash_command, rename = "cloud-stats", default_member_permissions = "MANAGE_GUILD")]
pub(crate) async fn cmd_stats(
    ctx: Ctx<'_>,
    #[description = "Over the last this many days (default 30)"]
    #[min = 1]
    #[max = 3660]
    days: Option<u32>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::stats(&core, &actor, days.unwrap_or(30)).await
    })
    .await
}

/// The latest audit log rows and the chain check (admin).
#[poise::command(slash_command, rename = "cloud-audit", default_member_permissions = "MANAGE_GUILD")]
pub(crate) async fn cmd_audit(
    ctx: Ctx<'_>,
    #[description = "Only this session"]
    #[autocomplete = "ac_session"]
    session: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::audit(&core, &actor, session.as_deref()).await
    })
    .await
}

/// Approve a session's plan: the typed twin of the Approve button (admin overrides stay in the
/// CLI).
#[poise::command(slash_command, rename = "cloud-approve")]
pub(crate) async fn cmd_approve(
    ctx: Ctx<'_>,
    #[description = "Session id"]
    #[autocomplete = "ac_session"]
    session: String,
    #[description = "The plan digest you reviewed (16 hex digits; default: the current plan)"] digest: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let core = ctx.data().core.clone();
    answer(ctx, actor.clone(), async move {
        actions::approve(&core, &actor, &session, digest.as_deref()).await
    })
    .await
}

/// Every command, for registration.
pub(crate) fn all() -> Vec<poise::Command<Data, Error>> {
    vec![
        cmd_deploy(),
        cmd_list(),
        cmd_status(),
        cmd_quota(),
        cmd_projects(),
        cmd_cancel(),
        cmd_logs(),
        cmd_grant(),
        cmd_revoke(),
        cmd_create_project(),
        cmd_set_quota(),
        cmd_admin_list(),
        cmd_admin_cancel(),
        cmd_locks(),
        cmd_stats(),
        cmd_audit(),
        cmd_approve(),
        super::tokens::cmd_token(),
        super::tokens::cmd_grants(),
        super::tokens::cmd_override(),
    ]
}
