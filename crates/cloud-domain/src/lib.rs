//! The domain of cloud-engine, with no I/O and no async runtime. Every other crate builds on these
//! types; this crate imports none of them.
//!
//! # Public surface
//! Four modules, each re-exporting its types at its root; items only this crate uses are
//! `pub(crate)`.
//!
//! - [`session`]: what a session is and how it moves — [`session::SessionState`] and the one
//!   transition table ([`session::check_transition`]), [`session::Operation`], per-stack
//!   [`session::StackState`], ids and names ([`session::SessionId`], [`session::StackName`], …),
//!   [`session::Principal`]s, and the [`session::Plan`] with its digest;
//! - [`engine`]: what an engine reports about a stack — resource steps, change counts,
//!   diagnostics, configuration values;
//! - [`policy`]: who may do what ([`policy::Role`], [`policy::Intent`]) and within which limits
//!   ([`policy::QuotaKey`], [`policy::QuotaCheck`], cost estimates from a [`policy::Pricing`]);
//! - [`error`]: the errors written for people ([`error::UserError`]) and their exit codes;
//!   [`error_code`]: one stable code per kind of failure, with cause and fix (docs/troubleshooting.md).

pub mod engine;
pub mod error;
pub mod error_code;
pub mod exit;
pub mod input;
pub mod plan_text;
pub mod policy;
pub mod session;
