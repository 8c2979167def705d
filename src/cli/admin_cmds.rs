//! Access and FinOps commands: grant, revoke, grants list, quota set/show, stats, admin
//! list/cancel. Each one parses, calls one core function with the CLI actor, and renders the
//! value it returns; the core checks the role (exit 3 with the missing grant when refused).

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::{Args, Subcommand};

use super::common::{parse_duration, parse_user, print_json, user};
use crate::app::App;
use cloud_core::orchestrator::{GrantExpiry, GrantParams, GrantsFilter};
use cloud_core::policy::{stats, Role};
use cloud_core::store::{GrantRow, SessionFilter};
use cloud_domain::error::UserError;
use cloud_domain::session::SessionState;

#[derive(Debug, Args)]
pub struct GrantArgs {
    /// Who: a CLI user name (alice), or cli:alice, discord:<user id>, slack:<user id>
    pub user: String,
    /// The project (or '*' for every project)
    pub project: String,
    /// read, deploy, approve or admin (each includes the ones before it)
    pub role: String,
    /// Only this environment [default: every environment of the project]
    #[arg(long)]
    pub env: Option<String>,
    /// For this long from now (just-in-time access), e.g. 2h, 30m, 3d
    #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
    pub for_: Option<String>,
    /// Until this time (UTC): 2026-11-24T18:00:00Z, "2026-11-24 18:00" or 2026-11-24
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The grant id (`cloud grants list` shows it)
    pub grant: String,
    /// Why (recorded in the audit log)
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove them (without it, only print what would be removed)
    #[arg(long)]
    pub yes: bool,
    /// Use this retention for both logs and plans instead of the configured `retention.logs` /
    /// `retention.plans` (e.g. 7d; at least 0s)
    #[arg(long)]
    pub older_than: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum GrantsCmd {
    /// Active grants (with --all: revoked and expired ones too)
    List {
        #[arg(long)]
        project: Option<String>,
        /// A CLI user name or <platform>:<id>
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCmd {
    /// Set one limit (cost: monthly, in the price list's currency)
    Set {
        project: String,
        /// The quota key (help generated from the list the parser accepts)
        #[arg(help = cloud_domain::policy::quota::quota_key_help())]
        key: String,
        #[arg(allow_negative_numbers = true)]
        limit: String,
    },
    /// The project's quotas with usage bars
    Show {
        project: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The window: a duration back from now (7d, 24h) or a date (2026-11-01)
    #[arg(long, default_value = "7d")]
    pub since: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Every session of every project, newest first
    List {
        /// Only sessions in this state (e.g. APPLYING)
        #[arg(long)]
        state: Option<String>,
        /// Only non-terminal sessions
        #[arg(long)]
        active: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Cancel anyone's session, with a reason (audited)
    Cancel {
        session: String,
        #[arg(long)]
        reason: String,
    },
}

/// `cloud locks`: who holds which stack, who drives that session and what will release it.
#[derive(Debug, Args)]
pub struct LocksArgs {
    #[command(subcommand)]
    pub cmd: Option<LocksCmd>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LocksCmd {
    /// Release a stack lock whoever holds it (admin; audited). Give the lock key, or a stack
    /// name that matches one held lock
    Release {
        stack_or_key: String,
        #[arg(long)]
        reason: String,
    },
}

pub async fn cmd_locks(app: &App, args: LocksArgs) -> anyhow::Result<()> {
    match args.cmd {
        None => {
            let locks = app.orchestrator.locks().await.map_err(user)?;
            if args.json {
                return print_json(&locks);
            }
            if locks.is_empty() {
                crate::outln!("No stack is locked.");
                return Ok(());
            }
            for l in &locks {
                let driver = match &l.driver {
                    Some(lease) => format!(
                        "driven by {} until {}",
                        lease.owner,
                        lease.expires_at.format("%H:%M:%S")
                    ),
                    None => "no process drives it".to_string(),
                };
                crate::outln!(
                    "{}  session {} ({}, {}; {})\n    {}",
                    l.lock.stack,
                    l.lock.session.short(),
                    l.lock.requester,
                    l.lock.state,
                    driver,
                    l.released_when
                );
            }
            Ok(())
        }
        Some(LocksCmd::Release { stack_or_key, reason }) => {
            let (key, holder) = app
                .orchestrator
                .force_release_lock(&app.actor, &stack_or_key, &reason)
                .await
                .map_err(user)?;
            crate::outln!(
                "Released {key} (held by session {}); recorded in the audit log.",
                holder.short()
            );
            Ok(())
        }
    }
}

/// A moment in UTC: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DD` (midnight).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, UserError> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(UserError::invalid(format!(
        "`{text}` is not a time: write 2026-11-24T18:00:00Z, \"2026-11-24 18:00\" (UTC) or 2026-11-24"
    )))
}

pub async fn cmd_grant(app: &App, args: GrantArgs) -> anyhow::Result<()> {
    let principal = parse_user(&args.user)?;
    let role: Role = args
        .role
        .parse()
        .map_err(|e: cloud_core::policy::UnknownRole| UserError::invalid(e.to_string()))?;
    let expiry = match (&args.for_, &args.until) {
        (Some(d), _) => GrantExpiry::For(parse_duration(d, "--for")?),
        (None, Some(t)) => GrantExpiry::Until(parse_time(t)?),
        (None, None) => GrantExpiry::Never,
    };
    let row = app
        .orchestrator
        .grant(
            &app.actor,
            GrantParams {
                principal,
                project: args.project,
                env: args.env,
                role,
                expiry,
                reason: args.reason,
            },
        )
        .await
        .map_err(user)?;
    if args.json {
        return print_json(&row);
    }
    crate::outln!("Granted {}: {}", row.id, grant_line(&row));
    Ok(())
}

pub async fn cmd_revoke(app: &App, args: RevokeArgs) -> anyhow::Result<()> {
    let row = app
        .orchestrator
        .revoke(&app.actor, &args.grant, &args.reason)
        .await
        .map_err(user)?;
    crate::outln!("Revoked {}: {}", row.id, grant_line(&row));
    Ok(())
}

pub async fn cmd_grants(app: &App, cmd: GrantsCmd) -> anyhow::Result<()> {
    let GrantsCmd::List {
        project,
        user: who,
        all,
        json,
    } = cmd;
    let filter = GrantsFilter {
        principal: who.as_deref().map(parse_user).transpose()?,
        project,
        all,
    };
    let rows = app.orchestrator.grants(&app.actor, &filter).await.map_err(user)?;
    if json {
        return print_json(&rows);
    }
    crate::out!("{}", grants_table(&rows, app.orchestrator.now()));
    Ok(())
}

fn grant_line(g: &GrantRow) -> String {
    let scope = if g.env == "*" {
        g.project.clone()
    } else {
        format!("{}/{}", g.project, g.env)
    };
    let until = g
        .expires_at
        .map(|t| format!("until {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_else(|| "until revoked".into());
    format!(
        "{} is `{}` on {scope} {until} (by {}: {})",
        g.principal, g.role, g.granted_by, g.reason
    )
}

/// `cloud grants list`.
pub fn grants_table(rows: &[GrantRow], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        out.push_str("No grants. An admin gives one with `cloud grant <user> <project> <role> --for 2h --reason …`.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<12} {:<28} {:<20} {:<8} {:<22} reason (granted by)",
        "id", "user", "scope", "role", "expires"
    );
    for g in rows {
        let scope = if g.env == "*" {
            g.project.clone()
        } else {
            format!("{}/{}", g.project, g.env)
        };
        let expires = match (&g.revoked_at, g.expires_at) {
            (Some(_), _) => "revoked".to_string(),
            (None, Some(t)) if t <= now => "expired".to_string(),
            (None, Some(t)) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
            (None, None) => "never".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<12} {:<28} {:<20} {:<8} {:<22} {} ({})",
            g.id,
            g.principal.to_string(),
            scope,
            g.role.as_str(),
            expires,
            g.reason,
            g.granted_by
        );
    }
    out
}

pub async fn cmd_quota(app: &App, cmd: QuotaCmd) -> anyhow::Result<()> {
    match cmd {
        QuotaCmd::Set { project, key, limit } => {
            let value: f64 = limit.trim().parse().map_err(|_| {
                UserError::invalid(format!(
                    "limit `{limit}` is not a number (e.g. 10, or 2500 for a monthly cost)"
                ))
            })?;
            let usage = app
                .orchestrator
                .quota_set(&app.actor, &project, &key, value)
                .await
                .map_err(user)?;
            crate::outln!("Quota set.");
            crate::out!("{}", usage.render());
            Ok(())
        }
        QuotaCmd::Show { project, json: true } => {
            let usage = app.orchestrator.quota_show(&app.actor, &project).await.map_err(user)?;
            print_json(&usage)
        }
        // The same action `/cloud-quota` calls: the same checks in the same order, the same text.
        QuotaCmd::Show { project, json: false } => {
            let core = app.chat_core();
            let actor = app.actor.clone();
            super::print_reply(cloud_chat::actions::quota(&core, &actor, &project).await)
        }
    }
}

pub async fn cmd_stats(app: &App, args: StatsArgs) -> anyhow::Result<()> {
    let now = app.orchestrator.now();
    let since = match parse_duration(&args.since, "--since") {
        Ok(d) => now - chrono::Duration::from_std(d).map_err(|_| UserError::invalid("--since is too far back"))?,
        Err(_) => parse_time(&args.since).map_err(|_| {
            UserError::invalid(format!(
                "--since `{}` is neither a duration (7d, 24h) nor a date (2026-11-01)",
                args.since
            ))
        })?,
    };
    let s = app.orchestrator.stats(&app.actor, since).await.map_err(user)?;
    if args.json {
        return print_json(&s);
    }
    crate::out!("{}", stats::render(&s));
    Ok(())
}

pub async fn cmd_prune(app: &App, args: PruneArgs) -> anyhow::Result<()> {
    let mut retention = app.config.retention;
    if let Some(text) = &args.older_than {
        let d = parse_duration(text, "--older-than")?;
        retention.logs = d;
        retention.plans = d;
    }
    let report = app
        .orchestrator
        .prune(&app.actor, retention, args.yes)
        .await
        .map_err(user)?;
    if args.json {
        return print_json(&report);
    }
    let c = &report.counts;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let verb = if report.dry_run { "Would remove" } else { "Removed" };
    crate::outln!(
        "{verb} {} engine log batch(es) ({:.2} MiB) of sessions that ended before {}, and {} plan document(s) ({:.2} MiB) of sessions that ended before {}.",
        c.log_entries,
        mib(c.log_bytes),
        report.logs_before.format("%Y-%m-%d %H:%M UTC"),
        c.plans,
        mib(c.plan_bytes),
        report.plans_before.format("%Y-%m-%d %H:%M UTC"),
    );
    crate::outln!("Kept: every session, its digest, per-stack results and approvals, the audit trail, and the latest applied plan of each stack.");
    crate::outln!(
        "{} finished session(s) {} {:.1} KB each.",
        report.terminal_sessions,
        if report.dry_run { "take" } else { "now take" },
        report.bytes_per_terminal_session / 1000.0
    );
    if report.dry_run {
        crate::outln!("Nothing was removed (dry run): run `cloud prune --yes` to remove it.");
    }
    Ok(())
}

pub async fn cmd_admin(app: &App, cmd: AdminCmd) -> anyhow::Result<()> {
    match cmd {
        AdminCmd::List {
            state,
            active,
            limit,
            json,
        } => {
            let state = state
                .as_deref()
                .map(str::parse::<SessionState>)
                .transpose()
                .map_err(|e| UserError::invalid(e.to_string()))?;
            let filter = SessionFilter {
                state,
                active,
                limit: Some(limit),
                ..Default::default()
            };
            let sessions = app.orchestrator.admin_list(&app.actor, &filter).await.map_err(user)?;
            super::common::print_sessions(&sessions, json, "No sessions match.")
        }
        AdminCmd::Cancel { session, reason } => {
            let s = app.store.find_session(&session).await.map_err(|e| user(e.into()))?;
            let s = app
                .orchestrator
                .admin_cancel(&app.actor, s.id, &reason)
                .await
                .map_err(user)?;
            if s.state == SessionState::Applying {
                crate::outln!(
                    "Cancel requested for session {}: in-flight steps finish, then it stops.",
                    s.id.short()
                );
            } else {
                crate::outln!(
                    "Session {} is {} (admin cancel by {}).",
                    s.id.short(),
                    s.state,
                    app.principal
                );
            }
            Ok(())
        }
    }
}
