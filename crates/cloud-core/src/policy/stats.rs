//! Delivery statistics over a window: sessions by state, success rate, median request → APPLIED
//! lead time, top projects and requesters. Aggregated by the store over the window (flat cost:
//! never by loading sessions); the CLI and the chat adapters render the same value.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::SessionStatsRows;
use cloud_domain::session::SessionState;

/// A name with a count (top lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ranked {
    pub name: String,
    pub sessions: u64,
}

/// The statistics of the sessions opened in `[since, until)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub since: chrono::DateTime<chrono::Utc>,
    pub until: chrono::DateTime<chrono::Utc>,
    pub sessions: u64,
    /// Every state, zero included, in the state machine's order.
    pub by_state: BTreeMap<String, u64>,
    /// APPLIED / (APPLIED + FAILED); `None` when nothing finished an apply.
    pub success_rate: Option<f64>,
    /// Median of created → finished over APPLIED sessions, in seconds.
    pub median_lead_time_secs: Option<f64>,
    pub top_projects: Vec<Ranked>,
    pub top_requesters: Vec<Ranked>,
}

/// How many projects and requesters the top lists name.
pub(crate) const TOP: u32 = 5;

fn ranked(rows: Vec<(String, u64)>) -> Vec<Ranked> {
    rows.into_iter()
        .map(|(name, sessions)| Ranked { name, sessions })
        .collect()
}

/// The statistics of the sessions created in `[since, until)`, from the aggregates the store
/// computed over that window (the sessions themselves are never loaded).
pub(crate) fn compute(
    rows: SessionStatsRows,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Stats {
    let mut by_state: BTreeMap<String, u64> = SessionState::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    for (state, n) in &rows.by_state {
        *by_state.entry(state.as_str().to_string()).or_default() += n;
    }
    let sessions = rows.by_state.iter().map(|(_, n)| n).sum();
    let applied = by_state["APPLIED"];
    let failed = by_state["FAILED"];
    let mut lead = rows.lead_times_secs;
    lead.sort_by(|a, b| a.partial_cmp(b).expect("durations are finite"));
    let median = match lead.len() {
        0 => None,
        n if n % 2 == 1 => Some(lead[n / 2]),
        n => Some((lead[n / 2 - 1] + lead[n / 2]) / 2.0),
    };
    Stats {
        since,
        until,
        sessions,
        by_state,
        success_rate: (applied + failed > 0).then(|| applied as f64 / (applied + failed) as f64),
        median_lead_time_secs: median,
        top_projects: ranked(rows.top_projects),
        top_requesters: ranked(rows.top_requesters),
    }
}

/// `cloud stats` as text.
pub fn render(stats: &Stats) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Sessions opened {} – {}: {}",
        stats.since.format("%Y-%m-%d %H:%M"),
        stats.until.format("%Y-%m-%d %H:%M UTC"),
        stats.sessions
    );
    let states: Vec<String> = stats
        .by_state
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "  by state      {}",
        if states.is_empty() {
            "—".into()
        } else {
            states.join(", ")
        }
    );
    let _ = writeln!(
        out,
        "  success rate  {}",
        stats
            .success_rate
            .map(|r| format!("{:.0}% (applied of applied + failed)", r * 100.0))
            .unwrap_or_else(|| "— (no apply finished)".into())
    );
    let _ = writeln!(
        out,
        "  median lead time (request → APPLIED)  {}",
        stats
            .median_lead_time_secs
            .map(|s| humantime::format_duration(std::time::Duration::from_secs(s.round() as u64)).to_string())
            .unwrap_or_else(|| "—".into())
    );
    for (title, list) in [
        ("top projects", &stats.top_projects),
        ("top requesters", &stats.top_requesters),
    ] {
        let items: Vec<String> = list.iter().map(|r| format!("{} ({})", r.name, r.sessions)).collect();
        let _ = writeln!(
            out,
            "  {title:<13} {}",
            if items.is_empty() {
                "—".into()
            } else {
                items.join(", ")
            }
        );
    }
    out
}
