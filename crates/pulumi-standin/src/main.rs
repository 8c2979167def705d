//! `pulumi-standin`: a stand-in for the `pulumi` CLI, speaking the contract in
//! `docs/pulumi-contract.md` against a local (diy) backend — same subcommands, flags, texts,
//! event-log lines and exit codes — without running programs or touching any cloud.
//!
//! What a stack declares is the program's own declarations for the stack's configuration (see
//! [`program`]: the committed snapshot when the configuration matches it, else the program run by
//! the stacks' offline inspector), as a resources JSON (see [`resources`]); previews diff that
//! against the state, so a changed config value shows as an update with its diff. Knobs in the
//! environment make it slow, fail, hang, crash or hold its lock on purpose:
//!
//! | variable | effect |
//! |---|---|
//! | `PULUMI_STANDIN_DELAY_MS=<ms>` | sleep in every resource step |
//! | `PULUMI_STANDIN_APPLY_DELAY_MS=<ms>` | sleep in every resource step of up/destroy/refresh |
//! | `PULUMI_STANDIN_OP_DELAY_MS=<ms>` | sleep once per operation (a fixed time per stack) |
//! | `PULUMI_STANDIN_FAIL_AT=<n>` | the n-th custom-resource step fails (exit 1) |
//! | `PULUMI_STANDIN_HOLD_LOCK=<ms>` | hold the stack lock this long before working |
//! | `PULUMI_STANDIN_HANG=1` | hang after the first custom-resource step until SIGINT |
//! | `PULUMI_STANDIN_APPLY_GATE=<file>` | an update holds its first custom-resource step until the file exists |
//! | `PULUMI_STANDIN_CRASH_AT=<n>` | exit 255 after n custom-resource steps, leaving lock and state |
//! | `PULUMI_STANDIN_SECRET_OUTPUTS=a,b` | these stack outputs are secret |
//! | `PULUMI_STANDIN_PREVIEW_FAIL=<msg>` | previews fail with this error |
//! | `PULUMI_STANDIN_RESOURCES=<file>` | the resources JSON to use |
//! | `PULUMI_STANDIN_INVOCATION_LOG=<file>` | append `<pid> <command> <stack>` per process (benchmarks count them) |
//!
//! Required: `PULUMI_BACKEND_URL=file:///<abs dir>`, `PULUMI_CONFIG_PASSPHRASE` (or `_FILE`),
//! and `PULUMI_DEBUG_COMMANDS=true` for `--event-log`.

mod args;
mod backend;
mod commands;
mod engine;
mod error;
mod events;
mod invocations;
mod knobs;
mod lock;
mod operation;
mod output;
mod plan;
mod program;
mod project;
mod resources;
mod secrets;
mod signals;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

use args::{Cli, Command, ConfigCommand, StackCommand};
use commands::Ctx;
use error::{exit, Result, StandinError};
use operation::Operation;

fn main() {
    let parsed = Cli::try_parse();
    invocations::record(parsed.as_ref().ok());
    let code = match parsed {
        Ok(cli) => match dispatch(cli) {
            Ok(()) => exit::SUCCESS,
            Err(StandinError::Reported(code)) => code,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        },
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                exit::SUCCESS
            }
            ErrorKind::UnknownArgument => {
                // cobra's wording, which is what callers of the real CLI match on.
                match e.get(ContextKind::InvalidArg) {
                    Some(ContextValue::String(arg)) => {
                        eprintln!("error: unknown flag: {}", arg.split('=').next().unwrap_or(arg))
                    }
                    _ => eprint!("{}", e.render()),
                }
                exit::USAGE
            }
            _ => {
                eprint!("{}", e.render());
                exit::USAGE
            }
        },
    };
    std::process::exit(code);
}

/// `--event-log` exists only when `PULUMI_DEBUG_COMMANDS` is true, as in the real CLI.
fn check_debug_flags(engine: &args::EngineArgs) -> Result<()> {
    let enabled = std::env::var("PULUMI_DEBUG_COMMANDS")
        .map(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
        .unwrap_or(false);
    if engine.event_log.is_some() && !enabled {
        return Err(StandinError::usage("unknown flag: --event-log"));
    }
    Ok(())
}

fn dispatch(cli: Cli) -> Result<()> {
    let cwd = match &cli.cwd {
        Some(dir) => dir.clone(),
        None => {
            std::env::current_dir().map_err(|e| StandinError::failed(format!("getting the working directory: {e}")))?
        }
    };
    let ctx = Ctx { cwd };
    match cli.command {
        Command::Version => commands::cmd_version(),
        Command::Whoami(a) => commands::cmd_whoami(&a),
        Command::Stack(StackCommand::Init(a)) => {
            commands::cmd_stack_init(&ctx, a.name.as_deref().or(a.stack.as_deref()))
        }
        Command::Stack(StackCommand::Select(a)) => {
            commands::cmd_stack_select(&ctx, a.name.as_deref().or(a.stack.as_deref()), a.create)
        }
        Command::Stack(StackCommand::Output(a)) => commands::cmd_stack_output(&ctx, &a),
        Command::Stack(StackCommand::Export(a)) => commands::cmd_stack_export(&ctx, &a),
        Command::Config(ConfigCommand::Set(a)) => commands::cmd_config_set(&ctx, &a),
        Command::Config(ConfigCommand::SetAll(a)) => commands::cmd_config_set_all(&ctx, &a),
        Command::Config(ConfigCommand::Get(a)) => commands::cmd_config_get(&ctx, &a),
        Command::Preview(a) => {
            check_debug_flags(&a.engine)?;
            commands::cmd_engine(&ctx, Operation::Preview, &a.engine, true)
        }
        Command::Up(a) => apply(&ctx, Operation::Up, &a),
        Command::Destroy(a) => apply(&ctx, Operation::Destroy, &a),
        Command::Refresh(a) => apply(&ctx, Operation::Refresh, &a),
        Command::Cancel(a) => commands::cmd_cancel(&ctx, &a),
    }
}

fn apply(ctx: &Ctx, operation: Operation, args: &args::ApplyArgs) -> Result<()> {
    check_debug_flags(&args.engine)?;
    commands::check_apply_flags(args)?;
    commands::cmd_engine(ctx, operation, &args.engine, args.preview_only)
}
