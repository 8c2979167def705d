//! Plain-text renderings of sessions for the terminal. Chat adapters have their own views; these
//! are the CLI's.

use std::fmt::Write;

use cloud_core::orchestrator::SessionView;
use cloud_core::store::{AuditEntry, SessionRecord};
use cloud_domain::session::{Plan, SessionState};

const OPS: [(&str, &str); 5] = [
    ("create", "+"),
    ("update", "~"),
    ("delete", "-"),
    ("replace", "±"),
    ("same", "="),
];

fn count(counts: &cloud_core::engine::ChangeCounts, op: &str) -> u64 {
    counts.get(op).copied().unwrap_or(0)
}

/// The plan as a table: one row per stack, changes by operation, provisional marks.
pub fn plan_table(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<20} {:>5} {:>5} {:>5} {:>5} {:>5}  note",
        "stack", "+", "~", "-", "±", "="
    );
    for entry in &plan.stacks {
        let c = &entry.preview.counts;
        let _ = write!(out, "  {:<20}", entry.stack.as_str());
        for (op, _) in OPS {
            let _ = write!(out, " {:>5}", count(c, op));
        }
        let note = if entry.provisional {
            "provisional: re-previewed before it applies"
        } else {
            ""
        };
        let _ = writeln!(out, "  {note}");
        for d in entry
            .preview
            .diagnostics
            .iter()
            .filter(|d| d.severity == cloud_core::engine::Severity::Error)
        {
            let _ = writeln!(out, "      error: {}", d.message);
        }
    }
    let total = plan.total_counts();
    let _ = write!(out, "  {:<20}", "total");
    for (op, _) in OPS {
        let _ = write!(out, " {:>5}", count(&total, op));
    }
    let _ = writeln!(out);
    out
}

/// A session header line.
pub fn session_line(s: &SessionRecord) -> String {
    format!(
        "{}  {:<11} {}/{}  {}  by {}  {}",
        s.id.short(),
        s.state.as_str(),
        s.project,
        s.env,
        s.operation,
        s.requester,
        s.created_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// `cloud status <session>`.
pub fn status(view: &SessionView) -> String {
    let s = &view.session;
    let mut out = String::new();
    let _ = writeln!(out, "Session {} ({})", s.id.short(), s.id);
    let _ = writeln!(
        out,
        "  {}/{}  deployment {}  {}  requested by {}",
        s.project, s.env, s.deployment_id, s.operation, s.requester
    );
    let _ = writeln!(out, "  state    {}", s.state);
    if let Some(d) = &s.digest {
        let _ = writeln!(out, "  digest   {}", d.short());
    }
    let current: Vec<_> = view
        .approvals
        .iter()
        .filter(|a| s.digest.as_ref().map(|d| d.0 == a.digest).unwrap_or(false))
        .collect();
    let _ = writeln!(
        out,
        "  approvals {}/{}{}",
        current.len(),
        s.approvals_required,
        if current.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                current
                    .iter()
                    .map(|a| a.approver.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if let Some(reason) = &s.reason {
        let _ = writeln!(out, "  reason   {}", reason.replace('\n', "\n           "));
    }
    if let Some(q) = &view.queue {
        let _ = writeln!(
            out,
            "  queue    position {} (waiting for its stacks since {})",
            q.position,
            &q.enqueued_at[..19.min(q.enqueued_at.len())]
        );
    } else if !s.state.is_terminal() {
        let _ = writeln!(
            out,
            "  locks    {}",
            if view.locks.is_empty() {
                "none held".to_string()
            } else {
                format!("{} stack(s) held", view.locks.len())
            }
        );
    }
    if let Some(parent) = &s.follow_up_of {
        let _ = writeln!(
            out,
            "  follows  session {} (its apply stopped before these stacks)",
            parent.short()
        );
    }
    let _ = writeln!(out, "  stacks:");
    let numbers = wave_numbers(view.stacks.iter().map(|r| r.wave));
    for row in &view.stacks {
        let counts: Vec<String> = OPS
            .iter()
            .filter(|(op, _)| count(&row.counts, op) > 0)
            .map(|(op, sym)| format!("{sym}{}", count(&row.counts, op)))
            .collect();
        // Waves are numbered from 1 in the order they run.
        let _ = writeln!(
            out,
            "    wave {}  {:<20} {:<10} {}",
            numbers.get(&row.wave).map_or(1, |n| n.0),
            row.stack.as_str(),
            row.state.as_str(),
            counts.join(" ")
        );
        if let Some(e) = &row.error {
            let _ = writeln!(out, "             {}", e.lines().next().unwrap_or(""));
        }
    }
    out.push_str(&cost_and_quota(view));
    if let Some(next) = next_step(s) {
        let _ = writeln!(out, "  next     {next}");
    }
    out
}

/// The plan's cost estimate and its quota standing (plan output, `status`).
pub fn cost_and_quota(view: &SessionView) -> String {
    let mut out = String::new();
    if let Some(cost) = &view.cost {
        out.push_str(&cloud_core::policy::cost::render_estimate(cost));
    }
    if let Some(quota) = &view.quota {
        if !quota.projected.is_empty() {
            let _ = writeln!(out, "Quotas of {} after this plan:", view.session.project);
            out.push_str(&cloud_core::policy::quota::render_lines(&quota.projected, "  "));
        }
        let unpriced = view.cost.as_ref().map(|c| c.unpriced().count()).unwrap_or(0);
        let cost_quota = quota
            .projected
            .iter()
            .any(|l| l.key == cloud_core::policy::QuotaKey::MonthlyCost);
        if cost_quota && unpriced > 0 {
            let _ = writeln!(
                out,
                "  note: {unpriced} resource(s) are not priced, so the cost above is a lower bound; add them to the price list"
            );
        }
        if quota.is_over() {
            let _ = writeln!(
                out,
                "OVER QUOTA: {}. This plan cannot be approved unless an admin approves it with an override reason (cloud approve {} --override-reason \"…\").",
                quota.reason(),
                view.session.id.short()
            );
        }
    }
    out
}

/// The session's waves, numbered from 1 in the order they run: `wave 1/2: network`.
pub fn waves(stacks: &[cloud_core::store::StackRow]) -> String {
    let mut by_wave: std::collections::BTreeMap<u32, Vec<&str>> = Default::default();
    for row in stacks {
        by_wave.entry(row.wave).or_default().push(row.stack.as_str());
    }
    let mut out = String::new();
    let total = by_wave.len();
    for (n, (_, names)) in by_wave.into_iter().enumerate() {
        let _ = writeln!(out, "wave {}/{total}: {}", n + 1, names.join(", "));
    }
    out
}

/// Stored wave → (its number from 1, how many waves): the session's distinct waves in the order
/// they run (a destroy stores its waves reversed already). A session of some stacks only counts
/// its own waves: one stack of the deployment's fourth wave is `wave 1/1`, never `wave 4/1`.
pub fn wave_numbers(waves: impl IntoIterator<Item = u32>) -> std::collections::BTreeMap<u32, (u32, u32)> {
    let distinct: std::collections::BTreeSet<u32> = waves.into_iter().collect();
    let total = distinct.len() as u32;
    distinct
        .into_iter()
        .enumerate()
        .map(|(i, w)| (w, (i as u32 + 1, total)))
        .collect()
}

/// `create` → `creating`: how a running step is described.
pub fn verb_ing(op: &str) -> String {
    match op {
        "create" | "create-replacement" => "creating".into(),
        "update" => "updating".into(),
        "delete" | "delete-replaced" => "deleting".into(),
        "replace" => "replacing".into(),
        "same" => "checking".into(),
        "read" => "reading".into(),
        "refresh" => "refreshing".into(),
        "import" => "importing".into(),
        other => format!("{other}ing"),
    }
}

/// What a person can do next with a session.
pub fn next_step(s: &SessionRecord) -> Option<String> {
    let short = s.id.short();
    match s.state {
        SessionState::Draft => Some(format!(
            "cloud refresh {short}  (plan it; if its stacks are busy, `cloud queue {short}` waits for them)"
        )),
        SessionState::PlanReady => Some(format!(
            "cloud approve {short}  (needs {} approval(s){})",
            s.approvals_required,
            if s.allow_self_approve {
                ""
            } else {
                " from someone other than the requester"
            }
        )),
        SessionState::PlanFailed => Some(format!(
            "fix the problem, then cloud refresh {short}; or cloud cancel {short}"
        )),
        SessionState::Approved => Some(format!("cloud apply {short}")),
        SessionState::Planning | SessionState::Applying => Some(format!("cloud logs {short} --follow")),
        SessionState::Applied | SessionState::Failed | SessionState::Cancelled | SessionState::Expired => None,
    }
}

/// `cloud audit`.
pub fn audit(entries: &[AuditEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let _ = writeln!(
            out,
            "#{:<5} {}  {:<24} {:<26} {}{}",
            e.seq,
            &e.at[..19.min(e.at.len())],
            e.actor,
            e.action,
            e.session_id
                .as_deref()
                .map(|s| format!("session {} ", &s[..8]))
                .unwrap_or_default(),
            e.details
        );
    }
    out
}
