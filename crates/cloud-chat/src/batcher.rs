//! The output batcher: turns one session's engine progress into chat operations that respect a
//! chat sink's size and rate limits, without ever losing a line.
//!
//! It is a pure state machine over a caller-supplied clock: [`Batcher::push`] feeds an input,
//! [`Batcher::poll`] returns the [`RenderOp`]s due at `now`, and [`Batcher::next_deadline`] says
//! when to poll next. [`spawn_batcher`] runs it on tokio time for real use; tests and
//! [`bench_stream`] drive it with a simulated clock. Nothing here knows Discord or Slack: a
//! [`SinkLimits`] describes the platform and the adapter maps [`MessageKey`]s to message ids.
//!
//! # What users see
//! - **One live progress message per running stack**, posted when the stack starts and edited on
//!   a throttle: `network  12/30 ▓▓▓▓░░░░░░ 40%  2 updating`, finally
//!   `network  30/30 ▓▓▓▓▓▓▓▓▓▓ 100%  ✓ applied: 3 created, 1 updated`.
//! - **Output lines coalesced into code blocks**, each line prefixed with its stack:
//!   `[network] + aws:ec2/vpc:Vpc vpc created`. Engine lines are shown as given (split at
//!   newlines); finished steps that change something and each stack's result add a line; steps
//!   that change nothing only move the bar. A message never exceeds
//!   [`SinkLimits::max_message_chars`] including its fences; a line too long for one message is
//!   split into pieces, continuations shown as `[network]↪…`. A "```" inside a line becomes
//!   "ˋˋˋ" in chat so it cannot close the block. While the latest line message is the last
//!   message of the thread and has room, new lines are **appended to it by an edit** rather than
//!   spending a new message (a quiet session fills a few messages, not one per line); it closes
//!   when it is full or anything else is posted below it, so the thread reads chronologically.
//! - **A final summary** after [`BatchInput::SessionFinished`]: the headline, one row per stack,
//!   the orchestrator's details, and — when chat could not hold everything — a note pointing at
//!   the **full log**, attached just before the summary. The full log holds every line in order,
//!   unsplit and unescaped (only secrets masked).
//!
//! # When chat cannot hold everything
//! A line reaches chat unless, when a post or append could carry it, chat was more than a
//! message behind and the line older than [`SinkLimits::max_line_delay`] (a flood), or
//! [`SinkLimits::max_log_messages`] line messages were already posted. Otherwise it is left to the full
//! log: skipped runs show as `… N lines only in the full log` in the next message, and hitting
//! the message cap posts one overflow notice. So every line is in chat (once, in order, maybe
//! with marked gaps) and/or in the full log, which is attached whenever any line missed chat.
//!
//! # Budget and priorities
//! Every op is checked against sliding-window budgets ([`SinkLimits::messages`],
//! [`SinkLimits::edits`]); the batcher never emits an op the budget does not allow. When several
//! things are due, the first that its budget allows wins:
//! 1. the first post of a started stack's progress message (once per stack);
//! 2. urgent progress edits — the stack finished, the session finished, or the shown text is
//!    older than [`SinkLimits::progress_stale_after`] (stretched so that, on a shared budget,
//!    these edits take at most half of it) — so progress never goes stale for long;
//! 3. the overflow notice, then pending lines — appended to the open line message (edit budget)
//!    or in a new message (message budget) — once a full message's worth is waiting, the oldest
//!    line waited [`SinkLimits::linger`], or the session finished;
//! 4. regular progress edits, at most one per stack per [`SinkLimits::progress_interval`];
//! 5. after the session finished and everything above is done: the full-log upload (if needed),
//!    then the summary.
//!
//! Exception to 1 and 2: while pending lines are *ready* (as in 3) and their budget has room, a
//! stack's first progress post and its final (finished) edit wait for them, for at most
//! [`SinkLimits::progress_interval`] after they became due. Otherwise a burst of stack starts or
//! finishes would hold every ready line back by one budget slot per stack (on Discord, 8 stacks
//! starting a second apart kept lines 7–8 s from chat). Stale edits never wait.
//!
//! Lines beat routine progress edits because lines are content and may be skipped into the log
//! after `max_line_delay`, while a progress message is only overwritten; step 2 bounds its
//! staleness. When edits share the post budget (Discord), a routine edit also leaves the last
//! free slot of the window to pending lines.
//!
//! A line is skipped from chat only while chat is behind by more than a message's worth *and* the
//! line waited longer than `max_line_delay`: in a quiet stream a late line is still posted.
//!
//! # Secrets
//! Known secret values are masked (`[secret]`) when lines enter and once more on every op's text
//! before it leaves; each occurrence found counts in [`BatcherStats::redaction_violations`].

mod budget;
mod driver;
mod limits;
mod redact;
mod text;
mod types;

use std::collections::VecDeque;
use std::time::Instant;

pub use driver::{spawn_batcher, spawn_batcher_with, spawn_tracked_batcher, ThreadOp};
pub use limits::{duration_ms, EditBudget, RateBudget, SinkLimits};
pub use redact::SECRET_MASK;
pub use text::{chat_len, CONTINUATION, ESCAPED_FENCE, FENCE_CLOSE, FENCE_OPEN};
pub use types::{BatchInput, BatcherStats, MessageKey, RenderOp, SessionOutcome, SessionSummary, StackEvent};

use budget::SlidingWindow;
use redact::Redactor;
use text::{escape_fences, pack_lines, split_to_width};

use crate::progress::{op_symbol, past_tense, StackProgress};
use cloud_core::engine::{EnginePhase, Progress, ResourceStep};
use cloud_domain::session::StackName;

/// A line that would need more chat messages than this goes only to the full log (a marker says
/// so): splitting is for long lines, not for flooding the thread with one blob.
pub const MAX_CHAT_PIECES_PER_LINE: usize = 4;

/// Default name of the attached full log.
pub const DEFAULT_LOG_FILENAME: &str = "cloud-output.log";

/// The smallest `max_message_chars` honoured: room for fences, a 40-character stack prefix and
/// some text.
const MIN_MESSAGE_CHARS: usize = 100;

/// One piece of a line waiting for a log message.
#[derive(Debug)]
struct Unit {
    /// `[stack] text` or `[stack]↪text`, fences escaped, secrets masked.
    text: String,
    len: usize,
    /// When the line arrived.
    at: Instant,
    /// First piece of its line.
    head: bool,
    /// More pieces of the same line follow.
    more: bool,
    /// The input it came from (see [`Batcher::push_at`]).
    seq: i64,
}

/// One stack's progress and its progress message.
#[derive(Debug)]
struct StackSlot {
    progress: StackProgress,
    /// Rendered text of `progress`, refreshed on every change.
    current: String,
    /// The stack started (or reported progress): it gets a progress message.
    started: bool,
    /// The input that started it (see [`Batcher::push_at`]).
    started_seq: i64,
    posted: bool,
    /// The text chat shows, and since when.
    shown: Option<String>,
    last_shown: Option<Instant>,
    /// When the stack started (its progress message became due) and when it finished (its
    /// final edit became urgent): see [`Batcher::overdue`].
    started_at: Option<Instant>,
    finished_at: Option<Instant>,
}

impl StackSlot {
    fn dirty(&self) -> bool {
        self.posted && self.shown.as_deref() != Some(self.current.as_str())
    }
}

/// The latest log message while it is the last message of the thread and has room: new lines
/// are appended to it by an edit instead of spending a new message.
#[derive(Debug)]
struct OpenLog {
    index: u32,
    /// Text between the fences.
    body: String,
    /// `chat_len(body)`.
    used: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Notice {
    NotNeeded,
    Due,
    Posted,
}

/// The output batcher of one session thread. See the module documentation.
#[derive(Debug)]
pub struct Batcher {
    limits: SinkLimits,
    /// Usable characters between the fences of a log message.
    content_budget: usize,
    redactor: Redactor,
    log_filename: String,
    /// Latest instant seen by `push` or `poll`.
    now: Option<Instant>,
    stacks: Vec<StackSlot>,
    /// Pieces of lines not yet posted, in arrival order.
    queue: VecDeque<Unit>,
    /// Σ (len + 1) over `queue`.
    queue_chars: usize,
    /// See [`OpenLog`]; closed as soon as any other message is posted after it.
    open_log: Option<OpenLog>,
    /// The last posted piece has continuations: they are posted next, never skipped.
    front_committed: bool,
    /// Lines skipped from chat since the last log message (shown as a marker in the next one).
    shed_unreported: u64,
    /// The log-message cap was reached: new lines go only to the full log.
    capped: bool,
    notice: Notice,
    /// Every line, `[stack] text\n`, in arrival order.
    full_log: String,
    messages: SlidingWindow,
    /// `None`: edits share `messages`.
    edits: Option<SlidingWindow>,
    summary: Option<SessionSummary>,
    /// Position of the input being pushed and of the last one pushed (see [`Batcher::push_at`]).
    seq: i64,
    /// Position of the [`BatchInput::SessionFinished`] input.
    summary_seq: i64,
    /// When `summary` arrived.
    finished_at: Option<Instant>,
    summary_parts: Option<VecDeque<String>>,
    summary_posted: u32,
    upload_done: bool,
    done: bool,
    stats: BatcherStats,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EditUrgency {
    /// `pressing`: due lines are waiting, so only stale or overdue edits count (see
    /// [`Batcher::overdue`]).
    Urgent {
        pressing: bool,
    },
    Regular,
}

impl Batcher {
    pub fn new(limits: SinkLimits) -> Self {
        let max = limits.max_message_chars.max(MIN_MESSAGE_CHARS);
        let content_budget = max - chat_len(FENCE_OPEN) - chat_len(FENCE_CLOSE);
        let messages = SlidingWindow::new(limits.messages);
        let edits = match limits.edits {
            EditBudget::SharedWithMessages => None,
            EditBudget::Own(budget) => Some(SlidingWindow::new(budget)),
        };
        Batcher {
            limits,
            content_budget,
            redactor: Redactor::default(),
            log_filename: DEFAULT_LOG_FILENAME.to_string(),
            now: None,
            stacks: Vec::new(),
            queue: VecDeque::new(),
            queue_chars: 0,
            open_log: None,
            front_committed: false,
            shed_unreported: 0,
            capped: false,
            notice: Notice::NotNeeded,
            full_log: String::new(),
            messages,
            edits,
            summary: None,
            seq: 0,
            summary_seq: 0,
            finished_at: None,
            summary_parts: None,
            summary_posted: 0,
            upload_done: false,
            done: false,
            stats: BatcherStats::default(),
        }
    }

    /// Known secret values to mask if they ever reach the batcher.
    pub fn with_secrets<I, S>(mut self, secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redactor = Redactor::new(secrets);
        self
    }

    /// The name of the attached full log, e.g. `session-0b6a3c1e.log`.
    pub fn with_log_filename(mut self, filename: impl Into<String>) -> Self {
        self.log_filename = filename.into();
        self
    }

    pub fn limits(&self) -> &SinkLimits {
        &self.limits
    }

    pub fn stats(&self) -> &BatcherStats {
        &self.stats
    }

    /// Every line so far, `[stack] text` per line (what the attached full log contains).
    pub fn full_log(&self) -> &str {
        &self.full_log
    }

    /// The summary was posted: nothing more will be emitted.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds one input that happened at `now`. Emits nothing by itself: call [`Batcher::poll`].
    /// Inputs after [`BatchInput::SessionFinished`] are ignored (and logged).
    pub fn push(&mut self, input: BatchInput, now: Instant) {
        self.push_at(self.seq, input, now)
    }

    /// [`Batcher::push`] of the input at position `seq` of its source (a session event's
    /// cursor; non-decreasing): [`Batcher::shown_through`] then says up to which position chat
    /// shows everything, so a successor that resumes the thread there repeats and skips nothing.
    pub fn push_at(&mut self, seq: i64, input: BatchInput, now: Instant) {
        self.seq = self.seq.max(seq);
        self.observe(now);
        if self.summary.is_some() {
            tracing::warn!(?input, "output batcher: input after the session finished, ignored");
            return;
        }
        match input {
            BatchInput::Stack { stack, event } => self.push_stack_event(stack, event, now),
            BatchInput::SessionFinished(summary) => {
                self.summary_seq = self.seq;
                self.summary = Some(summary);
                self.finished_at = Some(now);
            }
        }
    }

    /// The last position (of [`Batcher::push_at`]) whose inputs are all in chat as far as they
    /// will ever be: their lines posted (or left to the full log), their stacks' progress
    /// messages posted, the summary posted once they ended the session. Edits of a progress
    /// message that is already posted do not hold it back (they only refresh what it shows).
    pub fn shown_through(&self) -> i64 {
        let waiting = self
            .queue
            .iter()
            .map(|u| u.seq)
            .chain(
                self.stacks
                    .iter()
                    .filter(|s| s.started && !s.posted)
                    .map(|s| s.started_seq),
            )
            .chain((self.summary.is_some() && !self.done).then_some(self.summary_seq))
            .min();
        match waiting {
            Some(seq) => seq - 1,
            None => self.seq,
        }
    }

    /// The ops due at `now`, in the order they must be performed. Call it after each `push` and
    /// whenever [`Batcher::next_deadline`] passes.
    pub fn poll(&mut self, now: Instant) -> Vec<RenderOp> {
        self.observe(now);
        let mut ops = Vec::new();
        while let Some(op) = self.next_op(now) {
            ops.push(self.gate(op));
        }
        ops
    }

    /// When [`Batcher::poll`] may next have something to emit (`None`: not before the next
    /// input). May be the instant of the last poll if that poll was not made yet.
    pub fn next_deadline(&self) -> Option<Instant> {
        let now = self.now?;
        if self.done {
            return None;
        }
        let finishing = self.summary.is_some();
        let msg_free = self.messages.free_at().map_or(now, |t| t.max(now));
        let edit_free = self.edit_window().free_at().map_or(now, |t| t.max(now));
        let mut best: Option<Instant> = None;
        let mut consider = |t: Instant| best = Some(best.map_or(t, |b: Instant| b.min(t)));
        let mut other_work = false;

        if self.stacks.iter().any(|s| s.started && !s.posted) {
            consider(msg_free);
            other_work = true;
        }
        // Routine edits wait for a spare slot when they share the budget with pending lines
        // (see `next_op`); `None`: not before the queue empties.
        let routine_free = if self.edits.is_none() && !self.queue.is_empty() {
            self.messages.free_at_n(2).map(|at| at.map_or(now, |t| t.max(now)))
        } else {
            Some(edit_free)
        };
        for slot in self.stacks.iter().filter(|s| s.dirty()) {
            other_work = true;
            let shown = slot.last_shown.unwrap_or(now);
            let urgent = if finishing || slot.progress.result.is_some() {
                now
            } else {
                shown + self.stale_after()
            };
            let mut ready = edit_free.max(urgent);
            if let Some(free) = routine_free {
                ready = ready.min(free.max(shown + self.limits.progress_interval));
            }
            consider(ready);
        }
        if self.notice == Notice::Due {
            consider(msg_free);
            other_work = true;
        }
        if let Some(front) = self.queue.front() {
            other_work = true;
            let ready = if finishing || self.front_committed || self.queue_full() {
                now
            } else {
                front.at + self.limits.linger
            };
            let free = match (self.can_append(), self.may_post_log()) {
                (true, true) => msg_free.min(edit_free),
                (true, false) => edit_free,
                (false, _) => msg_free,
            };
            consider(free.max(ready));
        }
        if finishing && !other_work {
            consider(msg_free);
        }
        best.map(|t| t.max(now))
    }

    fn observe(&mut self, now: Instant) {
        self.now = Some(self.now.map_or(now, |seen| seen.max(now)));
    }

    fn edit_window(&self) -> &SlidingWindow {
        self.edits.as_ref().unwrap_or(&self.messages)
    }

    fn record_edit(&mut self, now: Instant) {
        match self.edits.as_mut() {
            Some(edits) => edits.record(now),
            None => self.messages.record(now),
        }
    }

    fn slot_index(&mut self, stack: &StackName) -> usize {
        if let Some(i) = self.stacks.iter().position(|s| &s.progress.stack == stack) {
            return i;
        }
        let progress = StackProgress::new(stack.clone(), 0);
        self.stacks.push(StackSlot {
            current: progress.render(),
            progress,
            started: false,
            started_seq: 0,
            posted: false,
            shown: None,
            last_shown: None,
            started_at: None,
            finished_at: None,
        });
        self.stacks.len() - 1
    }

    fn push_stack_event(&mut self, stack: StackName, event: StackEvent, now: Instant) {
        let idx = self.slot_index(&stack);
        let line = match event {
            StackEvent::Started { planned_steps } => {
                let seq = self.seq;
                let slot = &mut self.stacks[idx];
                slot.progress.planned = planned_steps;
                if !slot.started {
                    slot.started_seq = seq;
                }
                slot.started = true;
                slot.started_at.get_or_insert(now);
                None
            }
            StackEvent::Progress(progress) => {
                let seq = self.seq;
                let slot = &mut self.stacks[idx];
                if !slot.started {
                    slot.started_seq = seq;
                }
                slot.started = true;
                slot.started_at.get_or_insert(now);
                let before = slot.progress.phase;
                slot.progress.apply(&progress);
                match &progress {
                    // A header only where phases alternate in the thread (a provisional stack's
                    // re-preview, then its apply); a plain apply needs none.
                    Progress::Phase(phase) => (*phase == EnginePhase::RePreview
                        || before.is_some_and(|b| !b.changes_resources()))
                    .then(|| phase.header()),
                    // A re-preview reports the resources the apply will report again: its
                    // steps neither move the bar nor add lines.
                    Progress::StepStarted { .. } | Progress::StepDone { .. } | Progress::StepFailed { .. }
                        if !slot.progress.counts_steps() =>
                    {
                        None
                    }
                    _ => step_line(&progress),
                }
            }
            StackEvent::Finished { result, counts } => {
                self.stacks[idx].finished_at.get_or_insert(now);
                let progress = &mut self.stacks[idx].progress;
                progress.finish(result, counts);
                progress.outcome_text()
            }
        };
        let slot = &mut self.stacks[idx];
        slot.current = slot.progress.render();
        if let Some(line) = line {
            self.ingest(idx, &line, now);
        }
    }

    /// Records one engine text (possibly several lines) of stack `idx`.
    fn ingest(&mut self, idx: usize, text: &str, now: Instant) {
        let (clean, found) = self.redactor.redact(text);
        self.stats.redaction_violations += found;
        let stack = self.stacks[idx].progress.stack.to_string();
        let width = self.content_budget - (chat_len(&stack) + 3);
        for raw in clean.split('\n') {
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            self.full_log.push('[');
            self.full_log.push_str(&stack);
            self.full_log.push_str("] ");
            self.full_log.push_str(raw);
            self.full_log.push('\n');
            self.stats.lines += 1;

            if self.capped {
                self.stats.lines_only_in_log += 1;
                if self.notice == Notice::NotNeeded {
                    self.notice = Notice::Due;
                }
                continue;
            }
            let escaped = escape_fences(raw);
            let pieces = split_to_width(&escaped, width);
            if pieces.len() > MAX_CHAT_PIECES_PER_LINE {
                self.stats.lines_only_in_log += 1;
                self.shed_unreported += 1;
                continue;
            }
            let count = pieces.len();
            for (i, piece) in pieces.into_iter().enumerate() {
                let text = if i == 0 {
                    format!("[{stack}] {piece}")
                } else {
                    format!("[{stack}]{CONTINUATION}{piece}")
                };
                let len = chat_len(&text);
                self.queue_chars += len + 1;
                self.queue.push_back(Unit {
                    text,
                    len,
                    at: now,
                    head: i == 0,
                    more: i + 1 < count,
                    seq: self.seq,
                });
            }
        }
    }

    fn queue_full(&self) -> bool {
        self.queue_chars > self.content_budget
    }

    /// While chat is behind by more than a message's worth, drops lines that waited longer than
    /// `max_line_delay` from chat (they stay in the log). A late line in a quiet stream is still
    /// posted: skipping is for floods, where it keeps chat close to real time.
    fn shed_expired(&mut self, now: Instant) {
        while !self.front_committed && self.queue_full() {
            let Some(front) = self.queue.front() else {
                break;
            };
            if now < front.at + self.limits.max_line_delay {
                break;
            }
            self.pop_line();
            self.shed_unreported += 1;
            self.stats.lines_only_in_log += 1;
        }
    }

    /// Removes the line at the front of the queue (head and continuations).
    fn pop_line(&mut self) {
        if let Some(head) = self.queue.pop_front() {
            self.queue_chars -= head.len + 1;
            let mut more = head.more;
            while more {
                match self.queue.pop_front() {
                    Some(piece) => {
                        self.queue_chars -= piece.len + 1;
                        more = piece.more;
                    }
                    None => break,
                }
            }
        }
    }

    fn apply_cap(&mut self) {
        if self.capped
            || self.front_committed
            || self.stats.log_messages < u64::from(self.limits.max_log_messages)
            || self.queue.is_empty()
            || self.can_append()
        {
            // Nothing needs a new message yet: the open one may still take lines.
            return;
        }
        self.capped = true;
        let queued = self.queue.iter().filter(|u| u.head).count() as u64;
        self.queue.clear();
        self.queue_chars = 0;
        self.stats.lines_only_in_log += queued;
        if queued > 0 || self.shed_unreported > 0 {
            self.notice = Notice::Due;
        }
        // The notice (and the summary) account for these from now on.
        self.shed_unreported = 0;
    }

    fn tail_ready(&self) -> bool {
        self.queue.is_empty()
            && self.notice != Notice::Due
            && !self.stacks.iter().any(|s| (s.started && !s.posted) || s.dirty())
    }

    /// The next op allowed at `now`, by the priorities in the module documentation.
    fn next_op(&mut self, now: Instant) -> Option<RenderOp> {
        if self.done {
            return None;
        }
        self.shed_expired(now);
        self.apply_cap();
        let finishing = self.summary.is_some();
        let msg_room = self.messages.has_room(now);
        let edit_room = self.edit_window().has_room(now);
        let pressing = self.lines_pressing(now, msg_room, edit_room);

        if msg_room {
            if let Some(idx) = self
                .stacks
                .iter()
                .position(|s| s.started && !s.posted && (!pressing || self.overdue(s.started_at, now)))
            {
                return Some(self.post_progress(idx, now));
            }
        }
        if edit_room {
            if let Some(idx) = self.pick_edit(now, EditUrgency::Urgent { pressing }) {
                return Some(self.edit_progress(idx, now));
            }
        }
        if msg_room && self.notice == Notice::Due {
            self.notice = Notice::Posted;
            self.open_log = None;
            self.messages.record(now);
            self.stats.other_posts += 1;
            let text = format!(
                "📎 Chat output stops here ({} messages); every line is in the full log `{}`, \
                 attached when the session finishes.",
                self.limits.max_log_messages, self.log_filename
            );
            let text = if chat_len(&text) <= self.max_chars() {
                text
            } else {
                "📎 Chat output stops here; the full log is attached at the end.".to_string()
            };
            return Some(RenderOp::Post {
                key: MessageKey::OverflowNotice,
                text: self.fit(text),
            });
        }
        if self.lines_ready(now) {
            if edit_room && self.can_append() {
                return Some(self.append_log_message(now));
            }
            if msg_room && self.may_post_log() {
                return Some(self.post_log_message(now));
            }
        }
        // With a budget shared with posts, a routine progress edit leaves the last slot of the
        // window to pending lines.
        let shared = self.edits.is_none();
        let spare = !shared || self.queue.is_empty() || self.messages.available(now) >= 2;
        if edit_room && spare {
            if let Some(idx) = self.pick_edit(now, EditUrgency::Regular) {
                return Some(self.edit_progress(idx, now));
            }
        }
        if finishing && msg_room && self.tail_ready() {
            if self.stats.lines_only_in_log > 0 && !self.upload_done {
                self.upload_done = true;
                self.messages.record(now);
                self.stats.uploads += 1;
                return Some(RenderOp::Upload {
                    filename: self.log_filename.clone(),
                    content: self.full_log.clone(),
                });
            }
            return Some(self.post_summary_part(now));
        }
        None
    }

    /// Pending lines may be sent now: a message's worth is waiting, the oldest waited the linger,
    /// a split line is being finished, or the session finished.
    fn lines_ready(&self, now: Instant) -> bool {
        let finishing = self.summary.is_some();
        self.queue.front().is_some_and(|front| {
            finishing || self.front_committed || self.queue_full() || now >= front.at + self.limits.linger
        })
    }

    /// Pending lines are ready and the budget they need has room now: they go before a stack's
    /// first progress post and before its final edit unless those are [overdue](Self::overdue).
    /// (Before, a burst of stack starts or finishes held ready lines back by one budget slot
    /// each: 7.7 s p95 line → message for 60 lines over 8 stacks on Discord.)
    fn lines_pressing(&self, now: Instant, msg_room: bool, edit_room: bool) -> bool {
        self.lines_ready(now) && ((edit_room && self.can_append()) || (msg_room && self.may_post_log()))
    }

    /// Progress work that became due at `since` (a stack started, a stack or the session
    /// finished) has yielded to pressing lines for `progress_interval` and now goes first, so
    /// a flood of lines delays progress messages by at most that, never starves them.
    fn overdue(&self, since: Option<Instant>, now: Instant) -> bool {
        since.is_none_or(|at| now >= at + self.limits.progress_interval)
    }

    fn pick_edit(&self, now: Instant, urgency: EditUrgency) -> Option<usize> {
        let finishing = self.summary.is_some();
        self.stacks
            .iter()
            .enumerate()
            .filter(|(_, s)| s.dirty())
            .filter(|(_, s)| {
                let since = s.last_shown.map_or(std::time::Duration::MAX, |at| now - at);
                match urgency {
                    EditUrgency::Urgent { pressing } => {
                        since >= self.stale_after()
                            || (finishing || s.progress.result.is_some())
                                && (!pressing || self.overdue(self.finished_at.or(s.finished_at), now))
                    }
                    EditUrgency::Regular => since >= self.limits.progress_interval,
                }
            })
            .min_by_key(|(_, s)| s.last_shown)
            .map(|(i, _)| i)
    }

    /// When a shown progress text counts as stale. With a budget shared with posts, stale
    /// edits of all running stacks together may take at most half of it: with 8 running stacks
    /// on Discord (1 op/s) each is refreshed at least every 16 s instead of 10 s.
    fn stale_after(&self) -> std::time::Duration {
        let base = self.limits.progress_stale_after;
        if self.edits.is_some() {
            return base;
        }
        let running = self
            .stacks
            .iter()
            .filter(|s| s.posted && s.progress.result.is_none())
            .count() as u32;
        let per_op = self.limits.messages.window / self.limits.messages.ops.max(1);
        base.max(per_op * running * 2)
    }

    fn max_chars(&self) -> usize {
        self.limits.max_message_chars.max(MIN_MESSAGE_CHARS)
    }

    /// `text` cut to the message limit (only reachable with pathological stack names or
    /// filenames; lines are split, never cut).
    fn fit(&self, text: String) -> String {
        if chat_len(&text) <= self.max_chars() {
            text
        } else {
            split_to_width(&text, self.max_chars())[0].to_string()
        }
    }

    fn post_progress(&mut self, idx: usize, now: Instant) -> RenderOp {
        self.open_log = None;
        self.messages.record(now);
        self.stats.progress_posts += 1;
        let slot = &mut self.stacks[idx];
        slot.posted = true;
        slot.shown = Some(slot.current.clone());
        slot.last_shown = Some(now);
        let (key, text) = (MessageKey::Progress(slot.progress.stack.clone()), slot.current.clone());
        RenderOp::Post {
            key,
            text: self.fit(text),
        }
    }

    fn edit_progress(&mut self, idx: usize, now: Instant) -> RenderOp {
        self.record_edit(now);
        self.stats.edits += 1;
        let slot = &mut self.stacks[idx];
        slot.shown = Some(slot.current.clone());
        slot.last_shown = Some(now);
        let (key, text) = (MessageKey::Progress(slot.progress.stack.clone()), slot.current.clone());
        RenderOp::Edit {
            key,
            text: self.fit(text),
        }
    }

    /// The marker for lines skipped since the last log text, if any.
    fn marker(&self) -> Option<String> {
        let n = self.shed_unreported;
        (n > 0).then(|| format!("… {n} line{} only in the full log", if n == 1 { "" } else { "s" }))
    }

    /// Whether a new line message may be posted: under the cap, or to finish a split line.
    fn may_post_log(&self) -> bool {
        self.front_committed || self.stats.log_messages < u64::from(self.limits.max_log_messages)
    }

    /// Whether the open log message can take the next pending text (marker or first piece).
    fn can_append(&self) -> bool {
        let Some(open) = &self.open_log else {
            return false;
        };
        let next = match (self.marker(), self.queue.front()) {
            (Some(marker), _) => chat_len(&marker),
            (None, Some(unit)) => unit.len,
            (None, None) => return false,
        };
        open.used + 1 + next <= self.content_budget
    }

    /// Moves the marker and as many pending pieces as fit onto `body` (holding `used` chars).
    fn fill(&mut self, body: &mut String, used: &mut usize) {
        if let Some(marker) = self.marker() {
            let cost = chat_len(&marker) + usize::from(!body.is_empty());
            if *used + cost <= self.content_budget {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(&marker);
                *used += cost;
                self.shed_unreported = 0;
            } else {
                return;
            }
        }
        while let Some(unit) = self.queue.front() {
            let cost = unit.len + usize::from(!body.is_empty());
            if *used + cost > self.content_budget {
                break;
            }
            let unit = self.queue.pop_front().expect("front exists");
            self.queue_chars -= unit.len + 1;
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&unit.text);
            *used += cost;
            if unit.head {
                self.stats.lines_in_chat += 1;
            }
            self.front_committed = unit.more;
        }
    }

    fn post_log_message(&mut self, now: Instant) -> RenderOp {
        let (mut body, mut used) = (String::new(), 0);
        self.fill(&mut body, &mut used);
        self.messages.record(now);
        let index = self.stats.log_messages as u32;
        self.stats.log_messages += 1;
        let text = format!("{FENCE_OPEN}{body}{FENCE_CLOSE}");
        self.open_log = Some(OpenLog { index, body, used });
        RenderOp::Post {
            key: MessageKey::Log(index),
            text,
        }
    }

    fn append_log_message(&mut self, now: Instant) -> RenderOp {
        let mut open = self.open_log.take().expect("append only to an open log message");
        self.fill(&mut open.body, &mut open.used);
        self.record_edit(now);
        self.stats.edits += 1;
        self.stats.log_appends += 1;
        let text = format!("{FENCE_OPEN}{}{FENCE_CLOSE}", open.body);
        let key = MessageKey::Log(open.index);
        self.open_log = Some(open);
        RenderOp::Edit { key, text }
    }

    fn post_summary_part(&mut self, now: Instant) -> RenderOp {
        if self.summary_parts.is_none() {
            let lines = self.summary_lines();
            let max = self.max_chars();
            self.summary_parts = Some(pack_lines(lines.iter().map(String::as_str), max).into());
        }
        let parts = self.summary_parts.as_mut().expect("summary parts built above");
        let text = parts.pop_front().unwrap_or_default();
        if parts.is_empty() {
            self.done = true;
        }
        self.messages.record(now);
        self.stats.other_posts += 1;
        let key = MessageKey::Summary(self.summary_posted);
        self.summary_posted += 1;
        RenderOp::Post { key, text }
    }

    fn summary_lines(&self) -> Vec<String> {
        let summary = self.summary.as_ref().expect("summary lines only after SessionFinished");
        let mut lines = vec![format!("{} {}", summary.outcome.icon(), summary.headline)];
        for slot in &self.stacks {
            let p = &slot.progress;
            lines.push(match &p.result {
                Some((result, _)) => {
                    format!(
                        "{} {} — {}",
                        result.icon(),
                        p.stack,
                        p.outcome_text().unwrap_or_default()
                    )
                }
                None => format!("◌ {} — did not finish ({} steps done)", p.stack, p.done),
            });
        }
        lines.extend(summary.details.iter().flat_map(|d| d.split('\n')).map(str::to_string));
        if self.stats.lines_only_in_log > 0 {
            lines.push(format!(
                "📎 {} of {} output lines are shown in this thread; the attached `{}` has every line.",
                self.stats.lines_in_chat, self.stats.lines, self.log_filename
            ));
        }
        lines
    }

    /// The last check before text leaves: mask any secret the rendering may have formed.
    fn gate(&mut self, mut op: RenderOp) -> RenderOp {
        if self.redactor.is_empty() {
            return op;
        }
        let text = match &mut op {
            RenderOp::Post { text, .. } | RenderOp::Edit { text, .. } => text,
            RenderOp::Upload { content, .. } => content,
        };
        let (clean, found) = self.redactor.redact(text);
        if found > 0 {
            self.stats.redaction_violations += found;
            *text = clean.into_owned();
        }
        op
    }
}

/// The chat line a step event adds, if any: steps that change something and failures.
fn step_line(progress: &Progress) -> Option<String> {
    match progress {
        Progress::Line(text) => Some(text.clone()),
        Progress::Phase(phase) => Some(phase.header()),
        Progress::StepStarted { .. } => None,
        Progress::StepDone { urn, resource_type, op } => op.is_change().then(|| {
            format!(
                "{} {} {} {}",
                op_symbol(op),
                resource_type,
                ResourceStep::name_from_urn(urn),
                past_tense(op)
            )
        }),
        Progress::StepFailed { urn, resource_type, op } => Some(format!(
            "✗ {} {} {} failed",
            resource_type,
            ResourceStep::name_from_urn(urn),
            op
        )),
    }
}
