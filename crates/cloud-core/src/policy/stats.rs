//! Delivery statistics over a window: sessions by state, success rate, median request → APPLIED
//! lead time, top projects and requesters. A pure function of the sessions, so the CLI and the
//! chat adapters render the same value.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::SessionRecord;
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

fn top(counts: BTreeMap<String, u64>, n: usize) -> Vec<Ranked> {
    let mut v: Vec<Ranked> = counts
        .into_iter()
        .map(|(name, sessions)| Ranked { name, sessions })
        .collect();
    v.sort_by(|a, b| b.sessions.cmp(&a.sessions).then_with(|| a.name.cmp(&b.name)));
    v.truncate(n);
    v
}

/// Compute the statistics of `sessions` created in `[since, until)`.
pub(crate) fn compute(
    sessions: &[SessionRecord],
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Stats {
    let window: Vec<&SessionRecord> = sessions
        .iter()
        .filter(|s| s.created_at >= since && s.created_at < until)
        .collect();
    let mut by_state: BTreeMap<String, u64> = SessionState::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    let mut projects: BTreeMap<String, u64> = BTreeMap::new();
    let mut requesters: BTreeMap<String, u64> = BTreeMap::new();
    let mut lead: Vec<f64> = vec![];
    for s in &window {
        *by_state.entry(s.state.as_str().to_string()).or_default() += 1;
        *projects.entry(s.project.clone()).or_default() += 1;
        *requesters.entry(s.requester.to_string()).or_default() += 1;
        if s.state == SessionState::Applied {
            if let Some(done) = s.finished_at {
                lead.push((done - s.created_at).num_milliseconds() as f64 / 1000.0);
            }
        }
    }
    let applied = by_state["APPLIED"];
    let failed = by_state["FAILED"];
    lead.sort_by(|a, b| a.partial_cmp(b).expect("durations are finite"));
    let median = match lead.len() {
        0 => None,
        n if n % 2 == 1 => Some(lead[n / 2]),
        n => Some((lead[n / 2 - 1] + lead[n / 2]) / 2.0),
    };
    Stats {
        since,
        until,
        sessions: window.len() as u64,
        by_state,
        success_rate: (applied + failed > 0).then(|| applied as f64 / (applied + failed) as f64),
        median_lead_time_secs: median,
        top_projects: top(projects, 5),
        top_requesters: top(requesters, 5),
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
