//! The schema defends itself: every value the domain enums allow is accepted and anything else is
//! refused by the database, references hold, and a row that does not decode is an error naming
//! the row and the column — never a default.

use crate::{new_session, store_in};
use cloud_core::policy::Role;
use cloud_core::store::{ChatLobbyRow, NewGrant, StoreError};
use cloud_domain::session::{Operation, Platform, Principal, SessionId, SessionState, StackState};
use cloud_testkit::db::{Backend, TestDatabase};

cloud_testkit::on_both_backends!(
    every_state_role_platform_and_operation_of_the_domain_is_accepted_and_nothing_else,
    references_to_missing_rows_are_refused,
    a_row_that_does_not_decode_is_an_error_naming_the_row_and_the_column,
);

/// Asserts the database refused `sql` with a CHECK (or NOT NULL) violation of `constraint`.
async fn refused(db: &TestDatabase, sql: &str, constraint: &str) {
    let err = db.execute(sql).await.expect_err(sql).to_string();
    assert!(err.contains(constraint), "{sql}\nwas refused for another reason: {err}");
}

async fn every_state_role_platform_and_operation_of_the_domain_is_accepted_and_nothing_else(db: TestDatabase) {
    let store = store_in(&db).await;
    let session = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let id = session.id;

    for state in SessionState::ALL {
        let set = format!("UPDATE sessions SET state = '{}' WHERE id = '{id}'", state.as_str());
        assert_eq!(db.execute(&set).await.unwrap(), 1, "{state}");
        assert_eq!(store.session(id).await.unwrap().state, state);
    }
    refused(
        &db,
        &format!("UPDATE sessions SET state = 'plan_ready' WHERE id = '{id}'"),
        "sessions_state_check",
    )
    .await;
    refused(
        &db,
        &format!("UPDATE sessions SET state = 'BOGUS' WHERE id = '{id}'"),
        "sessions_state_check",
    )
    .await;

    for state in StackState::ALL {
        store
            .set_stack_state(id, &"network".parse().unwrap(), state, None, None)
            .await
            .unwrap();
        assert_eq!(store.session_stacks(id).await.unwrap()[0].state, state);
    }
    refused(
        &db,
        &format!("UPDATE session_stacks SET state = 'exploded' WHERE session_id = '{id}'"),
        "session_stacks_state_check",
    )
    .await;

    for operation in Operation::ALL {
        let mut new = new_session("dev", &["dns"], 1);
        new.operation = operation;
        assert_eq!(store.create_session(new).await.unwrap().operation, operation);
    }
    let bogus = SessionId::new();
    refused(
        &db,
        &format!(
            "INSERT INTO sessions (id, project, deployment_id, operation) VALUES ('{bogus}', 'ecommerce', 'D1BRV40', 'explode')"
        ),
        "sessions_operation_check",
    )
    .await;
    assert!(
        matches!(store.session(bogus).await, Err(StoreError::SessionNotFound(_))),
        "nothing of the refused session was kept"
    );
    refused(
        &db,
        &format!("UPDATE sessions SET operation = 'Deploy' WHERE id = '{id}'"),
        "sessions_operation_check",
    )
    .await;
    refused(
        &db,
        &format!("UPDATE sessions SET allow_self_approve = 2 WHERE id = '{id}'"),
        "sessions_allow_self_approve_check",
    )
    .await;

    for role in Role::ALL {
        let created = store
            .create_grant(NewGrant {
                principal: Principal::cli("bob"),
                project: "ecommerce".into(),
                env: "*".into(),
                role,
                expires_at: None,
                reason: "test".into(),
                granted_by: "cli:admin".into(),
            })
            .await
            .unwrap();
        assert_eq!(created.role, role);
    }
    refused(&db, "UPDATE grants SET role = 'superuser'", "grants_role_check").await;
    refused(
        &db,
        "UPDATE grants SET expiry_recorded = 7",
        "grants_expiry_recorded_check",
    )
    .await;

    for platform in Platform::ALL {
        let lobby = ChatLobbyRow {
            session_id: id,
            platform,
            channel_id: "c".into(),
            message_id: "m".into(),
            thread_id: None,
        };
        store.save_lobby(&lobby).await.unwrap();
        assert_eq!(store.lobby(id, platform).await.unwrap(), Some(lobby));
    }
    refused(
        &db,
        &format!("INSERT INTO chat_lobbies (session_id, platform, channel_id, message_id) VALUES ('{id}', 'teams', 'c', 'm')"),
        "chat_lobbies_platform_check",
    )
    .await;
    // SQLite would take a NULL text primary key; the rebuilt tables refuse one, like PostgreSQL.
    let err = db
        .execute("INSERT INTO sessions (id, project, deployment_id) VALUES (NULL, 'ecommerce', 'D1BRV40')")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.to_lowercase().contains("null"), "{err}");
}

async fn references_to_missing_rows_are_refused(db: TestDatabase) {
    let store = store_in(&db).await;
    let nobody = SessionId::new();
    let lobby = ChatLobbyRow {
        session_id: nobody,
        platform: Platform::Slack,
        channel_id: "C1".into(),
        message_id: "1.2".into(),
        thread_id: None,
    };
    assert!(matches!(store.save_lobby(&lobby).await, Err(StoreError::Db(_))));
    for sql in [
        format!("INSERT INTO stack_locks (stack, session_id) VALUES ('x', '{nobody}')"),
        format!("INSERT INTO lock_queue (session_id) VALUES ('{nobody}')"),
        format!("INSERT INTO session_stacks (session_id, stack) VALUES ('{nobody}', 'network')"),
        format!("INSERT INTO approvals (session_id, approver) VALUES ('{nobody}', 'cli:bob')"),
        format!("INSERT INTO session_logs (session_id, seq) VALUES ('{nobody}', 1)"),
        "INSERT INTO quotas (project, key) VALUES ('nope', 'max_monthly_cost')".to_string(),
        "INSERT INTO environments (project, name) VALUES ('nope', 'dev')".to_string(),
    ] {
        let err = db.execute(&sql).await.expect_err(&sql).to_string().to_lowercase();
        assert!(
            err.contains("foreign key"),
            "{sql}\nwas refused for another reason: {err}"
        );
    }
    let session = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let mut follow_up = new_session("dev", &["network"], 1);
    follow_up.follow_up_of = Some(nobody);
    assert!(store.create_session(follow_up.clone()).await.is_err());
    follow_up.follow_up_of = Some(session.id);
    assert_eq!(
        store.create_session(follow_up).await.unwrap().follow_up_of,
        Some(session.id)
    );
}

async fn a_row_that_does_not_decode_is_an_error_naming_the_row_and_the_column(db: TestDatabase) {
    let store = store_in(&db).await;
    let session = store.create_session(new_session("dev", &["network"], 1)).await.unwrap();
    let id = session.id;
    for (column, value) in [
        ("stacks", "'not json'"),
        ("requester", "'nobody'"),
        ("created_at", "'yesterday'"),
        ("approvals_required", "-1"),
    ] {
        let before = db
            .execute(&format!("UPDATE sessions SET {column} = {value} WHERE id = '{id}'"))
            .await
            .unwrap();
        assert_eq!(before, 1);
        let err = store.session(id).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("session {id}: column {column}")), "{text}");
        // Put it back for the next column.
        let original = match column {
            "stacks" => "'[\"network\"]'".to_string(),
            "requester" => "'cli:alice'".to_string(),
            "created_at" => format!(
                "'{}'",
                session.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ),
            _ => "1".to_string(),
        };
        db.execute(&format!("UPDATE sessions SET {column} = {original} WHERE id = '{id}'"))
            .await
            .unwrap();
        assert_eq!(store.session(id).await.unwrap(), session);
    }
    db.execute(&format!(
        "UPDATE session_stacks SET counts = '[1]' WHERE session_id = '{id}'"
    ))
    .await
    .unwrap();
    let err = store.session_stacks(id).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("session {id} stack network: column counts")),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys_on() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let store = store_in(&db).await;
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}
