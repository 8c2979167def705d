//! `cloud-store-migrate [--fresh] <database-url>`: apply every migration to a SQLite file or a
//! PostgreSQL database (`--fresh`: drop and re-create it first, so it is empty).
//! `cloud-store-migrate --drop <database-url>` removes it; `--print-postgres` prints the
//! migrations as PostgreSQL runs them.
//!
//! A developer tool for scripts/sqlx-prepare.sh: it has no `query!` macro in it, so it builds
//! before the offline query caches know a new query, and it migrates the empty databases that
//! `cargo sqlx prepare` checks the queries against. (`cloud` migrates its own database at start.)

use std::str::FromStr;

use sqlx::migrate::MigrateDatabase;

use cloud_store::migrate::{migrator, Dialect};
use cloud_store::redact_url;

const USAGE: &str = "usage: cloud-store-migrate [--fresh | --drop] <sqlite://FILE | postgres://URL> | --print-postgres";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (fresh, url) = match args.as_slice() {
        [flag] if flag == "--print-postgres" => {
            for m in migrator(Dialect::Postgres).await?.iter() {
                println!("-- {} {}\n{}", m.version, m.description, m.sql);
            }
            return Ok(());
        }
        [flag, url] if flag == "--drop" => {
            if url.starts_with("sqlite:") && sqlx::Sqlite::database_exists(url).await? {
                sqlx::Sqlite::drop_database(url).await?;
            } else if url.starts_with("postgres") && sqlx::Postgres::database_exists(url).await? {
                sqlx::Postgres::drop_database(url).await?;
            }
            return Ok(());
        }
        [flag, url] if flag == "--fresh" => (true, url.as_str()),
        [url] => (false, url.as_str()),
        _ => return Err(USAGE.into()),
    };
    let migrations = if url.starts_with("sqlite:") {
        if fresh && sqlx::Sqlite::database_exists(url).await? {
            sqlx::Sqlite::drop_database(url).await?;
        }
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await?;
        let migrator = migrator(Dialect::Sqlite).await?;
        migrator.run(&pool).await?;
        pool.close().await;
        migrator.iter().count()
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        if fresh {
            if sqlx::Postgres::database_exists(url).await? {
                sqlx::Postgres::drop_database(url).await?;
            }
            sqlx::Postgres::create_database(url).await?;
        }
        let pool = sqlx::PgPool::connect(url).await?;
        let migrator = migrator(Dialect::Postgres).await?;
        migrator.run(&pool).await?;
        pool.close().await;
        migrator.iter().count()
    } else {
        return Err(USAGE.into());
    };
    eprintln!("migrated {} ({migrations} migrations)", redact_url(url));
    Ok(())
}
