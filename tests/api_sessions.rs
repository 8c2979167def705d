//! The HTTP API of `cloud serve --api` as its users meet it: a requester opens a deploy, the
//! four-eyes rule holds, a teammate approves and the logs stream until the session is APPLIED;
//! tokens that prove nothing get 401; a read-only token cannot deploy; `cloud login` keeps the
//! token in a file only its owner reads and the CLI then works through the server.

#[path = "support/api.rs"]
mod api;
#[path = "support/cli.rs"]
mod cli;

use api::{next_event, ApiServer};
use cli::Cli;
use serde_json::json;

/// A shared store where alice and bob may both deploy and approve ecommerce/stage (stage needs
/// one approval from someone other than the requester: only four-eyes stops alice).
fn team() -> Cli {
    let c = Cli::strict();
    for (who, role) in [("alice", "approve"), ("bob", "approve")] {
        c.run(&[
            "grant",
            who,
            "ecommerce",
            role,
            "--env",
            "stage",
            "--for",
            "1d",
            "--reason",
            "API story",
        ])
        .expect_code(0);
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_over_the_api_needs_a_second_person_and_streams_its_logs_until_applied() {
    let c = team();
    let (alice, bob) = (c.token_for("alice"), c.token_for("bob"));
    let server = ApiServer::start(&c).await;

    let me = server.get("/whoami", &alice).await;
    assert_eq!(me.status, 200, "{:?}", me);
    assert_eq!(me.body["principal"], "cli:alice");

    // Alice opens the deploy; the server plans it.
    let opened = server
        .post(
            "/deployments/ecommerce/stage/sessions",
            &alice,
            json!({"stacks": ["network"]}),
        )
        .await;
    assert_eq!(opened.status, 201, "{:?}", opened);
    assert_eq!(opened.body["requester"], "cli:alice");
    assert_eq!(opened.body["env"], "stage");
    let id = opened.body["id"].as_str().unwrap().to_string();

    // Alice follows the session's output from now until it ends.
    let mut stream = server.follow_logs(&id, &alice).await;
    let mut seen = vec![];
    next_event(&mut stream, &mut seen, "PLAN_READY", |e| {
        e["type"] == "state" && e["state"] == "PLAN_READY"
    })
    .await;

    // Four-eyes: the requester cannot approve her own session, whatever her token allows.
    let own = server.post(&format!("/sessions/{id}/approve"), &alice, json!({})).await;
    assert_eq!(own.status, 403, "{:?}", own);
    assert_eq!(own.body["error"]["code"], "forbidden");
    assert!(own.message().contains("four-eyes"), "{}", own.message());
    // Nor by claiming to be someone else in the body.
    let claim = server
        .post(
            &format!("/sessions/{id}/approve"),
            &alice,
            json!({"approver": "cli:bob"}),
        )
        .await;
    assert_eq!(claim.status, 422, "{:?}", claim);
    assert_eq!(
        server.get(&format!("/sessions/{id}"), &alice).await.body["state"],
        "PLAN_READY"
    );

    // Bob approves the plan he reviewed; the server applies it.
    let digest = server.get(&format!("/sessions/{id}"), &bob).await.body["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let approved = server
        .post(&format!("/sessions/{id}/approve"), &bob, json!({"digest": digest}))
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved);
    assert_eq!(approved.body["approvals"][0]["approver"], "cli:bob");

    let end = next_event(&mut stream, &mut seen, "the end of the stream", |e| e["type"] == "end").await;
    assert_eq!(end["state"], "APPLIED", "{seen:#?}");
    assert!(
        seen.iter().any(|e| e["type"] == "log" && e["stack"] == "network"),
        "engine output was streamed: {seen:#?}"
    );
    assert!(stream.recv().await.is_none(), "nothing follows the end");

    // The same session, read back: applied, approved by bob; a second approve is a conflict.
    let s = server.get(&format!("/sessions/{}", &id[..8]), &bob).await;
    assert_eq!(s.body["state"], "APPLIED");
    let again = server.post(&format!("/sessions/{id}/approve"), &bob, json!({})).await;
    assert_eq!(again.status, 409, "{:?}", again);
    assert_eq!(again.body["error"]["code"], "conflict");

    // The CLI on the store sees the same session.
    let run = c.run(&["status", &id[..8], "--json"]);
    run.expect_code(0);
    assert!(run.stdout.contains("APPLIED"), "{}", run.stdout);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_prove_nothing_get_401_and_a_read_only_token_cannot_deploy() {
    let c = team();
    let server = ApiServer::start(&c).await;

    let none = server.call("GET", "/sessions", None, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["error"]["code"], "unauthorized");
    assert!(none.message().contains("Authorization: Bearer"), "{}", none.message());
    assert_eq!(server.get("/sessions", "not-a-token").await.status, 401);
    assert_eq!(
        server
            .get(
                "/sessions",
                "cet_0000000000000000000000000000000000000000000000000000000000000000"
            )
            .await
            .status,
        401
    );

    // A revoked token stops working at once.
    let run = c.run(&["tokens", "create", "alice", "--role", "deploy", "--for", "1d", "--json"]);
    run.expect_code(0);
    let issued: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let (token, token_id) = (issued["token"].as_str().unwrap(), issued["id"].as_str().unwrap());
    assert_eq!(server.get("/whoami", token).await.status, 200);
    c.run(&["tokens", "revoke", token_id, "--reason", "laptop lost"])
        .expect_code(0);
    let revoked = server.get("/whoami", token).await;
    assert_eq!(revoked.status, 401, "{:?}", revoked);
    assert!(revoked.message().contains("revoked"), "{}", revoked.message());

    // An expired token too (its expiry moved into the past in the database).
    let run = c.run(&["tokens", "create", "alice", "--role", "deploy", "--for", "1d", "--json"]);
    let issued: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let (token, token_id) = (issued["token"].as_str().unwrap(), issued["id"].as_str().unwrap());
    assert_eq!(server.get("/whoami", token).await.status, 200);
    let db = format!("sqlite://{}", c.path("data/cloud.db").display());
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = '2001-01-01T00:00:00.000000Z' WHERE id = $1")
        .bind(token_id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let expired = server.get("/whoami", token).await;
    assert_eq!(expired.status, 401, "{:?}", expired);
    assert!(expired.message().contains("expired"), "{}", expired.message());

    // Alice may deploy stage, but a token capped at `read` may not.
    let run = c.run(&["tokens", "create", "alice", "--role", "read", "--for", "1d", "--json"]);
    let issued: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let read_only = issued["token"].as_str().unwrap();
    let refused = server
        .post(
            "/deployments/ecommerce/stage/sessions",
            read_only,
            json!({"stacks": ["network"]}),
        )
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused);
    assert_eq!(refused.body["error"]["code"], "forbidden");
    let list = server.get("/sessions", read_only).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["sessions"], json!([]), "nothing was opened");

    // Unknown things are 404, bad input 422.
    assert_eq!(server.get("/sessions/ffffffff", read_only).await.status, 404);
    let unknown_env = server
        .post("/deployments/ecommerce/nope/sessions", read_only, json!({}))
        .await;
    assert_eq!(unknown_env.status, 404, "{:?}", unknown_env);
    assert_eq!(server.get("/sessions?limit=0", read_only).await.status, 422);
    assert_eq!(server.get("/no/such/endpoint", read_only).await.status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_login_keeps_the_token_private_and_the_cli_then_works_through_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let c = team();
    let server = ApiServer::start(&c).await;
    let alice = c.token_for("alice");
    // A client machine: its own home and an empty data dir (nothing local to fall back on).
    let mut client = Cli::strict();
    client.set("HOME", &c.path("client-home").display().to_string());
    client.set("CLOUD_DATA_DIR", &c.path("client-data").display().to_string());

    let bad = client.run(&["login", &server.base, "--token", "cet_wrong"]);
    bad.expect_code(3);
    assert!(
        !c.path("client-home/.config/cloud/login.json").exists(),
        "a refused login saves nothing"
    );

    let run = client.run(&["login", &server.base, "--token", &alice]);
    run.expect_code(0);
    assert!(run.stdout.contains("Logged in to"), "{}", run.stdout);
    assert!(run.stdout.contains("cli:alice"), "{}", run.stdout);
    assert!(!run.all().contains(&alice), "the token is never printed");
    let file = c.path("client-home/.config/cloud/login.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the login file is the owner's only");

    // Deploy through the server: it plans, and says who approves next.
    let run = client.run(&["deploy", "ecommerce", "stage", "--stacks", "network"]);
    run.expect_code(0);
    assert!(run.stdout.contains("PLAN_READY"), "{}", run.stdout);
    let id = server.get("/sessions", &alice).await.body["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = client.run(&["status", &id[..8]]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("PLAN_READY") && run.stdout.contains("cli:alice"),
        "{}",
        run.stdout
    );
    let run = client.run(&["list"]);
    run.expect_code(0);
    assert!(run.stdout.contains(&id[..8]), "{}", run.stdout);
    // Four-eyes through the CLI too (exit 3, the server's words).
    let run = client.run(&["approve", &id[..8]]);
    run.expect_code(3);
    assert!(run.stderr.contains("four-eyes"), "{}", run.stderr);
    let run = client.run(&["cancel", &id[..8], "--reason", "changed my mind"]);
    run.expect_code(0);
    assert!(run.stdout.contains("CANCELLED"), "{}", run.stdout);

    // A login file others can read is refused, with the fix.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = client.run(&["list"]);
    run.expect_code(2);
    assert!(run.stderr.contains("chmod 600"), "{}", run.stderr);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let run = client.run(&["logout"]);
    run.expect_code(0);
    assert!(!file.exists());
    server.stop().await;
}
