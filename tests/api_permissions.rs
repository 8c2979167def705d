//! The API front end of the permission matrix: roles × endpoints × environments through
//! `cloud serve --api`, and impersonation attempts (a token for A with a body or header claiming
//! B). The expectation comes from one rule — a role granted on ecommerce/dev allows an endpoint
//! in dev when it is at least the endpoint's role, and nothing in prod — and every cell is
//! checked: an allowed call is never refused for permissions (401/403), a forbidden one is
//! always a 403.

#[path = "support/api.rs"]
mod api;
#[path = "support/cli.rs"]
mod cli;

use api::{next_event, ApiServer};
use cli::Cli;
use serde_json::{json, Value};

/// Roles in their order (each includes the ones before it); `none` holds no grant.
const ROLES: [&str; 5] = ["none", "read", "deploy", "approve", "admin"];
const ENVS: [&str; 2] = ["dev", "prod"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

/// An endpoint of the matrix and the role it needs on the session's project/environment.
struct Endpoint {
    name: &'static str,
    needs: &'static str,
}

const ENDPOINTS: [Endpoint; 5] = [
    Endpoint {
        name: "status",
        needs: "read",
    },
    Endpoint {
        name: "logs",
        needs: "read",
    },
    Endpoint {
        name: "deploy",
        needs: "deploy",
    },
    Endpoint {
        name: "approve",
        needs: "approve",
    },
    // Someone else's session: cancelling it needs `approve` (last: it changes the session).
    Endpoint {
        name: "cancel",
        needs: "approve",
    },
];

async fn call(server: &ApiServer, endpoint: &str, token: &str, env: &str, session: &str) -> api::Answer {
    match endpoint {
        "status" => server.get(&format!("/sessions/{session}"), token).await,
        "logs" => server.get(&format!("/sessions/{session}/logs"), token).await,
        "deploy" => {
            server
                .post(
                    &format!("/deployments/ecommerce/{env}/sessions"),
                    token,
                    json!({"stacks": ["network"]}),
                )
                .await
        }
        // A digest that is not the plan's: the call is refused after the gate either way, so
        // the matrix never applies anything.
        "approve" => {
            server
                .post(
                    &format!("/sessions/{session}/approve"),
                    token,
                    json!({"digest": "0123456789abcdef"}),
                )
                .await
        }
        "cancel" => {
            server
                .post(
                    &format!("/sessions/{session}/cancel"),
                    token,
                    json!({"reason": "matrix"}),
                )
                .await
        }
        other => unreachable!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_endpoint_and_environment_is_enforced_over_the_api() {
    let c = Cli::strict();
    for role in &ROLES[1..] {
        let user = format!("{role}-user");
        c.run(&[
            "grant",
            &user,
            "ecommerce",
            role,
            "--env",
            "dev",
            "--for",
            "1d",
            "--reason",
            "matrix",
        ])
        .expect_code(0);
    }
    c.run(&[
        "grant",
        "opener",
        "ecommerce",
        "deploy",
        "--for",
        "1d",
        "--reason",
        "matrix",
    ])
    .expect_code(0);
    let server = ApiServer::start(&c).await;
    let opener = c.token_for("opener");

    // One session per environment, opened by someone else, planned.
    let mut sessions = std::collections::BTreeMap::new();
    for env in ENVS {
        let opened = server
            .post(
                &format!("/deployments/ecommerce/{env}/sessions"),
                &opener,
                json!({"stacks": ["network"]}),
            )
            .await;
        assert_eq!(opened.status, 201, "{opened:?}");
        let id = opened.body["id"].as_str().unwrap().to_string();
        let mut stream = server.follow_logs(&id, &opener).await;
        let mut seen = vec![];
        next_event(&mut stream, &mut seen, "PLAN_READY", |e| e["state"] == "PLAN_READY").await;
        sessions.insert(env, id);
    }

    let mut checked = 0;
    let mut failures = vec![];
    for endpoint in &ENDPOINTS {
        for env in ENVS {
            for role in ROLES {
                let token = c.token_for(&format!("{role}-user"));
                let allowed = env == "dev" && rank(role) >= rank(endpoint.needs);
                let answer = call(&server, endpoint.name, &token, env, &sessions[env]).await;
                checked += 1;
                let ok = if allowed {
                    answer.status != 401 && answer.status != 403 && answer.status < 500
                } else {
                    answer.status == 403 && answer.body["error"]["code"] == "forbidden"
                };
                if !ok {
                    failures.push(format!(
                        "{} in {env} as {role}: expected {}, got {} {}",
                        endpoint.name,
                        if allowed { "allowed" } else { "403" },
                        answer.status,
                        answer.body
                    ));
                }
            }
        }
    }
    assert_eq!(checked, ENDPOINTS.len() * ENVS.len() * ROLES.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_one_person_never_acts_as_another() {
    let c = Cli::strict();
    // Alice may approve stage too: only the four-eyes rule stands between her and her own plan.
    c.run(&[
        "grant",
        "alice",
        "ecommerce",
        "approve",
        "--env",
        "stage",
        "--for",
        "1d",
        "--reason",
        "t",
    ])
    .expect_code(0);
    c.run(&[
        "grant",
        "bob",
        "ecommerce",
        "approve",
        "--env",
        "stage",
        "--for",
        "1d",
        "--reason",
        "t",
    ])
    .expect_code(0);
    let server = ApiServer::start(&c).await;
    let (alice, bob) = (c.token_for("alice"), c.token_for("bob"));
    let sessions = |answer: &api::Answer| answer.body["sessions"].as_array().map(Vec::len);

    // A body naming another requester is refused; nothing is opened.
    for claim in [
        json!({"requester": "cli:bob"}),
        json!({"as": "cli:bob"}),
        json!({"principal": "cli:bob"}),
    ] {
        let answer = server
            .post("/deployments/ecommerce/stage/sessions", &bob, claim.clone())
            .await;
        assert_eq!(answer.status, 422, "{claim}: {answer:?}");
    }
    assert_eq!(sessions(&server.get("/sessions", &bob).await), Some(0));

    // Alice opens a session; she cannot approve it by claiming to be bob, in the body or in a header.
    let opened = server
        .post(
            "/deployments/ecommerce/stage/sessions",
            &alice,
            json!({"stacks": ["network"]}),
        )
        .await;
    assert_eq!(opened.status, 201, "{opened:?}");
    let id = opened.body["id"].as_str().unwrap().to_string();
    let mut stream = server.follow_logs(&id, &alice).await;
    let mut seen = vec![];
    next_event(&mut stream, &mut seen, "PLAN_READY", |e| e["state"] == "PLAN_READY").await;
    let body_claim = server
        .post(
            &format!("/sessions/{id}/approve"),
            &alice,
            json!({"approver": "cli:bob"}),
        )
        .await;
    assert_eq!(body_claim.status, 422, "{body_claim:?}");
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/sessions/{id}/approve", server.base))
        .bearer_auth(&alice)
        .header("X-Cloud-User", "cli:bob")
        .header("X-Forwarded-User", "cli:bob")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        403,
        "headers name nobody: alice is still the requester"
    );
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("four-eyes"),
        "{body}"
    );

    // Bob's token used for grants he may not give: refused, nothing granted.
    let grant = server
        .post(
            "/grants",
            &bob,
            json!({"principal": "cli:bob", "project": "ecommerce", "role": "admin", "reason": "self-promotion"}),
        )
        .await;
    assert_eq!(grant.status, 403, "{grant:?}");
    assert_eq!(
        server.get(&format!("/sessions/{id}"), &bob).await.body["state"],
        "PLAN_READY"
    );
    assert!(server.get(&format!("/sessions/{id}"), &bob).await.body["approvals"].is_null());
    server.stop().await;
}
