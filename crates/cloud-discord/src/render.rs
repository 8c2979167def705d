//! Renders the transport-neutral views as Discord embeds and components, within Discord's limits
//! (embed field values ≤ 1024, footer ≤ 2048, ≤ 5 action rows of ≤ 5 buttons, ≤ 25 options).

use poise::serenity_prelude as serenity;
use serenity::{
    CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter, CreateSelectMenu, CreateSelectMenuKind,
    CreateSelectMenuOption,
};

pub use cloud_chat::view::fit;
use cloud_chat::view::{ButtonStyle, ButtonView, LobbyView};
use cloud_domain::session::{Platform, Principal};

/// `<@id>` for a Discord user (a mention Discord renders as the name), the principal otherwise.
pub fn who(p: &Principal) -> String {
    cloud_chat::view::who(p, Platform::Discord)
}

/// What the mentions of a message the bot sends may ping: nothing. Every bot message may echo
/// what someone typed (a reason, a stack name, an error quoting input), and an echoed
/// `@everyone` or `<@id>` must not notify anyone; Discord still renders `<@id>` as the name.
/// Set on every message, reply, followup and edit.
pub fn no_pings() -> serenity::CreateAllowedMentions {
    serenity::CreateAllowedMentions::new()
}

/// Buttons as one action row of at most 5 (Discord's limit), disabled ones greyed out.
pub fn button_rows(buttons: &[ButtonView]) -> Vec<CreateActionRow> {
    let buttons: Vec<CreateButton> = buttons
        .iter()
        .take(5)
        .map(|b| {
            CreateButton::new(b.id.to_string())
                .label(fit(b.label, 80))
                .style(match b.style {
                    ButtonStyle::Primary => serenity::ButtonStyle::Primary,
                    ButtonStyle::Secondary => serenity::ButtonStyle::Secondary,
                    ButtonStyle::Danger => serenity::ButtonStyle::Danger,
                    ButtonStyle::Success => serenity::ButtonStyle::Success,
                })
                .disabled(!b.enabled)
        })
        .collect();
    if buttons.is_empty() {
        vec![]
    } else {
        vec![CreateActionRow::Buttons(buttons)]
    }
}

/// The lobby's embed.
pub fn lobby_embed(lobby: &LobbyView) -> CreateEmbed {
    let mut stacks = String::new();
    for st in &lobby.stacks {
        stacks.push_str(&format!("`{}`\n", st.line().replace('`', "'")));
    }
    if stacks.is_empty() {
        stacks.push_str("(none)");
    }
    let mut changes = lobby.totals.to_string();
    if let Some(d) = &lobby.digest_short {
        changes.push_str(&format!(" · plan `{d}`"));
    }
    let mut embed = CreateEmbed::new()
        .title(fit(&lobby.title, 256))
        .description(fit(
            &format!(
                "{} · session `{}` · requested by {}",
                lobby.state_label,
                lobby.session.short(),
                who(&lobby.requester)
            ),
            4096,
        ))
        .color(cloud_chat::view::state_color(lobby.state))
        .field("Stacks", fit(&stacks, 1024), false)
        .field("Changes", fit(&changes, 1024), true);
    if let Some(cost) = &lobby.cost {
        embed = embed.field("Cost", fit(&cost.text(), 1024), true);
    }
    if let Some(quotas) = &lobby.quotas {
        if !quotas.is_empty() {
            let text: Vec<String> = quotas.iter().map(|q| format!("`{}`", q.line())).collect();
            embed = embed.field("Quotas", fit(&text.join("\n"), 1024), false);
        }
    }
    let approvers: Vec<String> = lobby.approvals.iter().map(who).collect();
    let approvals = if approvers.is_empty() {
        format!("0/{}", lobby.approvals_required)
    } else {
        format!(
            "{}/{} ({})",
            approvers.len(),
            lobby.approvals_required,
            approvers.join(", ")
        )
    };
    embed = embed.field("Approvals", fit(&approvals, 1024), true);
    if let Some(queue) = &lobby.queue {
        embed = embed.field("Queue", fit(&queue.text_for(Platform::Discord), 1024), false);
    }
    if let Some(reason) = &lobby.reason {
        embed = embed.field("Reason", fit(reason, 1024), false);
    }
    let why: Vec<String> = lobby
        .buttons
        .iter()
        .filter_map(|b| b.why_disabled.as_ref().map(|w| format!("{}: {w}", b.label)))
        .collect();
    if !why.is_empty() {
        embed = embed.footer(CreateEmbedFooter::new(fit(&why.join(" · "), 2048)));
    }
    embed
}

/// The lobby's stack picker and buttons.
pub fn lobby_components(lobby: &LobbyView) -> Vec<CreateActionRow> {
    let mut rows = Vec::new();
    if let Some(picker) = &lobby.picker {
        let options: Vec<CreateSelectMenuOption> = picker
            .options
            .iter()
            .take(25)
            .map(|o| CreateSelectMenuOption::new(o.stack.as_str(), o.stack.as_str()).default_selection(o.selected))
            .collect();
        let n = options.len() as u8;
        if n > 0 {
            let menu = CreateSelectMenu::new(picker.id.to_string(), CreateSelectMenuKind::String { options })
                .placeholder(fit(&picker.placeholder, 150))
                .min_values(1)
                .max_values(n);
            rows.push(CreateActionRow::SelectMenu(menu));
        }
    }
    rows.extend(button_rows(&lobby.buttons));
    rows
}
