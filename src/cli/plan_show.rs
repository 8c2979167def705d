//! `cloud plan show --event-log FILE [--json]`: what a recorded engine run did or would do,
//! for people and for scripts, from any Pulumi event log (the real CLI's or the stand-in's) or
//! a `pulumi preview --json` document. Reads the file only: no configuration, database or engine.
//!
//! The reading and counting rules live in [`cloud_pulumi::summary`] and the streaming reader in
//! [`cloud_pulumi::plan_stream`]; this module maps them to the command line. Lines that are not engine events are skipped and logged (a warning
//! on stderr) and reading goes on; an incomplete last event is reported, not fatal.

use std::io::{BufReader, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use cloud_domain::error::UserError;
use cloud_pulumi::plan_stream::{plan_show_stream, PlanStreamError};

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

/// `cloud plan show --event-log FILE [--json]`: streams the file (bounded memory whatever its
/// size, see [`cloud_pulumi::plan_stream`]).
pub fn cmd_plan_show(args: &PlanShowArgs, out: &mut impl Write) -> Result<(), UserError> {
    let shown = args.event_log.display();
    // Big reads: the file is read once, front to back.
    const BUF: usize = 1 << 20;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let out = &mut out;
    let result = if args.event_log.as_os_str() == "-" {
        plan_show_stream(BufReader::with_capacity(BUF, std::io::stdin().lock()), out, args.json)
    } else {
        // A regular file only (a FIFO would block, /dev/zero never ends); no size cap: the reader
        // streams, so its memory does not grow with the file.
        let file = cloud_catalog::input::open_regular(&args.event_log).map_err(|e| {
            UserError::invalid(format!(
                "cannot read {shown}: {e}; pass the file written by `pulumi preview --event-log FILE` (or `pulumi preview --json > FILE`)"
            ))
        })?;
        plan_show_stream(BufReader::with_capacity(BUF, file), out, args.json)
    };
    result.map_err(|e| match e {
        PlanStreamError::Input(e) => UserError::invalid(format!("{shown}: {e}")),
        PlanStreamError::Read(e) if args.event_log.as_os_str() == "-" => {
            UserError::invalid(format!("cannot read standard input: {e}"))
        }
        PlanStreamError::Read(e) => UserError::invalid(format!(
            "cannot read {shown}: {e}; pass the file written by `pulumi preview --event-log FILE` (or `pulumi preview --json > FILE`)"
        )),
        PlanStreamError::Write(e) => UserError::failed(format!("cannot write output: {e}")),
    })
}
