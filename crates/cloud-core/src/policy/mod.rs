//! Policy enforcement: the access gate reads grants from the store at the moment of an intent, so
//! Discord, Slack and the CLI get the same answers; the rules themselves (roles, quotas, cost)
//! are cloud-domain's and re-exported here.

mod access;
pub mod stats;

pub use access::{system_clock, Access, AccessError, Actor, Clock, TokenScope};
pub use cloud_domain::policy::*;
