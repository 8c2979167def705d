//! The Pulumi CLI adapter: [`pulumi::PulumiCli`] implements cloud-core's [`Engine`] port by running
//! the `pulumi` binary (or the project's stand-in, which speaks the same contract) and tailing its
//! engine-event log.
//!
//! * [`events`] — the engine-event stream: typed events, tolerant reader, live tailer;
//! * [`summary`] — per-stack results from a stream or `preview --json`; `cloud plan show`;
//! * [`plan_stream`] — `cloud plan show` over a log of any size, in bounded memory;
//! * [`redact`] — scrubbing known secrets from everything the engine layer emits;
//! * [`classify`] — exit code + CLI text → [`EngineError`];
//! * [`pulumi`] — the adapter itself.

pub mod classify;
pub mod events;
pub mod plan_stream;
pub mod pulumi;
pub mod redact;
pub mod summary;

use cloud_core::engine::{
    ConfigValue, Engine, EngineError, Progress, ProgressSink, StackApply, StackPreview, StackTarget,
};
