//! What a chat sink (one Discord thread, one Slack thread) accepts: message size and rate budgets,
//! plus the batcher's own pacing knobs. Numbers come from `docs/platform-notes.md`; where the
//! platform publishes no number we pick a conservative one and say so.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// At most `ops` operations in **any** time window of length `window` (a sliding window, which is
/// stricter than a bucket that refills at fixed instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateBudget {
    /// Operations allowed per window (values below 1 are treated as 1).
    pub ops: u32,
    /// Window length.
    #[serde(with = "duration_ms")]
    pub window: Duration,
}

impl RateBudget {
    pub const fn new(ops: u32, window: Duration) -> Self {
        RateBudget { ops, window }
    }
}

/// How message edits are rate limited relative to new messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditBudget {
    /// Edits draw from the same budget as posts (every op counts against [`SinkLimits::messages`]).
    SharedWithMessages,
    /// Edits have their own budget, independent of posts.
    Own(RateBudget),
}

/// The limits of one chat sink and the batcher's pacing within them.
///
/// Differences from a flat `messages_per_window / edits_per_window / window` triple: Slack's post
/// and edit limits have different windows (1 s vs 60 s), so each budget carries its own window,
/// and Discord's edits are modelled as sharing the post budget (see [`SinkLimits::discord`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkLimits {
    /// A short name for reports (`discord`, `slack`, `custom`).
    pub name: String,
    /// Longest text of one posted or edited message, counted in UTF-16 code units (what
    /// JavaScript's `length` counts; never less than the number of Unicode code points, so it is
    /// safe whichever of the two a platform counts). Values below 100 are treated as 100.
    pub max_message_chars: usize,
    /// Budget for new messages. File uploads count against it too (an upload is a message).
    pub messages: RateBudget,
    /// Budget for edits of existing messages (the live progress messages).
    pub edits: EditBudget,
    /// How many line-carrying messages chat should hold for one session. Once reached, the
    /// remaining lines go only to the full log attached at the end (progress messages, the
    /// overflow notice and the summary do not count).
    pub max_log_messages: u32,
    /// How long the first pending line may wait for more lines to share its message.
    #[serde(with = "duration_ms")]
    pub linger: Duration,
    /// While more than a message's worth of lines is pending, a line that waited longer than
    /// this is left to the full log instead, and chat shows a `… N lines only in the full log`
    /// marker. This keeps chat close to real time during floods.
    #[serde(with = "duration_ms")]
    pub max_line_delay: Duration,
    /// Minimum time between two edits of one progress message while lines compete for budget.
    #[serde(with = "duration_ms")]
    pub progress_interval: Duration,
    /// A progress message whose shown text is older than this jumps ahead of pending lines.
    #[serde(with = "duration_ms")]
    pub progress_stale_after: Duration,
}

impl SinkLimits {
    /// One Discord thread.
    ///
    /// - 2000 characters per message content.
    /// - 5 messages per 5 s per channel (community folklore; Discord publishes buckets only via
    ///   headers). Edits (`PATCH /channels/{c}/messages/{id}`) have their own route bucket whose
    ///   size is not published either, so we **conservatively share** the 5 / 5 s budget between
    ///   posts, edits and uploads: whatever Discord's real buckets are, we stay under both.
    pub fn discord() -> Self {
        SinkLimits {
            name: "discord".to_string(),
            max_message_chars: 2000,
            messages: RateBudget::new(5, Duration::from_secs(5)),
            edits: EditBudget::SharedWithMessages,
            max_log_messages: 40,
            linger: Duration::from_millis(1000),
            max_line_delay: Duration::from_millis(2000),
            progress_interval: Duration::from_secs(4),
            progress_stale_after: Duration::from_secs(10),
        }
    }

    /// One Slack thread.
    ///
    /// - `text` holds 40 000 characters but a section block only 3000; threaded output is posted
    ///   as one section, so 3000 per message. The count is of our text *before* the adapter's
    ///   `&`/`<`/`>` escaping, which the adapter must account for.
    /// - `chat.postMessage` ≈ 1 message/s per channel ("short bursts" allowed, not relied on).
    /// - `chat.update` is Web API tier 3, ≈ 50 per minute, a budget separate from posts.
    pub fn slack() -> Self {
        SinkLimits {
            name: "slack".to_string(),
            max_message_chars: 3000,
            messages: RateBudget::new(1, Duration::from_secs(1)),
            edits: EditBudget::Own(RateBudget::new(50, Duration::from_secs(60))),
            max_log_messages: 40,
            linger: Duration::from_millis(1000),
            max_line_delay: Duration::from_millis(2000),
            progress_interval: Duration::from_secs(3),
            progress_stale_after: Duration::from_secs(10),
        }
    }

    /// The budget edits are checked against (posts' budget when shared).
    pub fn edit_budget(&self) -> RateBudget {
        match self.edits {
            EditBudget::SharedWithMessages => self.messages,
            EditBudget::Own(budget) => budget,
        }
    }
}

/// Durations as integer milliseconds in JSON.
pub mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
