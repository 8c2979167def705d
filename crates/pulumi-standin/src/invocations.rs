//! `PULUMI_STANDIN_INVOCATION_LOG=<file>`: one line per process, so a benchmark can count the
//! engine processes an operation really started instead of computing them.
//!
//! A line is `<pid> <command> <stack>` — the command path (`config set-all`, `preview`, …) and
//! the `--stack` value, never another argument: values (secrets included) stay out of the log.
//! Each line is one `write(2)` on a file opened with `O_APPEND`, so concurrent processes never
//! interleave their lines.

use std::io::Write;

use crate::args::{Cli, Command, ConfigCommand, StackCommand};

/// The command path and stack of a parsed command line.
fn describe(cli: &Cli) -> (&'static str, Option<&str>) {
    match &cli.command {
        Command::Version => ("version", None),
        Command::Whoami(_) => ("whoami", None),
        Command::Stack(StackCommand::Init(a)) => ("stack init", a.stack.as_deref().or(a.name.as_deref())),
        Command::Stack(StackCommand::Select(a)) => ("stack select", a.stack.as_deref().or(a.name.as_deref())),
        Command::Stack(StackCommand::Output(a)) => ("stack output", a.stack.as_deref()),
        Command::Stack(StackCommand::Export(a)) => ("stack export", a.stack.as_deref()),
        Command::Config(ConfigCommand::Set(a)) => ("config set", a.stack.as_deref()),
        Command::Config(ConfigCommand::SetAll(a)) => ("config set-all", a.stack.as_deref()),
        Command::Config(ConfigCommand::Get(a)) => ("config get", a.stack.as_deref()),
        Command::Preview(a) => ("preview", a.engine.stack.as_deref()),
        Command::Up(a) => ("up", a.engine.stack.as_deref()),
        Command::Destroy(a) if a.preview_only => ("destroy --preview-only", a.engine.stack.as_deref()),
        Command::Destroy(a) => ("destroy", a.engine.stack.as_deref()),
        Command::Refresh(a) => ("refresh", a.engine.stack.as_deref()),
        Command::Cancel(a) => ("cancel", a.stack.as_deref().or(a.name.as_deref())),
    }
}

/// Append this invocation to the log named by `PULUMI_STANDIN_INVOCATION_LOG`, if set.
/// `cli` is `None` when the command line did not parse (the process still ran).
pub fn record(cli: Option<&Cli>) {
    let Some(path) = std::env::var_os("PULUMI_STANDIN_INVOCATION_LOG").filter(|p| !p.is_empty()) else {
        return;
    };
    let (command, stack) = cli.map(describe).unwrap_or(("(unparsed)", None));
    let line = format!("{} {command} {}\n", std::process::id(), stack.unwrap_or("-"));
    // Best effort: counting must never make an engine command fail.
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}
