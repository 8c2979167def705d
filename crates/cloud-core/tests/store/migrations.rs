//! Every migration, applied in turn to a database that holds data written at the previous
//! version, keeps every row, column value, reference and index that was there (SQLite rebuilds
//! whole tables to add a constraint: a rebuild that dropped a child table's rows, a column, an
//! ON DELETE rule or a sequence's high-water mark fails here), and the finished schema refuses
//! what it should. A migration added later is checked the same way; give it a `data_at` entry
//! when it adds tables or columns worth filling.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use sqlx::{Row, SqlitePool};

use cloud_core::store::migrate::{migrator_through, Dialect, MIGRATIONS};
use cloud_core::store::{LockOutcome, SessionFilter};
use cloud_domain::session::{Operation, Platform, SessionId, SessionState};
use cloud_testkit::db::{Backend, TestDatabase};

cloud_testkit::on_both_backends!(each_migration_keeps_the_data_of_the_version_before_it);

const S1: &str = "11111111-1111-4111-8111-111111111111";
const S2: &str = "22222222-2222-4222-8222-222222222222";
const S3: &str = "33333333-3333-4333-8333-333333333333";
const S4: &str = "44444444-4444-4444-8444-444444444444";
const S5: &str = "55555555-5555-4555-8555-555555555555";

/// Rows written by the code of each version, in the portable SQL both backends take.
fn data_at(version: i64) -> Option<String> {
    let t = "2026-11-20T10:00:00.000000Z";
    let sql = match version {
        20261123000001 => format!(
            r#"
INSERT INTO projects (name, org, provider, created_at, created_by)
    VALUES ('ecommerce', 'acme-corp', 'aws', '{t}', 'cli:admin');
INSERT INTO environments (project, name, enabled)
    VALUES ('ecommerce', 'dev', 1), ('ecommerce', 'prod', 1), ('ecommerce', 'stage', 0);
INSERT INTO deployments (id, project, org, manifest_path, created_at)
    VALUES ('D1BRV40', 'ecommerce', 'acme-corp', 'deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml', '{t}');
INSERT INTO sessions (id, project, env, deployment_id, requester, state, operation, stacks, plan, digest,
        approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at, plan_ready_at, finished_at)
    VALUES
    ('{S1}', 'ecommerce', 'prod', 'D1BRV40', 'cli:alice', 'APPLIED', 'deploy', '["network","dns"]', NULL, 'aaaa',
        2, 0, NULL, NULL, '2026-11-20T10:00:00.000000Z', '{t}', '{t}', '{t}'),
    ('{S2}', 'ecommerce', 'prod', 'D1BRV40', 'discord:80351110224678912', 'APPROVED', 'rollback', '["network"]', NULL,
        'bbbb', 1, 1, NULL, '{S1}', '2026-11-20T10:00:01.000000Z', '{t}', '{t}', NULL),
    ('{S3}', 'ecommerce', 'dev', 'D1BRV40', 'slack:U024BE7LH', 'PLANNING', 'destroy', '["dns"]', NULL, NULL,
        1, 1, NULL, NULL, '2026-11-20T10:00:02.000000Z', '{t}', NULL, NULL),
    ('{S4}', 'ecommerce', 'dev', 'D1BRV40', 'cli:alice', 'DRAFT', 'deploy', '["dns"]', NULL, NULL,
        1, 1, NULL, NULL, '2026-11-20T10:00:03.000000Z', '{t}', NULL, NULL);
INSERT INTO session_stacks (session_id, stack, position, wave, state, counts, error, updated_at) VALUES
    ('{S1}', 'network', 0, 0, 'applied', '{{"create":3}}', NULL, '{t}'),
    ('{S1}', 'dns', 1, 1, 'applied', '{{"same":2}}', NULL, '{t}'),
    ('{S2}', 'network', 0, 0, 'previewed', '{{}}', NULL, '{t}'),
    ('{S3}', 'dns', 0, 0, 'previewing', '{{}}', NULL, '{t}'),
    ('{S4}', 'dns', 0, 0, 'pending', '{{}}', NULL, '{t}');
INSERT INTO approvals (session_id, approver, digest, override_reason, created_at) VALUES
    ('{S1}', 'cli:bob', 'aaaa', NULL, '{t}'),
    ('{S1}', 'cli:carol', 'aaaa', 'over quota, agreed with finance', '{t}'),
    ('{S2}', 'cli:carol', 'bbbb', NULL, '{t}');
INSERT INTO grants (id, principal, project, env, role, expires_at, reason, granted_by, created_at, revoked_at,
        revoked_by, expiry_recorded) VALUES
    ('g1', 'cli:bob', 'ecommerce', 'prod', 'approve', NULL, 'on call', 'cli:admin', '{t}', NULL, NULL, 0),
    ('g2', 'discord:80351110224678912', 'ecommerce', '*', 'deploy', '2026-11-21T00:00:00.000000Z', 'sprint',
        'cli:admin', '{t}', '2026-11-20T12:00:00.000000Z', 'cli:admin', 1);
INSERT INTO quotas (project, key, limit_value, updated_at, updated_by)
    VALUES ('ecommerce', 'max_monthly_cost', 1250.5, '{t}', 'cli:admin');
INSERT INTO stack_locks (stack, session_id, acquired_at) VALUES ('ecommerce/D1BRV40-network-prod', '{S2}', '{t}');
INSERT INTO lock_queue (session_id, enqueued_at) VALUES ('{S3}', '{t}');
INSERT INTO lock_queue (session_id, enqueued_at) VALUES ('{S4}', '{t}');
INSERT INTO session_logs (session_id, seq, stack, line, at) VALUES
    ('{S1}', 1, 'network', '+ aws:ec2/vpc:Vpc vpc created', '{t}'),
    ('{S1}', 2, 'dns', '  zone unchanged', '{t}');
INSERT INTO audit_events (seq, at, actor, action, session_id, project, details, prev_hash, hash) VALUES
    (1, '{t}', 'cli:alice', 'session.created', '{S1}', 'ecommerce', '{{"env":"prod"}}', '', 'h1'),
    (2, '{t}', 'cli:admin', 'quota.set', NULL, 'ecommerce', '{{"key":"max_monthly_cost"}}', 'h1', 'h2');
"#
        ),
        20261123000002 => format!(
            r#"
UPDATE sessions SET owner_pid = 4242, owner_start = 'proc:987654' WHERE id = '{S3}';
UPDATE session_stacks SET config = '[{{"key":"aws:region","value":"eu-west-1","secret":false}},{{"key":"db:password","value":null,"secret":true}}]'
    WHERE session_id = '{S1}' AND stack = 'network';
INSERT INTO sessions (id, project, env, deployment_id, requester, state, operation, stacks, approvals_required,
        allow_self_approve, reason, created_at, updated_at, owner_pid, owner_start)
    VALUES ('{S5}', 'ecommerce', 'dev', 'D1BRV40', 'cli:alice', 'PLAN_FAILED', 'deploy', '["network"]', 1, 1,
        'the preview of network failed', '2026-11-20T10:00:04.000000Z', '{t}', 4243, 'proc:1');
INSERT INTO session_stacks (session_id, stack, position, wave, state, counts, error, updated_at, config)
    VALUES ('{S5}', 'network', 0, 0, 'failed', '{{}}', 'error: boom', '{t}', '[]');
INSERT INTO lock_queue (session_id, enqueued_at) VALUES ('{S5}', '{t}');
"#
        ),
        20261123140000 => format!(
            r#"
INSERT INTO chat_lobbies (session_id, platform, channel_id, message_id, thread_id, created_at) VALUES
    ('{S2}', 'discord', '100', '200', '300', '{t}'),
    ('{S2}', 'slack', 'C024BE91L', '1700000000.000100', NULL, '{t}'),
    ('{S5}', 'slack', 'C024BE91L', '1700000001.000200', '1700000001.000200', '{t}');
-- A queue place taken and given up: its number stays used.
INSERT INTO lock_queue (session_id, enqueued_at) VALUES ('{S1}', '{t}');
DELETE FROM lock_queue WHERE session_id = '{S1}';
"#
        ),
        20261203060000 => format!(
            r#"
INSERT INTO stack_outputs (deployment_id, env, stack, outputs, session_id, applied_at) VALUES
    ('D1BRV40', 'prod', 'network', '{{"vpcId":"vpc-1"}}', '{S1}', '{t}');
"#
        ),
        20261203100000 => format!(
            r#"
INSERT INTO api_tokens (id, principal, token_hash, role, projects, label, created_by, created_at, expires_at,
        revoked_at, revoked_by) VALUES
    ('T0000000001', 'cli:alice', 'aa11', 'approve', 'ecommerce', 'laptop', 'cli:admin', '{t}',
        '2026-12-20T10:00:00.000000Z', NULL, NULL),
    ('T0000000002', 'discord:80351110224678912', 'bb22', 'read', '*', '', 'discord:80351110224678912', '{t}',
        '2026-12-20T10:00:00.000000Z', '{t}', 'cli:admin');
INSERT INTO people (principal, person, linked_by, linked_at) VALUES
    ('cli:alice', 'alice', 'cli:admin', '{t}'),
    ('discord:80351110224678912', 'alice', 'cli:admin', '{t}');
INSERT INTO audit_checkpoint (id, head_seq, head_hash, since_seq, since_at, key_id, mac)
    VALUES (1, 2, 'h2', 1, '{t}', 'abcdef012345', '00ff');
"#
        ),
        _ => return None,
    };
    Some(sql)
}

async fn each_migration_keeps_the_data_of_the_version_before_it(db: TestDatabase) {
    let raw = Raw::connect(&db).await;
    let mut before: Option<Schema> = None;
    let mut filled = 0;
    for migration in MIGRATIONS.iter() {
        raw.migrate_through(migration.version).await;
        let after = raw.schema().await;
        if let Some(before) = &before {
            before.is_kept_by(&after, &migration.description);
        }
        raw.foreign_keys_hold(&migration.description).await;
        if let Some(sql) = data_at(migration.version) {
            raw.exec(&sql).await;
            filled += 1;
        }
        before = Some(raw.schema().await);
    }
    assert_eq!(
        filled, 5,
        "data written at versions 1, 2, 3, 4 (stack outputs) and 5 (identity and audit checkpoint)"
    );
    let rows: usize = before.unwrap().tables.values().map(|t| t.rows.len()).sum();
    assert!(rows >= 30, "the walk carried {rows} rows");

    // The store reads everything the old versions wrote.
    let store = db.open().await;
    let id = |s: &str| SessionId::from_str(s).unwrap();
    let sessions = store.sessions(&SessionFilter::default()).await.unwrap();
    assert_eq!(
        sessions.iter().map(|s| (s.id, s.state)).collect::<Vec<_>>(),
        [
            (id(S5), SessionState::PlanFailed),
            (id(S4), SessionState::Draft),
            (id(S3), SessionState::Planning),
            (id(S2), SessionState::Approved),
            (id(S1), SessionState::Applied),
        ]
    );
    let s2 = store.session(id(S2)).await.unwrap();
    assert_eq!(
        (s2.follow_up_of, s2.operation, s2.allow_self_approve),
        (Some(id(S1)), Operation::Rollback, true)
    );
    assert_eq!(store.session(id(S3)).await.unwrap().owner.map(|o| o.pid), Some(4242));
    assert_eq!(store.approvals(id(S1)).await.unwrap().len(), 2);
    assert_eq!(store.session_stacks(id(S1)).await.unwrap().len(), 2);
    assert_eq!(
        backend!(store, s => s.stack_configs(id(S1)).await)
            .unwrap()
            .values()
            .next()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.logs(id(S1), 0).await.unwrap().len(), 2);
    assert_eq!(store.grants(None, None, true).await.unwrap().len(), 2);
    assert_eq!(store.quotas("ecommerce").await.unwrap()[0].limit, 1250.5);
    assert_eq!(
        store.session_locks(id(S2)).await.unwrap(),
        ["ecommerce/D1BRV40-network-prod"]
    );
    let lobby = store.lobby(id(S2), Platform::Discord).await.unwrap().unwrap();
    assert_eq!(lobby.thread_id.as_deref(), Some("300"));
    assert_eq!(
        backend!(store, s => s.queue_entry(id(S4)).await)
            .unwrap()
            .unwrap()
            .position,
        2
    );
    assert_eq!(store.audit_entries(None).await.unwrap().len(), 2);
    // The flat-history migration found each stack's latest APPLIED session in the old rows.
    let heads: Vec<(String, String, SessionId)> = store
        .stack_heads("ecommerce")
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.env, h.stack.to_string(), h.session))
        .collect();
    assert_eq!(
        heads,
        [
            ("prod".to_string(), "dns".to_string(), id(S1)),
            ("prod".to_string(), "network".to_string(), id(S1)),
        ]
    );

    // Queue numbers never go back: the place given up at version 3 (number 4) stays used.
    assert!(matches!(
        store.acquire_locks(id(S2), false).await.unwrap(),
        LockOutcome::Granted
    ));
    raw.exec(&format!(
        "INSERT INTO lock_queue (session_id, enqueued_at) VALUES ('{S2}', 'now')"
    ))
    .await;
    assert_eq!(raw.scalar("SELECT CAST(MAX(seq) AS TEXT) FROM lock_queue").await, "5");

    // The finished schema refuses what the domain does not allow…
    for bad in [
        format!("UPDATE sessions SET state = 'BOGUS' WHERE id = '{S1}'"),
        format!("UPDATE sessions SET operation = 'explode' WHERE id = '{S1}'"),
        format!("UPDATE session_stacks SET state = 'exploded' WHERE session_id = '{S1}'"),
        "UPDATE grants SET role = 'superuser' WHERE id = 'g1'".to_string(),
        format!("UPDATE chat_lobbies SET platform = 'teams' WHERE session_id = '{S2}'"),
    ] {
        let err = raw.try_exec(&bad).await.expect_err(&bad);
        assert!(err.to_lowercase().contains("check"), "{bad}: {err}");
    }
    // …and its references still cascade where they did.
    raw.exec(&format!("DELETE FROM chat_lobbies WHERE session_id = '{S5}'"))
        .await;
    raw.exec(&format!("DELETE FROM sessions WHERE id = '{S5}'")).await;
    for child in ["session_stacks", "lock_queue"] {
        let left = raw
            .scalar(&format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM {child} WHERE session_id = '{S5}'"
            ))
            .await;
        assert_eq!(left, "0", "{child} rows of a deleted session");
    }
}

/// Everything a migration must keep: per table, its columns, foreign keys and rows; the indexes.
#[derive(Debug, Clone)]
struct Schema {
    tables: BTreeMap<String, Table>,
    indexes: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Table {
    /// `(name, type, not null, default)`
    columns: Vec<(String, String, bool, Option<String>)>,
    foreign_keys: BTreeSet<String>,
    /// Every row as text, columns in `columns` order.
    rows: Vec<Vec<Option<String>>>,
}

impl Schema {
    /// Asserts that `after` (the schema after `migration`) still has all of this one.
    fn is_kept_by(&self, after: &Schema, migration: &str) {
        for (name, table) in &self.tables {
            let Some(now) = after.tables.get(name) else {
                panic!("{migration}: table {name} is gone");
            };
            for (column, ty, not_null, default) in &table.columns {
                let Some((_, new_ty, new_not_null, new_default)) = now.columns.iter().find(|c| &c.0 == column) else {
                    panic!("{migration}: column {name}.{column} is gone");
                };
                assert_eq!(
                    (ty, default),
                    (new_ty, new_default),
                    "{migration}: {name}.{column} changed"
                );
                assert!(
                    *new_not_null || !not_null,
                    "{migration}: {name}.{column} now takes NULL"
                );
            }
            let lost: Vec<_> = table.foreign_keys.difference(&now.foreign_keys).collect();
            assert!(
                lost.is_empty(),
                "{migration}: {name} lost {lost:?} (has {:?})",
                now.foreign_keys
            );
            // The old columns of every row, as they were.
            let positions: Vec<usize> = table
                .columns
                .iter()
                .map(|c| now.columns.iter().position(|n| n.0 == c.0).unwrap())
                .collect();
            let mut kept: Vec<Vec<Option<String>>> = now
                .rows
                .iter()
                .map(|row| positions.iter().map(|&i| row[i].clone()).collect())
                .collect();
            kept.sort();
            assert_eq!(kept, table.rows, "{migration}: the rows of {name} changed");
        }
        let lost: Vec<_> = self.indexes.difference(&after.indexes).collect();
        assert!(lost.is_empty(), "{migration}: indexes {lost:?} are gone");
    }
}

/// The test's database without the store: raw SQL at any migration version.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn connect(db: &TestDatabase) -> Raw {
        match db.backend {
            Backend::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                    .unwrap()
                    .create_if_missing(true)
                    .foreign_keys(true);
                Raw::Sqlite(SqlitePool::connect_with(options).await.unwrap())
            }
            Backend::Postgres => Raw::Postgres(sqlx::PgPool::connect(&db.url).await.unwrap()),
        }
    }

    async fn migrate_through(&self, version: i64) {
        let result = match self {
            Raw::Sqlite(pool) => {
                migrator_through(Dialect::Sqlite, version)
                    .await
                    .unwrap()
                    .run(pool)
                    .await
            }
            Raw::Postgres(pool) => {
                migrator_through(Dialect::Postgres, version)
                    .await
                    .unwrap()
                    .run(pool)
                    .await
            }
        };
        result.unwrap_or_else(|e| panic!("migrating to {version}: {e}"));
    }

    async fn try_exec(&self, sql: &str) -> Result<(), String> {
        match self {
            Raw::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            Raw::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
        .map_err(|e| e.to_string())
    }

    async fn exec(&self, sql: &str) {
        self.try_exec(sql).await.unwrap_or_else(|e| panic!("{sql}\n{e}"));
    }

    /// The rows of `sql` (every column text or NULL), sorted.
    async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut rows: Vec<Vec<Option<String>>> = match self {
            Raw::Sqlite(pool) => sqlx::query(sql)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}\n{e}"))
                .iter()
                .map(|r| (0..r.len()).map(|i| r.get::<Option<String>, _>(i)).collect())
                .collect(),
            Raw::Postgres(pool) => sqlx::query(sql)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}\n{e}"))
                .iter()
                .map(|r| (0..r.len()).map(|i| r.get::<Option<String>, _>(i)).collect())
                .collect(),
        };
        rows.sort();
        rows
    }

    async fn scalar(&self, sql: &str) -> String {
        self.rows(sql).await[0][0].clone().unwrap_or_default()
    }

    async fn schema(&self) -> Schema {
        let (tables_sql, indexes_sql) = match self {
            Raw::Sqlite(_) => (
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '_sqlx_migrations'",
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
            ),
            Raw::Postgres(_) => (
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name != '_sqlx_migrations'",
                "SELECT CAST(indexname AS TEXT) FROM pg_indexes WHERE schemaname = current_schema()",
            ),
        };
        let names = |rows: Vec<Vec<Option<String>>>| -> Vec<String> {
            rows.into_iter().map(|r| r[0].clone().unwrap()).collect()
        };
        let mut tables = BTreeMap::new();
        for name in names(self.rows(tables_sql).await) {
            let (columns_sql, foreign_keys_sql) = match self {
                Raw::Sqlite(_) => (
                    format!("SELECT name, type, CAST(\"notnull\" AS TEXT), dflt_value, CAST(cid AS TEXT) FROM pragma_table_info('{name}')"),
                    format!(
                        "SELECT 'FOREIGN KEY (' || \"from\" || ') REFERENCES ' || \"table\" || '(' || \"to\" || ') ON DELETE ' || on_delete
                         FROM pragma_foreign_key_list('{name}')"
                    ),
                ),
                Raw::Postgres(_) => (
                    format!(
                        "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT), CASE is_nullable WHEN 'NO' THEN '1' ELSE '0' END,
                                CAST(column_default AS TEXT), CAST(ordinal_position AS TEXT)
                         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '{name}'"
                    ),
                    format!("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' AND conrelid = '{name}'::regclass"),
                ),
            };
            let mut columns: Vec<(i64, String, String, bool, Option<String>)> = self
                .rows(&columns_sql)
                .await
                .into_iter()
                .map(|c| {
                    let text = |i: usize| c[i].clone().unwrap_or_default();
                    (text(4).parse().unwrap(), text(0), text(1), text(2) == "1", c[3].clone())
                })
                .collect();
            columns.sort();
            let columns: Vec<_> = columns.into_iter().map(|(_, n, t, nn, d)| (n, t, nn, d)).collect();
            let select = columns
                .iter()
                .map(|(column, ..)| format!("CAST(\"{column}\" AS TEXT)"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = self.rows(&format!("SELECT {select} FROM \"{name}\"")).await;
            let foreign_keys = names(self.rows(&foreign_keys_sql).await).into_iter().collect();
            tables.insert(
                name,
                Table {
                    columns,
                    foreign_keys,
                    rows,
                },
            );
        }
        let indexes = names(self.rows(indexes_sql).await).into_iter().collect();
        Schema { tables, indexes }
    }

    /// No row references a missing row (SQLite checks it on request; PostgreSQL never lets one in).
    async fn foreign_keys_hold(&self, migration: &str) {
        if let Raw::Sqlite(_) = self {
            let broken = self
                .rows("SELECT \"table\", CAST(rowid AS TEXT) FROM pragma_foreign_key_check")
                .await;
            assert!(
                broken.is_empty(),
                "{migration}: rows with dangling references: {broken:?}"
            );
        }
    }
}
