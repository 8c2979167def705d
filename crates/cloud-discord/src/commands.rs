//! The slash commands. Each parses its typed options, calls one [`cloud_chat::actions`] function
//! and answers through [`answer`], which guarantees the first response well inside Discord's 3 s:
//! it replies directly when the work is quick and defers (ephemeral) when it is not. Every reply
//! is ephemeral; the lobby is a separate channel message.

use std::future::Future;
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;
use poise::CreateReply;
use tracing::warn;

use super::{Data, Error};
use cloud_chat::actions::{self, GrantParams};
use cloud_chat::service::metric;
use cloud_chat::view::Reply;
use cloud_core::policy::Actor;
use cloud_domain::session::{Platform, Principal};

pub(crate) type Ctx<'a> = poise::Context<'a, Data, Error>;

/// Answer directly when the work finishes within this; defer otherwise.
pub(crate) const DEFER_AFTER: Duration = Duration::from_millis(1200);

/// The Discord user (with their guild roles) as the core's actor.
pub(crate) fn actor_of(ctx: Ctx<'_>) -> Actor {
    let principal = Principal::new(Platform::Discord, ctx.author().id.to_string());
    let groups = match ctx {
        poise::Context::Application(a) => a
            .interaction
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default(),
        poise::Context::Prefix(_) => vec![],
    };
    Actor { principal, groups }
}

/// Runs `work` and sends its reply, deferring first when it takes longer than [`DEFER_AFTER`].
pub(crate) async fn answer<F>(ctx: Ctx<'_>, work: F) -> Result<(), Error>
where
    F: Future<Output = Reply>,
{
    let started = Instant::now();
    metrics::counter!(metric::INTERACTIONS, "platform" => "discord", "kind" => "command").increment(1);
    tokio::pin!(work);
    let reply = match tokio::time::timeout(DEFER_AFTER, &mut work).await {
        Ok(reply) => reply,
        Err(_) => {
            ctx.defer_ephemeral().await?;
            metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "discord")
                .record(started.elapsed().as_secs_f64());
            let reply = work.await;
            ctx.send(
                CreateReply::default()
                    .content(super::render::fit(&reply.text, 2000))
                    .ephemeral(true),
            )
            .await?;
            return Ok(());
        }
    };
    let r = ctx
        .send(
            CreateReply::default()
                .content(super::render::fit(&reply.text, 2000))
                .ephemeral(reply.ephemeral),
        )
        .await;
    metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "discord").record(started.elapsed().as_secs_f64());
    r?;
    Ok(())
}

fn either(r: Result<Reply, Reply>) -> Reply {
    r.unwrap_or_else(|e| e)
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
    let projects = ctx.data().core.store.projects().await.unwrap_or_default();
    matching(projects.into_iter().map(|p| p.name), partial)
}

async fn ac_env(ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    matching(ctx.data().core.config.environments.keys().cloned(), partial)
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
    let sessions = ctx
        .data()
        .core
        .store
        .sessions(&cloud_core::store::SessionFilter {
            active: true,
            limit: Some(25),
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    matching(sessions.into_iter().map(|s| s.id.short()), partial)
}

async fn ac_role(_ctx: Ctx<'_>, partial: &str) -> Vec<String> {
    matching(["read", "deploy", "approve", "admin"].map(String::from), partial)
}

// ----- user commands ------------------------------------------------------------------------

/// Plan a deployment of a project to an environment; the lobby shows the plan and its buttons.
#[poise::command(slash_command, rename = "cloud-deploy")]
pub(crate) async fn cmd_deploy(
    ctx: Ctx<'_>,
    #[description = "Project (e.g. ecommerce)"]
    #[autocomplete = "ac_project"]
    project: String,
    #[description = "Environment (dev, stage, prod)"]
    #[autocomplete = "ac_env"]
    env: String,
    #[description = "Only these stacks, comma-separated (default: all enabled)"]
    #[autocomplete = "ac_stacks"]
    stacks: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    let channel = ctx.channel_id().get();
    answer(ctx, async {
        match actions::deploy(&data.core, &actor, &project, &env, stacks.as_deref()).await {
            Ok(opened) => {
                let live = data.live.clone();
                let core = data.core.clone();
                let plan_as = actor.clone();
                let id = opened.record.id;
                let busy = opened.busy.is_some();
                tokio::spawn(async move {
                    match live.post_lobby(channel, id).await {
                        Ok(_) if !busy => actions::plan(&core, id, plan_as),
                        Ok(_) => {}
                        Err(e) => {
                            warn!(session = %id, error = %e, "cannot post the lobby; cancelling the session");
                            let _ = core.orchestrator.cancel(id, plan_as, "the lobby could not be posted in Discord").await;
                        }
                    }
                });
                match opened.busy {
                    None => cloud_chat::view::session_started_message(id, &project, &env),
                    Some(busy) => Reply::ephemeral(format!(
                        "⏳ Session `{}` opened for {project}/{env}, but {busy}. Press Queue in the lobby to wait for the stacks, or Cancel.",
                        id.short()
                    )),
                }
            }
            Err(reply) => reply,
        }
    })
    .await
}

/// List the active sessions.
#[poise::command(slash_command, rename = "cloud-list")]
pub(crate) async fn cmd_list(ctx: Ctx<'_>) -> Result<(), Error> {
    let data = ctx.data();
    answer(ctx, async { either(actions::list(&data.core).await) }).await
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
    let data = ctx.data();
    answer(ctx, async {
        either(actions::status(&data.core, &actor, session.as_deref()).await)
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
    let data = ctx.data();
    answer(ctx, async {
        either(actions::quota(&data.core, &actor, &project).await)
    })
    .await
}

/// List the projects.
#[poise::command(slash_command, rename = "cloud-projects")]
pub(crate) async fn cmd_projects(ctx: Ctx<'_>) -> Result<(), Error> {
    let data = ctx.data();
    answer(ctx, async { either(actions::projects(&data.core).await) }).await
}

/// Cancel a session (a running apply stops gracefully).
#[poise::command(slash_command, rename = "cloud-cancel")]
pub(crate) async fn cmd_cancel(
    ctx: Ctx<'_>,
    #[description = "Session id"]
    #[autocomplete = "ac_session"]
    session: String,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    answer(ctx, async {
        let s = match actions::find(&data.core, &session).await {
            Ok(s) => s,
            Err(r) => return r,
        };
        data.live.ensure_attached(s.id).await;
        match actions::cancel(&data.core, &actor, s.id, "cancelled from Discord").await {
            Ok((record, reply)) => {
                if record.state == cloud_domain::session::SessionState::Applying {
                    data.live
                        .announce(
                            s.id,
                            &cloud_chat::view::cancel_requested_announcement(&actor.principal)
                                .replace(&actor.principal.to_string(), &super::render::who(&actor.principal)),
                        )
                        .await;
                }
                reply
            }
            Err(r) => r,
        }
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
    let data = ctx.data();
    answer(ctx, async { either(actions::logs(&data.core, &actor, &session).await) }).await
}

// ----- admin commands -----------------------------------------------------------------------

/// Grant a user a role on a project (admin).
#[poise::command(slash_command, rename = "cloud-grant")]
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
    let data = ctx.data();
    answer(ctx, async {
        let p = GrantParams {
            user: Principal::new(Platform::Discord, user.id.to_string()),
            project: &project,
            role: &role,
            env: env.as_deref(),
            duration: duration.as_deref(),
            reason: &reason,
        };
        either(actions::grant(&data.core, &actor, p).await)
    })
    .await
}

/// Revoke a grant (admin).
#[poise::command(slash_command, rename = "cloud-revoke")]
pub(crate) async fn cmd_revoke(
    ctx: Ctx<'_>,
    #[description = "Grant id (from /cloud-admin-list)"] grant: String,
    #[description = "Why"] reason: String,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    answer(ctx, async {
        either(actions::revoke(&data.core, &actor, &grant, &reason).await)
    })
    .await
}

/// Create a project (admin).
#[poise::command(slash_command, rename = "cloud-create-project")]
pub(crate) async fn cmd_create_project(
    ctx: Ctx<'_>,
    #[description = "Project name"] name: String,
    #[description = "Owning organisation"] org: String,
    #[description = "Environments, comma-separated (default dev,stage,prod)"] environments: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    answer(ctx, async {
        either(actions::create_project(&data.core, &actor, &name, &org, environments.as_deref()).await)
    })
    .await
}

/// Set a project quota (admin).
#[poise::command(slash_command, rename = "cloud-set-quota")]
pub(crate) async fn cmd_set_quota(
    ctx: Ctx<'_>,
    #[description = "Project"]
    #[autocomplete = "ac_project"]
    project: String,
    #[description = "Quota key: sessions, cost, vm, db, nat or a resource type (aws:ec2/instance:Instance)"]
    key: String,
    #[description = "Limit"] limit: f64,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    answer(ctx, async {
        either(actions::set_quota(&data.core, &actor, &project, &key, limit).await)
    })
    .await
}

/// List every active session of every project, or of one (admin).
#[poise::command(slash_command, rename = "cloud-admin-list")]
pub(crate) async fn cmd_admin_list(
    ctx: Ctx<'_>,
    #[description = "Only this project"]
    #[autocomplete = "ac_project"]
    project: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    answer(ctx, async {
        either(actions::admin_list(&data.core, &actor, project.as_deref()).await)
    })
    .await
}

/// Cancel any session (admin).
#[poise::command(slash_command, rename = "cloud-admin-cancel")]
pub(crate) async fn cmd_admin_cancel(
    ctx: Ctx<'_>,
    #[description = "Session id"]
    #[autocomplete = "ac_session"]
    session: String,
    #[description = "Why"] reason: String,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    answer(ctx, async {
        match actions::admin_cancel(&data.core, &actor, &session, &reason).await {
            Ok((record, reply)) => {
                data.live.ensure_attached(record.id).await;
                reply
            }
            Err(r) => r,
        }
    })
    .await
}

/// Sessions by state (admin).
#[poise::command(slash_command, rename = "cloud-stats")]
pub(crate) async fn cmd_stats(ctx: Ctx<'_>) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    answer(ctx, async { either(actions::stats(&data.core, &actor).await) }).await
}

/// The latest audit log rows and the chain check (admin).
#[poise::command(slash_command, rename = "cloud-audit")]
pub(crate) async fn cmd_audit(
    ctx: Ctx<'_>,
    #[description = "Only this session"]
    #[autocomplete = "ac_session"]
    session: Option<String>,
) -> Result<(), Error> {
    let actor = actor_of(ctx);
    let data = ctx.data();
    answer(ctx, async {
        either(actions::audit(&data.core, &actor, session.as_deref()).await)
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
        cmd_stats(),
        cmd_audit(),
    ]
}
