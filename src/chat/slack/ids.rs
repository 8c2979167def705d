//! Button ids (decided): `cloud:<action>:<session-uuid>[:<digest-16-hex>]`, at most 100
//! characters. A click is handled by its id alone, so a lobby keeps working after a restart.

use std::fmt;
use std::str::FromStr;

use crate::error::UserError;
use crate::session::SessionId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonId {
    /// `approve`, `cancel`, `refresh`, `queue`, …
    pub action: String,
    pub session: SessionId,
    /// The 16-hex plan digest the button was shown with (Approve).
    pub digest: Option<String>,
}

impl ButtonId {
    pub fn new(action: &str, session: SessionId) -> Self {
        ButtonId { action: action.into(), session, digest: None }
    }

    pub fn approve(session: SessionId, digest: impl Into<String>) -> Self {
        ButtonId { action: "approve".into(), session, digest: Some(digest.into()) }
    }
}

impl fmt::Display for ButtonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cloud:{}:{}", self.action, self.session)?;
        if let Some(d) = &self.digest {
            write!(f, ":{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ButtonId {
    type Err = UserError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UserError::invalid(format!("this button (`{s}`) is not one of ours or is outdated; run `/cloud-status` for the session"));
        if s.len() > 100 {
            return Err(bad());
        }
        let mut parts = s.split(':');
        if parts.next() != Some("cloud") {
            return Err(bad());
        }
        let action = parts.next().filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')).ok_or_else(bad)?;
        let session: SessionId = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let digest = match parts.next() {
            Some(d) if d.len() == 16 && d.bytes().all(|b| b.is_ascii_hexdigit()) => Some(d.to_string()),
            Some(_) => return Err(bad()),
            None => None,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(ButtonId { action: action.into(), session, digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_fit_in_100_characters() {
        let id = ButtonId::approve(SessionId::new(), "0123456789abcdef");
        let text = id.to_string();
        assert!(text.len() <= 100, "{text}");
        assert_eq!(text.parse::<ButtonId>().unwrap(), id);
        let cancel = ButtonId::new("cancel", id.session);
        assert_eq!(cancel.to_string().parse::<ButtonId>().unwrap(), cancel);
    }

    #[test]
    fn foreign_or_mangled_ids_are_refused() {
        for bad in ["other:approve:x", "cloud:approve:not-a-uuid", "cloud::00000000-0000-0000-0000-000000000000", "cloud:approve:00000000-0000-0000-0000-000000000000:xyz"] {
            assert!(bad.parse::<ButtonId>().is_err(), "{bad}");
        }
    }
}
