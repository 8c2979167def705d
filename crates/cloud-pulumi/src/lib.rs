//! The Pulumi CLI adapter: [`pulumi::PulumiCli`] implements cloud-core's [`Engine`] port by running
//! the `pulumi` binary (or the project's stand-in, `crates/pulumi-standin`, which speaks the same
//! contract) and tailing its engine-event log.
//!
//! # Public surface
//! What the `cloud` binary (wiring, `cloud plan show`) and cloud-bench use; everything else is
//! `pub(crate)`.
//!
//! * [`pulumi`] — the adapter itself ([`pulumi::PulumiCli`], [`pulumi::PulumiConfig`]);
//! * [`events`] — the engine-event stream: typed events, tolerant reader ([`events::parse_stream`]),
//!   live tailer ([`events::Tailer`]);
//! * [`summary`] — per-stack results from a stream or `preview --json`; `cloud plan show`
//!   ([`summary::plan_show`]);
//! * [`plan_stream`] — `cloud plan show` over a log of any size, in bounded memory
//!   ([`plan_stream::plan_show_stream`]);
//! * [`redact`] — scrubbing known secrets from everything the engine layer emits
//!   ([`redact::Redactor`]).
//!
//! Crate-private: `classify` (exit code + CLI text → [`EngineError`]).

mod classify;
pub mod events;
pub mod plan_stream;
pub mod pulumi;
pub mod redact;
pub mod summary;

use cloud_core::engine::{
    ConfigValue, Engine, EngineError, Progress, ProgressSink, StackApply, StackPreview, StackTarget,
};
