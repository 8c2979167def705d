//! Verified identities: API tokens (what the CLI presents when it talks to a shared store) and
//! people (several platform identities linked into one person, so four-eyes counts a person
//! once). Records, rows as stored, decoding, and the token secret's hashing.
//!
//! A token secret is `cet_` + 64 hex characters (256 random bits). Only its sha256 is stored:
//! a leaked database does not leak usable tokens, and the secret is shown once, when created.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::sessions::corrupt;
use crate::time::parse_time;
use crate::{StoreError, StoreResult};
use cloud_domain::policy::Role;
use cloud_domain::session::Principal;

/// The prefix of every token secret: makes a pasted token recognisable (and greppable by secret
/// scanners) and tells it apart from a user name.
pub const TOKEN_PREFIX: &str = "cet_";

/// The stored form of a token secret: hex sha256 of the whole secret.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// One API token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRow {
    pub id: String,
    /// Who the token speaks for.
    pub principal: Principal,
    /// The highest role the token can exercise; the holder's own grants still apply.
    pub role: Role,
    /// The projects it may act on; `None`: every project.
    pub projects: Option<Vec<String>>,
    pub label: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<String>,
}

impl TokenRow {
    /// Whether the token identifies anyone at `now`: not revoked, not expired.
    pub fn is_active(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What a new token carries (the secret's hash, never the secret).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub principal: Principal,
    pub token_hash: String,
    pub role: Role,
    pub projects: Option<Vec<String>>,
    pub label: String,
    pub created_by: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// An `api_tokens` row as stored.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: String,
    pub principal: String,
    pub role: String,
    pub projects: String,
    pub label: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// `projects` as stored: `*` for every project, else a comma-separated list.
pub fn projects_text(projects: &Option<Vec<String>>) -> String {
    match projects {
        None => "*".into(),
        Some(list) => list.join(","),
    }
}

impl TryFrom<StoredToken> for TokenRow {
    type Error = StoreError;

    fn try_from(row: StoredToken) -> StoreResult<TokenRow> {
        let at = format!("token {}", row.id);
        let at = at.as_str();
        let projects = match row.projects.as_str() {
            "*" => None,
            "" => return Err(corrupt(at, "projects", "empty (every project is `*`)")),
            list => Some(list.split(',').map(String::from).collect()),
        };
        Ok(TokenRow {
            principal: row.principal.parse().map_err(|e| corrupt(at, "principal", e))?,
            role: row.role.parse().map_err(|e| corrupt(at, "role", e))?,
            expires_at: parse_time(&format!("{at}: column expires_at"), &row.expires_at)?,
            projects,
            id: row.id,
            label: row.label,
            created_by: row.created_by,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// One link of a platform identity to a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonLink {
    pub person: String,
    pub principal: Principal,
    pub linked_by: String,
    pub linked_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_as_the_sha256_of_its_secret() {
        assert_eq!(
            token_hash("cet_abc"),
            hex::encode(Sha256::digest(b"cet_abc")),
            "the whole secret, prefix included"
        );
        assert_ne!(token_hash("cet_abc"), token_hash("cet_abd"));
    }
}
