//! Transport-neutral chat view models: what a session shows in its chat thread, independent of
//! Discord or Slack. Adapters render these; nothing here imports a chat platform crate.
//!
//! - [`progress`]: the live per-stack progress line (`network  12/30 ▓▓▓▓░░░░░░ 40%  2 updating`).
//! - [`view`]: lobby, button ids, progress line, summary and the `*_message()` reply builders.
//! - [`batcher`]: the output batcher that turns engine progress into rate- and size-limited
//!   [`RenderOp`]s, with a full-log attachment for what chat cannot hold.

pub mod actions;
pub mod batcher;
pub mod progress;
pub mod slack;
pub mod view;

pub use batcher::{
    bench_stream, spawn_batcher, BatchInput, Batcher, BatcherStats, MessageKey, RenderOp, SessionOutcome,
    SessionSummary, SinkLimits, StackEvent, StreamBench,
};
pub use progress::{StackProgress, StackResult};
pub mod discord;
