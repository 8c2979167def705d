//! Performs the output batcher's [`RenderOp`]s in a session's Slack thread: posts with
//! `thread_ts`, edits with `chat.update`, and the full log as a file
//! (`files.getUploadURLExternal` → upload → `files.completeUploadExternal`). What to call and
//! when — refused posts kept and posted again, the cursor, the log at shutdown — is cloud-chat's
//! [`ThreadOut`].
//!
//! The batcher already keeps to Slack's budgets (1 post/s per channel, tier-3 edits); the client
//! still follows `Retry-After` if Slack answers 429 anyway.

use std::sync::Arc;

use async_trait::async_trait;
use slack_morphism::prelude::*;
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

use super::blocks::{escape, fit};
use super::web::{Lobby, Web};
use cloud_chat::batcher::{spawn_tracked_batcher, BatchInput, Batcher, RenderOp, SinkLimits, ThreadOp};
use cloud_chat::feed::ThreadCursor;
use cloud_chat::service::{metric, Core};
use cloud_chat::thread_out::{OpError, PostOrder, ThreadOut, ThreadPlatform};
use cloud_domain::session::{Platform, SessionId};
use slack_morphism::errors::SlackClientError;

/// Slack's `text` limit.
const MAX_TEXT: usize = 40_000;

/// Slack's calls in one session thread.
pub struct ThreadSink {
    web: Arc<Web>,
    /// The shared core: whether it still takes output, and the full log when it stops.
    core: Arc<Core>,
    lobby: Lobby,
    log_filename: String,
}

impl ThreadSink {
    pub fn new(web: Arc<Web>, core: Arc<Core>, lobby: Lobby, log_filename: String) -> Self {
        ThreadSink {
            web,
            core,
            lobby,
            log_filename,
        }
    }

    async fn upload_file(&self, filename: &str, content: &str) -> anyhow::Result<()> {
        self.web
            .upload(&self.lobby.channel, Some(&self.lobby.ts), filename, content)
            .await
    }
}

/// Counts a 429 Slack answered even after the client's own retries.
fn count_429(e: &anyhow::Error) {
    if matches!(
        e.downcast_ref::<SlackClientError>(),
        Some(SlackClientError::RateLimitError(_))
    ) {
        metrics::counter!(metric::CHAT_429, "platform" => "slack").increment(1);
    }
}

#[async_trait]
impl ThreadPlatform for ThreadSink {
    type MessageId = String;
    type Error = anyhow::Error;
    const PLATFORM: Platform = Platform::Slack;

    async fn post(&mut self, text: &str) -> anyhow::Result<String> {
        let request = SlackApiChatPostMessageRequest::new(self.lobby.channel.clone().into(), content(text))
            .with_thread_ts(self.lobby.ts.clone().into());
        let posted = self.web.session().chat_post_message(&request).await?;
        Ok(posted.ts.to_string())
    }

    async fn edit(&mut self, ts: &String, text: &str) -> anyhow::Result<()> {
        let request =
            SlackApiChatUpdateRequest::new(self.lobby.channel.clone().into(), content(text), ts.clone().into());
        self.web.session().chat_update(&request).await?;
        Ok(())
    }

    async fn upload(&mut self, filename: String, content: String) -> anyhow::Result<()> {
        self.upload_file(&filename, &content).await
    }

    async fn attach_undelivered(&mut self, content: String) {
        let filename = format!("undelivered-{}", self.log_filename);
        if let Err(e) = self.upload_file(&filename, &content).await {
            warn!(error = %e, "slack: cannot attach the messages Slack refused");
        }
    }

    async fn attach_full_log(&mut self, content: String) {
        metrics::counter!(metric::CHAT_CALLS, "platform" => "slack", "route" => "files.upload").increment(1);
        if let Err(e) = self.upload_file(&self.log_filename, &content).await {
            count_429(&e);
            warn!(error = %e, "slack: cannot attach the full log");
        }
    }

    fn before(&mut self, op: &RenderOp) {
        let route = match op {
            RenderOp::Post { .. } => "chat.postMessage",
            RenderOp::Edit { .. } => "chat.update",
            RenderOp::Upload { .. } => "files.upload",
        };
        metrics::counter!(metric::CHAT_CALLS, "platform" => "slack", "route" => route).increment(1);
    }

    fn report(&mut self, error: OpError<anyhow::Error>) {
        if let OpError::Refused { error, .. } | OpError::Edit { error, .. } | OpError::Upload(error) = &error {
            count_429(error);
        }
        warn!(error = %error, "slack: a thread update failed");
    }
}

/// Thread output is sent as `text` (mrkdwn, code blocks included), escaped for Slack.
fn content(text: &str) -> SlackMessageContent {
    SlackMessageContent::new().with_text(fit(&escape(text), MAX_TEXT))
}

/// Runs a batcher for one session and performs its ops in the thread, in order, recording in
/// `shown` how far the thread shows the session's log (not past a post Slack refused and that
/// waits to be posted again).
pub fn spawn(
    sink: ThreadSink,
    rx: mpsc::UnboundedReceiver<(i64, BatchInput)>,
    limits: SinkLimits,
    id: SessionId,
    shown: Arc<ThreadCursor>,
) {
    // Shutdown waits for the guard: the summary and log file reach the thread first.
    let guard = sink.core.output_guard();
    let core = sink.core.clone();
    let (ops_tx, ops_rx) = mpsc::channel::<ThreadOp>(64);
    let batcher = Batcher::new(limits).with_log_filename(sink.log_filename.clone());
    let stats = spawn_tracked_batcher(rx, batcher, ops_tx);
    tokio::spawn(
        async move {
            ThreadOut::new(sink, core.clone(), id, PostOrder::TryAnyway)
                .run(ops_rx, &shown)
                .await;
            if let Ok(stats) = stats.await {
                info!(?stats, "slack: thread finished");
            }
            shown.close(&core, id, Platform::Slack).await;
            drop(guard);
        }
        .instrument(info_span!("slack_thread", session = %id)),
    );
}
