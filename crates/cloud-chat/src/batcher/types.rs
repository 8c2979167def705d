//! What goes into the batcher and what comes out.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::progress::StackResult;
use cloud_core::engine::{ChangeCounts, Progress};
use cloud_domain::session::StackName;

/// One input of the batcher: something that happened to one stack of the session, or the end of
/// the session.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchInput {
    Stack { stack: StackName, event: StackEvent },
    SessionFinished(SessionSummary),
}

impl BatchInput {
    pub fn stack(stack: &StackName, event: StackEvent) -> Self {
        BatchInput::Stack {
            stack: stack.clone(),
            event,
        }
    }

    /// A line of engine output for `stack`.
    pub fn line(stack: &StackName, text: impl Into<String>) -> Self {
        Self::stack(stack, StackEvent::Progress(Progress::Line(text.into())))
    }
}

/// What happened to one stack.
#[derive(Debug, Clone, PartialEq)]
pub enum StackEvent {
    /// The update started; `planned_steps` (from the preview) is the progress bar's 100%.
    Started { planned_steps: u32 },
    /// The engine reported progress (already redacted upstream).
    Progress(Progress),
    /// The stack finished; `counts` are the engine's totals by step operation.
    Finished { result: StackResult, counts: ChangeCounts },
}

/// How the whole session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOutcome {
    Applied,
    Failed,
    Cancelled,
}

impl SessionOutcome {
    pub fn icon(self) -> &'static str {
        match self {
            SessionOutcome::Applied => "✅",
            SessionOutcome::Failed => "❌",
            SessionOutcome::Cancelled => "⏹️",
        }
    }
}

/// The orchestrator's words for the end of the session; the batcher adds one row per stack (from
/// the stack events it saw) and the full-log note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub outcome: SessionOutcome,
    /// First line, e.g. `ecommerce/prod D1BRV40: applied in 4m 12s`.
    pub headline: String,
    /// Extra lines after the per-stack rows (errors, next steps).
    pub details: Vec<String>,
}

/// Names a message the batcher posted, so later edits can refer to it. The adapter maps each key
/// to the platform's message id (Discord snowflake, Slack `ts`); the batcher never sees those.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKey {
    /// The live progress message of one stack (posted once, then edited).
    Progress(StackName),
    /// The n-th message of coalesced output lines (0-based). While it is the thread's last
    /// message and has room, later lines are appended to it by edits (an edit only ever appends).
    Log(u32),
    /// "Chat output stops here; see the full log" — posted once, when the log-message cap is hit.
    OverflowNotice,
    /// The n-th part of the final summary (one part unless it exceeds the message size).
    Summary(u32),
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageKey::Progress(stack) => write!(f, "progress:{stack}"),
            MessageKey::Log(n) => write!(f, "log:{n}"),
            MessageKey::OverflowNotice => f.write_str("overflow-notice"),
            MessageKey::Summary(n) => write!(f, "summary:{n}"),
        }
    }
}

/// One thing for the chat adapter to do, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RenderOp {
    /// Post a new message in the session's thread.
    Post { key: MessageKey, text: String },
    /// Replace the text of the message posted earlier under `key`.
    Edit { key: MessageKey, text: String },
    /// Attach a file to the thread (the full log).
    Upload { filename: String, content: String },
}

impl RenderOp {
    /// The text this op sends (message text or file content).
    pub fn text(&self) -> &str {
        match self {
            RenderOp::Post { text, .. } | RenderOp::Edit { text, .. } => text,
            RenderOp::Upload { content, .. } => content,
        }
    }

    pub fn key(&self) -> Option<&MessageKey> {
        match self {
            RenderOp::Post { key, .. } | RenderOp::Edit { key, .. } => Some(key),
            RenderOp::Upload { .. } => None,
        }
    }
}

/// Counters of one batcher, for tests, benchmarks and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatcherStats {
    /// Output lines produced (engine lines split at newlines, plus step and stack-result lines).
    pub lines: u64,
    /// Lines shown in chat (an over-long line split into pieces counts once).
    pub lines_in_chat: u64,
    /// Lines only in the full log (over the message cap, older than `max_line_delay` before a
    /// post was possible, or too long for chat).
    pub lines_only_in_log: u64,
    /// Messages of coalesced lines posted (appends not counted).
    pub log_messages: u64,
    pub progress_posts: u64,
    /// Every edit: progress edits and log appends.
    pub edits: u64,
    /// Edits that appended lines to the open log message.
    pub log_appends: u64,
    pub uploads: u64,
    /// Overflow notice and summary parts.
    pub other_posts: u64,
    /// Occurrences of known secret values that reached the batcher (upstream redaction missed
    /// them) or that formed in rendered text. Always masked; should always be 0.
    pub redaction_violations: u64,
}
