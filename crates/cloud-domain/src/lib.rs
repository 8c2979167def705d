//! The domain of cloud-engine, with no I/O and no async runtime: what a session is and how it
//! moves ([`session`]), what an engine reports about a stack ([`engine`]), who may do what and
//! within which limits ([`policy`]), and the errors written for people ([`error`]).
//!
//! Every other crate builds on these types; this crate imports none of them.

pub mod engine;
pub mod error;
pub mod input;
pub mod policy;
pub mod session;

pub use error::{ExitCode, UserError};
