//! Identifier newtypes, so a session id is never passed where a deployment id is expected.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An identifier that does not have the required shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{}`: {expected}", crate::input::shown(.value))]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// A session's id: a UUID, shown shortened (first 8 hex digits) where people read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub Uuid);

impl SessionId {
    pub fn new() -> Self {
        SessionId(Uuid::new_v4())
    }

    /// The first 8 hex digits — what chat and the CLI show; accepted back as a prefix.
    pub fn short(&self) -> String {
        self.0.simple().to_string()[..8].to_string()
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SessionId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(SessionId).map_err(|_| InvalidId {
            what: "session id",
            value: s.to_string(),
            expected: "a UUID such as 0b6a3c1e-…, or its first 8 hex digits where a prefix is accepted",
        })
    }
}

/// `D` + 6 characters of uppercase base36, e.g. `D1BRV40`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeploymentId(String);

const BASE36: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

impl DeploymentId {
    /// A fresh random id. Uniqueness against existing deployments is the caller's check.
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let tail: String = (0..6).map(|_| BASE36[rng.gen_range(0..BASE36.len())] as char).collect();
        DeploymentId(format!("D{tail}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DeploymentId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok =
            s.len() == 7 && s.starts_with('D') && s[1..].bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if ok {
            Ok(DeploymentId(s.to_string()))
        } else {
            Err(InvalidId {
                what: "deployment id",
                value: s.to_string(),
                expected: "`D` followed by 6 uppercase base36 characters, e.g. D1BRV40",
            })
        }
    }
}

impl TryFrom<String> for DeploymentId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<DeploymentId> for String {
    fn from(value: DeploymentId) -> Self {
        value.0
    }
}

/// The name of one stack program under `stacks/` (e.g. `network`, `database-rds`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StackName(String);

impl StackName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StackName {
    type Err = InvalidId;

    /// Lowercase letters, digits and inner dashes, 1–40 characters: short enough that
    /// `<deployment-id>-<stack>-<env>` stays a valid Pulumi stack name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && s.as_bytes()[0].is_ascii_lowercase();
        if ok {
            Ok(StackName(s.to_string()))
        } else {
            Err(InvalidId {
                what: "stack name",
                value: s.to_string(),
                expected: "1-40 lowercase letters, digits and inner dashes, starting with a letter (e.g. database-rds)",
            })
        }
    }
}

impl TryFrom<String> for StackName {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<StackName> for String {
    fn from(value: StackName) -> Self {
        value.0
    }
}

/// The Pulumi stack a (deployment, stack, environment) maps to: `<deployment-id>-<stack>-<env>`,
/// qualified as `<org>/<project>/<that>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FullStackName {
    pub org: String,
    pub project: String,
    pub deployment: DeploymentId,
    pub stack: StackName,
    pub env: String,
}

impl FullStackName {
    /// `D1BRV40-network-dev`
    pub fn pulumi_stack(&self) -> String {
        format!("{}-{}-{}", self.deployment, self.stack, self.env)
    }

    /// `<org>/<project>/D1BRV40-network-dev` — what `--stack` and StackReferences take.
    pub fn qualified(&self) -> String {
        format!("{}/{}/{}", self.org, self.project, self.pulumi_stack())
    }
}

impl fmt::Display for FullStackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.qualified())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_ids_have_the_decided_shape() {
        for _ in 0..200 {
            let id = DeploymentId::generate();
            assert_eq!(id.as_str().parse::<DeploymentId>().unwrap(), id);
        }
        for bad in ["D1brv40", "X1BRV40", "D1BRV4", "D1BRV400", "D1BRV4-"] {
            assert!(bad.parse::<DeploymentId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn full_stack_names_follow_the_naming_decision() {
        let name = FullStackName {
            org: "acme-corp".into(),
            project: "ecommerce".into(),
            deployment: "D1BRV40".parse().unwrap(),
            stack: "network".parse().unwrap(),
            env: "dev".into(),
        };
        assert_eq!(name.pulumi_stack(), "D1BRV40-network-dev");
        assert_eq!(name.qualified(), "acme-corp/ecommerce/D1BRV40-network-dev");
    }
}
