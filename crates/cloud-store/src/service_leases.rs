//! Leader leases of `cloud serve` replicas (issue 15.7): a named role — the Discord gateway
//! connection, the Slack Socket Mode connection — that one replica at a time holds.
//!
//! Same rules as session leases ([`crate::leases`]): the holder renews its row before it
//! expires; an expired row, or one whose owner provably died on this host
//! ([`crate::lease_owner_is_gone`]), is claimed by another replica, which gets a bigger token.

use serde::Serialize;

/// The role `cloud serve --discord` must hold to open the Discord gateway connection (Discord
/// sends each interaction to one connection of a bot: two replicas connected would split them,
/// and each would register commands and answer on its own).
pub const DISCORD_GATEWAY: &str = "discord-gateway";

/// The role for Slack's Socket Mode connection (Slack's HTTP Events go to any replica).
pub const SLACK_SOCKET: &str = "slack-socket";

/// One leader lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceLease {
    /// The role (`discord-gateway`, `slack-socket`).
    pub name: String,
    /// The holder, as made by [`lease_owner`](crate::owner::lease_owner).
    pub owner: String,
    /// Grows by one at every claim by another owner.
    pub token: i64,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// A `service_leases` row as stored.
#[derive(Debug, Clone)]
pub struct StoredServiceLease {
    pub name: String,
    pub owner: String,
    pub token: i64,
    pub expires_at: String,
}

impl TryFrom<StoredServiceLease> for ServiceLease {
    type Error = crate::StoreError;

    fn try_from(row: StoredServiceLease) -> crate::StoreResult<ServiceLease> {
        let at = format!("leader lease {}", row.name);
        Ok(ServiceLease {
            expires_at: crate::time::parse_time(&format!("{at}: column expires_at"), &row.expires_at)?,
            name: row.name,
            owner: row.owner,
            token: row.token,
        })
    }
}
