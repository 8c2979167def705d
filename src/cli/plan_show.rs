//! `cloud plan show --event-log FILE [--json]`: what a recorded engine run did or would do,
//! for people and for scripts, from any Pulumi event log (the real CLI's or the stand-in's) or
//! a `pulumi preview --json` document. Reads the file only: no configuration, database or engine.
//!
//! The reading and counting rules live in [`cloud_pulumi::summary::plan_show`]; this module maps
//! them to the command line. Lines that are not engine events are skipped and logged (a warning
//! on stderr) and reading goes on; an incomplete last event is reported, not fatal.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use cloud_domain::error::UserError;
use cloud_pulumi::summary::plan_show;

/// `cloud plan …` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum PlanCmd {
    /// Summarise an engine event log (or a `pulumi preview --json` document): per stack and in
    /// total the steps by operation, the failed steps and the error diagnostics.
    ///
    /// With --json: {"steps": [{"urn", "type", "op"}, …], "counts": {"create": N, …},
    /// "errors": [{"kind", "message", "urn"?, "type"?, "op"?, "stack"?}, …], "stacks": […]}.
    /// `steps` has one entry per `resourcePreEvent`, in stream order, leaving out Pulumi's
    /// default providers (`pulumi:providers:<pkg>::default…`) as Pulumi's own displays do;
    /// `counts` are the engine's own totals (its summary event) when the stream has them,
    /// otherwise counted from the steps; `errors` are error diagnostics and failed operations.
    /// Exit 0 when the file could be read (whatever the plan says), 2 when it cannot be read or
    /// holds no engine events.
    Show(PlanShowArgs),
}

/// `cloud plan show`
#[derive(Debug, Clone, Args)]
pub struct PlanShowArgs {
    /// The file: `pulumi … --event-log FILE` output (one JSON object per line, or pretty-printed
    /// objects one after another; several stacks may follow each other), or the document
    /// `pulumi preview --json` prints. `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub event_log: PathBuf,
    /// Print JSON for scripts instead of text.
    #[arg(long)]
    pub json: bool,
}

fn io(e: std::io::Error) -> UserError {
    UserError::failed(format!("cannot write output: {e}"))
}

/// `cloud plan show --event-log FILE [--json]`
pub fn cmd_plan_show(args: &PlanShowArgs, out: &mut impl Write) -> Result<(), UserError> {
    let shown = args.event_log.display();
    let text = if args.event_log.as_os_str() == "-" {
        {
            use std::io::Read;
            let mut text = String::new();
            let cap = cloud_catalog::input::cap::EVENT_LOG;
            std::io::stdin()
                .take(cap + 1)
                .read_to_string(&mut text)
                .map_err(|e| UserError::invalid(format!("cannot read standard input: {e}")))?;
            if text.len() as u64 > cap {
                return Err(UserError::invalid(format!(
                    "standard input is larger than the {cap} bytes an event log may have"
                )));
            }
            text
        }
    } else {
        let bytes = cloud_catalog::input::read_bytes(&args.event_log, cloud_catalog::input::cap::EVENT_LOG).map_err(|e| {
            UserError::invalid(format!(
                "cannot read {shown}: {e}; pass the file written by `pulumi preview --event-log FILE` (or `pulumi preview --json > FILE`)"
            ))
        })?;
        // A log cut off inside a multi-byte character is still worth reading.
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    };
    let show = plan_show(&text).map_err(|e| UserError::invalid(format!("{shown}: {e}")))?;
    if args.json {
        let json = serde_json::to_string_pretty(&show.to_json()).map_err(|e| UserError::failed(e.to_string()))?;
        writeln!(out, "{json}").map_err(io)
    } else {
        write!(out, "{}", show.render_text()).map_err(io)
    }
}
