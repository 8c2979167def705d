//! The Slack app: slash commands, the session lobby as Block Kit with Approve/Cancel/Refresh
//! buttons, live progress in the lobby's thread, over HTTP (Events API) or Socket Mode.
//!
//! Only this module imports `slack_morphism`; it renders the core's views and forwards intents
//! to the orchestrator, holding no business rule of its own.

pub mod commands;
