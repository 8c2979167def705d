//! Per-project quotas: concurrent sessions, resulting resources by type, estimated monthly cost.
//! Usage is a transport-neutral value ([`QuotaUsage`]) that the CLI and the chat adapters render
//! (`vm 8/10 ▓▓▓▓▓▓▓▓░░ 80%`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::UserError;

/// The quota key for concurrent (non-terminal) sessions.
pub(crate) const MAX_CONCURRENT_SESSIONS: &str = "max_concurrent_sessions";
/// The quota key for the estimated monthly cost of the project (all environments).
pub(crate) const MAX_MONTHLY_COST: &str = "max_monthly_cost";

/// Short names people type for common keys. The first name of a key is its label in usage bars;
/// the others are seed 004's names (`compute_vm`, `concurrent_sessions`, …), accepted the same.
/// The parser, its error message and every help text ([`quota_key_help`]) read this one list.
pub(crate) const ALIASES: [(&str, &str); 10] = [
    ("sessions", MAX_CONCURRENT_SESSIONS),
    ("concurrent_sessions", MAX_CONCURRENT_SESSIONS),
    ("cost", MAX_MONTHLY_COST),
    ("monthly_cost", MAX_MONTHLY_COST),
    ("vm", "aws:ec2/instance:Instance"),
    ("compute_vm", "aws:ec2/instance:Instance"),
    ("db", "aws:rds/instance:Instance"),
    ("database_instance", "aws:rds/instance:Instance"),
    ("nat", "aws:ec2/natGateway:NatGateway"),
    ("nat_gateway", "aws:ec2/natGateway:NatGateway"),
];

/// `resources:<type>`: a resource-type quota written the way seed 004 writes it.
const RESOURCES_PREFIX: &str = "resources:";

/// The quota keys a person can type, for help texts and refusals: generated from [`ALIASES`]
/// and the forms the parser accepts, so a help text cannot list a key the parser refuses.
pub fn quota_key_help() -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (alias, key) in ALIASES {
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, names)) => names.push(alias),
            None => groups.push((key, vec![alias])),
        }
    }
    let mut parts: Vec<String> = groups
        .iter()
        .map(|(key, names)| format!("{} ({key})", names.join("/")))
        .collect();
    parts.push(format!(
        "a resource type such as aws:ec2/instance:Instance or gcp:compute/instance:Instance (also {RESOURCES_PREFIX}<type>)"
    ));
    parts.join(", ")
}

/// Every name [`QuotaKey::from_str`] accepts besides resource types (the short help of a chat
/// option, where 100 characters is the limit).
pub fn quota_key_names() -> Vec<&'static str> {
    ALIASES.iter().map(|(a, _)| *a).collect()
}

/// The largest count limit accepted (anything above is a typo, not a limit).
pub(crate) const MAX_COUNT_LIMIT: f64 = 100_000.0;
/// The largest monthly cost limit accepted.
pub(crate) const MAX_COST_LIMIT: f64 = 100_000_000.0;

/// A validated quota key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum QuotaKey {
    ConcurrentSessions,
    MonthlyCost,
    /// Resulting resources of a Pulumi type, e.g. `aws:ec2/instance:Instance`.
    Resources(String),
}

impl QuotaKey {
    pub fn as_str(&self) -> &str {
        match self {
            QuotaKey::ConcurrentSessions => MAX_CONCURRENT_SESSIONS,
            QuotaKey::MonthlyCost => MAX_MONTHLY_COST,
            QuotaKey::Resources(ty) => ty,
        }
    }

    /// The short label shown in usage bars (`vm`, `sessions`, or the type's last part).
    pub(crate) fn label(&self) -> String {
        let key = self.as_str();
        if let Some((alias, _)) = ALIASES.iter().find(|(_, k)| *k == key) {
            return alias.to_string();
        }
        key.to_string()
    }

    /// Parse and check a limit for this key: a count is a whole number 0..=100000, a cost a
    /// number 0..=100000000.
    pub fn check_limit(&self, limit: f64) -> Result<f64, UserError> {
        if !limit.is_finite() || limit < 0.0 {
            return Err(UserError::invalid(format!(
                "limit {limit} for {} must be a number ≥ 0",
                self.as_str()
            )));
        }
        match self {
            QuotaKey::MonthlyCost if limit > MAX_COST_LIMIT => Err(UserError::invalid(format!(
                "limit {limit} for {MAX_MONTHLY_COST} is absurd (at most {MAX_COST_LIMIT})"
            ))),
            QuotaKey::MonthlyCost => Ok(limit),
            _ if limit.fract() != 0.0 => Err(UserError::invalid(format!(
                "limit {limit} for {} must be a whole number",
                self.as_str()
            ))),
            _ if limit > MAX_COUNT_LIMIT => Err(UserError::invalid(format!(
                "limit {limit} for {} is absurd (at most {MAX_COUNT_LIMIT})",
                self.as_str()
            ))),
            _ => Ok(limit),
        }
    }
}

impl fmt::Display for QuotaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<QuotaKey> for String {
    fn from(k: QuotaKey) -> String {
        k.as_str().to_string()
    }
}

impl TryFrom<String> for QuotaKey {
    type Error = UserError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl std::str::FromStr for QuotaKey {
    type Err = UserError;
    /// A name of [`ALIASES`], the long names, or a Pulumi type `<package>:<module>/<name>:<Type>`
    /// (optionally written `resources:<type>`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let key = ALIASES.iter().find(|(a, _)| *a == s).map(|(_, k)| *k).unwrap_or(s);
        let key = key.strip_prefix(RESOURCES_PREFIX).unwrap_or(key);
        match key {
            MAX_CONCURRENT_SESSIONS => Ok(QuotaKey::ConcurrentSessions),
            MAX_MONTHLY_COST => Ok(QuotaKey::MonthlyCost),
            ty if is_resource_type(ty) => Ok(QuotaKey::Resources(ty.to_string())),
            _ => Err(UserError::invalid(format!(
                "unknown quota key `{s}`: use {}",
                quota_key_help()
            ))),
        }
    }
}

/// `pkg:module/name:Type` (or `pkg:module:Type`).
fn is_resource_type(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[0]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && parts[2].chars().next().map(char::is_uppercase).unwrap_or(false)
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '-' | '_' | '.'))
}

/// One quota with its usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaLine {
    pub key: QuotaKey,
    pub label: String,
    pub used: f64,
    pub limit: f64,
}

impl QuotaLine {
    pub fn new(key: QuotaKey, used: f64, limit: f64) -> QuotaLine {
        QuotaLine {
            label: key.label(),
            key,
            used,
            limit,
        }
    }

    /// Usage in percent of the limit (a zero limit used at all is 100%+).
    pub(crate) fn percent(&self) -> f64 {
        if self.limit > 0.0 {
            self.used / self.limit * 100.0
        } else if self.used > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    }

    pub(crate) fn is_over(&self) -> bool {
        self.used > self.limit
    }

    /// A bar of `width` cells: `▓` used, `░` free (full when at or over the limit).
    pub(crate) fn bar(&self, width: usize) -> String {
        let filled = if self.limit > 0.0 {
            ((self.used / self.limit) * width as f64)
                .round()
                .clamp(0.0, width as f64) as usize
        } else if self.used > 0.0 {
            width
        } else {
            0
        };
        format!("{}{}", "▓".repeat(filled), "░".repeat(width - filled))
    }

    fn amount(&self, v: f64) -> String {
        match self.key {
            QuotaKey::MonthlyCost => super::cost::money(v),
            _ => format!("{v}"),
        }
    }

    /// `vm 8/10 ▓▓▓▓▓▓▓▓░░ 80%` (and ` OVER` past the limit).
    pub fn render(&self) -> String {
        let pct = self.percent();
        let pct_text = if pct.is_finite() {
            format!("{:.0}%", pct)
        } else {
            "∞".into()
        };
        format!(
            "{} {}/{} {} {}{}",
            self.label,
            self.amount(self.used),
            self.amount(self.limit),
            self.bar(10),
            pct_text,
            if self.is_over() { " OVER" } else { "" }
        )
    }
}

/// A project's quotas and current usage (`cloud quota show`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaUsage {
    pub project: String,
    pub lines: Vec<QuotaLine>,
    /// What the usage counts: the resources of the latest applied plan of every stack and
    /// environment, and the non-terminal sessions.
    pub basis: String,
}

impl QuotaUsage {
    pub fn render(&self) -> String {
        let mut out = format!("Quotas of {}:\n", self.project);
        if self.lines.is_empty() {
            out.push_str(&format!(
                "  no quotas set; an admin sets one with `cloud quota set {} <key> <limit>`\n",
                self.project
            ));
        }
        out.push_str(&render_lines(&self.lines, "  "));
        out
    }
}

/// Quota lines, labels padded to one width, each line starting with `indent`.
pub fn render_lines(lines: &[QuotaLine], indent: &str) -> String {
    let width = lines.iter().map(|l| l.label.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for line in lines {
        let text = line.render();
        let rest = &text[line.label.len()..];
        out.push_str(&format!("{indent}{:<width$}{rest}\n", line.label));
    }
    out
}

/// One quota a plan would exceed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaViolation {
    pub key: QuotaKey,
    pub label: String,
    /// Usage after the plan.
    pub projected: f64,
    pub limit: f64,
}

impl fmt::Display for QuotaViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            QuotaKey::MonthlyCost => write!(
                f,
                "estimated monthly cost {} would exceed the limit {}",
                super::cost::money(self.projected),
                super::cost::money(self.limit)
            ),
            _ => write!(f, "{} would be {} (limit {})", self.label, self.projected, self.limit),
        }
    }
}

/// How a plan stands against the project's quotas (shown in the lobby and on `status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaCheck {
    /// Each resource/cost quota with the usage it would have after the plan.
    pub projected: Vec<QuotaLine>,
    /// The same quotas with today's usage (before the plan), in the same order.
    #[serde(default)]
    pub current: Vec<QuotaLine>,
    pub violations: Vec<QuotaViolation>,
}

impl QuotaCheck {
    pub fn is_over(&self) -> bool {
        !self.violations.is_empty()
    }

    /// One line per violation.
    pub fn reason(&self) -> String {
        self.violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Compare projected usage (resources by type, monthly cost) with the limits.
pub fn check_projection(
    limits: &BTreeMap<QuotaKey, f64>,
    resources: &BTreeMap<String, u64>,
    monthly_cost: f64,
) -> QuotaCheck {
    let mut projected = vec![];
    let mut violations = vec![];
    for (key, limit) in limits {
        let used = match key {
            QuotaKey::ConcurrentSessions => continue,
            QuotaKey::MonthlyCost => (monthly_cost * 100.0).round() / 100.0,
            QuotaKey::Resources(ty) => resources.get(ty).copied().unwrap_or(0) as f64,
        };
        let line = QuotaLine::new(key.clone(), used, *limit);
        if line.is_over() {
            violations.push(QuotaViolation {
                key: key.clone(),
                label: line.label.clone(),
                projected: used,
                limit: *limit,
            });
        }
        projected.push(line);
    }
    QuotaCheck {
        projected,
        current: vec![],
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_render_like_the_issue_says() {
        let line = QuotaLine::new("vm".parse().unwrap(), 8.0, 10.0);
        assert_eq!(line.render(), "vm 8/10 ▓▓▓▓▓▓▓▓░░ 80%");
        let over = QuotaLine::new("cost".parse().unwrap(), 1200.0, 1000.0);
        assert_eq!(over.render(), "cost $1200.00/$1000.00 ▓▓▓▓▓▓▓▓▓▓ 120% OVER");
        let zero = QuotaLine::new("nat".parse().unwrap(), 0.0, 0.0);
        assert_eq!(zero.render(), "nat 0/0 ░░░░░░░░░░ 0%");
    }

    #[test]
    fn keys_and_limits_are_checked() {
        assert_eq!(
            "vm".parse::<QuotaKey>().unwrap(),
            QuotaKey::Resources("aws:ec2/instance:Instance".into())
        );
        assert_eq!(
            "aws:eks/cluster:Cluster".parse::<QuotaKey>().unwrap().label(),
            "aws:eks/cluster:Cluster"
        );
        assert!("vms"
            .parse::<QuotaKey>()
            .unwrap_err()
            .message
            .contains("unknown quota key `vms`"));
        let vm: QuotaKey = "vm".parse().unwrap();
        assert!(vm.check_limit(-1.0).unwrap_err().message.contains("≥ 0"));
        assert!(vm.check_limit(2.5).unwrap_err().message.contains("whole number"));
        assert!(vm.check_limit(1e9).unwrap_err().message.contains("absurd"));
        assert_eq!(QuotaKey::MonthlyCost.check_limit(1234.5).unwrap(), 1234.5);
    }

    #[test]
    fn seed_004_names_are_aliases_and_the_help_lists_only_what_parses() {
        for (typed, key) in [
            ("compute_vm", "aws:ec2/instance:Instance"),
            ("concurrent_sessions", MAX_CONCURRENT_SESSIONS),
            ("monthly_cost", MAX_MONTHLY_COST),
            ("database_instance", "aws:rds/instance:Instance"),
            ("nat_gateway", "aws:ec2/natGateway:NatGateway"),
            (
                "resources:gcp:compute/instance:Instance",
                "gcp:compute/instance:Instance",
            ),
        ] {
            assert_eq!(typed.parse::<QuotaKey>().unwrap().as_str(), key, "{typed}");
        }
        // Labels stay the short names.
        assert_eq!("compute_vm".parse::<QuotaKey>().unwrap().label(), "vm");
        let help = quota_key_help();
        for name in quota_key_names() {
            assert!(help.contains(name), "{name} missing from {help}");
            assert!(name.parse::<QuotaKey>().is_ok(), "{name} is in the help but refused");
        }
        let err = "cpus".parse::<QuotaKey>().unwrap_err().message;
        assert!(err.contains("compute_vm"), "{err}");
        assert!("resources:".parse::<QuotaKey>().is_err());
    }
}
