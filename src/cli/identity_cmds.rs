//! Verified identities: `cloud tokens create/list/revoke` (API tokens the CLI presents on a
//! shared store) and `cloud people link` (identities of one person, for four-eyes). Each parses,
//! calls one core function with the CLI actor and renders its value.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use secrecy::ExposeSecret;

use super::common::{parse_duration, parse_user, print_json, user};
use crate::app::App;
use cloud_core::orchestrator::TokenParams;
use cloud_core::policy::Role;
use cloud_core::store::TokenRow;
use cloud_domain::error::UserError;

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Create an API token for a person (yourself, or anyone as an admin); it is shown once
    Create(TokenCreateArgs),
    /// Your active tokens (an admin sees everyone's; with --all, revoked and expired ones too)
    List {
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token (yours, or anyone's as an admin)
    Revoke {
        /// The token id (`cloud tokens list` shows it), not the secret
        id: String,
        /// Why (recorded in the audit log)
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Who the token speaks for: a CLI user name (alice), or cli:alice, discord:<id>, slack:<id>
    pub user: String,
    /// The most the token may do: read, deploy, approve or admin (the holder's grants still apply)
    #[arg(long, default_value = "deploy")]
    pub role: String,
    /// Only this project (repeat for several) [default: every project]
    #[arg(long = "project", value_name = "PROJECT")]
    pub projects: Vec<String>,
    /// How long it lives, at most 366d
    #[arg(long = "for", value_name = "DURATION", default_value = "30d")]
    pub for_: String,
    /// A note to tell tokens apart (e.g. "laptop")
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print the token and its details as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PeopleCmd {
    /// Tie identities into one person: four-eyes then counts them as one (admin)
    Link {
        /// The person's name (a-z 0-9 - _ .)
        person: String,
        /// Identities: discord:<id> slack:<id> cli:<name>
        #[arg(required = true)]
        identities: Vec<String>,
    },
}

pub async fn cmd_tokens(app: &App, cmd: TokensCmd) -> anyhow::Result<()> {
    match cmd {
        TokensCmd::Create(args) => {
            let principal = parse_user(&args.user)?;
            let role: Role = args
                .role
                .parse()
                .map_err(|e: cloud_core::policy::UnknownRole| UserError::invalid(e.to_string()))?;
            let ttl = parse_duration(&args.for_, "--for")?;
            let issued = app
                .orchestrator
                .create_token(
                    &app.actor,
                    TokenParams {
                        principal,
                        role,
                        projects: (!args.projects.is_empty()).then_some(args.projects),
                        ttl: Some(ttl),
                        label: args.label,
                    },
                )
                .await
                .map_err(user)?;
            let secret = issued.secret.expose_secret();
            if args.json {
                let mut value = serde_json::to_value(&issued.row)?;
                value["token"] = serde_json::Value::String(secret.to_string());
                return print_json(&value);
            }
            crate::outln!(
                "Token {} for {}: {}",
                issued.row.id,
                issued.row.principal,
                token_scope(&issued.row)
            );
            crate::outln!("{secret}");
            crate::outln!("It is shown once: keep it in CLOUD_TOKEN or in a file only you can read (chmod 600).");
            Ok(())
        }
        TokensCmd::List { all, json } => {
            let rows = app.orchestrator.tokens(&app.actor, all).await.map_err(user)?;
            if json {
                return print_json(&rows);
            }
            let mut out = String::new();
            if rows.is_empty() {
                out.push_str("No tokens.\n");
            }
            for t in &rows {
                let state = if t.revoked_at.is_some() { " (revoked)" } else { "" };
                let _ = writeln!(out, "{}  {}  {}{state}", t.id, t.principal, token_scope(t));
            }
            crate::out!("{out}");
            Ok(())
        }
        TokensCmd::Revoke { id, reason } => {
            let row = app
                .orchestrator
                .revoke_token(&app.actor, &id, &reason)
                .await
                .map_err(user)?;
            crate::outln!("Revoked token {} of {}.", row.id, row.principal);
            Ok(())
        }
    }
}

fn token_scope(t: &TokenRow) -> String {
    let projects = match &t.projects {
        None => "every project".to_string(),
        Some(list) => list.join(", "),
    };
    let label = if t.label.is_empty() {
        String::new()
    } else {
        format!(" [{}]", t.label)
    };
    format!(
        "at most `{}` on {projects}, until {}{label}",
        t.role,
        t.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

pub async fn cmd_people(app: &App, cmd: PeopleCmd) -> anyhow::Result<()> {
    let PeopleCmd::Link { person, identities } = cmd;
    let principals = identities
        .iter()
        .map(|i| parse_user(i))
        .collect::<Result<Vec<_>, _>>()?;
    let links = app
        .orchestrator
        .link_people(&app.actor, &person, &principals)
        .await
        .map_err(user)?;
    let names: Vec<String> = links.iter().map(|l| l.principal.to_string()).collect();
    crate::outln!("{person} is {}: four-eyes counts them as one person.", names.join(", "));
    Ok(())
}
