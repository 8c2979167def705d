//! Who is asking: a user on one platform. The core never sees a Discord or Slack type, only this.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The platform a principal comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Cli,
    Discord,
    Slack,
}

impl Platform {
    /// Every platform (the store's `chat_lobbies.platform` CHECK constraint lists the same names).
    pub const ALL: [Platform; 3] = [Platform::Cli, Platform::Discord, Platform::Slack];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Cli => "cli",
            Platform::Discord => "discord",
            Platform::Slack => "slack",
        }
    }
}

/// A user on a platform: `cli:alice`, `discord:80351110224678912`, `slack:U024BE7LH`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Principal {
    pub platform: Platform,
    pub user: String,
}

impl Principal {
    pub fn new(platform: Platform, user: impl Into<String>) -> Self {
        Principal {
            platform,
            user: user.into(),
        }
    }

    pub fn cli(user: impl Into<String>) -> Self {
        Principal::new(Platform::Cli, user)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform.as_str(), self.user)
    }
}

/// A principal written without a known platform or with an empty user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid user `{}`: write it as <platform>:<id> with platform cli, discord or slack (e.g. cli:alice, discord:80351110224678912, slack:U024BE7LH)", crate::input::shown(.0))]
pub struct InvalidPrincipal(pub String);

impl FromStr for Principal {
    type Err = InvalidPrincipal;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (platform, user) = s.split_once(':').ok_or_else(|| InvalidPrincipal(s.into()))?;
        let platform = match platform {
            "cli" => Platform::Cli,
            "discord" => Platform::Discord,
            "slack" => Platform::Slack,
            _ => return Err(InvalidPrincipal(s.into())),
        };
        let valid_user = !user.is_empty()
            && user.len() <= 64
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if !valid_user {
            return Err(InvalidPrincipal(s.into()));
        }
        Ok(Principal::new(platform, user))
    }
}

impl TryFrom<String> for Principal {
    type Error = InvalidPrincipal;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Principal> for String {
    fn from(value: Principal) -> Self {
        value.to_string()
    }
}
