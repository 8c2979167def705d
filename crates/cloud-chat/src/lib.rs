//! Transport-free chat logic shared by every front end: the [`actions`] (one function per intent,
//! gate first, answering with a transport-neutral reply), the [`view`] models (lobby, progress
//! line, summary, reply texts), plain-text renderings ([`text`]), the output [`batcher`] that turns
//! engine progress into rate- and size-limited render operations, and the [`service`] that the
//! chat transports run inside (`cloud serve`). Nothing here imports a chat platform crate.
//!
//! - [`progress`]: the live per-stack progress line (`network  12/30 ▓▓▓▓░░░░░░ 40%  2 updating`).

pub mod actions;
pub mod batcher;
pub mod progress;
pub mod service;
pub mod text;
pub mod view;

pub use batcher::{
    spawn_batcher, BatchInput, Batcher, BatcherStats, MessageKey, RenderOp, SessionOutcome, SessionSummary, SinkLimits,
    StackEvent,
};
pub use progress::{StackProgress, StackResult};
pub use service::{Core, Transport};
