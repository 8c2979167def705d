//! A fresh, empty database per test, on either backend, so store tests run in parallel and the
//! same suite runs against SQLite and PostgreSQL ([`on_both_backends!`](crate::on_both_backends)).
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a new database `cloud_test_<pid>_<n>` on
//! the server named by `CLOUD_TEST_POSTGRES_URL` (any `postgres://…` URL of a user allowed to
//! CREATE DATABASE; `scripts/test.sh` starts a throwaway cluster and sets it). Without that
//! variable a PostgreSQL test fails and says how to get a server — it never skips silently.
//! A test's database is dropped when its [`TestDatabase`] is; databases left behind by test
//! processes that died are dropped by the next run.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::migrate::MigrateDatabase;
use sqlx::Connection;

use cloud_core::store::Store;

/// The variable naming the PostgreSQL server the tests create their databases on.
pub const POSTGRES_URL_VAR: &str = "CLOUD_TEST_POSTGRES_URL";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's own empty database (no tables until something opens a [`Store`] on it).
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// What `Store::open` takes.
    pub url: String,
    /// Keeps a SQLite file's directory alive.
    _dir: Option<tempfile::TempDir>,
}

/// Prefix of every PostgreSQL test database; the process id follows, so a later run knows
/// which ones a dead process left.
const PREFIX: &str = "cloud_test_";

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase::sqlite(),
            Backend::Postgres => TestDatabase::postgres().await,
        }
    }

    /// A new SQLite file in a temporary directory.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestDatabase {
            backend: Backend::Sqlite,
            url: format!("sqlite://{}", dir.path().join("cloud.db").display()),
            _dir: Some(dir),
        }
    }

    /// A new database on the `CLOUD_TEST_POSTGRES_URL` server.
    ///
    /// # Panics
    /// When the variable is missing or the server refuses: the PostgreSQL half of the store
    /// suite must run, not pass by skipping.
    pub async fn postgres() -> TestDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let server = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{POSTGRES_URL_VAR} is not set: the PostgreSQL half of the store tests needs a server. \
                 Run ./scripts/test.sh (it starts a throwaway cluster), or start one with \
                 `eval \"$(scripts/pg-cluster.sh start)\" && export {POSTGRES_URL_VAR}=$PGC_URL`"
            )
        });
        drop_leftovers(&server).await;
        let name = format!("{PREFIX}{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        let url = with_database(&server, &name);
        if sqlx::Postgres::database_exists(&url).await.unwrap_or(false) {
            sqlx::Postgres::drop_database(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot drop the stale test database {name}: {e}"));
        }
        sqlx::Postgres::create_database(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name} on the {POSTGRES_URL_VAR} server: {e}"));
        TestDatabase {
            backend: Backend::Postgres,
            url,
            _dir: None,
        }
    }

    /// Open the store on this database (migrating it).
    pub async fn open(&self) -> Store {
        Store::open(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot open the {:?} test store: {e}", self.backend))
    }

    /// Run raw SQL on its own connection, for tests that tamper with rows on purpose or look at
    /// what the store's API does not show. Returns the rows affected.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?
                    .foreign_keys(true)
                    .busy_timeout(std::time::Duration::from_secs(30));
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
                let done = sqlx::raw_sql(sql).execute(&mut conn).await?;
                conn.close().await?;
                Ok(done.rows_affected())
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                let done = sqlx::raw_sql(sql).execute(&mut conn).await?;
                conn.close().await?;
                Ok(done.rows_affected())
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.backend != Backend::Postgres {
            return;
        }
        // Drop is not async and may run inside the test's runtime: drop the database from a
        // thread of its own. FORCE ends the connections a store still holds.
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    let _ = force_drop(&url).await;
                });
            }
        })
        .join();
    }
}

/// `server` with its database replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).unwrap_or_else(|e| {
        panic!(
            "{POSTGRES_URL_VAR} is not a URL ({e}): {}",
            cloud_core::store::redact_url(server)
        )
    });
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn force_drop(url: &str) -> Result<(), sqlx::Error> {
    let name = url::Url::parse(url)
        .map(|u| u.path().trim_start_matches('/').to_string())
        .unwrap_or_default();
    if !name.starts_with(PREFIX) {
        return Ok(());
    }
    let mut admin = sqlx::PgConnection::connect(&with_database(url, "postgres")).await?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    admin.close().await
}

/// Once per test process: drop the test databases of test processes that no longer run.
async fn drop_leftovers(server: &str) {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let Ok(mut admin) = sqlx::PgConnection::connect(&with_database(server, "postgres")).await else {
            return;
        };
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'cloud\\_test\\_%'")
                .fetch_all(&mut admin)
                .await
                .unwrap_or_default();
        let _ = admin.close().await;
        for name in names {
            let pid = name[PREFIX.len()..]
                .split('_')
                .next()
                .and_then(|p| p.parse::<u32>().ok());
            let dead = pid.is_some_and(|pid| {
                pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            });
            if dead {
                let _ = force_drop(&with_database(server, &name)).await;
            }
        }
    })
    .await;
}

/// Runs each listed `async fn name(db: TestDatabase)` once per backend, as the tests
/// `sqlite::name` and `postgres::name` (multi-threaded runtime: the store is used from many tasks).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::db::TestDatabase::new($crate::db::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::db::TestDatabase::new($crate::db::Backend::Postgres).await).await
                }
            )*
        }
    };
}
