//! A session thread's output, transport-free: carries the batcher's [`ThreadOp`]s into the
//! thread through a [`ThreadPlatform`] that knows only its platform's API calls (post, edit,
//! attach a file), so every adapter's thread shows the same thing after the same refusals.
//!
//! What this decides for the user:
//! - **No line is lost to a refusal.** A post chat refused (a run of 429s longer than the
//!   platform's own retries) waits, oldest first, with its latest text: it is posted again before
//!   the next op, the batcher's edits of it folded into it meanwhile (so no later edit fails for
//!   want of a post), and whatever is still refused when the session ends is attached as an
//!   `undelivered-…` file.
//! - **A successor resumes where chat stopped.** How far the thread shows the log
//!   ([`ThreadOp::Shows`]) is recorded only while no refused post waits, so a process taking the
//!   thread over re-sends what chat never showed.
//! - **A session cut by a shutdown ends with its full log**, even when the chat messages held
//!   every line; a session whose summary went out while the app still took work does not (its
//!   thread is complete).

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::batcher::{MessageKey, RenderOp, ThreadOp};
use crate::feed::{self, ThreadCursor};
use crate::service::Core;
use cloud_domain::session::{Platform, SessionId};

/// A chat platform's calls in one session thread. Each call is one request (retried as the
/// platform needs); deciding what to call, and when, is [`ThreadOut`]'s.
#[async_trait]
pub trait ThreadPlatform: Send {
    /// The platform's id of a posted message (Discord snowflake, Slack `ts`).
    type MessageId: Clone + Send + Sync;
    /// Why a call failed.
    type Error: Display + Send + Sync;
    /// The platform whose record of the thread's cursor this thread keeps.
    const PLATFORM: Platform;

    /// Posts `text` as a new message of the thread.
    async fn post(&mut self, text: &str) -> Result<Self::MessageId, Self::Error>;
    /// Replaces the text of a message posted earlier.
    async fn edit(&mut self, id: &Self::MessageId, text: &str) -> Result<(), Self::Error>;
    /// Attaches a file the batcher asked for (the full log).
    async fn upload(&mut self, filename: String, content: String) -> Result<(), Self::Error>;
    /// The session ended with posts still refused: attaches them as one file, `content` being
    /// `--- <key> ---\n<text>\n` per post. Reports its own failure.
    async fn attach_undelivered(&mut self, content: String);
    /// The app stops in the middle of the session: attaches the session's full log (never empty).
    /// Reports its own failure.
    async fn attach_full_log(&mut self, content: String);
    /// Called before each of the batcher's ops is carried out (metrics).
    fn before(&mut self, _op: &RenderOp) {}
    /// An op of the batcher failed (its post, if any, is kept to post again later).
    fn report(&mut self, error: OpError<Self::Error>);
}

/// How a thread orders its posts while some wait after a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostOrder {
    /// A new post waits behind the refused ones, so the thread keeps the batcher's order; only
    /// a post or an upload (not an edit) gives them another try first.
    Strict,
    /// Every op first gives the refused posts another try; a new post still goes out when they
    /// are refused again (it is kept behind them if it is refused too).
    TryAnyway,
}

/// Why one of the batcher's ops did not reach the thread.
#[derive(Debug, thiserror::Error)]
pub enum OpError<E> {
    /// Chat refused the post; it waits to be posted again.
    #[error("cannot post {key}; kept to post again later: {error}")]
    Refused { key: MessageKey, error: E },
    /// Chat refused an edit.
    #[error("cannot edit {key}: {error}")]
    Edit { key: MessageKey, error: E },
    /// Chat refused a file.
    #[error("cannot attach the full log: {0}")]
    Upload(E),
    /// The batcher edits a message that was neither posted nor refused.
    #[error("the batcher edits {0}, which was never posted")]
    NeverPosted(MessageKey),
}

/// A post chat refused, waiting to be posted again.
struct Pending {
    key: MessageKey,
    /// Its latest text (the batcher's edits folded in).
    text: String,
    /// Tries since it was refused (or since the session ended).
    attempts: u32,
}

/// How often a refused post is tried again before it waits for the end of the session.
const MAX_REPOST_ATTEMPTS: u32 = 5;

/// One session thread: the batcher's message keys mapped to the platform's ids, and the posts
/// chat refused.
pub struct ThreadOut<P: ThreadPlatform> {
    platform: P,
    /// Whether the app still takes work (a session cut by a shutdown), and the full log.
    core: Arc<Core>,
    session: SessionId,
    order: PostOrder,
    /// Batcher keys → the platform's ids of the messages posted under them.
    posted: HashMap<MessageKey, P::MessageId>,
    /// Refused posts, oldest first.
    pending: Vec<Pending>,
}

impl<P: ThreadPlatform> ThreadOut<P> {
    pub fn new(platform: P, core: Arc<Core>, session: SessionId, order: PostOrder) -> Self {
        ThreadOut {
            platform,
            core,
            session,
            order,
            posted: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Carries out the batcher's ops in order until it is done, recording in `shown`, after the
    /// ops before each [`ThreadOp::Shows`], how far the thread shows the session's log — only
    /// while no refused post waits. Then the end of the session: refused posts once more, the
    /// rest as a file, and the full log when the app stops in the middle of the session.
    pub async fn run(mut self, mut ops: mpsc::Receiver<ThreadOp>, shown: &ThreadCursor) {
        let mut uploaded = false;
        // The summary went out while the app still took work: the session ended on its own, and
        // its thread is complete whenever the app stops afterwards.
        let mut ended_before_shutdown = false;
        while let Some(op) = ops.recv().await {
            match op {
                ThreadOp::Render(op) => {
                    uploaded |= matches!(op, RenderOp::Upload { .. });
                    ended_before_shutdown |= matches!(
                        op,
                        RenderOp::Post {
                            key: MessageKey::Summary(_),
                            ..
                        }
                    ) && self.core.accepting();
                    self.platform.before(&op);
                    if let Err(e) = self.perform(op).await {
                        self.platform.report(e);
                    }
                }
                ThreadOp::Shows(cursor) if self.pending.is_empty() => {
                    shown.record(&self.core, self.session, P::PLATFORM, cursor).await;
                }
                ThreadOp::Shows(_) => {}
            }
        }
        self.finish().await;
        // The app is shutting down in the middle of the session: the thread is the last word
        // chat has on it, so it ends with the full log even when the chat messages held every
        // line.
        if !uploaded && !ended_before_shutdown && !self.core.accepting() {
            let content = feed::full_log(&self.core, self.session, String::new()).await;
            if !content.is_empty() {
                self.platform.attach_full_log(content).await;
            }
        }
    }

    async fn perform(&mut self, op: RenderOp) -> Result<(), OpError<P::Error>> {
        let retry = match self.order {
            PostOrder::Strict => !matches!(op, RenderOp::Edit { .. }) || self.pending.is_empty(),
            PostOrder::TryAnyway => true,
        };
        if retry {
            self.repost_pending().await;
        }
        match op {
            RenderOp::Post { key, text } => {
                if self.order == PostOrder::Strict && !self.pending.is_empty() {
                    // Keep the thread's order: it goes out after the posts still refused.
                    self.pending.push(Pending { key, text, attempts: 0 });
                    return Ok(());
                }
                match self.platform.post(&text).await {
                    Ok(id) => {
                        self.posted.insert(key, id);
                        Ok(())
                    }
                    Err(error) => {
                        self.pending.push(Pending {
                            key: key.clone(),
                            text,
                            attempts: 0,
                        });
                        Err(OpError::Refused { key, error })
                    }
                }
            }
            RenderOp::Edit { key, text } => {
                let Some(id) = self.posted.get(&key).cloned() else {
                    // Not posted yet (chat refused it): the post goes out with this text.
                    if let Some(p) = self.pending.iter_mut().find(|p| p.key == key) {
                        p.text = text;
                        return Ok(());
                    }
                    return Err(OpError::NeverPosted(key));
                };
                self.platform
                    .edit(&id, &text)
                    .await
                    .map_err(|error| OpError::Edit { key, error })
            }
            RenderOp::Upload { filename, content } => {
                self.platform.upload(filename, content).await.map_err(OpError::Upload)
            }
        }
    }

    /// Posts the refused posts again, oldest first, while chat takes them (stops at the first
    /// refusal: the thread keeps its order).
    async fn repost_pending(&mut self) {
        while let Some(first) = self.pending.first_mut() {
            if first.attempts >= MAX_REPOST_ATTEMPTS {
                return;
            }
            first.attempts += 1;
            let (key, text) = (first.key.clone(), first.text.clone());
            match self.platform.post(&text).await {
                Ok(id) => {
                    info!(session = %self.session, platform = P::PLATFORM.as_str(), %key, "a refused post went through on a later try");
                    self.posted.insert(key, id);
                    self.pending.remove(0);
                }
                Err(e) => {
                    warn!(session = %self.session, platform = P::PLATFORM.as_str(), %key, error = %e, "a refused post is refused again");
                    return;
                }
            }
        }
    }

    /// The session ended: one last round of tries for refused posts, then the rest as a file.
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
        self.platform.attach_undelivered(content).await;
    }
}
