//! Policy: roles and grants, four-eyes approval rules, quotas and cost estimates. Enforced in the
//! core, so Discord, Slack and the CLI get the same answers.

mod access;
mod roles;

pub use access::{system_clock, Access, AccessError, Actor, Clock};
pub use roles::{Intent, Role, UnknownRole};
