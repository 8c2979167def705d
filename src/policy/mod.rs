//! Policy: roles and grants, four-eyes approval rules, quotas and cost estimates. Enforced in the
//! core, so Discord, Slack and the CLI get the same answers.

mod access;
pub mod cost;
pub mod quota;
mod roles;
pub mod stats;

pub use access::{system_clock, Access, AccessError, Actor, Clock};
pub use cost::{CostEstimate, Pricing, PricingError, StackCost, UnpricedResource};
pub use quota::{QuotaCheck, QuotaKey, QuotaLine, QuotaUsage, QuotaViolation};
pub use roles::{Intent, Role, UnknownRole};
pub use stats::Stats;
