//! Roles and the intents they allow. `read < deploy < approve < admin`: each role includes the
//! ones below it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Read,
    Deploy,
    Approve,
    Admin,
}

impl Role {
    /// Every role, lowest first (the store's `grants.role` CHECK constraint lists the same names).
    pub const ALL: [Role; 4] = [Role::Read, Role::Deploy, Role::Approve, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Deploy => "deploy",
            Role::Approve => "approve",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: roles are read, deploy, approve and admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// Something a principal asks to do on a project/environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intent {
    /// status, list, logs, quota show
    Read,
    /// open, plan, refresh a session; cancel one's own
    Deploy,
    /// approve someone's plan; cancel someone else's session
    Approve,
    /// approve a plan that is over quota, with a reason
    OverrideQuota,
    /// grant, revoke, set quotas, create projects, admin list/cancel, audit, stats
    Administer,
}

impl Intent {
    pub const ALL: [Intent; 5] = [
        Intent::Read,
        Intent::Deploy,
        Intent::Approve,
        Intent::OverrideQuota,
        Intent::Administer,
    ];

    /// The least role that allows the intent.
    pub fn required_role(self) -> Role {
        match self {
            Intent::Read => Role::Read,
            Intent::Deploy => Role::Deploy,
            Intent::Approve => Role::Approve,
            Intent::OverrideQuota | Intent::Administer => Role::Admin,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Intent::Read => "read sessions of",
            Intent::Deploy => "deploy",
            Intent::Approve => "approve deployments of",
            Intent::OverrideQuota => "override quotas of",
            Intent::Administer => "administer",
        }
    }
}
