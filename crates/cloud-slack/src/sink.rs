//! Performs the output batcher's [`RenderOp`]s in a session's Slack thread: posts with
//! `thread_ts`, edits with `chat.update`, and the full log as a file
//! (`files.getUploadURLExternal` → upload → `files.completeUploadExternal`).
//!
//! The batcher already keeps to Slack's budgets (1 post/s per channel, tier-3 edits); the client
//! still follows `Retry-After` if Slack answers 429 anyway.

use std::collections::HashMap;
use std::sync::Arc;

use slack_morphism::prelude::*;
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

use super::blocks::{escape, fit};
use super::web::{Lobby, Web};
use cloud_chat::batcher::{spawn_tracked_batcher, BatchInput, Batcher, MessageKey, RenderOp, SinkLimits, ThreadOp};
use cloud_chat::feed::ThreadCursor;
use cloud_chat::service::{metric, Core};
use cloud_domain::session::{Platform, SessionId};
use slack_morphism::errors::SlackClientError;

/// Slack's `text` limit.
const MAX_TEXT: usize = 40_000;

/// One session thread.
pub struct ThreadSink {
    web: Arc<Web>,
    /// The shared core: whether it still takes output, and the full log when it stops.
    core: Arc<Core>,
    lobby: Lobby,
    log_filename: String,
    /// Batcher keys → Slack `ts` of the messages posted under them.
    posted: HashMap<MessageKey, String>,
    /// Posts Slack refused even after the client's own retries (a run of 429s longer than
    /// them), oldest first, each with its latest text: re-posted before the next op, their
    /// edits folded into them meanwhile, and whatever is still refused when the session ends
    /// is attached as a file. So no line is lost and no later edit fails for want of a post.
    pending: Vec<Pending>,
}

/// A post chat refused, waiting to be re-posted.
struct Pending {
    key: MessageKey,
    text: String,
    attempts: u32,
}

/// How often a refused post is tried again before it waits for the file at the end.
const MAX_REPOST_ATTEMPTS: u32 = 5;

impl ThreadSink {
    pub fn new(web: Arc<Web>, core: Arc<Core>, lobby: Lobby, log_filename: String) -> Self {
        ThreadSink {
            web,
            core,
            lobby,
            log_filename,
            posted: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Re-posts the refused posts, oldest first, while Slack takes them (stops at the first
    /// refusal: the thread keeps its order).
    async fn repost_pending(&mut self) {
        while let Some(first) = self.pending.first_mut() {
            if first.attempts >= MAX_REPOST_ATTEMPTS {
                return;
            }
            first.attempts += 1;
            let (key, text) = (first.key.clone(), first.text.clone());
            match self.post(&key, &text).await {
                Ok(()) => {
                    info!(%key, "slack: a refused post went through on a later try");
                    self.pending.remove(0);
                }
                Err(e) => {
                    warn!(%key, error = %e, "slack: a refused post is refused again");
                    return;
                }
            }
        }
    }

    /// The session ended: one last try for refused posts, then the rest as an attached file.
    async fn finish(&mut self) {
        for p in &mut self.pending {
            p.attempts = 0;
        }
        self.repost_pending().await;
        if self.pending.is_empty() {
            return;
        }
        let mut content = String::new();
        for p in self.pending.drain(..) {
            content.push_str(&format!("--- {} ---\n{}\n", p.key, p.text));
        }
        let filename = format!("undelivered-{}", self.log_filename);
        if let Err(e) = self
            .web
            .upload(&self.lobby.channel, Some(&self.lobby.ts), &filename, &content)
            .await
        {
            warn!(error = %e, "slack: cannot attach the messages Slack refused");
        }
    }

    async fn post(&mut self, key: &MessageKey, text: &str) -> anyhow::Result<()> {
        let request = SlackApiChatPostMessageRequest::new(self.lobby.channel.clone().into(), content(text))
            .with_thread_ts(self.lobby.ts.clone().into());
        let posted = self.web.session().chat_post_message(&request).await?;
        self.posted.insert(key.clone(), posted.ts.to_string());
        Ok(())
    }

    async fn perform(&mut self, op: RenderOp) -> anyhow::Result<()> {
        let route = match &op {
            RenderOp::Post { .. } => "chat.postMessage",
            RenderOp::Edit { .. } => "chat.update",
            RenderOp::Upload { .. } => "files.upload",
        };
        metrics::counter!(metric::CHAT_CALLS, "platform" => "slack", "route" => route).increment(1);
        self.repost_pending().await;
        let result = self.perform_op(op).await;
        if let Err(e) = &result {
            if matches!(
                e.downcast_ref::<SlackClientError>(),
                Some(SlackClientError::RateLimitError(_))
            ) {
                metrics::counter!(metric::CHAT_429, "platform" => "slack").increment(1);
            }
        }
        result
    }

    async fn perform_op(&mut self, op: RenderOp) -> anyhow::Result<()> {
        match op {
            RenderOp::Post { key, text } => {
                if let Err(e) = self.post(&key, &text).await {
                    self.pending.push(Pending { key, text, attempts: 0 });
                    return Err(e.context("kept to post again later"));
                }
            }
            RenderOp::Edit { key, text } => {
                let Some(ts) = self.posted.get(&key).cloned() else {
                    // Not posted yet (Slack refused it): the post goes out with this text.
                    if let Some(p) = self.pending.iter_mut().find(|p| p.key == key) {
                        p.text = text;
                        return Ok(());
                    }
                    anyhow::bail!("the batcher edits {key}, which was never posted");
                };
                let request =
                    SlackApiChatUpdateRequest::new(self.lobby.channel.clone().into(), content(&text), ts.into());
                self.web.session().chat_update(&request).await?;
            }
            RenderOp::Upload { filename, content } => {
                self.web
                    .upload(&self.lobby.channel, Some(&self.lobby.ts), &filename, &content)
                    .await?;
            }
        }
        Ok(())
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
    mut sink: ThreadSink,
    rx: mpsc::UnboundedReceiver<(i64, BatchInput)>,
    limits: SinkLimits,
    id: SessionId,
    shown: Arc<ThreadCursor>,
) {
    // Shutdown waits for the guard: the summary and log file reach the thread first.
    let guard = sink.core.output_guard();
    let (ops_tx, mut ops_rx) = mpsc::channel::<ThreadOp>(64);
    let batcher = Batcher::new(limits).with_log_filename(sink.log_filename.clone());
    let stats = spawn_tracked_batcher(rx, batcher, ops_tx);
    tokio::spawn(
        async move {
            let mut uploaded = false;
            // The summary went out while the app still took work: the session ended on its
            // own, and its thread is complete whenever the app stops afterwards.
            let mut ended_before_shutdown = false;
            while let Some(op) = ops_rx.recv().await {
                let op = match op {
                    ThreadOp::Render(op) => op,
                    ThreadOp::Shows(cursor) => {
                        if sink.pending.is_empty() {
                            shown.record(&sink.core, id, Platform::Slack, cursor).await;
                        }
                        continue;
                    }
                };
                uploaded |= matches!(op, RenderOp::Upload { .. });
                ended_before_shutdown |= matches!(
                    op,
                    RenderOp::Post {
                        key: MessageKey::Summary(_),
                        ..
                    }
                ) && sink.core.accepting();
                if let Err(e) = sink.perform(op).await {
                    warn!(error = %e, "slack: a thread update failed");
                }
            }
            sink.finish().await;
            // The app is shutting down in the middle of the session: the thread is the last
            // word chat has on it, so it ends with the full log even when the chat messages
            // held every line.
            if !uploaded && !ended_before_shutdown && !sink.core.accepting() {
                let content = cloud_chat::feed::full_log(&sink.core, id, String::new()).await;
                if !content.is_empty() {
                    let upload = RenderOp::Upload {
                        filename: sink.log_filename.clone(),
                        content,
                    };
                    if let Err(e) = sink.perform(upload).await {
                        warn!(error = %e, "slack: cannot attach the full log");
                    }
                }
            }
            if let Ok(stats) = stats.await {
                info!(?stats, "slack: thread finished");
            }
            shown.close(&sink.core, id, Platform::Slack).await;
            drop(guard);
        }
        .instrument(info_span!("slack_thread", session = %id)),
    );
}
