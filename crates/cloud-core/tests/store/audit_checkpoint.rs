//! The audit log against someone who can rewrite the database but does not hold the audit key:
//! every attack of issue 16.5 is detected — an edited, deleted or reordered row by the hash
//! chain; a truncated tail, a re-chained forgery, a forged checkpoint, rows appended without
//! the key, a rolled-back database and a deleted log by the signed head (in the database and
//! exported beside the key).

use std::path::PathBuf;

use cloud_core::store::{AuditKey, AuditVerify, NewAudit, Store};
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(
    an_untouched_log_verifies_and_says_since_when_it_is_vouched_for,
    an_edited_row_is_named,
    a_deleted_row_in_the_middle_is_named,
    reordered_rows_are_named,
    a_truncated_tail_is_detected,
    a_re_chained_forgery_is_detected,
    a_forged_checkpoint_is_detected,
    rows_appended_without_the_key_are_detected,
    a_database_rolled_back_with_its_older_checkpoint_is_detected_by_the_exported_head,
    a_deleted_log_is_detected_by_the_exported_head,
    rows_from_before_the_key_are_chained_only_and_verify_says_so,
);

/// A fixed key (the test plays the operator holding it) and a head file beside it.
struct Keyed {
    store: Store,
    _dir: tempfile::TempDir,
    head: PathBuf,
}

fn key() -> AuditKey {
    AuditKey::new(vec![7u8; 32])
}

async fn keyed(db: &TestDatabase) -> Keyed {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("audit.key.head");
    let store = db.open().await.with_audit_key(key(), Some(head.clone()));
    Keyed { store, _dir: dir, head }
}

async fn append(store: &Store, n: usize) {
    for i in 0..n {
        store
            .audit(NewAudit {
                actor: "cli:admin".into(),
                action: "quota.set".into(),
                session_id: None,
                project: Some("ecommerce".into()),
                details: serde_json::json!({ "n": i }),
            })
            .await
            .unwrap();
    }
}

fn problem(v: &AuditVerify) -> String {
    v.checkpoint
        .as_ref()
        .and_then(|c| c.problem.clone())
        .unwrap_or_else(|| panic!("a problem was expected: {v:?}"))
}

async fn an_untouched_log_verifies_and_says_since_when_it_is_vouched_for(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 5).await;
    let v = k.store.audit_verify().await.unwrap();
    assert_eq!(v.first_bad, None);
    let cp = v.checkpoint.unwrap();
    assert_eq!(cp.problem, None);
    assert_eq!(cp.vouches_since.unwrap().0, 1, "signed from the first row");
}

async fn an_edited_row_is_named(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 5).await;
    db.execute("UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 3")
        .await
        .unwrap();
    let bad = k.store.audit_verify().await.unwrap().first_bad.unwrap();
    assert_eq!(bad.seq, 3);
}

async fn a_deleted_row_in_the_middle_is_named(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 5).await;
    db.execute("DELETE FROM audit_events WHERE seq = 3").await.unwrap();
    let bad = k.store.audit_verify().await.unwrap().first_bad.unwrap();
    assert_eq!(bad.seq, 4);
    assert!(bad.reason.contains("deleted"), "{}", bad.reason);
}

async fn reordered_rows_are_named(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 5).await;
    // Swap the contents of rows 2 and 3 (their seq stays in place).
    db.execute(
        "UPDATE audit_events SET details = CASE seq WHEN 2 THEN (SELECT details FROM audit_events WHERE seq = 3)
                                                  ELSE (SELECT details FROM audit_events WHERE seq = 2) END
         WHERE seq IN (2, 3)",
    )
    .await
    .unwrap();
    let bad = k.store.audit_verify().await.unwrap().first_bad.unwrap();
    assert_eq!(bad.seq, 2);
}

async fn a_truncated_tail_is_detected(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 6).await;
    db.execute("DELETE FROM audit_events WHERE seq > 4").await.unwrap();
    let v = k.store.audit_verify().await.unwrap();
    assert_eq!(v.first_bad, None, "the chain alone cannot see it");
    let p = problem(&v);
    assert!(p.contains("ends at row 4") && p.contains("truncated"), "{p}");
}

async fn a_re_chained_forgery_is_detected(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 6).await;
    // Mallory drops rows 3.. and appends forged ones with a valid chain, as many as there were,
    // through a store without the key (she has the database, not the key file).
    db.execute("DELETE FROM audit_events WHERE seq >= 3").await.unwrap();
    let mallory = db.open().await;
    append(&mallory, 4).await;
    let v = k.store.audit_verify().await.unwrap();
    assert_eq!(v.first_bad, None, "the forged chain is internally consistent");
    let p = problem(&v);
    assert!(p.contains("re-chained"), "{p}");
}

async fn a_forged_checkpoint_is_detected(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 6).await;
    db.execute("DELETE FROM audit_events WHERE seq > 4").await.unwrap();
    db.execute("UPDATE audit_checkpoint SET head_seq = 4, head_hash = (SELECT hash FROM audit_events WHERE seq = 4)")
        .await
        .unwrap();
    let p = problem(&k.store.audit_verify().await.unwrap());
    assert!(p.contains("signature does not verify"), "{p}");
    // And the next append does not launder it.
    append(&k.store, 1).await;
    let p = problem(&k.store.audit_verify().await.unwrap());
    assert!(p.contains("signature does not verify"), "{p}");
}

async fn rows_appended_without_the_key_are_detected(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 3).await;
    append(&db.open().await, 2).await;
    let p = problem(&k.store.audit_verify().await.unwrap());
    assert!(p.contains("rows after 3 are not covered"), "{p}");
}

async fn a_database_rolled_back_with_its_older_checkpoint_is_detected_by_the_exported_head(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 3).await;
    let old = k.store.audit_checkpoint().await.unwrap().unwrap();
    append(&k.store, 3).await;
    k.store.export_audit_head().await.unwrap();
    assert!(k.head.exists());
    // Mallory restores an older state: rows 1–3 and the checkpoint that was valid then.
    db.execute("DELETE FROM audit_events WHERE seq > 3").await.unwrap();
    db.execute(&format!(
        "UPDATE audit_checkpoint SET head_seq = {}, head_hash = '{}', mac = '{}'",
        old.head_seq, old.head_hash, old.mac
    ))
    .await
    .unwrap();
    let v = k.store.audit_verify().await.unwrap();
    let p = problem(&v);
    assert!(p.contains("ends before row 6"), "{p}");
    // A later export does not erase the evidence.
    append(&k.store, 5).await;
    k.store.export_audit_head().await.unwrap();
    let p = problem(&k.store.audit_verify().await.unwrap());
    assert!(p.contains("row 6 is not the row that was signed"), "{p}");
}

async fn a_deleted_log_is_detected_by_the_exported_head(db: TestDatabase) {
    let k = keyed(&db).await;
    append(&k.store, 4).await;
    k.store.export_audit_head().await.unwrap();
    db.execute("DELETE FROM audit_events").await.unwrap();
    db.execute("DELETE FROM audit_checkpoint").await.unwrap();
    let p = problem(&k.store.audit_verify().await.unwrap());
    assert!(p.contains("the log is empty, but row 4 was signed"), "{p}");
}

async fn rows_from_before_the_key_are_chained_only_and_verify_says_so(db: TestDatabase) {
    append(&db.open().await, 3).await;
    let k = keyed(&db).await;
    append(&k.store, 2).await;
    let v = k.store.audit_verify().await.unwrap();
    assert_eq!(v.first_bad, None);
    let cp = v.checkpoint.unwrap();
    assert_eq!(cp.problem, None);
    assert_eq!(cp.vouches_since.unwrap().0, 4);
}
