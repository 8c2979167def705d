//! Shared harness of the batcher tests: drives a `Batcher` on a simulated clock, records ops with
//! their times, and reads chat back the way a person scrolling the thread would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use cloud_chat::batcher::{
    chat_len, BatchInput, Batcher, EditBudget, MessageKey, RateBudget, RenderOp, SinkLimits, ESCAPED_FENCE,
    FENCE_CLOSE, FENCE_OPEN,
};
use cloud_domain::session::StackName;

pub fn stack(name: &str) -> StackName {
    name.parse().expect("valid stack name")
}

/// Small limits that make every mechanism (splitting, shedding, cap, separate edit budget) show
/// up within a few dozen events.
pub fn tiny_limits() -> SinkLimits {
    SinkLimits {
        name: "tiny".to_string(),
        max_message_chars: 100,
        messages: RateBudget::new(2, Duration::from_secs(1)),
        edits: EditBudget::Own(RateBudget::new(3, Duration::from_secs(2))),
        max_log_messages: 4,
        linger: Duration::from_millis(300),
        max_line_delay: Duration::from_millis(700),
        progress_interval: Duration::from_millis(500),
        progress_stale_after: Duration::from_millis(1500),
    }
}

/// A batcher on a simulated clock.
pub struct Sim {
    pub batcher: Batcher,
    pub t0: Instant,
    pub now: Duration,
    /// Every op with the simulated time it was emitted at.
    pub ops: Vec<(Duration, RenderOp)>,
}

impl Sim {
    pub fn new(batcher: Batcher) -> Self {
        Sim {
            batcher,
            t0: Instant::now(),
            now: Duration::ZERO,
            ops: Vec::new(),
        }
    }

    /// Polls at every deadline up to `to`, then moves the clock to `to`.
    pub fn advance_to(&mut self, to: Duration) {
        let mut guard = 0;
        while let Some(deadline) = self.batcher.next_deadline() {
            let at = deadline - self.t0;
            if at > to {
                break;
            }
            self.poll_at(at.max(self.now));
            guard += 1;
            assert!(guard < 100_000, "deadlines do not advance");
        }
        self.now = self.now.max(to);
    }

    fn poll_at(&mut self, at: Duration) {
        self.now = at;
        let ops = self.batcher.poll(self.t0 + at);
        self.ops.extend(ops.into_iter().map(|op| (at, op)));
        if let Some(next) = self.batcher.next_deadline() {
            assert!(
                next > self.t0 + at,
                "after poll at {at:?} the next deadline is not in the future ({:?})",
                next - self.t0
            );
        }
    }

    /// Feeds `input` at `now + gap` (polling every deadline on the way) and polls.
    pub fn push_after(&mut self, gap: Duration, input: BatchInput) {
        let at = self.now + gap;
        self.advance_to(at);
        self.batcher.push(input, self.t0 + at);
        self.poll_at(at);
    }

    /// Polls every deadline until the batcher is idle (done, or waiting for input).
    pub fn drain(&mut self) {
        self.advance_to(Duration::from_secs(100_000));
    }

    /// A readable transcript: `t=1.250s POST log:0` then the text, indented.
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for (at, op) in &self.ops {
            let t = at.as_millis() as f64 / 1000.0;
            let (what, text) = match op {
                RenderOp::Post { key, text } => (format!("POST {key}"), text.as_str()),
                RenderOp::Edit { key, text } => (format!("EDIT {key}"), text.as_str()),
                RenderOp::Upload { filename, content } => (format!("UPLOAD {filename}"), content.as_str()),
            };
            let _ = writeln!(out, "t={t:.3}s {what}");
            for line in text.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }
}

/// The output lines chat shows, rebuilt from the posted log messages: fences stripped, skip
/// markers ignored, split pieces joined, escaped fences restored.
///
/// Each line message is read in its final state (later edits only append to it), in message
/// order.
pub fn chat_lines(ops: &[(Duration, RenderOp)]) -> Vec<String> {
    let mut finals: BTreeMap<u32, &str> = BTreeMap::new();
    for (_, op) in ops {
        if let RenderOp::Post {
            key: MessageKey::Log(n),
            text,
        }
        | RenderOp::Edit {
            key: MessageKey::Log(n),
            text,
        } = op
        {
            finals.insert(*n, text);
        }
    }
    let mut lines: Vec<String> = Vec::new();
    for text in finals.into_values() {
        let body = text
            .strip_prefix(FENCE_OPEN)
            .and_then(|t| t.strip_suffix(FENCE_CLOSE))
            .unwrap_or_else(|| panic!("log message not fenced: {text:?}"));
        for line in body.split('\n') {
            if line.starts_with("… ") {
                continue; // "… N lines only in the full log"
            }
            let rest = line
                .strip_prefix('[')
                .unwrap_or_else(|| panic!("unprefixed line {line:?}"));
            let (name, rest) = rest.split_once(']').unwrap_or_else(|| panic!("no stack in {line:?}"));
            let text = rest.replace(ESCAPED_FENCE, "```");
            if let Some(cont) = text.strip_prefix('↪') {
                let last = lines.last_mut().expect("a continuation follows a line");
                assert!(last.starts_with(&format!("[{name}] ")), "continuation of another stack");
                last.push_str(cont);
            } else {
                let text = text
                    .strip_prefix(' ')
                    .unwrap_or_else(|| panic!("bad separator {line:?}"));
                lines.push(format!("[{name}] {text}"));
            }
        }
    }
    lines
}

/// The uploaded full logs' lines.
pub fn uploads(ops: &[(Duration, RenderOp)]) -> Vec<Vec<String>> {
    ops.iter()
        .filter_map(|(_, op)| match op {
            RenderOp::Upload { content, .. } => Some(content.lines().map(str::to_string).collect()),
            _ => None,
        })
        .collect()
}

/// Whether `small` is a subsequence of `big`.
pub fn is_subsequence(small: &[String], big: &[String]) -> bool {
    let mut it = big.iter();
    small.iter().all(|s| it.any(|b| b == s))
}

/// Budget violations, checked independently of the batcher: an op at `t` is over budget if its
/// bucket already had `ops` operations in `(t - window, t]`.
pub fn budget_violations(limits: &SinkLimits, ops: &[(Duration, RenderOp)]) -> Vec<String> {
    let mut seen: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut violations = Vec::new();
    for (at, op) in ops {
        let (bucket, budget) = match (op, limits.edits) {
            (RenderOp::Edit { .. }, EditBudget::Own(budget)) => ("edits", budget),
            _ => ("messages", limits.messages),
        };
        let times = seen.entry(bucket).or_default();
        let in_window = times.iter().filter(|t| *at - **t < budget.window).count();
        if in_window >= budget.ops as usize {
            violations.push(format!("{bucket} op at {at:?} after {in_window} in the window"));
        }
        times.push(*at);
    }
    violations
}

/// Posts and edits longer than the limit.
pub fn oversize(limits: &SinkLimits, ops: &[(Duration, RenderOp)]) -> Vec<String> {
    ops.iter()
        .filter(|(_, op)| !matches!(op, RenderOp::Upload { .. }))
        .filter(|(_, op)| chat_len(op.text()) > limits.max_message_chars)
        .map(|(at, op)| format!("{at:?} {:?} has {} chars", op.key(), chat_len(op.text())))
        .collect()
}
