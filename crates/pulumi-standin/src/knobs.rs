//! Test knobs: environment variables that make the stand-in slow, fail, hang or crash on purpose.
//! They are listed in `--help` (see `args::KNOBS_HELP`).
//!
//! Counting rule shared by `FAIL_AT`, `CRASH_AT` and `HANG`: every step of a *custom* resource
//! counts once, in execution order (same, create, update, create-replacement, delete-replaced,
//! delete, refresh). The root stack, default providers, components and the logical `replace`
//! marker do not count.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, StandinError};

#[derive(Debug, Default, Clone)]
pub struct Knobs {
    /// `PULUMI_STANDIN_DELAY_MS`: sleep in every resource step.
    pub delay: Duration,
    /// `PULUMI_STANDIN_APPLY_DELAY_MS`: sleep in every resource step of an update, destroy or
    /// refresh (not of previews): slow applies with quick plans.
    pub apply_delay: Duration,
    /// `PULUMI_STANDIN_OP_DELAY_MS`: sleep once per operation (preview included), so every stack
    /// takes a fixed time whatever its resource count.
    pub op_delay: Duration,
    /// `PULUMI_STANDIN_FAIL_AT`: the n-th counted step fails (update/destroy/refresh only).
    pub fail_at: Option<usize>,
    /// `PULUMI_STANDIN_HOLD_LOCK`: hold the lock this long before doing anything.
    pub hold_lock: Option<Duration>,
    /// `PULUMI_STANDIN_HANG`: wait for SIGINT after the first counted step.
    pub hang: bool,
    /// `PULUMI_STANDIN_APPLY_GATE`: an update holds its first counted step, running, until this
    /// file exists (see `engine::wait_at_gate`).
    pub apply_gate: Option<PathBuf>,
    /// `PULUMI_STANDIN_APPLY_GATE_STACKS`: only updates of these stacks (comma list of names, or
    /// of the `<stack>` part of cloud-engine's `<deployment>-<stack>-<env>`) wait at the gate;
    /// the others run through. Unset: every update waits.
    pub apply_gate_stacks: Option<BTreeSet<String>>,
    /// `PULUMI_STANDIN_CRASH_AT`: die (exit 255) once n counted steps are done.
    pub crash_at: Option<usize>,
    /// `PULUMI_STANDIN_DISK_FULL_AT`: the n-th counted step cannot save the checkpoint (ENOSPC):
    /// Pulumi reports the write error and exits 255 with the lock and a pending operation left.
    pub disk_full_at: Option<usize>,
    /// `PULUMI_STANDIN_SECRET_OUTPUTS`: stack outputs that are secrets.
    pub secret_outputs: BTreeSet<String>,
    /// `PULUMI_STANDIN_PREVIEW_FAIL`: previews fail with this message.
    pub preview_fail: Option<String>,
    /// `PULUMI_STANDIN_RESOURCES`: the resources JSON to use instead of `inspect/<env>.json`.
    pub resources_file: Option<PathBuf>,
}

impl Knobs {
    pub fn from_env() -> Result<Knobs> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let number = |name: &str| -> Result<Option<u64>> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| StandinError::failed(format!("{name} must be a non-negative integer, got '{v}'")))
                })
                .transpose()
        };
        let positive = |name: &str| -> Result<Option<usize>> {
            match number(name)? {
                Some(0) => Err(StandinError::failed(format!("{name} counts from 1"))),
                other => Ok(other.map(|n| n as usize)),
            }
        };
        Ok(Knobs {
            delay: Duration::from_millis(number("PULUMI_STANDIN_DELAY_MS")?.unwrap_or(0)),
            apply_delay: Duration::from_millis(number("PULUMI_STANDIN_APPLY_DELAY_MS")?.unwrap_or(0)),
            op_delay: Duration::from_millis(number("PULUMI_STANDIN_OP_DELAY_MS")?.unwrap_or(0)),
            fail_at: positive("PULUMI_STANDIN_FAIL_AT")?,
            hold_lock: number("PULUMI_STANDIN_HOLD_LOCK")?.map(Duration::from_millis),
            hang: var("PULUMI_STANDIN_HANG").is_some_and(|v| v != "0" && v != "false"),
            apply_gate: var("PULUMI_STANDIN_APPLY_GATE").map(PathBuf::from),
            apply_gate_stacks: var("PULUMI_STANDIN_APPLY_GATE_STACKS").map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }),
            crash_at: positive("PULUMI_STANDIN_CRASH_AT")?,
            disk_full_at: positive("PULUMI_STANDIN_DISK_FULL_AT")?,
            secret_outputs: var("PULUMI_STANDIN_SECRET_OUTPUTS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            preview_fail: var("PULUMI_STANDIN_PREVIEW_FAIL"),
            resources_file: var("PULUMI_STANDIN_RESOURCES").map(PathBuf::from),
        })
    }
}
