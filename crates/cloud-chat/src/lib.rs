//! Transport-free chat logic shared by every front end. Nothing here imports a chat platform
//! crate, and the chat adapters (cloud-discord, cloud-slack) import nothing below this crate
//! but cloud-domain: this is their whole surface.
//!
//! - [`actions`]: one function per intent (`deploy`, `click`, `cancel`, `grant`, …). Each checks
//!   in the same order for everyone — the input names something that exists, the gate, the
//!   state — then acts, and answers with one [`view::Reply`] (text blocks, buttons, ephemeral
//!   flag, follow-ups). Adapters parse their input into these calls and render the reply.
//! - [`feed`]: what chat shows of a session as it moves — the events, translated into lobby
//!   redraws, thread streaming and announcements — and the lobby data adapters render.
//! - [`view`]: the transport-neutral models (button ids, lobby, summary, replies and every
//!   refusal text).
//! - [`batcher`]: turns engine progress into rate- and size-limited render operations.
//! - [`thread_out`]: carries those operations into a session thread through the platform's calls
//!   (refused posts kept and posted again, the cursor saved no further than the thread shows).
//! - [`plan_post`]: the plan a thread receives at PLAN_READY (grouped per stack, changed
//!   properties, the whole plan attached when long).
//! - [`progress`]: the live per-stack progress line (`network  12/30 ▓▓▓▓░░░░░░ 40%  2 updating`).
//! - [`text`]: plain-text renderings of sessions for the terminal.
//! - [`tokens`]: `/cloud-token` — a person's own API tokens for the CLI, answered ephemerally.
//! - `turns`: plans a queued session when its turn comes (the Queue button's promise).
//! - [`service`]: the [`Core`] the transports run in (`cloud serve`) and the [`Transport`] trait.

pub mod actions;
pub mod batcher;
pub mod feed;
pub mod plan_post;
pub mod progress;
mod refusal;
pub mod service;
pub mod text;
pub mod thread_out;
pub mod tokens;
mod turns;
pub mod view;

pub use batcher::{
    spawn_batcher, BatchInput, Batcher, BatcherStats, MessageKey, RenderOp, SessionOutcome, SessionSummary, SinkLimits,
    StackEvent,
};
pub use progress::{StackProgress, StackResult};
pub use service::{Core, Transport};

/// Who asks: a principal on a platform and the chat groups (Discord roles, Slack user groups)
/// they belong to, which role mappings turn into roles. Adapters build one per command or click.
pub use cloud_core::policy::Actor;

/// The configuration adapters read: their own section (`slack:`) and the environments.
pub mod config {
    pub use cloud_core::config::{Config, SlackConfig, SlackTransport};
}
