//! Block Kit renderings of the transport-neutral views: the session lobby (header, per-stack
//! changes, approvals, buttons) and the actions' replies. Pure functions of cloud-chat values,
//! so they are snapshot-tested without Slack.

use slack_morphism::prelude::*;

pub use cloud_chat::view::fit;
use cloud_chat::view::{self, Block, ButtonStyle, ButtonView, ChangeSummary, LobbyStack, LobbyView, Reply};
use cloud_domain::session::{Platform, Principal, StackState};

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; everything else is shown as typed.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A principal as Slack shows it: a mention for Slack users, the id otherwise.
pub fn who(p: &Principal) -> String {
    view::who(p, Platform::Slack)
}

/// Shared chat markdown as Slack mrkdwn: `**bold**` becomes `*bold*`, and Slack's control
/// sequences other than user mentions (`<!channel>`, `<!here>`, `<#C…>`, `<http…|…>`) are
/// defused, so nothing a person typed (a reason, a name) can notify a whole channel or become a
/// link. Other text is shown as written.
pub fn mrkdwn(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let control = tail.starts_with('!')
            || tail.starts_with('#')
            || tail.starts_with("http:")
            || tail.starts_with("https:")
            || tail.starts_with("mailto:");
        out.push_str(if control { "&lt;" } else { "<" });
        rest = tail;
    }
    out.push_str(rest);
    out.replace("**", "*")
}

/// An action's reply as Block Kit: paragraphs as mrkdwn sections, preformatted blocks as code
/// sections (each within Slack's 3000 characters per section), then its buttons.
pub fn reply_blocks(reply: &Reply) -> Vec<SlackBlock> {
    let mut blocks: Vec<SlackBlock> = Vec::new();
    for block in &reply.blocks {
        match block {
            Block::Text(text) => {
                let lines: Vec<String> = mrkdwn(text).lines().map(String::from).collect();
                for chunk in chunk_lines(&lines, 2900) {
                    blocks.push(SlackSectionBlock::new().with_text(md!(chunk)).into());
                }
            }
            Block::Code(code) => {
                let lines: Vec<String> = escape(code.trim_end_matches('\n')).lines().map(String::from).collect();
                for chunk in chunk_lines(&lines, 2890) {
                    blocks.push(
                        SlackSectionBlock::new()
                            .with_text(md!(format!("```\n{chunk}\n```")))
                            .into(),
                    );
                }
            }
        }
    }
    blocks.truncate(49);
    let buttons = buttons(&reply.buttons);
    if !buttons.is_empty() {
        blocks.push(SlackActionsBlock::new(buttons).into());
    }
    blocks
}

/// An action's reply as plain fallback text (notifications, screen readers).
pub fn reply_text(reply: &Reply) -> String {
    fit(&reply.plain(), 3000)
}

/// The enabled buttons (Slack has no disabled buttons: the lobby lists the others with why).
fn buttons(buttons: &[ButtonView]) -> Vec<SlackActionBlockElement> {
    buttons
        .iter()
        .filter(|b| b.enabled)
        .map(|b| {
            let mut button = SlackBlockButtonElement::new(pt!(b.label)).with_action_id(b.id.to_string().into());
            match b.style {
                ButtonStyle::Primary | ButtonStyle::Success => {
                    button = button.with_style(SlackBlockButtonStyle::Primary)
                }
                ButtonStyle::Danger => button = button.with_style(SlackBlockButtonStyle::Danger),
                ButtonStyle::Secondary => {}
            }
            button.into()
        })
        .collect()
}

/// The lobby's fallback text (notifications, screen readers).
pub fn lobby_text(lobby: &LobbyView) -> String {
    format!(
        "{} — {} (session {})",
        lobby.title,
        lobby.state_label,
        lobby.session.short()
    )
}

fn stack_line(st: &LobbyStack) -> String {
    // A stack a cancel stopped reads "cancelled", a skipped one "skipped (why)".
    if st.is_cancelled() {
        return format!("⏹ `{}` cancelled", st.stack);
    }
    if st.state == StackState::Skipped {
        return match &st.error {
            Some(why) => format!(
                "{} `{}` skipped ({})",
                stack_icon(st.state),
                st.stack,
                escape(why.lines().next().unwrap_or_default())
            ),
            None => format!("{} `{}` skipped", stack_icon(st.state), st.stack),
        };
    }
    let mut line = format!("{} `{}` {}", stack_icon(st.state), st.stack, st.state);
    match &st.error {
        Some(err) => line.push_str(&format!(" — {}", escape(err.lines().next().unwrap_or_default()))),
        None => {
            if st.changes.total() > 0 || st.state != StackState::Pending {
                line.push_str(&format!(" — {}", changes_cell(&st.changes)));
            }
            if st.provisional {
                line.push_str(" _(provisional)_");
            }
        }
    }
    line
}

fn changes_cell(c: &ChangeSummary) -> String {
    let parts: Vec<String> = [("+", c.create), ("~", c.update), ("-", c.delete), ("±", c.replace)]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(sym, n)| format!("{sym}{n}"))
        .collect();
    if parts.is_empty() {
        "no changes".into()
    } else {
        parts.join(" ")
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

/// The session lobby as Block Kit, from the transport-neutral [`LobbyView`]: header, state and
/// requester, one line per stack, totals/approvals/digest, cost and quotas, the reason, and the
/// enabled buttons (Slack has no disabled buttons: the others are listed with why).
pub fn lobby(lobby: &LobbyView) -> Vec<SlackBlock> {
    let mut blocks: Vec<SlackBlock> = Vec::new();
    blocks.push(
        SlackHeaderBlock::new(pt!(fit(
            &format!("{} {}", view::state_icon(lobby.state), lobby.title),
            150
        )))
        .into(),
    );
    blocks.push(
        SlackSectionBlock::new()
            .with_text(md!(format!(
                "*{}* · requested by {} · session `{}`\n{}",
                lobby.state,
                who(&lobby.requester),
                lobby.session.short(),
                mrkdwn(&lobby.next_step)
            )))
            .into(),
    );
    if let Some(queue) = &lobby.queue {
        let text = fit(&mrkdwn(&queue.text_for(Platform::Slack)), 2900);
        blocks.push(SlackSectionBlock::new().with_text(md!(text)).into());
    }
    // Section text holds 3000 characters: long stack lists go into several sections.
    let lines: Vec<String> = lobby.stacks.iter().map(stack_line).collect();
    for chunk in chunk_lines(&lines, 2900) {
        blocks.push(SlackSectionBlock::new().with_text(md!(chunk)).into());
    }
    if let Some(engine) = &lobby.engine_version {
        let approvers: Vec<String> = lobby.approvals.iter().map(who).collect();
        let approvals = if approvers.is_empty() {
            String::new()
        } else {
            format!(" ({})", approvers.join(", "))
        };
        blocks.push(
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(
                format!(
                    "Total {} · approvals {}/{}{} · digest `{}` · engine {}",
                    changes_cell(&lobby.totals),
                    lobby.approvals.len(),
                    lobby.approvals_required,
                    approvals,
                    lobby.digest_short.as_deref().unwrap_or_default(),
                    escape(engine)
                ),
            ))])
            .into(),
        );
    }
    // Cost and quotas: the view's, else the core's own wording of the estimate.
    let mut finops: Vec<String> = Vec::new();
    if let Some(cost) = &lobby.cost {
        finops.push(format!("Cost {}", cost.text()));
    }
    for q in lobby.quotas.iter().flatten() {
        finops.push(format!("Quota {}", q.line()));
    }
    let finops: Vec<String> = finops
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| escape(l))
        .collect();
    for chunk in chunk_lines(&finops, 2890) {
        blocks.push(
            SlackSectionBlock::new()
                .with_text(md!(format!("```\n{chunk}\n```")))
                .into(),
        );
    }
    if let Some(reason) = &lobby.reason {
        blocks.push(
            SlackSectionBlock::new()
                .with_text(md!(fit(&format!("> {}", escape(reason).replace('\n', "\n> ")), 2900)))
                .into(),
        );
    }

    let buttons = buttons(&lobby.buttons);
    if !buttons.is_empty() {
        blocks.push(
            SlackActionsBlock::new(buttons)
                .with_block_id(format!("lobby:{}", lobby.session.short()).into())
                .into(),
        );
    }
    let disabled: Vec<String> = lobby
        .buttons
        .iter()
        .filter_map(|b| {
            b.why_disabled
                .as_ref()
                .map(|why| format!("{}: {}", b.label, escape(why)))
        })
        .collect();
    if !disabled.is_empty() && !lobby.state.is_terminal() {
        blocks.push(
            SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(SlackBlockMarkDownText::new(
                fit(&disabled.join(" · "), 2900),
            ))])
            .into(),
        );
    }
    blocks
}

/// Joins lines into chunks of at most `max` characters (a longer single line is cut).
pub fn chunk_lines(lines: &[String], max: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    for line in lines {
        let line = fit(line, max);
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
    fn shared_markdown_becomes_mrkdwn_with_mentions_kept_and_broadcasts_defused() {
        assert_eq!(
            mrkdwn("**Deploy** by <@U0ALICE>: a < b <!channel> <#C1> <https://x|y> <ENV>"),
            "*Deploy* by <@U0ALICE>: a < b &lt;!channel> &lt;#C1> &lt;https://x|y> <ENV>"
        );
        assert_eq!(mrkdwn("ends with <"), "ends with <");
    }

    #[test]
    fn long_text_is_split_into_sections_slack_accepts() {
        let lines: Vec<String> = (0..400).map(|i| format!("line {i:03} {}", "x".repeat(40))).collect();
        let chunks = chunk_lines(&lines, 2900);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.chars().count() <= 2900));
        assert_eq!(chunks.join("\n"), lines.join("\n"), "nothing lost between chunks");
        let huge = vec!["y".repeat(5000)];
        assert_eq!(
            chunk_lines(&huge, 2900)[0].chars().count(),
            2900,
            "an over-long line is cut"
        );
        assert!(text_blocks(&lines.join("\n")).len() <= 50);
        assert!(text_blocks("").is_empty());
    }
}
