//! The store's errors: the variants callers branch on, and the database's own errors.

use cloud_domain::session::{SessionId, SessionState, TransitionError};

/// Errors a caller may branch on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The compare-and-set lost: someone else moved the session first.
    #[error("session {id} changed while you acted: it is now {actual} (expected {expected}); look at `cloud status {short}` and try again if it still makes sense", short = &id.to_string()[..8])]
    StateChanged {
        id: SessionId,
        expected: SessionState,
        actual: SessionState,
    },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A write made under a lease that is no longer this owner's (it expired and another process
    /// claimed it, or it was released). Nothing was written.
    #[error("session {session}: this process no longer holds its lease (token {token}); another process took the session over, nothing was written")]
    Fenced { session: SessionId, token: i64 },
    /// Another live process drives the session.
    #[error(
        "session {session} is driven by another process ({owner}) until {until}; wait for it, or cancel the session"
    )]
    LeaseHeld {
        session: SessionId,
        owner: String,
        until: String,
    },
    #[error("no session {0}; `cloud list` shows the sessions")]
    SessionNotFound(String),
    #[error("`{0}` matches several sessions; give more of the id")]
    AmbiguousSession(String),
    #[error("{0}")]
    Conflict(String),
    /// A row that does not decode into the domain model (never defaulted silently). The text
    /// names the row and the column.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A `database_url` whose scheme is neither SQLite nor PostgreSQL.
    #[error(
        "`{0}` is not a database URL cloud-engine can use: give sqlite://<file> or postgres://<user>@<host>/<database>"
    )]
    UnsupportedUrl(String),
    /// `url` has its password masked (see [`redact_url`]).
    #[error("cannot open the database at {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot lock the database for its migrations: {0}")]
    MigrationLock(#[source] std::io::Error),
    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// `url` with the password (if any) replaced by `********`, for messages and logs: a PostgreSQL URL
/// may carry one (`postgres://cloud:secret@db/cloud`), and secrets are never printed.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The authority ends at the first '/', '?' or '#'; credentials end at its last '@'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:********@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact_url("postgres://cloud:s3cr@t@db.internal:5432/cloud?sslmode=require"),
            "postgres://cloud:********@db.internal:5432/cloud?sslmode=require"
        );
        assert_eq!(redact_url("postgres://cloud@db/cloud"), "postgres://cloud@db/cloud");
        assert_eq!(
            redact_url("sqlite:///var/lib/cloud/cloud.db"),
            "sqlite:///var/lib/cloud/cloud.db"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }
}
