//! How a slash command answers: the actor it acts as, and [`answer`], which guarantees the first
//! response well inside Discord's 3 s — it replies directly when the work is quick and defers
//! (ephemeral) when it is not, then carries out the reply's follow-ups (the lobby to post, a
//! line for the thread, a file).

use std::future::Future;
use std::time::{Duration, Instant};

use poise::CreateReply;

use super::{Data, Error, Responder};
use cloud_chat::service::metric;
use cloud_chat::view::Reply;
use cloud_chat::Actor;
use cloud_domain::session::{Platform, Principal};

pub(crate) type Ctx<'a> = poise::Context<'a, Data, Error>;

/// Answer directly when the work finishes within this; defer otherwise. Discord shows the
/// deferral at once ("cloud is thinking…") and the answer replaces it in place, so deferring
/// costs the person nothing: a command that needs more than a moment (a deploy writing its
/// session, a busy store) is acknowledged within tens of milliseconds instead of up to Discord's
/// 3 s. The same budget as the Slack app's.
pub(crate) const DEFER_AFTER: Duration = cloud_chat::service::ANSWER_IN_FIRST_RESPONSE_WITHIN;

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
    Actor::with_groups(principal, groups)
}

/// The reply as a poise message: its text (cut to Discord's 2000 characters) and its buttons.
fn message(reply: &Reply, ephemeral: bool) -> CreateReply {
    let mut msg = CreateReply::default()
        .content(super::render::fit(&reply.text(), 2000))
        .allowed_mentions(super::render::no_pings())
        .ephemeral(ephemeral);
    if !reply.buttons.is_empty() {
        msg = msg.components(super::render::button_rows(&reply.buttons));
    }
    msg
}

/// Runs `work`, sends its reply (deferring first when it takes longer than [`DEFER_AFTER`]), then
/// carries out its follow-ups as `actor`.
pub(crate) async fn answer<F>(ctx: Ctx<'_>, actor: Actor, work: F) -> Result<(), Error>
where
    F: Future<Output = Reply>,
{
    let started = Instant::now();
    metrics::counter!(metric::INTERACTIONS, "platform" => "discord", "kind" => "command").increment(1);
    tokio::pin!(work);
    let reply = match tokio::time::timeout(DEFER_AFTER, &mut work).await {
        Ok(reply) => {
            let r = ctx.send(message(&reply, reply.ephemeral)).await;
            metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "discord")
                .record(started.elapsed().as_secs_f64());
            r?;
            reply
        }
        Err(_) => {
            ctx.defer_ephemeral().await?;
            metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "discord")
                .record(started.elapsed().as_secs_f64());
            let reply = work.await;
            // The answer replaces the (ephemeral) deferral; an announcement for everyone (a
            // grant) follows it into the channel.
            ctx.send(message(&reply, true)).await?;
            if !reply.ephemeral {
                ctx.send(message(&reply, false)).await?;
            }
            reply
        }
    };
    if reply.follow_ups.is_empty() {
        return Ok(());
    }
    let poise::Context::Application(a) = ctx else {
        return Ok(());
    };
    let responder = Responder::Command(Box::new(a.interaction.clone()));
    let channel = ctx.channel_id().get();
    let bot = ctx.data().0.clone();
    // Off the command's task: posting a lobby waits for the channel's rate budget.
    tokio::spawn(async move { bot.live.carry_out(&responder, &actor, channel, reply.follow_ups).await });
    Ok(())
}
