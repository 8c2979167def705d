//! Timestamps as stored: RFC 3339 UTC text with microseconds, so they sort as text on every
//! backend and read the same in `sqlite3` and `psql`.

use crate::{StoreError, StoreResult};

/// Now, as stored.
pub fn now_text() -> String {
    format_time(chrono::Utc::now())
}

pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A stored timestamp; `what` names the row and column for the error.
pub fn parse_time(what: &str, s: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Corrupt(format!("{what}: bad timestamp `{s}`: {e}")))
}
