//! Block Kit renderings of a session: the lobby (header, per-stack changes, approvals, buttons)
//! and the ephemeral replies. Pure functions of the orchestrator's [`SessionView`], so they are
//! snapshot-tested without Slack.

use slack_morphism::prelude::*;

use crate::chat::slack::ids::ButtonId;
use crate::engine::ChangeCounts;
use crate::orchestrator::SessionView;
use crate::session::{Platform, Principal, SessionState, StackState};

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; everything else is shown as typed.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A principal as Slack shows it: a mention for Slack users, the id otherwise.
pub fn who(p: &Principal) -> String {
    match p.platform {
        Platform::Slack => format!("<@{}>", p.user),
        _ => format!("`{}`", escape(&p.to_string())),
    }
}

fn count(c: &ChangeCounts, op: &str) -> u64 {
    c.get(op).copied().unwrap_or(0)
}

fn counts_cell(c: &ChangeCounts) -> String {
    let parts: Vec<String> = [("create", "+"), ("update", "~"), ("delete", "-"), ("replace", "±")]
        .iter()
        .filter(|(op, _)| count(c, op) > 0)
        .map(|(op, sym)| format!("{sym}{}", count(c, op)))
        .collect();
    if parts.is_empty() {
        "no changes".into()
    } else {
        parts.join(" ")
    }
}

fn state_icon(state: SessionState) -> &'static str {
    match state {
        SessionState::Draft => "📝",
        SessionState::Planning => "🔎",
        SessionState::PlanReady => "🟡",
        SessionState::PlanFailed => "⚠️",
        SessionState::Approved => "👍",
        SessionState::Applying => "🚀",
        SessionState::Applied => "✅",
        SessionState::Failed => "❌",
        SessionState::Cancelled => "⏹️",
        SessionState::Expired => "⌛",
    }
}

fn stack_icon(state: StackState) -> &'static str {
    match state {
        StackState::Pending => "·",
        StackState::Previewing | StackState::Applying => "⏳",
        StackState::Previewed => "•",
        StackState::Applied => "✓",
        StackState::Failed => "✗",
        StackState::Skipped => "–",
    }
}

/// What the lobby says the next step is.
fn next_step(view: &SessionView) -> String {
    let s = &view.session;
    match s.state {
        SessionState::Draft => match &view.queue {
            Some(q) => format!("Queued for its stacks: position {}. It is previewed when they are free.", q.position),
            None if view.locks.is_empty() => "Its stacks are busy with other sessions: *Queue* to wait in line, or *Cancel*.".into(),
            None => "Previewing the stacks…".into(),
        },
        SessionState::Planning => "Previewing the stacks…".into(),
        SessionState::PlanReady => {
            let who = if s.allow_self_approve { "anyone with `approve`" } else { "someone other than the requester with `approve`" };
            format!("Waiting for {} approval(s) from {who}.", s.approvals_required)
        }
        SessionState::PlanFailed => "The preview failed: fix the cause, then *Refresh* to retry.".into(),
        SessionState::Approved => "Approved: applying next.".into(),
        SessionState::Applying => "Applying — progress in the thread.".into(),
        SessionState::Applied => "Applied. Summary in the thread.".into(),
        SessionState::Failed => "The apply failed. Summary in the thread.".into(),
        SessionState::Cancelled => "Cancelled.".into(),
        SessionState::Expired => "The plan expired; run `/cloud-deploy` again for a fresh one.".into(),
    }
}

/// The lobby's fallback text (notifications, screen readers).
pub fn lobby_text(view: &SessionView) -> String {
    let s = &view.session;
    format!("{} {}/{} session {}: {}", s.operation, s.project, s.env, s.id.short(), s.state)
}

/// The session lobby. Buttons depend on the state: a ready plan can be approved (the button
/// carries the digest it shows), refreshed or cancelled; a running session only cancelled.
pub fn lobby(view: &SessionView) -> Vec<SlackBlock> {
    let s = &view.session;
    let mut blocks: Vec<SlackBlock> = Vec::new();
    let title = format!("{} {} {}/{} · {}", state_icon(s.state), capitalise(&s.operation), s.project, s.env, s.deployment_id);
    blocks.push(SlackHeaderBlock::new(pt!(truncate(&title, 150))).into());
    blocks.push(
        SlackSectionBlock::new()
            .with_text(md!(format!(
                "*{}* · requested by {} · session `{}`\n{}",
                s.state,
                who(&s.requester),
                s.id.short(),
                next_step(view)
            )))
            .into(),
    );

    // One line per stack: sub-state and the plan's changes (or the error).
    let mut lines = Vec::new();
    for row in &view.stacks {
        let planned = s
            .plan
            .as_ref()
            .and_then(|p| p.stacks.iter().find(|e| e.stack == row.stack))
            .map(|e| (counts_cell(&e.preview.counts), e.provisional));
        let mut line = format!("{} `{}` {}", stack_icon(row.state), row.stack, row.state);
        match (&row.error, planned) {
            (Some(err), _) => line.push_str(&format!(" — {}", escape(err.lines().next().unwrap_or_default()))),
            (None, Some((cells, provisional))) => {
                line.push_str(&format!(" — {cells}"));
                if provisional {
                    line.push_str(" _(provisional)_");
                }
            }
            (None, None) => {}
        }
        lines.push(line);
    }
    // Section text holds 3000 characters: long stack lists go into several sections.
    for chunk in chunk_lines(&lines, 2900) {
        blocks.push(SlackSectionBlock::new().with_text(md!(chunk)).into());
    }

    if let Some(plan) = &s.plan {
        let total = plan.total_counts();
        let current: Vec<String> = view
            .approvals
            .iter()
            .filter(|a| s.digest.as_ref().map(|d| d.0 == a.digest).unwrap_or(false))
            .map(|a| who(&a.approver))
            .collect();
        let approvals = if current.is_empty() { String::new() } else { format!(" ({})", current.join(", ")) };
        let digest = s.digest.as_ref().map(|d| d.short()).unwrap_or_default();
        blocks.push(
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(format!(
                "Total {} · approvals {}/{}{} · digest `{}` · engine {}",
                counts_cell(&total),
                current.len(),
                s.approvals_required,
                approvals,
                digest,
                escape(&plan.engine_version)
            )))])
            .into(),
        );
    }
    // The cost estimate and the quota standing, as the core words them.
    let finops = crate::cli::render::cost_and_quota(view);
    if !finops.trim().is_empty() {
        let lines: Vec<String> = finops.lines().map(|l| escape(l)).collect();
        for chunk in chunk_lines(&lines, 2890) {
            blocks.push(SlackSectionBlock::new().with_text(md!(format!("```\n{chunk}\n```"))).into());
        }
    }
    if let Some(reason) = &s.reason {
        blocks.push(SlackSectionBlock::new().with_text(md!(truncate(&format!("> {}", escape(reason).replace('\n', "\n> ")), 2900))).into());
    }

    let mut buttons: Vec<SlackActionBlockElement> = Vec::new();
    let button = |label: &str, id: ButtonId| SlackBlockButtonElement::new(pt!(label)).with_action_id(id.to_string().into());
    match s.state {
        SessionState::PlanReady => {
            if let Some(d) = &s.digest {
                buttons.push(
                    button("Approve & Deploy", ButtonId::approve(s.id, d.short()))
                        .with_style(SlackBlockButtonStyle::Primary)
                        .into(),
                );
            }
            buttons.push(button("Refresh", ButtonId::new("refresh", s.id)).into());
            buttons.push(button("Cancel", ButtonId::new("cancel", s.id)).with_style(SlackBlockButtonStyle::Danger).into());
        }
        SessionState::PlanFailed => {
            buttons.push(button("Refresh", ButtonId::new("refresh", s.id)).into());
            buttons.push(button("Cancel", ButtonId::new("cancel", s.id)).with_style(SlackBlockButtonStyle::Danger).into());
        }
        SessionState::Draft if view.queue.is_none() && view.locks.is_empty() => {
            buttons.push(button("Queue", ButtonId::new("queue", s.id)).with_style(SlackBlockButtonStyle::Primary).into());
            buttons.push(button("Cancel", ButtonId::new("cancel", s.id)).with_style(SlackBlockButtonStyle::Danger).into());
        }
        SessionState::Draft | SessionState::Planning | SessionState::Approved | SessionState::Applying => {
            buttons.push(button("Cancel", ButtonId::new("cancel", s.id)).with_style(SlackBlockButtonStyle::Danger).into());
        }
        SessionState::Applied | SessionState::Failed | SessionState::Cancelled | SessionState::Expired => {}
    }
    if !buttons.is_empty() {
        blocks.push(SlackActionsBlock::new(buttons).with_block_id(format!("lobby:{}", s.id.short()).into()).into());
    }
    blocks
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Joins lines into chunks of at most `max` characters (a longer single line is truncated).
pub fn chunk_lines(lines: &[String], max: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    for line in lines {
        let line = truncate(line, max);
        if !current.is_empty() && current.chars().count() + 1 + line.chars().count() > max {
            chunks.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Plain mrkdwn blocks for an ephemeral reply or a listing (split to respect section limits).
pub fn text_blocks(text: &str) -> Vec<SlackBlock> {
    let lines: Vec<String> = text.lines().map(String::from).collect();
    chunk_lines(&lines, 2900)
        .into_iter()
        .take(50)
        .map(|chunk| SlackSectionBlock::new().with_text(md!(chunk)).into())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(escape("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
    }

    #[test]
    fn long_text_is_split_into_sections_slack_accepts() {
        let lines: Vec<String> = (0..400).map(|i| format!("line {i:03} {}", "x".repeat(40))).collect();
        let chunks = chunk_lines(&lines, 2900);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.chars().count() <= 2900));
        assert_eq!(chunks.join("\n"), lines.join("\n"), "nothing lost between chunks");
        let huge = vec!["y".repeat(5000)];
        assert_eq!(chunk_lines(&huge, 2900)[0].chars().count(), 2900, "an over-long line is cut");
        assert!(text_blocks(&lines.join("\n")).len() <= 50);
        assert!(text_blocks("").is_empty());
    }
}
