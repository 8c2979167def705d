//! Transport-neutral view models of a session, rendered by both the Discord and the Slack adapter.
//!
//! - [`ButtonId`]: the decided component id `cloud:<action>:<session-uuid>[:<digest-16-hex>]`
//!   (≤ 100 chars), formatted and parsed here only, so a click after a restart still names its
//!   session and the digest the clicker saw.
//! - [`LobbyView`]: the session's lobby message — state, requester, deployment/env, per-stack
//!   change counts (`+ ~ - ±`), provisional marks, cost delta and quota bars when known, approvals
//!   so far / required, the stack picker, and which buttons are enabled and why not.
//! - [`session_progress_line`]: one line saying where an applying session is.
//! - [`SummaryView`]: the end of a session, also convertible to the batcher's [`SessionSummary`].
//! - `*_message()` builders: every refusal, error and announcement a chat adapter shows, with the
//!   next step in the text. Refusals are [`Reply::ephemeral`].
//!
//! Nothing here imports a chat crate; adapters map these values to embeds, blocks and components.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use cloud_core::engine::ChangeCounts;
use cloud_core::orchestrator::SessionView;
use cloud_domain::error::{ExitCode, UserError};
use cloud_domain::session::{Operation, Platform, Principal, SessionId, SessionState, StackName, StackState};

use super::batcher::{SessionOutcome, SessionSummary};

/// Longest component id Discord accepts (Slack allows 255; we use the stricter one everywhere).
pub const MAX_BUTTON_ID_LEN: usize = 100;
/// Hex digits of the plan digest a button carries.
pub const BUTTON_DIGEST_LEN: usize = 16;
const BUTTON_PREFIX: &str = "cloud";

// ---------------------------------------------------------------------------------------------
// Button ids
// ---------------------------------------------------------------------------------------------

/// What a lobby component asks the orchestrator to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ButtonAction {
    /// Approve & Deploy the plan whose digest the id carries.
    Approve,
    /// Cancel the session (a running apply stops gracefully).
    Cancel,
    /// Re-plan (DRAFT/PLAN_FAILED: plan; PLAN_READY: refresh).
    Refresh,
    /// Wait for busy stacks, then plan.
    Queue,
    /// The stack picker (select menu): the chosen stacks replace the session's set and re-plan.
    Stacks,
}

impl ButtonAction {
    pub const ALL: [ButtonAction; 5] = [
        ButtonAction::Approve,
        ButtonAction::Cancel,
        ButtonAction::Refresh,
        ButtonAction::Queue,
        ButtonAction::Stacks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ButtonAction::Approve => "approve",
            ButtonAction::Cancel => "cancel",
            ButtonAction::Refresh => "refresh",
            ButtonAction::Queue => "queue",
            ButtonAction::Stacks => "stacks",
        }
    }

    /// Whether ids of this action must carry the plan digest.
    pub fn needs_digest(self) -> bool {
        match self {
            ButtonAction::Approve => true,
            ButtonAction::Cancel | ButtonAction::Refresh | ButtonAction::Queue | ButtonAction::Stacks => false,
        }
    }

    /// The label shown on the button.
    pub fn label(self) -> &'static str {
        match self {
            ButtonAction::Approve => "Approve & Deploy",
            ButtonAction::Cancel => "Cancel",
            ButtonAction::Refresh => "Refresh",
            ButtonAction::Queue => "Queue",
            ButtonAction::Stacks => "Stacks",
        }
    }
}

impl fmt::Display for ButtonAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component id that is not one of ours, or is malformed. Shown to the clicker as "this button
/// is from an older version; use /cloud-status".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid button id `{id}`: {problem}")]
pub struct InvalidButtonId {
    pub id: String,
    pub problem: String,
}

/// `cloud:<action>:<session-uuid>[:<digest-16-hex>]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ButtonId {
    pub action: ButtonAction,
    pub session: SessionId,
    /// The first 16 lowercase hex digits of the plan digest; only on [`ButtonAction::Approve`].
    pub digest: Option<String>,
}

impl ButtonId {
    pub fn new(action: ButtonAction, session: SessionId) -> Self {
        ButtonId {
            action,
            session,
            digest: None,
        }
    }

    /// An Approve id for the plan whose digest is `digest` (full or already shortened).
    pub fn approve(session: SessionId, digest: &str) -> Self {
        ButtonId {
            action: ButtonAction::Approve,
            session,
            digest: Some(
                digest
                    .chars()
                    .take(BUTTON_DIGEST_LEN)
                    .collect::<String>()
                    .to_ascii_lowercase(),
            ),
        }
    }

    /// Whether an id looks like one of ours (`cloud:` prefix), so other components are ignored.
    pub fn is_ours(id: &str) -> bool {
        id.starts_with("cloud:")
    }
}

impl fmt::Display for ButtonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BUTTON_PREFIX}:{}:{}", self.action, self.session.0.hyphenated())?;
        if let Some(digest) = &self.digest {
            write!(f, ":{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ButtonId {
    type Err = InvalidButtonId;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        let bad = |problem: &str| InvalidButtonId {
            id: id.chars().take(120).collect(),
            problem: problem.to_string(),
        };
        if id.len() > MAX_BUTTON_ID_LEN {
            return Err(bad("longer than 100 characters"));
        }
        let parts: Vec<&str> = id.split(':').collect();
        if parts.first() != Some(&BUTTON_PREFIX) {
            return Err(bad("it does not start with `cloud:`"));
        }
        if !(3..=4).contains(&parts.len()) {
            return Err(bad("expected cloud:<action>:<session>[:<digest>]"));
        }
        let action = ButtonAction::ALL
            .into_iter()
            .find(|a| a.as_str() == parts[1])
            .ok_or_else(|| bad(&format!("unknown action `{}`", parts[1])))?;
        let session: SessionId = parts[2].parse().map_err(|_| bad("the session is not a UUID"))?;
        let digest = parts.get(3).map(|d| d.to_string());
        match (&digest, action.needs_digest()) {
            (None, true) => return Err(bad("an approve button must carry the plan digest")),
            (Some(_), false) => return Err(bad(&format!("a {action} button carries no digest"))),
            (Some(d), true)
                if d.len() != BUTTON_DIGEST_LEN
                    || !d.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                return Err(bad("the digest must be 16 lowercase hex digits"))
            }
            _ => {}
        }
        Ok(ButtonId {
            action,
            session,
            digest,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Lobby
// ---------------------------------------------------------------------------------------------

/// Changes of one stack by kind, as the lobby shows them: `+3 ~1 -0 ±2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSummary {
    pub create: u64,
    pub update: u64,
    pub delete: u64,
    /// Replacements (`replace`, `create-replacement`, `delete-replaced` count once per resource
    /// via `replace`; the latter two only when no `replace` total was given).
    pub replace: u64,
}

impl ChangeSummary {
    pub fn from_counts(counts: &ChangeCounts) -> Self {
        let get = |op: &str| counts.get(op).copied().unwrap_or(0);
        let replace = if counts.contains_key("replace") {
            get("replace")
        } else {
            get("create-replacement").max(get("delete-replaced"))
        };
        ChangeSummary {
            create: get("create") + get("import"),
            update: get("update"),
            delete: get("delete"),
            replace,
        }
    }

    pub fn total(&self) -> u64 {
        self.create + self.update + self.delete + self.replace
    }

    pub fn add(&mut self, other: &ChangeSummary) {
        self.create += other.create;
        self.update += other.update;
        self.delete += other.delete;
        self.replace += other.replace;
    }
}

impl fmt::Display for ChangeSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "+{} ~{} -{} ±{}",
            self.create, self.update, self.delete, self.replace
        )
    }
}

/// One stack row of the lobby.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LobbyStack {
    pub stack: StackName,
    pub wave: u32,
    pub state: StackState,
    /// Preview counts before the apply, apply counts after.
    pub changes: ChangeSummary,
    /// The preview saw upstream outputs this plan changes; it is re-previewed before applying.
    pub provisional: bool,
    pub error: Option<String>,
}

impl LobbyStack {
    /// Whether a cancel stopped this stack (the orchestrator records it as failed, "cancelled").
    pub fn is_cancelled(&self) -> bool {
        self.state == StackState::Failed && self.error.as_deref() == Some(CANCELLED_STACK_ERROR)
    }

    /// `network  +3 ~1 -0 ±0  previewed`, with `(provisional)` and the error's first line; a
    /// stack a cancel stopped reads `⏹ network  cancelled`, a skipped one
    /// `– network  skipped (not reached)` (neither carried out its preview's counts).
    pub fn line(&self) -> String {
        if self.is_cancelled() {
            return format!("⏹ {}  cancelled", self.stack);
        }
        if self.state == StackState::Skipped {
            return match &self.error {
                Some(why) => format!(
                    "{} {}  skipped ({})",
                    state_icon_stack(self.state),
                    self.stack,
                    first_line(why, 160)
                ),
                None => format!("{} {}  skipped", state_icon_stack(self.state), self.stack),
            };
        }
        let mut out = format!(
            "{} {}  {}  {}",
            state_icon_stack(self.state),
            self.stack,
            self.changes,
            self.state
        );
        if self.provisional {
            out.push_str("  (provisional)");
        }
        if let Some(e) = &self.error {
            out.push_str(": ");
            out.push_str(first_line(e, 160));
        }
        out
    }
}

/// The error the orchestrator records on a stack a cancel stopped.
pub const CANCELLED_STACK_ERROR: &str = "cancelled";

/// Estimated monthly cost before and after the plan (issue 6 fills it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostDelta {
    pub current_monthly: f64,
    pub planned_monthly: f64,
    /// ISO code, e.g. `USD`.
    pub currency: String,
    /// Hours in a month of the price list (the hourly figure divides by it).
    pub hours_per_month: f64,
    /// The region whose prices apply (`us-east-1`, `us-central1` for Google Cloud).
    pub region: String,
}

impl CostDelta {
    pub fn delta(&self) -> f64 {
        self.planned_monthly - self.current_monthly
    }

    /// `+$42.00/month, +$0.058/hour (now $100.00 → $142.00; us-east-1 prices)`
    pub fn text(&self) -> String {
        let sym = if self.currency == "USD" {
            "$".to_string()
        } else {
            format!("{} ", self.currency)
        };
        let d = self.delta();
        let sign = if d < 0.0 { "-" } else { "+" };
        let hours = if self.hours_per_month > 0.0 {
            self.hours_per_month
        } else {
            730.0
        };
        format!(
            "{sign}{sym}{:.2}/month, {sign}{sym}{:.3}/hour (now {sym}{:.2} → {sym}{:.2}; {} prices)",
            d.abs(),
            d.abs() / hours,
            self.current_monthly,
            self.planned_monthly,
            self.region
        )
    }
}

/// One quota of the project: what is used, what the plan would add, the limit (issue 6 fills it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaBar {
    /// The quota label, e.g. `sessions`, `cost`, `vm` or a resource type (`aws:eks/cluster:Cluster`).
    pub name: String,
    pub used: f64,
    /// Used after the plan applies.
    pub after: f64,
    pub limit: f64,
}

impl From<&cloud_core::policy::CostEstimate> for CostDelta {
    fn from(e: &cloud_core::policy::CostEstimate) -> CostDelta {
        CostDelta {
            current_monthly: e.total_before,
            planned_monthly: e.total_after,
            currency: e.currency.clone(),
            hours_per_month: e.hours_per_month,
            region: e.region.clone(),
        }
    }
}

impl QuotaBar {
    /// The bars of a plan's quota check: today's usage, after the plan, the limit.
    pub fn from_check(check: &cloud_core::policy::QuotaCheck) -> Vec<QuotaBar> {
        check
            .projected
            .iter()
            .map(|after| QuotaBar {
                name: after.label.clone(),
                used: check
                    .current
                    .iter()
                    .find(|c| c.key == after.key)
                    .map(|c| c.used)
                    .unwrap_or(0.0),
                after: after.used,
                limit: after.limit,
            })
            .collect()
    }

    pub fn over(&self) -> bool {
        self.after > self.limit
    }

    /// `sessions  ▓▓▓▓▓░░░░░ 2 → 3 / 5` and ` ⚠ over` when the plan exceeds it.
    pub fn line(&self) -> String {
        let pct = if self.limit <= 0.0 {
            100
        } else {
            ((self.after / self.limit) * 100.0).clamp(0.0, 100.0) as u32
        };
        let mut out = if self.used == self.after {
            format!(
                "{}  {} {} / {}",
                self.name,
                crate::progress::bar(pct),
                num(self.after),
                num(self.limit)
            )
        } else {
            format!(
                "{}  {} {} → {} / {}",
                self.name,
                crate::progress::bar(pct),
                num(self.used),
                num(self.after),
                num(self.limit)
            )
        };
        if self.over() {
            out.push_str("  ⚠ over");
        }
        out
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// A stack of this session that another session holds (issue 5's locks fill it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BusyStack {
    pub stack: StackName,
    pub held_by: SessionId,
}

/// Facts about a session that are not in its [`SessionView`]: optional, so an adapter can render
/// a lobby with whatever it knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LobbyExtras {
    /// Every stack the deployment enables (the picker's options). Empty: no picker.
    pub available_stacks: Vec<StackName>,
    pub cost: Option<CostDelta>,
    pub quotas: Option<Vec<QuotaBar>>,
    /// Stacks of this session locked by other sessions.
    pub busy: Vec<BusyStack>,
    /// Who a queued session waits for (the holders of its stacks, sessions queued before it).
    pub waiting_for: Vec<WaitingFor>,
}

/// A session a queued session waits for: it holds some of its stacks, or queued for them earlier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingFor {
    pub session: SessionId,
    pub requester: Principal,
    /// `true`: it does not hold the stacks yet, it waits in the queue ahead.
    pub queued: bool,
}

/// Where a queued session stands: its position and whom it waits for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuePlace {
    pub position: u32,
    pub waiting_for: Vec<WaitingFor>,
}

impl QueuePlace {
    /// `Position 1 · the stacks are held by <@42> (session `0b6a3c1e`)`, mentions for `audience`.
    pub fn text_for(&self, audience: Platform) -> String {
        let name = |w: &WaitingFor| format!("{} (session `{}`)", who(&w.requester, audience), w.session.short());
        let mut out = format!("Position {} in the queue", self.position);
        let holders: Vec<String> = self.waiting_for.iter().filter(|w| !w.queued).map(name).collect();
        let ahead: Vec<String> = self.waiting_for.iter().filter(|w| w.queued).map(name).collect();
        if !holders.is_empty() {
            out.push_str(&format!(" · the stacks are held by {}", holders.join(", ")));
        }
        if !ahead.is_empty() {
            out.push_str(&format!(" · queued ahead: {}", ahead.join(", ")));
        }
        out.push_str(" · planned automatically when its turn comes");
        out
    }
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ButtonStyle {
    Primary,
    Secondary,
    Danger,
    Success,
}

/// One button of the lobby.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ButtonView {
    pub id: ButtonId,
    pub label: &'static str,
    pub style: ButtonStyle,
    pub enabled: bool,
    /// Why it is disabled (shown under the buttons), `None` when enabled.
    pub why_disabled: Option<String>,
}

/// One option of the stack picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PickerOption {
    pub stack: StackName,
    pub selected: bool,
}

/// The stack picker (select menu): shown while DRAFT, PLAN_READY or PLAN_FAILED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackPicker {
    pub id: ButtonId,
    pub placeholder: String,
    pub options: Vec<PickerOption>,
}

/// The lobby of one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LobbyView {
    pub session: SessionId,
    pub state: SessionState,
    /// `🟢 PLAN_READY` etc.
    pub state_label: String,
    /// `Deploy ecommerce/prod (D1BRV40)`.
    pub title: String,
    pub requester: Principal,
    pub project: String,
    pub env: String,
    pub deployment_id: String,
    pub operation: Operation,
    pub stacks: Vec<LobbyStack>,
    pub totals: ChangeSummary,
    pub digest_short: Option<String>,
    pub cost: Option<CostDelta>,
    pub quotas: Option<Vec<QuotaBar>>,
    pub approvals: Vec<Principal>,
    pub approvals_required: u32,
    /// Why the session ended or failed to plan.
    pub reason: Option<String>,
    pub buttons: Vec<ButtonView>,
    pub picker: Option<StackPicker>,
    /// What happens next, or what someone has to do (`Waiting for 1 approval(s) from …`).
    pub next_step: String,
    /// The engine version the plan was made with, once there is a plan.
    pub engine_version: Option<String>,
    /// Where the session waits in the lock queue, while it does.
    pub queue: Option<QueuePlace>,
}

/// Who approved the plan the session has now: approvals of an earlier plan (before a Refresh
/// or a change of stacks) no longer count and are not shown.
fn current_approvals(view: &SessionView) -> Vec<Principal> {
    let Some(digest) = view.session.digest.as_ref() else {
        return vec![];
    };
    view.approvals
        .iter()
        .filter(|a| digest.matches(&a.digest))
        .map(|a| a.approver.clone())
        .collect()
}

/// How many more approvals the plan needs (at least 1 while it waits for approval).
fn approvals_missing(required: u32, given: usize) -> u32 {
    required.saturating_sub(given as u32).max(1)
}

/// What the lobby says happens next.
fn lobby_next_step(view: &SessionView) -> String {
    let s = &view.session;
    match s.state {
        SessionState::Draft => match &view.queue {
            Some(q) => format!(
                "Queued for its stacks: position {}. It is previewed when they are free.",
                q.position
            ),
            None if view.locks.is_empty() => {
                "Its stacks are busy with other sessions: **Queue** to wait in line, or **Cancel**.".into()
            }
            None => "Previewing the stacks…".into(),
        },
        SessionState::Planning => "Previewing the stacks…".into(),
        SessionState::PlanReady => {
            let who = if s.allow_self_approve {
                "anyone with `approve`"
            } else {
                "someone other than the requester with `approve`"
            };
            let given = current_approvals(view).len();
            let missing = approvals_missing(s.approvals_required, given);
            let more = if given > 0 { " more" } else { "" };
            format!("Waiting for {missing}{more} approval(s) from {who}.")
        }
        SessionState::PlanFailed => "The preview failed: fix the cause, then **Refresh** to retry.".into(),
        SessionState::Approved => "Approved: applying next.".into(),
        SessionState::Applying => "Applying — progress in the thread.".into(),
        SessionState::Applied => "Applied. Summary in the thread.".into(),
        SessionState::Failed => "The apply failed. Summary in the thread.".into(),
        SessionState::Cancelled => "Cancelled.".into(),
        SessionState::Expired => "The plan expired; run `/cloud-deploy` again for a fresh one.".into(),
    }
}

impl LobbyView {
    pub fn new(view: &SessionView, extras: &LobbyExtras) -> LobbyView {
        let s = &view.session;
        let provisional: Vec<&StackName> = s
            .plan
            .as_ref()
            .map(|p| p.stacks.iter().filter(|e| e.provisional).map(|e| &e.stack).collect())
            .unwrap_or_default();
        let stacks: Vec<LobbyStack> = view
            .stacks
            .iter()
            .map(|row| LobbyStack {
                stack: row.stack.clone(),
                wave: row.wave,
                state: row.state,
                changes: ChangeSummary::from_counts(&row.counts),
                provisional: provisional.contains(&&row.stack),
                error: row.error.clone(),
            })
            .collect();
        let mut totals = ChangeSummary::default();
        for st in &stacks {
            totals.add(&st.changes);
        }
        let digest_short = s.digest.as_ref().map(|d| d.short().to_string());
        // The core's estimate and quota standing, unless the adapter brought its own.
        let cost = extras.cost.clone().or_else(|| view.cost.as_ref().map(CostDelta::from));
        let quotas = extras.quotas.clone().or_else(|| {
            view.quota
                .as_ref()
                .filter(|q| !q.projected.is_empty())
                .map(QuotaBar::from_check)
        });
        // Once an admin approved this digest with an override, the other approvals are ordinary.
        let overridden = view
            .approvals
            .iter()
            .any(|a| a.override_reason.is_some() && s.digest.as_ref().is_some_and(|d| d.0 == a.digest));
        let quota_over = !overridden
            && (quotas.as_ref().map(|q| q.iter().any(QuotaBar::over)).unwrap_or(false)
                || view.quota.as_ref().is_some_and(|q| q.is_over()));
        // A draft that holds no locks and is not in line waits for stacks others hold: the lobby
        // says "press Queue", so it shows Queue, even when the holders cannot be named.
        let waits_for_stacks = s.state == SessionState::Draft && view.locks.is_empty() && view.queue.is_none();
        let buttons = lobby_buttons(
            s.id,
            s.state,
            digest_short.as_deref(),
            quota_over,
            &extras.busy,
            waits_for_stacks,
        );
        let picker = match s.state {
            SessionState::Draft | SessionState::PlanReady | SessionState::PlanFailed
                if !extras.available_stacks.is_empty() =>
            {
                Some(StackPicker {
                    id: ButtonId::new(ButtonAction::Stacks, s.id),
                    placeholder: "Add or remove stacks (re-plans)".to_string(),
                    options: extras
                        .available_stacks
                        .iter()
                        .take(25)
                        .map(|stack| PickerOption {
                            stack: stack.clone(),
                            selected: s.stacks.contains(stack),
                        })
                        .collect(),
                })
            }
            _ => None,
        };
        let verb = match s.operation {
            Operation::Deploy => "Deploy",
            Operation::Destroy => "Destroy",
            Operation::Rollback => "Roll back",
        };
        LobbyView {
            session: s.id,
            state: s.state,
            state_label: format!("{} {}", state_icon(s.state), s.state),
            title: format!("{verb} {}/{} ({})", s.project, s.env, s.deployment_id),
            requester: s.requester.clone(),
            project: s.project.clone(),
            env: s.env.clone(),
            deployment_id: s.deployment_id.to_string(),
            operation: s.operation,
            stacks,
            totals,
            digest_short,
            cost: cost.clone(),
            quotas: quotas.clone(),
            approvals: current_approvals(view),
            approvals_required: s.approvals_required,
            reason: s.reason.clone(),
            buttons,
            picker,
            next_step: lobby_next_step(view),
            engine_version: s.plan.as_ref().map(|p| p.engine_version.clone()),
            queue: view
                .queue
                .as_ref()
                .filter(|_| s.state == SessionState::Draft)
                .map(|q| QueuePlace {
                    position: q.position,
                    waiting_for: extras.waiting_for.clone(),
                }),
        }
    }

    /// `1/2 (<@42>)`: the approvals with the approvers mentioned for `audience`.
    pub fn approvals_text_for(&self, audience: Platform) -> String {
        let who: Vec<String> = self.approvals.iter().map(|p| who(p, audience)).collect();
        if who.is_empty() {
            format!("0/{}", self.approvals_required)
        } else {
            format!("{}/{} ({})", who.len(), self.approvals_required, who.join(", "))
        }
    }

    /// `1/2 (discord:42)`.
    pub fn approvals_text(&self) -> String {
        let who: Vec<String> = self.approvals.iter().map(ToString::to_string).collect();
        if who.is_empty() {
            format!("0/{}", self.approvals_required)
        } else {
            format!(
                "{}/{} ({})",
                self.approvals.len(),
                self.approvals_required,
                who.join(", ")
            )
        }
    }

    /// The button of `action`, if the lobby shows it.
    pub fn button(&self, action: ButtonAction) -> Option<&ButtonView> {
        self.buttons.iter().find(|b| b.id.action == action)
    }

    /// The lobby as plain text (Slack fallback text, logs, snapshots). Adapters build richer
    /// layouts from the fields.
    pub fn render_text(&self) -> String {
        let mut out = format!("**{}** — {}\n", self.title, self.state_label);
        out.push_str(&format!(
            "Session `{}` · requested by {} · {} stacks\n",
            self.session.short(),
            self.requester,
            self.stacks.len()
        ));
        for st in &self.stacks {
            out.push_str(&format!("  {}\n", st.line()));
        }
        out.push_str(&format!("Changes: {}", self.totals));
        if let Some(d) = &self.digest_short {
            out.push_str(&format!(" · plan `{d}`"));
        }
        out.push('\n');
        if let Some(cost) = &self.cost {
            out.push_str(&format!("Cost: {}\n", cost.text()));
        }
        if let Some(quotas) = &self.quotas {
            for q in quotas {
                out.push_str(&format!("Quota {}\n", q.line()));
            }
        }
        out.push_str(&format!("Approvals: {}\n", self.approvals_text()));
        if let Some(reason) = &self.reason {
            out.push_str(&format!("Reason: {}\n", first_line(reason, 300)));
        }
        let buttons: Vec<String> = self
            .buttons
            .iter()
            .map(|b| match &b.why_disabled {
                None => format!("[{}]", b.label),
                Some(why) => format!("[{} — disabled: {why}]", b.label),
            })
            .collect();
        out.push_str(&buttons.join(" "));
        out
    }
}

fn lobby_buttons(
    id: SessionId,
    state: SessionState,
    digest: Option<&str>,
    quota_over: bool,
    busy: &[BusyStack],
    waits_for_stacks: bool,
) -> Vec<ButtonView> {
    let mut buttons = Vec::new();
    // Approve: only a ready plan, within quota, with its digest.
    let approve_why = match state {
        SessionState::PlanReady if digest.is_none() => Some("the plan has no digest; refresh it".to_string()),
        SessionState::PlanReady if quota_over => {
            Some(format!("the plan exceeds a quota; an admin can approve it with an override: `cloud approve {} --override-reason \"…\"`", id.short()))
        }
        SessionState::PlanReady if !busy.is_empty() => Some(format!(
            "{} held by another session; press Queue to wait",
            busy.iter().map(|b| b.stack.to_string()).collect::<Vec<_>>().join(", ")
        )),
        SessionState::PlanReady => None,
        SessionState::Draft | SessionState::Planning => Some("waiting for the plan".to_string()),
        SessionState::PlanFailed => Some("the plan failed; fix it and press Refresh".to_string()),
        SessionState::Approved | SessionState::Applying => Some("already approved".to_string()),
        SessionState::Applied | SessionState::Failed | SessionState::Cancelled | SessionState::Expired => {
            Some(format!("the session is {state}"))
        }
    };
    if !state.is_terminal() {
        let approve_id = match digest {
            Some(d) => ButtonId::approve(id, d),
            // A disabled placeholder still needs a well-formed id; it is never clickable.
            None => ButtonId::approve(id, "0000000000000000"),
        };
        buttons.push(ButtonView {
            id: approve_id,
            label: ButtonAction::Approve.label(),
            style: ButtonStyle::Success,
            enabled: approve_why.is_none(),
            why_disabled: approve_why,
        });
        let refresh_why = match state {
            SessionState::Draft | SessionState::PlanReady | SessionState::PlanFailed => None,
            SessionState::Planning => Some("a plan is running".to_string()),
            _ => Some("the plan is approved; cancel and start again to change it".to_string()),
        };
        buttons.push(ButtonView {
            id: ButtonId::new(ButtonAction::Refresh, id),
            label: ButtonAction::Refresh.label(),
            style: ButtonStyle::Secondary,
            enabled: refresh_why.is_none(),
            why_disabled: refresh_why,
        });
        if (!busy.is_empty() || waits_for_stacks)
            && matches!(
                state,
                SessionState::Draft | SessionState::PlanReady | SessionState::PlanFailed
            )
        {
            buttons.push(ButtonView {
                id: ButtonId::new(ButtonAction::Queue, id),
                label: ButtonAction::Queue.label(),
                style: ButtonStyle::Primary,
                enabled: true,
                why_disabled: None,
            });
        }
        buttons.push(ButtonView {
            id: ButtonId::new(ButtonAction::Cancel, id),
            label: ButtonAction::Cancel.label(),
            style: ButtonStyle::Danger,
            enabled: true,
            why_disabled: None,
        });
    }
    buttons
}

/// The mark of a session state.
pub fn state_icon(state: SessionState) -> &'static str {
    match state {
        SessionState::Draft => "📝",
        SessionState::Planning => "🔍",
        SessionState::PlanReady => "🟢",
        SessionState::PlanFailed => "🔴",
        SessionState::Approved => "✅",
        SessionState::Applying => "🚀",
        SessionState::Applied => "🎉",
        SessionState::Failed => "❌",
        SessionState::Cancelled => "⏹️",
        SessionState::Expired => "⌛",
    }
}

/// Cut to `max` characters (Discord and Slack count characters), marking the cut with `…`.
pub fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn state_icon_stack(state: StackState) -> &'static str {
    match state {
        StackState::Pending => "·",
        StackState::Previewing | StackState::Applying => "…",
        StackState::Previewed => "○",
        StackState::Applied => "✓",
        StackState::Failed => "✗",
        StackState::Skipped => "–",
    }
}

/// A color per state for embeds / attachments (RGB).
pub fn state_color(state: SessionState) -> u32 {
    match state {
        SessionState::Draft | SessionState::Planning => 0x95a5a6,
        SessionState::PlanReady | SessionState::Approved => 0x3498db,
        SessionState::Applying => 0xf1c40f,
        SessionState::Applied => 0x2ecc71,
        SessionState::PlanFailed | SessionState::Failed => 0xe74c3c,
        SessionState::Cancelled | SessionState::Expired => 0x7f8c8d,
    }
}

fn first_line(text: &str, max: usize) -> &str {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(max) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

// ---------------------------------------------------------------------------------------------
// Progress and summary
// ---------------------------------------------------------------------------------------------

/// `🚀 APPLYING  3/7 stacks done · applying: network, dns · 1 failed`.
pub fn session_progress_line(view: &SessionView) -> String {
    let total = view.stacks.len();
    let done = view
        .stacks
        .iter()
        .filter(|r| matches!(r.state, StackState::Applied | StackState::Failed | StackState::Skipped))
        .count();
    let running: Vec<String> = view
        .stacks
        .iter()
        .filter(|r| matches!(r.state, StackState::Applying | StackState::Previewing))
        .map(|r| r.stack.to_string())
        .collect();
    // A stack a cancel stopped is recorded as failed, "cancelled": it did not fail.
    let failed = view
        .stacks
        .iter()
        .filter(|r| r.state == StackState::Failed && r.error.as_deref() != Some(CANCELLED_STACK_ERROR))
        .count();
    let mut out = format!(
        "{} {}  {done}/{total} stacks done",
        state_icon(view.session.state),
        view.session.state
    );
    if !running.is_empty() {
        out.push_str(&format!(" · running: {}", running.join(", ")));
    }
    if failed > 0 {
        out.push_str(&format!(" · {failed} failed"));
    }
    out
}

/// How a session ended, for the thread's final message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryView {
    pub session: SessionId,
    pub state: SessionState,
    pub headline: String,
    pub stacks: Vec<LobbyStack>,
    pub totals: ChangeSummary,
    pub reason: Option<String>,
}

impl SummaryView {
    pub fn new(view: &SessionView) -> SummaryView {
        let lobby = LobbyView::new(view, &LobbyExtras::default());
        let s = &view.session;
        let took = s
            .finished_at
            .map(|end| {
                let d = end.signed_duration_since(s.created_at).to_std().unwrap_or_default();
                format!(
                    " in {}",
                    humantime::format_duration(std::time::Duration::from_secs(d.as_secs()))
                )
            })
            .unwrap_or_default();
        let what = match s.state {
            SessionState::Applied => format!("applied{took}"),
            SessionState::Failed => format!("failed{took}"),
            SessionState::Cancelled => format!("cancelled{took}"),
            SessionState::Expired => "expired".to_string(),
            other => format!("is {other}"),
        };
        SummaryView {
            session: s.id,
            state: s.state,
            headline: format!(
                "{} {}/{} {}: {what}",
                state_icon(s.state),
                s.project,
                s.env,
                s.deployment_id
            ),
            // What was done: a stack that failed, was cancelled or was skipped still holds its
            // preview's counts, which it did not carry out.
            totals: lobby.stacks.iter().filter(|st| st.state == StackState::Applied).fold(
                ChangeSummary::default(),
                |mut t, st| {
                    t.add(&st.changes);
                    t
                },
            ),
            stacks: lobby.stacks,
            reason: s.reason.clone(),
        }
    }

    /// The batcher's summary (it adds its own per-stack rows and the full-log note).
    pub fn to_batcher_summary(&self) -> SessionSummary {
        let outcome = match self.state {
            SessionState::Applied => SessionOutcome::Applied,
            SessionState::Cancelled | SessionState::Expired => SessionOutcome::Cancelled,
            _ => SessionOutcome::Failed,
        };
        let mut details = vec![format!("Changes: {}", self.totals)];
        if let Some(reason) = &self.reason {
            details.extend(reason.lines().take(10).map(str::to_string));
        }
        SessionSummary {
            outcome,
            headline: self.headline.clone(),
            details,
        }
    }

    pub fn render_text(&self) -> String {
        let mut out = format!("**{}**\n", self.headline);
        for st in &self.stacks {
            out.push_str(&format!("  {}\n", st.line()));
        }
        out.push_str(&format!("Changes: {}", self.totals));
        if let Some(reason) = &self.reason {
            out.push_str(&format!("\nReason: {}", first_line(reason, 300)));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------------

/// One part of a [`Reply`], in reading order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "text", rename_all = "lowercase")]
pub enum Block {
    /// Chat markdown as Discord writes it: `**bold**`, `` `code` ``, `<@id>` mentions. Adapters
    /// translate the markup for their platform (Slack: `*bold*`).
    Text(String),
    /// Preformatted text (a table, a log tail): shown verbatim in a code block, never
    /// interpreted as markup.
    Code(String),
}

/// Something the adapter does after it sent the reply, because the answer changed what chat
/// shows elsewhere (the lobby, the thread). The action decided it; the adapter only knows how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FollowUp {
    /// Post the lobby of a new session where the command came from. Once it is posted, call
    /// [`crate::actions::lobby_posted`]; when it cannot be posted,
    /// [`crate::actions::lobby_failed`] (nobody could see or approve the plan).
    PostLobby { session: SessionId },
    /// The session's lobby changed: redraw it now rather than at the next event.
    RefreshLobby { session: SessionId },
    /// The stack picker replaced session `from` by `to`: the lobby message of `from` shows `to`
    /// from now on (call [`crate::actions::lobby_posted`] for `to` once it is moved).
    MoveLobby { from: SessionId, to: SessionId },
    /// Say `text` in the session's thread, if it has one on this platform.
    Announce { session: SessionId, text: String },
    /// Share `content` as a file (in the session's thread when it has one here, else where the
    /// command came from).
    Attach {
        session: SessionId,
        filename: String,
        content: String,
    },
}

/// The one answer of an action to one person's command or click, the same for every front end:
/// Discord and Slack render the blocks, buttons and ephemeral flag as their messages and carry
/// out the follow-ups; the CLI prints the blocks and exits with [`Reply::code`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    pub blocks: Vec<Block>,
    /// Only the person who acted sees it (Discord ephemeral flag, Slack `response_type:
    /// ephemeral`). Refusals and errors always are; grants and revocations are announced.
    pub ephemeral: bool,
    /// [`ExitCode::Success`] for an answer; for a refusal, what kind (denied, invalid, failed),
    /// which the CLI turns into its exit code.
    #[serde(skip)]
    pub code: ExitCode,
    /// Buttons offered with the answer (e.g. a session's lobby buttons beside its status).
    pub buttons: Vec<ButtonView>,
    pub follow_ups: Vec<FollowUp>,
}

impl Reply {
    /// A reply only the person who acted sees.
    pub fn ephemeral(text: impl Into<String>) -> Reply {
        Reply {
            blocks: vec![Block::Text(text.into())],
            ephemeral: true,
            code: ExitCode::Success,
            buttons: vec![],
            follow_ups: vec![],
        }
    }

    /// A reply the whole channel sees.
    pub fn public(text: impl Into<String>) -> Reply {
        Reply {
            ephemeral: false,
            ..Reply::ephemeral(text)
        }
    }

    /// An ephemeral reply that is one preformatted block (a table the core rendered).
    pub fn preformatted(text: impl Into<String>) -> Reply {
        Reply {
            blocks: vec![Block::Code(text.into())],
            ..Reply::ephemeral("")
        }
    }

    /// A refusal of kind `code` (always ephemeral).
    pub fn refusal(code: ExitCode, text: impl Into<String>) -> Reply {
        Reply {
            code,
            ..Reply::ephemeral(text)
        }
    }

    /// Adds a preformatted block.
    pub fn with_code(mut self, text: impl Into<String>) -> Reply {
        self.blocks.push(Block::Code(text.into()));
        self
    }

    /// Adds a paragraph.
    pub fn with_text(mut self, text: impl Into<String>) -> Reply {
        self.blocks.push(Block::Text(text.into()));
        self
    }

    pub fn with_follow_up(mut self, follow_up: FollowUp) -> Reply {
        self.follow_ups.push(follow_up);
        self
    }

    pub fn with_buttons(mut self, buttons: Vec<ButtonView>) -> Reply {
        self.buttons = buttons;
        self
    }

    /// A refusal as the CLI reports it: the text without the chat mark (`⚠️`, `🚫`, …), and the
    /// exit code. `None` for an answer.
    pub fn as_user_error(&self) -> Option<UserError> {
        if !self.is_refusal() {
            return None;
        }
        let text = self.plain();
        let message = text
            .trim()
            .trim_start_matches(['⚠', '\u{fe0f}', '🚫', '❌', '⏳', '⏹'])
            .trim_start()
            .to_string();
        Some(UserError {
            code: self.code,
            message,
            error_code: None,
        })
    }

    /// Whether this is a refusal or an error rather than an answer.
    pub fn is_refusal(&self) -> bool {
        self.code != ExitCode::Success
    }

    /// The whole reply as Discord-flavoured chat markdown (code blocks fenced with ```), the
    /// text Discord shows.
    pub fn text(&self) -> String {
        let parts: Vec<String> = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::Text(t) => t.clone(),
                Block::Code(c) => format!("```\n{}\n```", c.trim_end_matches('\n').replace("```", "ˋˋˋ")),
            })
            .collect();
        parts.join("\n")
    }

    /// The reply as plain terminal text: markup removed from paragraphs, code blocks as they are.
    pub fn plain(&self) -> String {
        let mut out = String::new();
        for b in &self.blocks {
            match b {
                Block::Text(t) => out.push_str(&t.replace("**", "")),
                Block::Code(c) => out.push_str(c.trim_end_matches('\n')),
            }
            out.push('\n');
        }
        out
    }
}

/// A person as chat shows them to people of `audience`: a mention (`<@id>`, the same syntax on
/// Discord and Slack) for a user of that platform, the principal in backticks otherwise.
pub fn who(p: &Principal, audience: Platform) -> String {
    match p.platform {
        Platform::Discord | Platform::Slack if p.platform == audience => format!("<@{}>", p.user),
        Platform::Cli | Platform::Discord | Platform::Slack => format!("`{p}`"),
    }
}

/// The answer to whoever lost a race on a session (another approval or cancel came first): the
/// same sentence as the CLI's, people named as `audience` sees them.
pub fn lost_race_message(race: &cloud_core::orchestrator::LostRace, audience: Platform) -> Reply {
    let mut user = race.to_user();
    user.message = race.message(|p| who(p, audience));
    user_error_message(&user)
}

/// A refusal or failure the person caused or can act on, shown verbatim with a mark by kind.
pub fn user_error_message(err: &UserError) -> Reply {
    let mark = match err.code {
        ExitCode::Denied => "🚫",
        ExitCode::Invalid => "⚠️",
        ExitCode::Failed | ExitCode::Success => "❌",
    };
    let code = match err.code {
        ExitCode::Success => ExitCode::Failed,
        other => other,
    };
    // Messages quote what the person typed: control and bidi characters go out escaped.
    Reply::refusal(
        code,
        format!("{mark} {}", cloud_domain::input::escape_for_display(&err.message)),
    )
}

/// Anything unexpected: a reference the operator can find in the log, never the internals.
pub fn internal_error_message(reference: &str) -> Reply {
    Reply::refusal(ExitCode::Failed, format!(
        "❌ Something went wrong on our side (ref `{reference}`). Nothing was changed by this request; try again, and if it keeps failing give the ref to an operator."
    ))
}

/// A component id that is not ours or is malformed (e.g. from an older version).
pub fn invalid_button_message(err: &InvalidButtonId) -> Reply {
    let text = format!(
        "⚠️ This button is not valid any more ({}). Use `/cloud-status` to see the session and its current buttons.",
        err.problem
    );
    Reply::refusal(
        ExitCode::Invalid,
        cloud_domain::input::escape_for_display(&text).into_owned(),
    )
}

/// The Approve click carried a digest that is not the session's current plan.
pub fn stale_digest_message(session: SessionId, clicked: &str, current: Option<&str>) -> Reply {
    let now = current
        .map(|c| format!("the plan is now `{c}`"))
        .unwrap_or_else(|| "the session has no plan now".to_string());
    Reply::refusal(ExitCode::Invalid, format!(
        "⚠️ You clicked Approve for plan `{clicked}` of session `{}`, but {now}. Review the refreshed lobby and approve again.",
        session.short()
    ))
}

/// The requester tried to approve their own plan where four-eyes applies.
pub fn self_approval_message(project: &str, env: &str) -> Reply {
    Reply::refusal(ExitCode::Denied, format!(
        "🚫 You requested this session, and in {env} someone else must approve it (four-eyes rule). Ask a teammate with `approve` on {project}/{env}."
    ))
}

/// A project nobody created: said the same to everyone, whatever their grants (a permission
/// refusal would send them to an admin for a grant that cannot exist). The commands it points at
/// are the ones of the platform the person is on.
pub fn unknown_project_message(project: &str, audience: Platform) -> Reply {
    let text = match audience {
        Platform::Cli => format!(
            "⚠️ Unknown project `{project}`. `cloud projects list` shows the projects; an admin creates one with `cloud projects create {project} --org <org>`."
        ),
        Platform::Discord | Platform::Slack => format!(
            "⚠️ Unknown project `{project}`. `/cloud-projects` lists the projects; an admin creates one with `/cloud-create-project {project} <org>`."
        ),
    };
    Reply::refusal(
        ExitCode::Invalid,
        cloud_domain::input::escape_for_display(&text).into_owned(),
    )
}

/// An environment the configuration does not define.
pub fn unknown_environment_message(env: &str, known: &[&str]) -> Reply {
    bad_input_message(
        "environment",
        &format!("`{env}` is not configured"),
        &format!("Known environments: {}.", known.join(", ")),
    )
}

/// Acknowledgement of an approval (more may be needed), the approvers mentioned the way
/// `audience` shows people (never as raw principals).
pub fn approval_recorded_message(lobby: &LobbyView, audience: Platform) -> Reply {
    if lobby.state == SessionState::PlanReady && lobby.approvals.len() < lobby.approvals_required as usize {
        Reply::ephemeral(format!(
            "👍 Approval recorded ({}). Waiting for {} more.",
            lobby.approvals_text_for(audience),
            approvals_missing(lobby.approvals_required, lobby.approvals.len())
        ))
    } else {
        Reply::ephemeral(format!(
            "👍 Approved. Deploying session `{}`; follow along in the thread.",
            lobby.session.short()
        ))
    }
}

/// Posted in the thread when the apply starts.
pub fn approved_announcement(by: &str, session: SessionId) -> String {
    format!("✅ Approved by {by}. Applying session `{}`…", session.short())
}

/// Posted in the thread when someone asks to cancel a running apply.
pub fn cancel_requested_announcement(by: &str) -> String {
    format!("⏹️ Cancel requested by {by}: in-flight steps finish, nothing new starts.")
}

/// Posted in the lobby channel / thread when a session is cancelled.
pub fn cancelled_announcement(by: &str, session: SessionId) -> String {
    format!("⏹️ Session `{}` cancelled by {by}.", session.short())
}

/// Posted in the thread when the apply failed.
pub fn failed_announcement(summary: &SummaryView) -> String {
    let reason = summary
        .reason
        .as_deref()
        .map(|r| first_line(r, 300))
        .unwrap_or("see the log");
    format!(
        "❌ Session `{}` failed: {reason}. Fix the cause, then start a new session with `/cloud-deploy`.",
        summary.session.short()
    )
}

/// The first reply to /cloud-deploy, before the lobby is posted.
pub fn session_started_message(session: SessionId, project: &str, env: &str) -> Reply {
    Reply::ephemeral(format!(
        "📝 Session `{}` opened for {project}/{env}; planning now. The lobby below shows the plan.",
        session.short()
    ))
}

/// The first reply to /cloud-deploy when other sessions hold some of its stacks: the session
/// exists (DRAFT) and its lobby offers Queue.
pub fn session_busy_message(session: SessionId, project: &str, env: &str, busy: &str) -> Reply {
    Reply::ephemeral(format!(
        "⏳ Session `{}` opened for {project}/{env}, but {busy}. Press **Queue** in the lobby to wait for the stacks, or **Cancel**.",
        session.short()
    ))
}

/// The bot is shutting down and takes no new sessions.
pub fn shutting_down_message() -> Reply {
    Reply::refusal(
        ExitCode::Failed,
        "⏳ The bot is restarting and takes no new sessions right now; try again in a minute.",
    )
}

/// A command argument did not parse (e.g. an unknown stack name).
pub fn bad_input_message(what: &str, problem: &str, hint: &str) -> Reply {
    let text = format!("⚠️ Invalid {what}: {problem}. {hint}");
    Reply::refusal(
        ExitCode::Invalid,
        cloud_domain::input::escape_for_display(&text).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloud_core::engine::{ChangeCounts, StackPreview};
    use cloud_core::store::{ApprovalRow, SessionRecord, StackRow};
    use cloud_domain::session::{Digest, Plan, Platform, StackPlanEntry};

    fn sid() -> SessionId {
        "0b6a3c1e-1f2a-4b5c-8d9e-0123456789ab".parse().unwrap()
    }

    #[test]
    fn button_ids_round_trip_and_fit_in_100_chars() {
        for action in ButtonAction::ALL {
            let id = if action.needs_digest() {
                ButtonId::approve(
                    sid(),
                    "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
                )
            } else {
                ButtonId::new(action, sid())
            };
            let text = id.to_string();
            assert!(text.len() <= MAX_BUTTON_ID_LEN, "{text}");
            assert_eq!(text.parse::<ButtonId>().unwrap(), id);
        }
        assert_eq!(
            ButtonId::approve(sid(), "9f86d081884c7d659a2f").to_string(),
            "cloud:approve:0b6a3c1e-1f2a-4b5c-8d9e-0123456789ab:9f86d081884c7d65"
        );
        assert_eq!(
            ButtonId::new(ButtonAction::Cancel, sid()).to_string(),
            "cloud:cancel:0b6a3c1e-1f2a-4b5c-8d9e-0123456789ab"
        );
    }

    #[test]
    fn malformed_button_ids_are_refused_with_the_reason() {
        let cases = [
            ("other:approve:x", "it does not start with `cloud:`"),
            (
                "cloud:launch:0b6a3c1e-1f2a-4b5c-8d9e-0123456789ab",
                "unknown action `launch`",
            ),
            ("cloud:cancel:not-a-uuid", "the session is not a UUID"),
            (
                "cloud:approve:0b6a3c1e-1f2a-4b5c-8d9e-0123456789ab",
                "an approve button must carry the plan digest",
            ),
            (
                "cloud:approve:0b6a3c1e-1f2a-4b5c-8d9e-0123456789ab:XYZ",
                "the digest must be 16 lowercase hex digits",
            ),
            (
                "cloud:cancel:0b6a3c1e-1f2a-4b5c-8d9e-0123456789ab:9f86d081884c7d65",
                "a cancel button carries no digest",
            ),
            ("cloud", "expected cloud:<action>:<session>[:<digest>]"),
        ];
        for (id, problem) in cases {
            let err = id.parse::<ButtonId>().unwrap_err();
            assert_eq!(err.problem, problem, "{id}");
        }
        let long = format!("cloud:cancel:{}", "a".repeat(100));
        assert_eq!(
            long.parse::<ButtonId>().unwrap_err().problem,
            "longer than 100 characters"
        );
    }

    fn counts(pairs: &[(&str, u64)]) -> ChangeCounts {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn view(state: SessionState) -> SessionView {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let preview = |c: ChangeCounts| StackPreview {
            steps: vec![],
            counts: c,
            diagnostics: vec![],
            duration_ms: 1,
        };
        let plan = Plan {
            engine_version: "3.0.0".into(),
            stacks: vec![
                StackPlanEntry {
                    stack: "network".parse().unwrap(),
                    content_hash: "h1".into(),
                    preview: preview(counts(&[("create", 3)])),
                    provisional: false,
                },
                StackPlanEntry {
                    stack: "dns".parse().unwrap(),
                    content_hash: "h2".into(),
                    preview: preview(counts(&[("update", 1), ("replace", 2)])),
                    provisional: true,
                },
            ],
        };
        let planned = matches!(
            state,
            SessionState::PlanReady | SessionState::Approved | SessionState::Applying | SessionState::Applied
        );
        SessionView {
            session: SessionRecord {
                id: sid(),
                project: "ecommerce".into(),
                env: "prod".into(),
                deployment_id: "D1BRV40".parse().unwrap(),
                requester: Principal::new(Platform::Discord, "111"),
                state,
                operation: Operation::Deploy,
                stacks: vec!["network".parse().unwrap(), "dns".parse().unwrap()],
                plan: planned.then(|| plan.clone()),
                digest: planned
                    .then(|| Digest("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into())),
                approvals_required: 2,
                allow_self_approve: false,
                reason: None,
                follow_up_of: None,
                created_at: t,
                updated_at: t,
                plan_ready_at: None,
                finished_at: (state == SessionState::Applied).then(|| t + chrono::Duration::seconds(252)),
                owner: None,
            },
            locks: vec![],
            queue: None,
            cost: None,
            quota: None,
            stacks: vec![
                StackRow {
                    stack: "network".parse().unwrap(),
                    position: 0,
                    wave: 0,
                    state: StackState::Previewed,
                    counts: counts(&[("create", 3), ("same", 4)]),
                    error: None,
                },
                StackRow {
                    stack: "dns".parse().unwrap(),
                    position: 1,
                    wave: 1,
                    state: StackState::Previewed,
                    counts: counts(&[("update", 1), ("replace", 2)]),
                    error: None,
                },
            ],
            approvals: vec![ApprovalRow {
                approver: Principal::new(Platform::Discord, "222"),
                digest: "9f86d081884c7d65".into(),
                override_reason: None,
                created_at: "2026-01-01T10:01:00Z".into(),
            }],
        }
    }

    #[test]
    fn a_ready_lobby_shows_counts_marks_approvals_and_an_enabled_approve() {
        let extras = LobbyExtras {
            available_stacks: vec![
                "network".parse().unwrap(),
                "dns".parse().unwrap(),
                "storage".parse().unwrap(),
            ],
            cost: Some(CostDelta {
                current_monthly: 100.0,
                planned_monthly: 142.5,
                currency: "USD".into(),
                hours_per_month: 730.0,
                region: "us-east-1".into(),
            }),
            quotas: Some(vec![QuotaBar {
                name: "sessions".into(),
                used: 2.0,
                after: 3.0,
                limit: 5.0,
            }]),
            busy: vec![],
            waiting_for: vec![],
        };
        let lobby = LobbyView::new(&view(SessionState::PlanReady), &extras);
        let approve = lobby.button(ButtonAction::Approve).unwrap();
        assert!(approve.enabled);
        assert_eq!(approve.id.digest.as_deref(), Some("9f86d081884c7d65"));
        let picker = lobby.picker.as_ref().unwrap();
        assert_eq!(picker.options.iter().filter(|o| o.selected).count(), 2);
        insta::assert_snapshot!(lobby.render_text(), @r"
        **Deploy ecommerce/prod (D1BRV40)** — 🟢 PLAN_READY
        Session `0b6a3c1e` · requested by discord:111 · 2 stacks
          ○ network  +3 ~0 -0 ±0  previewed
          ○ dns  +0 ~1 -0 ±2  previewed  (provisional)
        Changes: +3 ~1 -0 ±2 · plan `9f86d081884c7d65`
        Cost: +$42.50/month, +$0.058/hour (now $100.00 → $142.50; us-east-1 prices)
        Quota sessions  ▓▓▓▓▓▓░░░░ 2 → 3 / 5
        Approvals: 1/2 (discord:222)
        [Approve & Deploy] [Refresh] [Cancel]
        ");
    }

    #[test]
    fn approve_is_disabled_with_a_reason_until_ready_and_within_quota() {
        let planning = LobbyView::new(&view(SessionState::Planning), &LobbyExtras::default());
        let approve = planning.button(ButtonAction::Approve).unwrap();
        assert!(!approve.enabled);
        assert_eq!(approve.why_disabled.as_deref(), Some("waiting for the plan"));
        assert!(planning.picker.is_none());

        let over = LobbyExtras {
            quotas: Some(vec![QuotaBar {
                name: "monthly_cost".into(),
                used: 900.0,
                after: 1100.0,
                limit: 1000.0,
            }]),
            ..Default::default()
        };
        let lobby = LobbyView::new(&view(SessionState::PlanReady), &over);
        assert!(!lobby.button(ButtonAction::Approve).unwrap().enabled);
        assert!(lobby.render_text().contains("⚠ over"));

        let busy = LobbyExtras {
            busy: vec![BusyStack {
                stack: "network".parse().unwrap(),
                held_by: SessionId::new(),
            }],
            ..Default::default()
        };
        let lobby = LobbyView::new(&view(SessionState::PlanReady), &busy);
        assert!(!lobby.button(ButtonAction::Approve).unwrap().enabled);
        assert!(lobby.button(ButtonAction::Queue).unwrap().enabled);
        // A draft without locks offers Queue even when its holders cannot be named (the lobby
        // text tells people to press it).
        let mut draft = view(SessionState::Draft);
        draft.locks.clear();
        draft.queue = None;
        let lobby = LobbyView::new(&draft, &LobbyExtras::default());
        assert!(lobby.next_step.contains("**Queue**"), "{}", lobby.next_step);
        assert!(lobby.button(ButtonAction::Queue).unwrap().enabled);

        let done = LobbyView::new(&view(SessionState::Applied), &LobbyExtras::default());
        assert!(done.buttons.is_empty());
    }

    #[test]
    fn summary_and_progress_line_say_how_it_went() {
        let mut v = view(SessionState::Applied);
        v.stacks[0].state = StackState::Applied;
        v.stacks[1].state = StackState::Applied;
        let summary = SummaryView::new(&v);
        insta::assert_snapshot!(summary.render_text(), @r"
        **🎉 ecommerce/prod D1BRV40: applied in 4m 12s**
          ✓ network  +3 ~0 -0 ±0  applied
          ✓ dns  +0 ~1 -0 ±2  applied  (provisional)
        Changes: +3 ~1 -0 ±2
        ");
        assert_eq!(summary.to_batcher_summary().outcome, SessionOutcome::Applied);
        let mut v = view(SessionState::Applying);
        v.stacks[1].state = StackState::Applying;
        v.stacks[0].state = StackState::Applied;
        assert_eq!(session_progress_line(&v), "🚀 APPLYING  1/2 stacks done · running: dns");
    }

    #[test]
    fn a_reply_reads_the_same_in_chat_and_in_the_terminal() {
        let r = Reply::ephemeral("**Quotas** of <@U1>").with_code("a ``` b\n");
        assert_eq!(r.text(), "**Quotas** of <@U1>\n```\na ˋˋˋ b\n```");
        assert_eq!(r.plain(), "Quotas of <@U1>\na ``` b\n");
        assert!(r.as_user_error().is_none());

        let refusal = unknown_project_message("shop", Platform::Cli);
        assert!(refusal.ephemeral && refusal.is_refusal());
        let e = refusal.as_user_error().unwrap();
        assert_eq!(e.code, ExitCode::Invalid);
        assert!(
            e.message.starts_with("Unknown project `shop`. `cloud projects list`"),
            "the CLI gets the text without the chat mark and with its own commands: {}",
            e.message
        );
        assert!(unknown_project_message("shop", Platform::Slack)
            .text()
            .contains("`/cloud-projects`"));

        let alice = Principal::new(Platform::Slack, "U1");
        assert_eq!(who(&alice, Platform::Slack), "<@U1>", "a mention on her own platform");
        assert_eq!(who(&alice, Platform::Discord), "`slack:U1`");
    }

    #[test]
    fn refusals_are_ephemeral_and_say_what_to_do() {
        let r = stale_digest_message(sid(), "aaaaaaaaaaaaaaaa", Some("9f86d081884c7d65"));
        assert!(r.ephemeral);
        assert!(r.text().contains("approve again"));
        assert!(self_approval_message("ecommerce", "prod").ephemeral);
        assert!(user_error_message(&UserError::denied("no")).text().starts_with("🚫"));
        assert!(internal_error_message("abc").text().contains("ref `abc`"));
    }
}
