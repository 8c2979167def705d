//! The session database: reachable, migrated, every session row readable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cloud_core::config::mask_url;

use super::check::{Check, Status, CONNECT_TIMEOUT};
use super::data_dir::dir_status;

/// The file of a `sqlite://path[?options]` URL (`None` for in-memory databases).
pub(super) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

pub(super) async fn check_database(url: &str) -> Check {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::ConnectOptions;
    use std::str::FromStr;

    const NAME: &str = "database";
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return check_postgres(url).await;
    }
    let known: Vec<&sqlx::migrate::Migration> = cloud_core::store::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let fix_open = "move the file away (or restore a backup) and run any `cloud` command to create a new database, or set `database_url` / CLOUD_DATABASE_URL";
    let fail = |detail: String| Check::with(NAME, Status::Fail, detail, fix_open);
    let Some(file) = sqlite_file(url) else {
        return Check::with(
            NAME,
            Status::Skipped,
            format!("{url}: in-memory, nothing to check"),
            "use a file database to keep sessions",
        );
    };
    if !file.exists() {
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return match dir_status(dir) {
            Ok(_) => Check::ok(
                NAME,
                format!(
                    "{} not created yet: the next `cloud` command creates it and applies {} migration{}",
                    file.display(),
                    known.len(),
                    if known.len() == 1 { "" } else { "s" }
                ),
            ),
            Err(why) => Check::with(
                NAME,
                Status::Fail,
                format!("{} cannot be created: {why}", file.display()),
                "set `data_dir` (or `database_url` / CLOUD_DATABASE_URL) to a writable place",
            ),
        };
    }
    // Open without creating and without migrating: the doctor only looks.
    let options = match SqliteConnectOptions::from_str(url) {
        Ok(o) => o.create_if_missing(false).busy_timeout(Duration::from_secs(5)),
        Err(e) => return Check::with(NAME, Status::Fail, format!("{url}: {e}"), "fix `database_url`"),
    };
    let mut conn = match options.connect().await {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot open {}: {e}", file.display())),
    };
    let integrity: Result<String, sqlx::Error> = sqlx::query_scalar("PRAGMA quick_check").fetch_one(&mut conn).await;
    match integrity {
        Ok(s) if s == "ok" => {}
        Ok(s) => return fail(format!("{} is damaged: {s}", file.display())),
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    }
    let place = file.display().to_string();
    let table = MigrationTable {
        place: &place,
        exists: "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        cannot_ask: ("cannot read", fix_open),
        cannot_read_fix: fix_open,
    };
    check_migrations::<sqlx::Sqlite>(conn, &table, &known).await
}

/// Where the doctor reads sqlx's own bookkeeping table (`_sqlx_migrations`: not part of our
/// schema, hence unchecked queries), and what it advises when it cannot. The one difference
/// between the backends: how to ask whether the table exists, and the fixes.
struct MigrationTable<'a> {
    /// The database as the user knows it: its file, or its URL without the password.
    place: &'a str,
    /// A query answering, in one row, whether the table exists (a fresh database has none).
    exists: &'static str,
    /// When that query fails: how the line starts ("cannot read" …), and the fix.
    cannot_ask: (&'static str, &'static str),
    /// The fix when the table exists but cannot be read.
    cannot_read_fix: &'static str,
}

/// Reads the migrations recorded in `conn`'s database (none when it has no migration table),
/// closes the connection and compares them with `known` ([`migrations_check`]). One function for
/// SQLite and PostgreSQL: [`MigrationTable`] holds what differs.
async fn check_migrations<DB>(
    mut conn: DB::Connection,
    table: &MigrationTable<'_>,
    known: &[&sqlx::migrate::Migration],
) -> Check
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    (bool,): for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64, Vec<u8>, bool): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    use sqlx::Connection;

    const NAME: &str = "database";
    let place = table.place;
    let has_table: Result<bool, sqlx::Error> = sqlx::query_scalar(table.exists).fetch_one(&mut conn).await;
    let applied: Vec<(i64, Vec<u8>, bool)> = match has_table {
        Ok(false) => vec![],
        Ok(true) => match sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                return Check::with(
                    NAME,
                    Status::Fail,
                    format!("cannot read the migration table of {place}: {e}"),
                    table.cannot_read_fix,
                )
            }
        },
        Err(e) => {
            let (cannot, fix) = table.cannot_ask;
            return Check::with(NAME, Status::Fail, format!("{cannot} {place}: {e}"), fix);
        }
    };
    let _ = conn.close().await;
    migrations_check(place, &applied, known)
}

/// The database's recorded migrations against the ones this binary knows.
pub(super) fn migrations_check(
    place: &str,
    applied: &[(i64, Vec<u8>, bool)],
    known: &[&sqlx::migrate::Migration],
) -> Check {
    const NAME: &str = "database";
    let mut problems = Vec::new();
    for (version, checksum, success) in applied {
        match known.iter().find(|m| m.version == *version) {
            None => problems.push(format!(
                "migration {version} is not known to this cloud binary (a newer version wrote the database)"
            )),
            Some(m) if m.checksum.as_ref() != checksum.as_slice() => problems.push(format!(
                "migration {version} ({}) was changed after it was applied",
                m.description
            )),
            Some(_) if !success => problems.push(format!("migration {version} did not finish")),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Check::with(
            NAME,
            Status::Fail,
            format!("{place}: {}", problems.join("; ")),
            "run the cloud version that created this database, or restore a backup",
        );
    }
    let pending = known
        .iter()
        .filter(|m| !applied.iter().any(|(v, _, _)| *v == m.version))
        .count();
    if pending > 0 {
        return Check::with(
            NAME,
            Status::Warn,
            format!(
                "{place}: {} of {} migrations applied, {pending} pending",
                applied.len(),
                known.len()
            ),
            "the next `cloud` command (e.g. `cloud list`) applies them",
        );
    }
    Check::ok(
        NAME,
        format!("{place} opens; {}/{} migrations applied", applied.len(), known.len()),
    )
}

/// A PostgreSQL `database_url`: connect (without migrating) and compare the recorded migrations
/// with the PostgreSQL spelling of this binary's.
pub(super) async fn check_postgres(url: &str) -> Check {
    use cloud_core::store::migrate::{migrator, Dialect};
    use sqlx::postgres::PgConnectOptions;
    use sqlx::ConnectOptions;
    use std::str::FromStr;

    const NAME: &str = "database";
    let shown = mask_url(url);
    let migrator = match migrator(Dialect::Postgres).await {
        Ok(m) => m,
        Err(e) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("the migrations do not load: {e}"),
                "rebuild cloud",
            )
        }
    };
    let known: Vec<&sqlx::migrate::Migration> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    let options = match PgConnectOptions::from_str(url) {
        Ok(o) => o,
        Err(e) => return Check::with(NAME, Status::Fail, format!("{shown}: {e}"), "fix `database_url`"),
    };
    let conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("cannot connect to {shown}: {e}"),
                "check that the server runs, that the database exists (`createdb`), and the password (PGPASSWORD or ~/.pgpass)",
            )
        }
        Err(_) => {
            return Check::with(
                NAME,
                Status::Fail,
                format!("{shown} did not answer within {}s", CONNECT_TIMEOUT.as_secs()),
                "check the host and port in `database_url` and the network to it",
            )
        }
    };
    let table = MigrationTable {
        place: &shown,
        exists: "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
        cannot_ask: ("cannot query", "check the user's rights"),
        cannot_read_fix: "grant the user SELECT on _sqlx_migrations",
    };
    check_migrations::<sqlx::Postgres>(conn, &table, &known).await
}

/// Session rows that do not decode (issue 15.6): `list`, `status` and the sweeper skip them, so
/// the rest keeps working; here each is named with its column so someone can repair it.
pub(super) async fn check_session_rows(url: &str) -> Check {
    const NAME: &str = "session rows";
    let store = match cloud_core::store::Store::open(url).await {
        Ok(store) => store,
        Err(e) => return Check::with(NAME, Status::Skipped, format!("not read: {e}"), "see the database line"),
    };
    let bad = store.bad_session_rows().await;
    store.close().await;
    match bad {
        Ok(bad) if bad.is_empty() => Check::ok(NAME, "every session row decodes"),
        Ok(bad) => Check::with(
            NAME,
            Status::Warn,
            format!(
                "{} row(s) do not decode and are skipped by list, status and the sweeper: {}",
                bad.len(),
                bad.iter().map(|b| b.problem.as_str()).collect::<Vec<_>>().join("; ")
            ),
            "repair the named column (or delete the row) with sqlite3/psql; nothing else is affected",
        ),
        Err(e) => Check::with(
            NAME,
            Status::Warn,
            format!("cannot read the sessions: {e}"),
            "see the database line",
        ),
    }
}
