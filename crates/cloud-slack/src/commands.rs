//! Slack slash commands: `/cloud-deploy ecommerce prod`, `/cloud-grant @bob ecommerce approve prod
//! 2h on call`, … parsed from the command's free text into a [`SlashCommand`].
//!
//! Slack hands us one string per command (`text`), unlike Discord's typed options, so each
//! command is a small clap parser over the words of that string. Names and meanings are the same
//! as the Discord commands. A parse error is an ephemeral reply that shows the usage line and
//! how to get help (`/cloud-deploy help`); nothing is changed.

use clap::{Args, CommandFactory, FromArgMatches, Parser};

use cloud_domain::error::UserError;
use cloud_domain::policy::{Role, UnknownRole};

/// Every slash command the app registers (the manifest in docs/slack.md lists the same).
pub const COMMANDS: [&str; 21] = [
    "/cloud-deploy",
    "/cloud-list",
    "/cloud-status",
    "/cloud-quota",
    "/cloud-projects",
    "/cloud-cancel",
    "/cloud-logs",
    "/cloud-grant",
    "/cloud-revoke",
    "/cloud-create-project",
    "/cloud-set-quota",
    "/cloud-admin-list",
    "/cloud-admin-cancel",
    "/cloud-locks",
    "/cloud-stats",
    "/cloud-audit",
    "/cloud-help",
    "/cloud-approve",
    "/cloud-token",
    "/cloud-grants",
    "/cloud-override",
];

/// One parsed slash command: what the person asked for, before any permission check.
#[derive(Debug, Clone, PartialEq)]
pub enum SlashCommand {
    Deploy(DeployArgs),
    List,
    Status {
        session: Option<String>,
    },
    Quota {
        project: String,
    },
    Projects,
    Cancel {
        session: String,
        reason: Option<String>,
    },
    Logs {
        session: String,
    },
    Grant(GrantArgs),
    Revoke {
        grant: String,
        reason: String,
    },
    CreateProject {
        name: String,
        org: String,
        environments: Vec<String>,
        /// `provider:gcp` anywhere in the text; `None`: aws.
        provider: Option<String>,
    },
    SetQuota {
        project: String,
        key: String,
        limit: f64,
    },
    AdminList,
    /// The held stack locks, or (with a lock and a reason) force-release one.
    Locks {
        release: Option<(String, String)>,
    },
    AdminCancel {
        session: String,
        reason: String,
    },
    /// Statistics of the last `days` days (30 by default).
    Stats {
        days: u32,
    },
    Audit {
        session: Option<String>,
    },
    /// `/cloud-approve <session> [digest]`: the typed twin of the Approve button.
    Approve {
        session: String,
        digest: Option<String>,
    },
    /// `/cloud-grants [project]` (admin): the active grants with their ids.
    Grants {
        project: Option<String>,
    },
    /// `/cloud-override <session> <reason…>` (admin): approve over quota, audited.
    Override {
        session: String,
        reason: String,
    },
    /// `/cloud-token …`: the person's own API tokens for the CLI.
    Token(TokenAction),
    /// `help` or `--help` for a command, or `/cloud-help`: the text to show.
    Help(String),
}

/// What `/cloud-token` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAction {
    /// `/cloud-token [create] [--role R] [--project P] [--for D] [--label L]`
    Create {
        role: Option<String>,
        project: Option<String>,
        expires: Option<String>,
        label: Option<String>,
    },
    /// `/cloud-token list`
    List,
    /// `/cloud-token revoke <token-id> <reason…>`
    Revoke { token: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DeployArgs {
    /// The business project (e.g. ecommerce)
    pub project: String,
    /// The environment (dev, stage, prod, …)
    pub env: String,
    /// Only these stacks (space- or comma-separated); default: every enabled stack
    #[arg(value_delimiter = ',')]
    pub stacks: Vec<String>,
    /// `provider:aws|gcp` anywhere in the text: must be the project's provider.
    #[arg(skip)]
    pub provider: Option<String>,
}

/// `/cloud-grant user project role [env] [duration] reason…`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantArgs {
    /// The Slack user id (from `<@U…>` or a bare `U…`).
    pub user: String,
    pub project: String,
    pub role: Role,
    /// An environment or `*` (the default).
    pub env: String,
    pub duration: Option<std::time::Duration>,
    pub reason: String,
}

#[derive(Debug, Parser)]
struct StatusCli {
    /// Session id or its first 8 characters; without it, the active sessions
    session: Option<String>,
}

#[derive(Debug, Parser)]
struct ProjectCli {
    /// The project (e.g. ecommerce)
    project: String,
}

#[derive(Debug, Parser)]
struct NoArgsCli {}

#[derive(Debug, Parser)]
struct SessionCli {
    /// Session id or its first 8 characters
    session: String,
}

#[derive(Debug, Parser)]
struct SessionReasonCli {
    /// Session id or its first 8 characters
    session: String,
    /// Why (recorded in the audit log)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    reason: Vec<String>,
}

#[derive(Debug, Parser)]
struct LocksCli {
    /// Release this lock (a lock key, or a stack name held once); omit to list the locks
    lock: Option<String>,
    /// Why (needed to release; recorded in the audit log)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    reason: Vec<String>,
}

#[derive(Debug, Parser)]
struct DeployCli {
    #[command(flatten)]
    args: DeployArgs,
}

#[derive(Debug, Parser)]
struct GrantCli {
    /// The person: a mention (@bob) or a Slack user id (U024BE7LH)
    user: String,
    /// The project, or `*` for every project
    project: String,
    /// read, deploy, approve or admin
    role: String,
    /// [env] [duration] reason…: an environment (default every one), a duration such as 2h or 3d
    /// (default: no expiry), then why (required)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "[ENV] [DURATION] REASON"
    )]
    rest: Vec<String>,
}

#[derive(Debug, Parser)]
struct RevokeCli {
    /// The grant id (as /cloud-grant printed it)
    grant: String,
    /// Why (required, recorded in the audit log)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    reason: Vec<String>,
}

#[derive(Debug, Parser)]
struct CreateProjectCli {
    /// Project name: lowercase letters, digits and dashes
    name: String,
    /// The owning organisation (e.g. acme-corp)
    org: String,
    /// Environments to enable (comma-separated) [default: dev,stage,prod]
    #[arg(value_delimiter = ',')]
    environments: Vec<String>,
}

#[derive(Debug, Parser)]
struct SetQuotaCli {
    project: String,
    /// What is limited: the keys the quota parser accepts (generated from its list)
    #[arg(help = cloud_domain::policy::quota::quota_key_help())]
    key: String,
    /// The limit (a number)
    limit: f64,
}

#[derive(Debug, Parser)]
struct StatsCli {
    /// Over the last this many days
    #[arg(default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
    days: u32,
}

#[derive(Debug, Parser)]
struct AuditCli {
    /// Only the rows of this session
    session: Option<String>,
}

#[derive(Debug, Parser)]
struct ApproveCli {
    /// Session id or its first 8 characters
    session: String,
    /// The plan digest you reviewed (16 hex digits) [default: the current one]
    digest: Option<String>,
}

#[derive(Debug, Parser)]
struct GrantsCli {
    /// Only this project [default: every project]
    project: Option<String>,
}

#[derive(Debug, Parser)]
struct OverrideCli {
    /// Session id or its first 8 characters
    session: String,
    /// Why the quota may be exceeded (required, recorded in the audit log)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    reason: Vec<String>,
}

#[derive(Debug, Parser)]
struct TokenCli {
    /// create (the default), list, or revoke TOKEN-ID REASON…
    #[arg(value_name = "create|list|revoke")]
    action: Option<String>,
    /// revoke: the token id, then why
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "TOKEN-ID REASON")]
    rest: Vec<String>,
    /// create: the most it may do: read, deploy (default), approve or admin
    #[arg(long)]
    role: Option<String>,
    /// create: only this project [default: every project]
    #[arg(long)]
    project: Option<String>,
    /// create: how long it lives, e.g. 7d [default: 30d, at most 366d]
    #[arg(long = "for", value_name = "DURATION")]
    expires: Option<String>,
    /// create: a note to tell your tokens apart (e.g. laptop)
    #[arg(long)]
    label: Option<String>,
}

/// What each command does, for `/cloud-help` and each parser's `about`.
fn about(command: &str) -> &'static str {
    match command {
        "/cloud-deploy" => "Plan a deployment and open its lobby for approval (`provider:gcp` checks the cloud)",
        "/cloud-list" => "The latest sessions",
        "/cloud-status" => "One session, or the active ones",
        "/cloud-quota" => "A project's quotas",
        "/cloud-projects" => "The projects",
        "/cloud-cancel" => "Cancel a session (a running apply stops gracefully)",
        "/cloud-logs" => "A session's engine output, as a file",
        "/cloud-grant" => "Admin: give someone a role on a project, for a while",
        "/cloud-revoke" => "Admin: revoke a grant",
        "/cloud-create-project" => "Admin: create a project (`provider:gcp` for Google Cloud; default aws)",
        "/cloud-set-quota" => "Admin: set a project quota",
        "/cloud-admin-list" => "Admin: every active session",
        "/cloud-admin-cancel" => "Admin: cancel anyone's session",
        "/cloud-locks" => "Admin: held stack locks; release one with a reason",
        "/cloud-stats" => "Admin: deployment statistics",
        "/cloud-audit" => "Admin: the audit log",
        "/cloud-approve" => "Approve a session's plan (like the Approve button)",
        "/cloud-grants" => "Admin: the active grants with their ids",
        "/cloud-override" => "Admin: approve a plan over quota, with a reason (audited)",
        "/cloud-token" => "Your API token for the CLI (shown once, only to you); list or revoke yours",
        "/cloud-help" => "This list",
        _ => "",
    }
}

/// The help text of every command (for `/cloud-help`).
pub fn overview() -> String {
    let mut out = String::from("*cloud-engine commands* (add `help` to any command for its arguments)\n");
    for c in COMMANDS {
        let usage = clap_command(c)
            .map(|mut cmd| usage_line(&mut cmd))
            .unwrap_or_else(|| c.to_string());
        out.push_str(&format!("• `{usage}` — {}\n", about(c)));
    }
    out
}

fn usage_line(cmd: &mut clap::Command) -> String {
    cmd.render_usage()
        .to_string()
        .trim_start_matches("Usage: ")
        .trim()
        .to_string()
}

fn clap_command(command: &str) -> Option<clap::Command> {
    let command: &'static str = COMMANDS.iter().copied().find(|c| *c == command)?;
    let cmd = match command {
        "/cloud-deploy" => DeployCli::command(),
        "/cloud-list" | "/cloud-projects" | "/cloud-admin-list" | "/cloud-help" => NoArgsCli::command(),
        "/cloud-status" => StatusCli::command(),
        "/cloud-quota" => ProjectCli::command(),
        "/cloud-cancel" | "/cloud-admin-cancel" => SessionReasonCli::command(),
        "/cloud-locks" => LocksCli::command(),
        "/cloud-logs" => SessionCli::command(),
        "/cloud-grant" => GrantCli::command(),
        "/cloud-revoke" => RevokeCli::command(),
        "/cloud-create-project" => CreateProjectCli::command(),
        "/cloud-set-quota" => SetQuotaCli::command(),
        "/cloud-stats" => StatsCli::command(),
        "/cloud-audit" => AuditCli::command(),
        "/cloud-approve" => ApproveCli::command(),
        "/cloud-token" => TokenCli::command(),
        "/cloud-grants" => GrantsCli::command(),
        "/cloud-override" => OverrideCli::command(),
        _ => return None,
    };
    Some(
        cmd.name(command)
            .bin_name(command)
            .about(about(command))
            .no_binary_name(true)
            .disable_help_subcommand(true)
            .disable_version_flag(true)
            .color(clap::ColorChoice::Never)
            .term_width(0),
    )
}

/// Splits a command's text into words. Double or single quotes group words (`"on call"`); Slack
/// turns a mention into `<@U024BE7LH|bob>`, which stays one word.
pub fn words(text: &str) -> Result<Vec<String>, UserError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    // Inside `<…>` (a mention or link Slack escaped), spaces do not split.
    let mut in_angle = false;
    // Slack may send typographic quotes when the client "smartens" them.
    for c in text.chars() {
        if in_angle {
            current.push(c);
            in_angle = c != '>';
            continue;
        }
        match (quote, c) {
            (Some(q), c) if c == q || (q == '"' && c == '”') => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '“' | '”') => {
                quote = Some('"');
                in_word = true;
            }
            (None, '\'') if !in_word => {
                quote = Some('\'');
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (None, c) => {
                in_angle = c == '<' && !in_word;
                current.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(UserError::invalid(
            "a quote is not closed: close it or leave the quotes out",
        ));
    }
    if in_word {
        out.push(current);
    }
    Ok(out)
}

/// A Slack user from a mention `<@U024BE7LH|bob>` / `<@U024BE7LH>` or a bare id `U024BE7LH`.
pub fn user_id(word: &str) -> Result<String, UserError> {
    let inner = word.strip_prefix("<@").and_then(|w| w.strip_suffix('>'));
    let id = match inner {
        Some(inner) => inner.split('|').next().unwrap_or_default(),
        None => word,
    };
    let valid = id.len() >= 3
        && id.len() <= 32
        && (id.starts_with('U') || id.starts_with('W'))
        && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if valid {
        Ok(id.to_string())
    } else {
        Err(UserError::invalid(format!(
            "`{word}` is not a Slack user: mention them (@bob) or give their member id (U024BE7LH, from their profile → ⋮ → Copy member ID)"
        )))
    }
}

/// Parses `command` (e.g. `/cloud-deploy`) with its `text`. `environments` are the configured
/// environment names (so `/cloud-grant` can tell an environment from the first word of a reason).
pub fn parse(command: &str, text: &str, environments: &[String]) -> Result<SlashCommand, UserError> {
    let Some(mut cmd) = clap_command(command) else {
        return Err(UserError::invalid(format!(
            "unknown command `{command}`; `/cloud-help` lists the commands"
        )));
    };
    if command == "/cloud-help" {
        return Ok(SlashCommand::Help(overview()));
    }
    let mut words = words(text)?;
    // `provider:<name>` (deploy, create-project): a keyword token, taken out before the
    // positional arguments are read.
    let mut provider = None;
    if matches!(command, "/cloud-deploy" | "/cloud-create-project") {
        let mut rest = Vec::new();
        for w in words {
            match w.strip_prefix("provider:") {
                Some(value) if provider.is_none() => provider = Some(value.trim().to_string()),
                Some(_) => {
                    return Err(UserError::invalid(format!(
                        "give `provider:` once ({}); `{command} help` shows the arguments",
                        cloud_domain::session::Provider::names()
                    )))
                }
                None => rest.push(w),
            }
        }
        words = rest;
        if let Some(p) = &provider {
            p.parse::<cloud_domain::session::Provider>()
                .map_err(|e| UserError::invalid(e.to_string()))?;
        }
    }
    if matches!(words.first().map(String::as_str), Some("help" | "-h" | "--help")) {
        return Ok(SlashCommand::Help(format!(
            "```{}```",
            cmd.render_long_help().to_string().trim_end()
        )));
    }
    let matches = cmd
        .clone()
        .try_get_matches_from(&words)
        .map_err(|e| arg_error(command, &mut cmd, e))?;
    let map = |e: clap::Error| arg_error(command, &mut cmd.clone(), e);
    let joined = |v: Vec<String>| {
        let s = v.join(" ");
        if s.trim().is_empty() {
            None
        } else {
            Some(s)
        }
    };
    Ok(match command {
        "/cloud-deploy" => {
            let mut args = DeployCli::from_arg_matches(&matches).map_err(map)?.args;
            args.stacks = args
                .stacks
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            args.provider = provider;
            SlashCommand::Deploy(args)
        }
        "/cloud-list" => SlashCommand::List,
        "/cloud-projects" => SlashCommand::Projects,
        "/cloud-admin-list" => SlashCommand::AdminList,
        "/cloud-locks" => {
            let args = LocksCli::from_arg_matches(&matches).map_err(map)?;
            SlashCommand::Locks {
                release: args.lock.map(|lock| (lock, args.reason.join(" "))),
            }
        }
        "/cloud-status" => SlashCommand::Status {
            session: StatusCli::from_arg_matches(&matches).map_err(map)?.session,
        },
        "/cloud-quota" => SlashCommand::Quota {
            project: ProjectCli::from_arg_matches(&matches).map_err(map)?.project,
        },
        "/cloud-cancel" => {
            let c = SessionReasonCli::from_arg_matches(&matches).map_err(map)?;
            SlashCommand::Cancel {
                session: c.session,
                reason: joined(c.reason),
            }
        }
        "/cloud-admin-cancel" => {
            let c = SessionReasonCli::from_arg_matches(&matches).map_err(map)?;
            let reason = joined(c.reason).ok_or_else(|| {
                UserError::invalid(
                    "say why: `/cloud-admin-cancel <session> <reason…>` (the reason goes to the audit log)",
                )
            })?;
            SlashCommand::AdminCancel {
                session: c.session,
                reason,
            }
        }
        "/cloud-logs" => SlashCommand::Logs {
            session: SessionCli::from_arg_matches(&matches).map_err(map)?.session,
        },
        "/cloud-grant" => SlashCommand::Grant(grant(GrantCli::from_arg_matches(&matches).map_err(map)?, environments)?),
        "/cloud-revoke" => {
            let c = RevokeCli::from_arg_matches(&matches).map_err(map)?;
            SlashCommand::Revoke {
                grant: c.grant,
                reason: c.reason.join(" "),
            }
        }
        "/cloud-create-project" => {
            let c = CreateProjectCli::from_arg_matches(&matches).map_err(map)?;
            let environments = if c.environments.is_empty() {
                vec!["dev".into(), "stage".into(), "prod".into()]
            } else {
                c.environments
            };
            SlashCommand::CreateProject {
                name: c.name,
                org: c.org,
                environments,
                provider,
            }
        }
        "/cloud-set-quota" => {
            let c = SetQuotaCli::from_arg_matches(&matches).map_err(map)?;
            if !c.limit.is_finite() || c.limit < 0.0 {
                return Err(UserError::invalid(format!(
                    "the limit must be a number ≥ 0, not `{}`",
                    c.limit
                )));
            }
            SlashCommand::SetQuota {
                project: c.project,
                key: c.key,
                limit: c.limit,
            }
        }
        "/cloud-stats" => SlashCommand::Stats {
            days: StatsCli::from_arg_matches(&matches).map_err(map)?.days,
        },
        "/cloud-audit" => SlashCommand::Audit {
            session: AuditCli::from_arg_matches(&matches).map_err(map)?.session,
        },
        "/cloud-approve" => {
            let c = ApproveCli::from_arg_matches(&matches).map_err(map)?;
            SlashCommand::Approve {
                session: c.session,
                digest: c.digest,
            }
        }
        "/cloud-grants" => SlashCommand::Grants {
            project: GrantsCli::from_arg_matches(&matches).map_err(map)?.project,
        },
        "/cloud-override" => {
            let c = OverrideCli::from_arg_matches(&matches).map_err(map)?;
            SlashCommand::Override {
                session: c.session,
                reason: c.reason.join(" "),
            }
        }
        "/cloud-token" => SlashCommand::Token(token(TokenCli::from_arg_matches(&matches).map_err(map)?)?),
        other => unreachable!("{other} has a parser above"),
    })
}

/// `rest` = `[env] [duration] reason…`: an environment is a configured name or `*`, a duration
/// anything humantime reads (`2h`, `3d`, `90m`).
fn grant(c: GrantCli, environments: &[String]) -> Result<GrantArgs, UserError> {
    let user = user_id(&c.user)?;
    let role: Role = c
        .role
        .parse()
        .map_err(|e: UnknownRole| UserError::invalid(e.to_string()))?;
    let mut rest = c.rest.into_iter().peekable();
    let mut env = "*".to_string();
    if let Some(w) = rest.peek() {
        if w == "*" || environments.iter().any(|e| e == w) {
            env = rest.next().expect("peeked");
        }
    }
    let mut duration = None;
    if let Some(w) = rest.peek() {
        if let Ok(d) = humantime::parse_duration(w) {
            if d.is_zero() {
                return Err(UserError::invalid(
                    "a grant must last longer than 0s (or leave the duration out)",
                ));
            }
            duration = Some(d);
            rest.next();
        }
    }
    let reason = rest.collect::<Vec<_>>().join(" ");
    if reason.trim().is_empty() {
        return Err(UserError::invalid(format!(
            "say why: `/cloud-grant <@user> <project> <role> [env] [duration] <reason…>`, e.g. `/cloud-grant @bob {} {role} prod 2h on call this week` (environments: {})",
            c.project,
            environments.join(", ")
        )));
    }
    Ok(GrantArgs {
        user,
        project: c.project,
        role,
        env,
        duration,
        reason,
    })
}

/// `/cloud-token [create|list|revoke …]`: the options belong to create only.
fn token(c: TokenCli) -> Result<TokenAction, UserError> {
    let has_options = c.role.is_some() || c.project.is_some() || c.expires.is_some() || c.label.is_some();
    match c.action.as_deref().unwrap_or("create") {
        "create" if c.rest.is_empty() => Ok(TokenAction::Create {
            role: c.role,
            project: c.project,
            expires: c.expires,
            label: c.label,
        }),
        "list" if c.rest.is_empty() && !has_options => Ok(TokenAction::List),
        "revoke" if !has_options && c.rest.len() >= 2 => {
            let mut rest = c.rest.into_iter();
            let token = rest.next().expect("two words");
            Ok(TokenAction::Revoke {
                token,
                reason: rest.collect::<Vec<_>>().join(" "),
            })
        }
        "revoke" if !has_options => Err(UserError::invalid(
            "say which token and why: `/cloud-token revoke <token-id> <reason…>` (`/cloud-token list` shows the ids)",
        )),
        "create" | "list" | "revoke" => Err(UserError::invalid(
            "`/cloud-token [--role R] [--project P] [--for 7d] [--label L]` creates a token; `/cloud-token list`; `/cloud-token revoke <token-id> <reason…>`",
        )),
        other => Err(UserError::invalid(format!(
            "unknown action `{}`: use create, list or revoke (`/cloud-token help`)",
            cloud_domain::input::escape_for_display(other)
        ))),
    }
}

/// A clap error as an ephemeral reply: the first line of clap's message, the usage and where to
/// find help.
fn arg_error(command: &str, cmd: &mut clap::Command, e: clap::Error) -> UserError {
    let rendered = e.render().to_string();
    // clap's message is the lines before its own `Usage:` (e.g. "the following required
    // arguments were not provided:" then "  <ENV>"); one line of them reads best in chat.
    let first = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string();
    UserError::invalid(format!("{first}\nusage: `{}`\nmore: `{command} help`", usage_line(cmd)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<String> {
        vec!["dev".into(), "stage".into(), "prod".into()]
    }

    fn ok(command: &str, text: &str) -> SlashCommand {
        parse(command, text, &envs()).unwrap_or_else(|e| panic!("{command} {text}: {e}"))
    }

    fn err(command: &str, text: &str) -> String {
        parse(command, text, &envs()).expect_err("should not parse").message
    }

    #[test]
    fn deploy_takes_project_env_and_optional_stacks() {
        assert_eq!(
            ok("/cloud-deploy", "ecommerce prod"),
            SlashCommand::Deploy(DeployArgs {
                project: "ecommerce".into(),
                env: "prod".into(),
                stacks: vec![],
                provider: None,
            })
        );
        assert_eq!(
            ok("/cloud-deploy", "  ecommerce   dev network,security dns "),
            SlashCommand::Deploy(DeployArgs {
                project: "ecommerce".into(),
                env: "dev".into(),
                stacks: vec!["network".into(), "security".into(), "dns".into()],
                provider: None,
            })
        );
        assert_eq!(
            ok("/cloud-deploy", "shop dev provider:gcp"),
            SlashCommand::Deploy(DeployArgs {
                project: "shop".into(),
                env: "dev".into(),
                stacks: vec![],
                provider: Some("gcp".into()),
            })
        );
        assert!(
            err("/cloud-deploy", "shop dev provider:azure").contains("unknown provider `azure`: use one of aws, gcp")
        );
    }

    #[test]
    fn a_missing_argument_names_it_and_shows_the_usage() {
        insta::assert_snapshot!(err("/cloud-deploy", "ecommerce"), @r"
        the following required arguments were not provided: <ENV>
        usage: `/cloud-deploy <PROJECT> <ENV> [STACKS]...`
        more: `/cloud-deploy help`
        ");
        let text = err("/cloud-cancel", "");
        assert!(text.contains("usage: `/cloud-cancel <SESSION> [REASON]...`"), "{text}");
    }

    #[test]
    fn too_many_arguments_are_refused() {
        let text = err("/cloud-status", "abc def");
        assert!(text.starts_with("unexpected argument 'def' found"), "{text}");
    }

    #[test]
    fn help_shows_the_arguments() {
        let SlashCommand::Help(text) = ok("/cloud-set-quota", "help") else {
            panic!("help expected")
        };
        // Generated from the parser's key list: every key it names is accepted, and no CLI
        // command is suggested.
        for name in cloud_domain::policy::quota::quota_key_names() {
            assert!(text.contains(name), "{name} missing from {text}");
            assert!(name.parse::<cloud_domain::policy::quota::QuotaKey>().is_ok(), "{name}");
        }
        assert!(!text.contains("cloud quota"), "{text}");
        let SlashCommand::Help(text) = ok("/cloud-deploy", "help") else {
            panic!()
        };
        assert!(
            text.contains("Plan a deployment and open its lobby for approval"),
            "{text}"
        );
        assert!(text.contains("<PROJECT>"), "{text}");
        let SlashCommand::Help(all) = ok("/cloud-help", "") else {
            panic!()
        };
        for c in COMMANDS {
            assert!(all.contains(c), "{c} missing from {all}");
        }
    }

    #[test]
    fn grant_reads_optional_env_and_duration_before_the_reason() {
        assert_eq!(
            ok(
                "/cloud-grant",
                "<@U024BE7LH|bob> ecommerce approve prod 2h on call this week"
            ),
            SlashCommand::Grant(GrantArgs {
                user: "U024BE7LH".into(),
                project: "ecommerce".into(),
                role: Role::Approve,
                env: "prod".into(),
                duration: Some(std::time::Duration::from_secs(7200)),
                reason: "on call this week".into(),
            })
        );
        let SlashCommand::Grant(g) = ok("/cloud-grant", "U024BE7LH ecommerce read fixing \"the\" dashboards") else {
            panic!()
        };
        assert_eq!(
            (g.env.as_str(), g.duration, g.reason.as_str()),
            ("*", None, "fixing the dashboards")
        );
        let SlashCommand::Grant(g) = ok("/cloud-grant", "U0BOB1 ecommerce deploy 3d migration") else {
            panic!()
        };
        assert_eq!(
            (g.env.as_str(), g.duration),
            ("*", Some(std::time::Duration::from_secs(3 * 86400)))
        );
    }

    /// docs/slack.md's app manifest registers exactly these commands, and its table names each.
    #[test]
    fn the_manifest_and_the_table_in_the_docs_list_every_command() {
        let doc = include_str!("../../../docs/slack.md");
        let manifest: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- {command: "))
            .filter_map(|l| l.split(',').next())
            .collect();
        let mut expected: Vec<&str> = COMMANDS.to_vec();
        let mut listed = manifest.clone();
        expected.sort();
        listed.sort();
        assert_eq!(listed, expected, "docs/slack.md's manifest vs COMMANDS");
        for c in COMMANDS {
            assert!(
                doc.contains(&format!("| `{c}")) || doc.contains(&format!(", `{c}")),
                "{c} is not in docs/slack.md's table"
            );
        }
    }

    #[test]
    fn token_reads_create_list_and_revoke() {
        assert_eq!(
            ok("/cloud-token", ""),
            SlashCommand::Token(TokenAction::Create {
                role: None,
                project: None,
                expires: None,
                label: None
            })
        );
        assert_eq!(
            ok(
                "/cloud-token",
                "create --role read --project ecommerce --for 7d --label \"my laptop\""
            ),
            SlashCommand::Token(TokenAction::Create {
                role: Some("read".into()),
                project: Some("ecommerce".into()),
                expires: Some("7d".into()),
                label: Some("my laptop".into())
            })
        );
        assert_eq!(ok("/cloud-token", "list"), SlashCommand::Token(TokenAction::List));
        assert_eq!(
            ok("/cloud-token", "revoke T0123456789 lost my laptop"),
            SlashCommand::Token(TokenAction::Revoke {
                token: "T0123456789".into(),
                reason: "lost my laptop".into()
            })
        );
        assert!(err("/cloud-token", "revoke T0123456789").contains("say which token and why"));
        assert!(err("/cloud-token", "list --role read").contains("creates a token"));
        assert!(err("/cloud-token", "rotate").contains("unknown action `rotate`"));
    }

    #[test]
    fn grant_errors_say_what_to_fix() {
        assert!(err("/cloud-grant", "@bob ecommerce approve prod 2h why").contains("is not a Slack user"));
        assert!(err("/cloud-grant", "U0BOB1 ecommerce owner prod why").contains("unknown role `owner`"));
        let text = err("/cloud-grant", "U0BOB1 ecommerce approve prod 2h");
        assert!(text.starts_with("say why:"), "{text}");
    }

    #[test]
    fn words_keep_quoted_reasons_and_mentions_together() {
        assert_eq!(words(r#"a "b c" <@U1|x y>"#).unwrap(), vec!["a", "b c", "<@U1|x y>"]);
        assert_eq!(words("it's fine").unwrap(), vec!["it's", "fine"]);
        assert!(words("\"open").unwrap_err().message.contains("quote is not closed"));
    }

    #[test]
    fn locks_lists_or_releases_one_lock_with_a_reason() {
        assert_eq!(ok("/cloud-locks", ""), SlashCommand::Locks { release: None });
        assert_eq!(
            ok("/cloud-locks", "ecommerce/D1BRV40-network-dev its session is gone"),
            SlashCommand::Locks {
                release: Some(("ecommerce/D1BRV40-network-dev".into(), "its session is gone".into()))
            }
        );
    }

    #[test]
    fn admin_cancel_requires_a_reason_and_set_quota_a_number() {
        assert!(err("/cloud-admin-cancel", "0b6a3c1e").contains("say why"));
        assert_eq!(
            ok("/cloud-admin-cancel", "0b6a3c1e stuck since friday"),
            SlashCommand::AdminCancel {
                session: "0b6a3c1e".into(),
                reason: "stuck since friday".into()
            }
        );
        assert!(err("/cloud-set-quota", "ecommerce monthly_cost lots").contains("invalid value 'lots'"));
        assert!(
            err("/cloud-set-quota", "ecommerce monthly_cost -5").contains("≥ 0")
                || err("/cloud-set-quota", "ecommerce monthly_cost -5").contains("unexpected argument")
        );
    }

    #[test]
    fn an_unknown_command_points_at_help() {
        assert!(err("/cloud-deploi", "x").contains("/cloud-help"));
    }
}
