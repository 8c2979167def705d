//! Policy rules: roles and intents, quota keys and checks, cost estimates from a price list.
//! Enforcement (reading grants from the store at the moment of an intent) lives in cloud-core.

pub mod cost;
pub mod quota;
mod roles;

pub use cost::{CostEstimate, Pricing, PricingError, StackCost, UnpricedResource};
pub use quota::{QuotaCheck, QuotaKey, QuotaLine, QuotaUsage, QuotaViolation};
pub use roles::{Intent, Role, UnknownRole};
