//! The live progress view of one stack: `network  12/30 ▓▓▓▓░░░░░░ 40%  2 updating`.
//!
//! Pure view model: the batcher keeps one [`StackProgress`] per stack, edits the stack's progress
//! message with [`StackProgress::render`], and adapters only ever see the resulting text.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use cloud_core::engine::{ChangeCounts, EnginePhase, Progress, StepOp};
use cloud_domain::session::StackName;

/// Cells of the progress bar; constant so the text keeps its width as the stack advances.
pub const BAR_CELLS: usize = 10;
const FILLED: char = '▓';
const EMPTY: char = '░';

/// How a stack ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StackResult {
    Applied,
    Failed,
    /// Stopped by a cancel before it finished.
    Cancelled,
    Skipped,
}

impl StackResult {
    pub fn as_str(self) -> &'static str {
        match self {
            StackResult::Applied => "applied",
            StackResult::Failed => "failed",
            StackResult::Cancelled => "cancelled",
            StackResult::Skipped => "skipped",
        }
    }

    /// The mark used in progress texts and the summary.
    pub fn icon(self) -> &'static str {
        match self {
            StackResult::Applied => "✓",
            StackResult::Failed => "✗",
            StackResult::Cancelled => "⏹",
            StackResult::Skipped => "–",
        }
    }
}

/// Where one stack's update is, as far as its engine events tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackProgress {
    pub stack: StackName,
    /// Steps the preview planned (0: unknown).
    pub planned: u32,
    /// Steps finished, failed ones included.
    pub done: u32,
    pub failed: u32,
    /// URNs whose step started and has not finished.
    pub in_flight: BTreeSet<String>,
    /// Set once the stack finished.
    pub result: Option<(StackResult, ChangeCounts)>,
    /// The engine operation the latest events belong to (`None`: the engine names none, so
    /// every step counts). Only an apply's or destroy's steps move the bar: a provisional
    /// stack's re-preview reports the same resources again.
    pub phase: Option<EnginePhase>,
}

impl StackProgress {
    pub fn new(stack: StackName, planned: u32) -> Self {
        StackProgress {
            stack,
            planned,
            done: 0,
            failed: 0,
            in_flight: BTreeSet::new(),
            result: None,
            phase: None,
        }
    }

    /// Whether the steps reported now belong to the apply (or destroy) the bar measures.
    pub fn counts_steps(&self) -> bool {
        self.phase.is_none_or(EnginePhase::changes_resources)
    }

    /// Folds one engine event in. Lines do not move the bar, and neither do the steps of a
    /// preview or re-preview.
    pub fn apply(&mut self, progress: &Progress) {
        if let Progress::Phase(phase) = progress {
            self.phase = Some(*phase);
            self.in_flight.clear();
            return;
        }
        if !self.counts_steps() {
            return;
        }
        match progress {
            Progress::StepStarted { urn, .. } => {
                self.in_flight.insert(urn.clone());
            }
            Progress::StepDone { urn, .. } => {
                self.in_flight.remove(urn);
                self.done += 1;
            }
            Progress::StepFailed { urn, .. } => {
                self.in_flight.remove(urn);
                self.done += 1;
                self.failed += 1;
            }
            Progress::Line(_) | Progress::Phase(_) => {}
        }
    }

    pub fn finish(&mut self, result: StackResult, counts: ChangeCounts) {
        self.in_flight.clear();
        self.result = Some((result, counts));
    }

    /// Percentage shown: `done / planned`, capped at 100; an applied stack shows 100 (a failed
    /// one keeps where it stopped).
    pub fn percent(&self) -> u32 {
        if matches!(self.result, Some((StackResult::Applied, _))) {
            return 100;
        }
        if self.planned == 0 {
            return 0;
        }
        ((u64::from(self.done) * 100 / u64::from(self.planned)).min(100)) as u32
    }

    /// The progress message text, e.g. `network  12/30 ▓▓▓▓░░░░░░ 40%  2 updating` while running
    /// and `network  30/30 ▓▓▓▓▓▓▓▓▓▓ 100%  ✓ applied: 3 created, 1 updated` at the end.
    pub fn render(&self) -> String {
        let pct = self.percent();
        let total = if self.planned == 0 && self.result.is_none() {
            // Unknown plan: no fraction to show yet.
            "?".to_string()
        } else {
            self.planned.max(self.done).to_string()
        };
        let mut out = format!("{}  {}/{} {} {}%", self.stack, self.done, total, bar(pct), pct);
        match &self.result {
            None => {
                if !self.in_flight.is_empty() {
                    let _ = write!(out, "  {} updating", self.in_flight.len());
                }
                if self.failed > 0 {
                    let _ = write!(out, "  {} failed", self.failed);
                }
            }
            Some((result, _)) => {
                let _ = write!(out, "  {} {}", result.icon(), self.outcome_text().unwrap_or_default());
            }
        }
        out
    }

    /// How the stack ended, in words: `applied: 3 created`, `skipped`, and for a stack that
    /// stopped without the engine's totals `failed after 3 of 16 steps` (what the preview
    /// planned is not what it did). `None` while it runs.
    pub fn outcome_text(&self) -> Option<String> {
        let (result, counts) = self.result.as_ref()?;
        Some(match result {
            StackResult::Skipped => result.as_str().to_string(),
            StackResult::Failed | StackResult::Cancelled if counts.is_empty() => {
                if self.planned == 0 {
                    format!("{} after {} steps", result.as_str(), self.done)
                } else {
                    format!(
                        "{} after {} of {} steps",
                        result.as_str(),
                        self.done,
                        self.planned.max(self.done)
                    )
                }
            }
            StackResult::Applied | StackResult::Failed | StackResult::Cancelled => {
                format!("{}: {}", result.as_str(), counts_text(counts))
            }
        })
    }
}

/// A bar of [`BAR_CELLS`] cells for a percentage (floor: 39% shows 3 cells).
pub fn bar(percent: u32) -> String {
    let filled = (percent.min(100) as usize * BAR_CELLS) / 100;
    let mut out = String::with_capacity(BAR_CELLS * 3);
    out.extend(std::iter::repeat_n(FILLED, filled));
    out.extend(std::iter::repeat_n(EMPTY, BAR_CELLS - filled));
    out
}

/// Change counts as words: `3 created, 1 updated` (unchanged resources left out; `no changes`).
pub fn counts_text(counts: &ChangeCounts) -> String {
    const ORDER: [&str; 5] = ["create", "update", "replace", "delete", "import"];
    let mut parts: Vec<String> = Vec::new();
    let mut push = |op: &str, n: u64| {
        if n > 0 {
            parts.push(format!("{n} {}", past_tense(&StepOp::from(op))));
        }
    };
    for op in ORDER {
        push(op, counts.get(op).copied().unwrap_or(0));
    }
    for (op, n) in counts {
        let step = StepOp::from(op.as_str());
        if !ORDER.contains(&op.as_str()) && step.is_change() {
            push(op, *n);
        }
    }
    if parts.is_empty() {
        "no changes".to_string()
    } else {
        parts.join(", ")
    }
}

/// What a finished step did, in words (`created`, `updated`, …).
pub fn past_tense(op: &StepOp) -> String {
    match op {
        StepOp::Same => "unchanged".into(),
        StepOp::Create => "created".into(),
        StepOp::Update => "updated".into(),
        StepOp::Delete => "deleted".into(),
        StepOp::Replace => "replaced".into(),
        StepOp::CreateReplacement => "created replacement".into(),
        StepOp::DeleteReplaced => "deleted original".into(),
        StepOp::Read => "read".into(),
        StepOp::ReadReplacement => "read replacement".into(),
        StepOp::Refresh => "refreshed".into(),
        StepOp::Discard => "discarded".into(),
        StepOp::DiscardReplaced => "discarded original".into(),
        StepOp::RemovePendingReplace => "removed pending replace".into(),
        StepOp::Import => "imported".into(),
        StepOp::ImportReplacement => "imported replacement".into(),
        StepOp::Other(other) => format!("{other} done"),
    }
}

/// Pulumi's one-character-ish marks for step operations.
pub fn op_symbol(op: &StepOp) -> &'static str {
    match op {
        StepOp::Create => "+",
        StepOp::Update => "~",
        StepOp::Delete => "-",
        StepOp::Replace => "+-",
        StepOp::CreateReplacement => "++",
        StepOp::DeleteReplaced => "--",
        StepOp::Read | StepOp::ReadReplacement => ">",
        StepOp::Import | StepOp::ImportReplacement => "=",
        StepOp::Refresh => "~",
        StepOp::Discard | StepOp::DiscardReplaced => "<",
        StepOp::Same => " ",
        StepOp::RemovePendingReplace | StepOp::Other(_) => "*",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str) -> StackName {
        name.parse().unwrap()
    }

    fn started(urn: &str) -> Progress {
        Progress::StepStarted {
            urn: urn.into(),
            resource_type: "t".into(),
            op: StepOp::Create,
        }
    }

    fn done(urn: &str) -> Progress {
        Progress::StepDone {
            urn: urn.into(),
            resource_type: "t".into(),
            op: StepOp::Create,
        }
    }

    #[test]
    fn renders_the_running_shape() {
        let mut p = StackProgress::new(stack("network"), 30);
        for i in 0..14 {
            p.apply(&started(&format!("u{i}")));
        }
        for i in 0..12 {
            p.apply(&done(&format!("u{i}")));
        }
        assert_eq!(p.render(), "network  12/30 ▓▓▓▓░░░░░░ 40%  2 updating");
    }

    #[test]
    fn bar_is_width_stable() {
        for pct in [0, 1, 9, 10, 55, 99, 100, 250] {
            assert_eq!(bar(pct).chars().count(), BAR_CELLS);
        }
        assert_eq!(bar(100), "▓▓▓▓▓▓▓▓▓▓");
    }

    #[test]
    fn finished_and_unknown_totals() {
        let mut p = StackProgress::new(stack("dns"), 0);
        p.apply(&done("a"));
        assert_eq!(p.render(), "dns  1/? ░░░░░░░░░░ 0%");
        let counts = ChangeCounts::from([("create".to_string(), 3), ("same".to_string(), 9)]);
        p.finish(StackResult::Applied, counts);
        assert_eq!(p.render(), "dns  1/1 ▓▓▓▓▓▓▓▓▓▓ 100%  ✓ applied: 3 created");
    }

    #[test]
    fn a_failed_stack_keeps_its_bar() {
        let mut p = StackProgress::new(stack("database-rds"), 4);
        p.apply(&done("a"));
        p.apply(&Progress::StepFailed {
            urn: "b".into(),
            resource_type: "t".into(),
            op: StepOp::Create,
        });
        assert_eq!(p.render(), "database-rds  2/4 ▓▓▓▓▓░░░░░ 50%  1 failed");
        p.finish(StackResult::Failed, ChangeCounts::from([("create".to_string(), 1)]));
        assert_eq!(p.render(), "database-rds  2/4 ▓▓▓▓▓░░░░░ 50%  ✗ failed: 1 created");
    }

    #[test]
    fn a_stack_stopped_without_totals_says_how_far_it_got_not_what_was_planned() {
        let mut p = StackProgress::new(stack("security"), 16);
        for i in 0..3 {
            p.apply(&done(&format!("u{i}")));
        }
        p.finish(StackResult::Cancelled, ChangeCounts::new());
        assert_eq!(
            p.render(),
            "security  3/16 ▓░░░░░░░░░ 18%  ⏹ cancelled after 3 of 16 steps"
        );
        p.finish(StackResult::Failed, ChangeCounts::new());
        assert_eq!(
            p.render(),
            "security  3/16 ▓░░░░░░░░░ 18%  ✗ failed after 3 of 16 steps"
        );
    }

    #[test]
    fn a_re_preview_neither_moves_the_bar_nor_passes_100_percent() {
        let mut p = StackProgress::new(stack("dns"), 5);
        p.apply(&Progress::Phase(EnginePhase::RePreview));
        for i in 0..5 {
            p.apply(&started(&format!("u{i}")));
            p.apply(&done(&format!("u{i}")));
        }
        assert_eq!(p.render(), "dns  0/5 ░░░░░░░░░░ 0%");
        p.apply(&Progress::Phase(EnginePhase::Apply));
        for i in 0..5 {
            p.apply(&started(&format!("u{i}")));
            p.apply(&done(&format!("u{i}")));
        }
        assert_eq!(p.render(), "dns  5/5 ▓▓▓▓▓▓▓▓▓▓ 100%");
    }
}
