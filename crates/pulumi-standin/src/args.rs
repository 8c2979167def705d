//! The command line: the subset of `pulumi`'s commands and flags the engine adapter uses.
//!
//! Flags the adapter (or Pulumi's Automation API) passes but the stand-in has no use for are
//! accepted and ignored (`--exec-kind`, `--parallel`, ...). Anything else is rejected with exit
//! code 2, like cobra does for the real CLI.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Text appended to `--help`: the knobs that make the stand-in misbehave on purpose.
pub const KNOBS_HELP: &str = "\
This is the cloud-engine Pulumi stand-in: it speaks the subset of the `pulumi` CLI that the engine
adapter uses, against a local (diy) backend, without running any program or touching any cloud.

Required environment:
  PULUMI_BACKEND_URL=file:///<absolute dir>   the local backend (state, locks, history)
  PULUMI_CONFIG_PASSPHRASE[_FILE]             secrets passphrase (an empty string is valid)
  PULUMI_DEBUG_COMMANDS=true|1                needed for --event-log, as with the real CLI

What a stack declares for its configuration: PULUMI_STANDIN_RESOURCES=<file> (a resources JSON), or
else the program's snapshot <program dir>/inspect/<env>.json when the stack's configuration is the
one it records, or else the program evaluated with the stack's configuration by the stacks' offline
inspector (<program dir>/../tools/inspect.ts under node; cached in node_modules/.cache/pulumi-standin)
— <env> is the stack config value `environment` or the last `-`-separated segment of the stack name.
Without node or node_modules the snapshot is used, with a warning naming the values it ignores.

Knobs (environment variables):
  PULUMI_STANDIN_DELAY_MS=<ms>        sleep this long in every resource step
  PULUMI_STANDIN_APPLY_DELAY_MS=<ms>  sleep this long in every resource step of up/destroy/refresh
                                      (previews stay quick)
  PULUMI_STANDIN_OP_DELAY_MS=<ms>     sleep this long once per operation (preview included): every
                                      stack takes a fixed time whatever its resource count
  PULUMI_STANDIN_FAIL_AT=<n>          the n-th custom-resource step (1-based) fails: resOpFailedEvent,
                                      error diagnostic, summary result \"failed\", exit 1
  PULUMI_STANDIN_HOLD_LOCK=<ms>       after taking the stack lock, hold it this long before working
                                      (simulates another process holding the lock)
  PULUMI_STANDIN_HANG=1               hang after the first custom-resource step until SIGINT
  PULUMI_STANDIN_APPLY_GATE=<file>    up/destroy/refresh hold their first custom-resource step,
                                      running (pending operation saved), until <file> exists or
                                      SIGINT; if the parent process dies meanwhile, die with it
                                      and leave lock and state as a crash would
  PULUMI_STANDIN_APPLY_GATE_STACKS=a,b
                                      only updates of these stacks wait at the gate (a stack
                                      name, or <stack> of <deployment>-<stack>-<env>)
  PULUMI_STANDIN_CRASH_AT=<n>         after n custom-resource steps, exit 255 at once mid-step: no
                                      summary, lock and a pending operation left behind
  PULUMI_STANDIN_DISK_FULL_AT=<n>     the n-th custom-resource step cannot save the checkpoint
                                      (no space left on device): exit 255, lock and a pending
                                      operation left behind
  PULUMI_STANDIN_SECRET_OUTPUTS=a,b   these stack outputs are secrets
  PULUMI_STANDIN_PREVIEW_FAIL=<msg>   previews fail with this error diagnostic
  PULUMI_STANDIN_INVOCATION_LOG=<file>
                                      append one line `<pid> <command> <stack>` per process (no
                                      other argument, so no value) — benchmarks count processes";

/// The `pulumi` command line.
#[derive(Debug, Parser)]
#[command(
    name = "pulumi",
    about = "Pulumi stand-in for cloud-engine tests and offline demos",
    after_long_help = KNOBS_HELP,
    disable_version_flag = true
)]
pub struct Cli {
    /// Colorize output: always, never, raw or auto (the stand-in never colors its output).
    #[arg(long, global = true, value_name = "MODE")]
    pub color: Option<String>,
    /// Disable interactive mode (the stand-in is never interactive).
    #[arg(long, global = true)]
    pub non_interactive: bool,
    /// Run pulumi as if it had been started in another directory.
    #[arg(short = 'C', long, global = true, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    #[arg(long, global = true, hide = true)]
    pub emoji: bool,
    #[arg(long, global = true, hide = true)]
    pub logtostderr: bool,
    #[arg(long, global = true, hide = true)]
    pub logflow: bool,
    #[arg(long, global = true, hide = true)]
    pub disable_integrity_checking: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print Pulumi's version number.
    Version,
    /// Manage stacks.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Manage configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show a preview of updates to a stack's resources.
    Preview(PreviewArgs),
    /// Create or update the resources in a stack.
    #[command(alias = "update")]
    Up(ApplyArgs),
    /// Destroy all existing resources in the stack.
    Destroy(ApplyArgs),
    /// Refresh the resources in a stack.
    Refresh(ApplyArgs),
    /// Cancel a stack's currently running update, if any (local backend: delete its lock files).
    Cancel(CancelArgs),
    /// Display the current logged-in user (local backend: the OS user).
    Whoami(WhoamiArgs),
}

/// `pulumi whoami [-v] [-j]`.
#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Print the user, organizations and backend URL.
    #[arg(short, long)]
    pub verbose: bool,
    /// Emit output as JSON.
    #[arg(short, long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Create an empty stack with the given name, ready for updates.
    Init(StackInitArgs),
    /// Switch the current workspace to the given stack.
    Select(StackSelectArgs),
    /// Show a stack's output properties.
    Output(StackOutputArgs),
    /// Export a stack's deployment (its state) to standard out.
    Export(StackExportArgs),
}

#[derive(Debug, Args)]
pub struct StackExportArgs {
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    /// Write to this file instead of standard out.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Accepted for compatibility; secrets stay encrypted in the stand-in's export.
    #[arg(long)]
    pub show_secrets: bool,
}

#[derive(Debug, Args)]
pub struct StackInitArgs {
    /// The stack name (`organization/<project>/<stack>` or `<stack>`).
    pub name: Option<String>,
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    /// Accepted for compatibility; the stand-in always uses the passphrase provider.
    #[arg(long)]
    pub secrets_provider: Option<String>,
    #[arg(long, hide = true)]
    pub no_select: bool,
}

#[derive(Debug, Args)]
pub struct StackSelectArgs {
    pub name: Option<String>,
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    /// Create the stack if it does not exist.
    #[arg(short = 'c', long)]
    pub create: bool,
    #[arg(long)]
    pub secrets_provider: Option<String>,
}

#[derive(Debug, Args)]
pub struct StackOutputArgs {
    /// One output to print; all of them when absent.
    pub property: Option<String>,
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    /// Emit output as JSON.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Display outputs which are marked as secret in plaintext.
    #[arg(long)]
    pub show_secrets: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set configuration value.
    Set(ConfigSetArgs),
    /// Set multiple configuration values: `--plaintext key=value` / `--secret key=value`, as
    /// many as needed, saved in one write of `Pulumi.<stack>.yaml`.
    SetAll(ConfigSetAllArgs),
    /// Get a single configuration value.
    Get(ConfigGetArgs),
}

#[derive(Debug, Args)]
pub struct ConfigSetArgs {
    pub key: String,
    /// The value; read from stdin when absent. Put it after `--`.
    pub value: Option<String>,
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    /// Encrypt the value.
    #[arg(long, conflicts_with = "plaintext")]
    pub secret: bool,
    /// Save the value as plaintext (unencrypted).
    #[arg(long)]
    pub plaintext: bool,
    /// Use this file instead of `Pulumi.<stack>.yaml`.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    #[arg(long)]
    pub path: bool,
}

/// `config set-all`. Like cobra's string arrays, a value may start with `-`
/// (`--plaintext=key=-1` or `--plaintext key=-1`). Plaintext pairs are set first, then secrets,
/// in the order given; the file is written once.
#[derive(Debug, Args)]
pub struct ConfigSetAllArgs {
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    /// Marks a value as plaintext (unencrypted): `key=value`.
    #[arg(long, value_name = "KEY=VALUE", allow_hyphen_values = true, action = clap::ArgAction::Append)]
    pub plaintext: Vec<String>,
    /// Marks a value as secret to be encrypted: `key=value`. Its value is on the command line:
    /// callers that must keep secrets off argv use `config set --secret <key>` with the value
    /// on stdin instead.
    #[arg(long, value_name = "KEY=VALUE", allow_hyphen_values = true, action = clap::ArgAction::Append)]
    pub secret: Vec<String>,
    /// Parse the keys as paths in a map or list (only plain keys are supported by the stand-in).
    #[arg(long)]
    pub path: bool,
    /// Use this file instead of `Pulumi.<stack>.yaml`.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigGetArgs {
    pub key: String,
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    #[arg(short = 'j', long)]
    pub json: bool,
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    #[arg(long)]
    pub path: bool,
}

/// Flags shared by preview, up, destroy and refresh.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// The name of the stack to operate on.
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    /// Log engine events to this file, one JSON object per line. Only with
    /// PULUMI_DEBUG_COMMANDS=true, like the real CLI.
    #[arg(long, hide = true, value_name = "FILE")]
    pub event_log: Option<PathBuf>,
    /// Serialize the preview (preview) or the engine events (up/destroy/refresh) as JSON.
    #[arg(short = 'j', long)]
    pub json: bool,
    /// Display operation as a rich diff showing the overall change.
    #[arg(long)]
    pub diff: bool,
    /// Return an error (exit 7) if any changes occur.
    #[arg(long)]
    pub expect_no_changes: bool,
    /// Use this file instead of `Pulumi.<stack>.yaml`.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Optional message to associate with the operation (ignored).
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Allow P resource operations to run in parallel at once (ignored: the stand-in is serial).
    #[arg(short = 'p', long)]
    pub parallel: Option<i64>,
    /// Suppress display of stack outputs.
    #[arg(long)]
    pub suppress_outputs: bool,
    #[arg(long)]
    pub suppress_progress: bool,
    #[arg(long)]
    pub show_secrets: bool,
    #[arg(long, hide = true)]
    pub exec_kind: Option<String>,
    #[arg(long, hide = true)]
    pub exec_agent: Option<String>,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Refresh the state of the stack's resources before this update (no-op in the stand-in).
    #[arg(short = 'r', long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Automatically approve and perform the operation after previewing it.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Do not calculate a preview before performing the operation.
    #[arg(short = 'f', long)]
    pub skip_preview: bool,
    /// Only show a preview of the operation (destroy, refresh); takes no lock.
    #[arg(long)]
    pub preview_only: bool,
    /// Refresh before the operation (no-op in the stand-in).
    #[arg(short = 'r', long)]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The stack to cancel (positional form).
    pub name: Option<String>,
    #[arg(short = 's', long)]
    pub stack: Option<String>,
    /// Skip confirmation prompts.
    #[arg(short = 'y', long)]
    pub yes: bool,
}
