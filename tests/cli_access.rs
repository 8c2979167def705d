//! Access and FinOps commands through the real `cloud` binary, as an operator types them:
//! refusals exit 3 and say which grant is missing; grants, revokes, quotas, admin list/cancel,
//! stats and the audit log; bad input exits 2 and writes nothing.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

/// A shared-bot setup: no `cli:` user is an admin by default; `root` is the bootstrap admin
/// (the OS user running the tests); everyone else proves who they are with an API token.
fn strict() -> Cli {
    Cli::strict()
}

fn as_(c: &Cli, who: &str, args: &[&str]) -> cli::Run {
    c.as_user(who, args)
}

fn audit_rows(c: &Cli) -> usize {
    let run = as_(c, "root", &["audit", "--json"]);
    run.expect_code(0);
    serde_json::from_str::<serde_json::Value>(&run.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn without_a_grant_deploy_is_refused_with_exit_3_and_the_command_to_fix_it() {
    let c = strict();
    let run = as_(&c, "alice", &["deploy", "ecommerce", "dev", "--approve"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("you need `deploy` on ecommerce/dev to deploy it (cli:alice: you have no grant there); ask an admin: cloud grant cli:alice ecommerce deploy --env dev --for 2h --reason"),
        "{}",
        run.stderr
    );
    let run = as_(&c, "root", &["list", "--json"]);
    run.expect_code(0);
    assert_eq!(run.stdout.trim(), "[]", "nothing was started");
}

#[test]
fn an_admin_grants_just_in_time_access_and_revokes_it() {
    let c = strict();
    let run = as_(
        &c,
        "root",
        &[
            "grant",
            "alice",
            "ecommerce",
            "approve",
            "--env",
            "dev",
            "--for",
            "2h",
            "--reason",
            "INC-42 hotfix",
            "--json",
        ],
    );
    run.expect_code(0);
    let grant: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let id = grant["id"].as_str().unwrap().to_string();
    assert_eq!(grant["principal"], "cli:alice");
    assert_eq!(grant["env"], "dev");
    assert!(grant["expires_at"].is_string());

    // Alice may deploy dev now and approve her own plan (dev allows self-approval) …
    let run = as_(&c, "alice", &["deploy", "ecommerce", "dev", "--approve"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("Estimated monthly cost (USD, us-east-1 prices of"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Applied."), "{}", run.stdout);
    // … but not stage, and she cannot administer.
    as_(&c, "alice", &["plan", "ecommerce", "stage"]).expect_code(3);
    let run = as_(&c, "alice", &["grants", "list"]);
    run.expect_code(3);
    assert!(run.stderr.contains("you need `admin`"), "{}", run.stderr);

    let run = as_(&c, "root", &["grants", "list", "--user", "alice"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(&id) && run.stdout.contains("ecommerce/dev") && run.stdout.contains("INC-42 hotfix"),
        "{}",
        run.stdout
    );

    as_(&c, "root", &["revoke", &id, "--reason", "hotfix shipped"]).expect_code(0);
    let run = as_(&c, "alice", &["plan", "ecommerce", "dev"]);
    run.expect_code(3);
    let run = as_(&c, "root", &["grants", "list"]);
    assert!(run.stdout.contains("No grants"), "{}", run.stdout);
    let run = as_(&c, "root", &["grants", "list", "--all"]);
    assert!(run.stdout.contains("revoked"), "{}", run.stdout);

    let run = as_(&c, "root", &["audit"]);
    for action in ["grant.created", "grant.revoked", "session.approve"] {
        assert!(run.stdout.contains(action), "{action} missing:\n{}", run.stdout);
    }
}

#[test]
fn bad_admin_input_exits_2_and_writes_nothing() {
    let c = strict();
    let before = audit_rows(&c);
    let cases: &[(&[&str], &str)] = &[
        (
            &["grant", "alice", "nope", "deploy", "--reason", "x"],
            "unknown project `nope`",
        ),
        (
            &["grant", "alice", "ecommerce", "superuser", "--reason", "x"],
            "unknown role `superuser`: roles are read, deploy, approve and admin",
        ),
        (
            &["grant", "discord:alice", "ecommerce", "read", "--reason", "x"],
            "unknown user `discord:alice`",
        ),
        (
            &["grant", "bad user", "ecommerce", "read", "--reason", "x"],
            "invalid user",
        ),
        (
            &[
                "grant",
                "alice",
                "ecommerce",
                "read",
                "--until",
                "2001-01-01",
                "--reason",
                "x",
            ],
            "is in the past",
        ),
        (
            &["grant", "alice", "ecommerce", "read", "--for", "soon", "--reason", "x"],
            "--for `soon` is not a duration",
        ),
        (
            &["grant", "alice", "ecommerce", "read", "--env", "qa", "--reason", "x"],
            "has no environment `qa`",
        ),
        (
            &["grant", "alice", "ecommerce", "read", "--reason", ""],
            "needs a reason",
        ),
        (&["quota", "set", "ecommerce", "vm", "-3"], "must be a number ≥ 0"),
        (&["quota", "set", "ecommerce", "vm", "1e12"], "absurd"),
        (&["quota", "set", "ecommerce", "vm", "lots"], "is not a number"),
        (&["quota", "set", "ecommerce", "gpus", "3"], "unknown quota key `gpus`"),
        (&["quota", "set", "nope", "vm", "3"], "unknown project `nope`"),
        (&["revoke", "0123456789ab", "--reason", "x"], "no grant `0123456789ab`"),
        (
            &["projects", "create", "Bad_Name", "--org", "acme"],
            "invalid project name `Bad_Name`",
        ),
        (&["stats", "--since", "whenever"], "neither a duration"),
        (&["admin", "cancel", "deadbeef", "--reason", "x"], "no session deadbeef"),
    ];
    for (args, expected) in cases {
        let run = as_(&c, "root", args);
        run.expect_code(2);
        assert!(
            run.stderr.contains(expected),
            "{args:?}: expected `{expected}` in:\n{}",
            run.stderr
        );
    }
    assert_eq!(audit_rows(&c), before, "nothing was written");
    let run = as_(&c, "root", &["grants", "list", "--all", "--json"]);
    assert_eq!(run.stdout.trim(), "[]");
}

/// `cloud quota show` and `/cloud-quota` are one action: the same order of checks (an unknown
/// project is unknown whoever asks) and the same quota text.
#[test]
fn quota_show_answers_like_the_chat_command() {
    let c = strict();
    let run = as_(&c, "alice", &["quota", "show", "shop"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with("error: Unknown project `shop`. `cloud projects list` shows the projects"),
        "an unknown project is not a permission problem: {}",
        run.stderr
    );
    let run = as_(&c, "alice", &["quota", "show", "ecommerce"]);
    run.expect_code(3);
    assert!(run.stderr.contains("you need `read` on ecommerce"), "{}", run.stderr);
    // Reading one environment of the project is enough (issue 16.7: quota for anyone with read).
    as_(
        &c,
        "root",
        &[
            "grant",
            "alice",
            "ecommerce",
            "read",
            "--env",
            "dev",
            "--reason",
            "support",
        ],
    )
    .expect_code(0);
    as_(&c, "alice", &["quota", "show", "ecommerce"]).expect_code(0);
    let run = as_(&c, "root", &["quota", "show", "ecommerce"]);
    run.expect_code(0);
    assert!(
        run.stdout.starts_with("Quotas of ecommerce:\n  no quotas set; an admin sets one with `cloud quota set ecommerce <key> <limit>`\n  (resources and"),
        "{}",
        run.stdout
    );
}

#[test]
fn quotas_show_usage_bars_and_an_over_quota_plan_needs_an_admin_override() {
    let c = strict();
    // root: the OS user running the tests, mapped in `access.os_users`.
    // dev: one NAT gateway. Limit NAT gateways to 0 so the plan is over quota.
    c.run(&["quota", "set", "ecommerce", "nat", "0"]).expect_code(0);
    c.run(&["quota", "set", "ecommerce", "cost", "5000"]).expect_code(0);
    let run = c.run(&["quota", "show", "ecommerce"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("cost $0.00/$5000.00 ░░░░░░░░░░ 0%"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("nat  0/0 ░░░░░░░░░░ 0%"), "{}", run.stdout);

    as_(
        &c,
        "root",
        &["grant", "bob", "ecommerce", "approve", "--reason", "reviewer"],
    )
    .expect_code(0);
    as_(
        &c,
        "root",
        &["grant", "alice", "ecommerce", "deploy", "--reason", "dev"],
    )
    .expect_code(0);
    let run = as_(&c, "alice", &["plan", "ecommerce", "stage"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("OVER QUOTA: nat would be 1 (limit 0)"),
        "{}",
        run.stdout
    );
    let id = c.sessions()[0].0.clone();

    let run = as_(&c, "bob", &["approve", &id]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("this plan is over the quota of ecommerce: nat would be 1 (limit 0)"),
        "{}",
        run.stderr
    );
    let run = as_(&c, "bob", &["approve", &id, "--override-reason", "please"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("you need `admin` on ecommerce/stage"),
        "{}",
        run.stderr
    );

    let run = as_(
        &c,
        "root",
        &[
            "approve",
            &id,
            "--override-reason",
            "NAT needed for the launch",
            "--no-apply",
        ],
    );
    run.expect_code(0);
    let run = as_(&c, "root", &["audit", "--session", &id, "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let over = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "session.approve_override")
        .expect("override row");
    assert_eq!(over["details"]["override_reason"], "NAT needed for the launch");
    assert_eq!(over["actor"], "cli:root");
}

#[test]
fn admin_list_and_cancel_see_everyone_and_need_admin() {
    let c = strict();
    as_(
        &c,
        "root",
        &["grant", "alice", "ecommerce", "deploy", "--reason", "dev"],
    )
    .expect_code(0);
    as_(&c, "alice", &["plan", "ecommerce", "stage"]).expect_code(0);
    let id = c.sessions()[0].0.clone();
    as_(&c, "alice", &["admin", "list"]).expect_code(3);
    // Someone without a grant sees nothing and cannot read the session.
    let run = as_(&c, "mallory", &["list"]);
    run.expect_code(0);
    assert!(run.stdout.contains("No sessions match."), "{}", run.stdout);
    for args in [&["status", id.as_str()][..], &["logs", id.as_str()][..]] {
        let run = as_(&c, "mallory", args);
        run.expect_code(3);
        assert!(
            run.stderr.contains("you need `read` on ecommerce/stage"),
            "{}",
            run.stderr
        );
    }
    let run = as_(&c, "root", &["admin", "list", "--active"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains(&id) && run.stdout.contains("by cli:alice"),
        "{}",
        run.stdout
    );
    as_(&c, "alice", &["admin", "cancel", &id, "--reason", "mine"]).expect_code(3);
    let run = as_(
        &c,
        "root",
        &["admin", "cancel", &id, "--reason", "freeze for the audit"],
    );
    run.expect_code(0);
    assert!(run.stdout.contains("CANCELLED"), "{}", run.stdout);
    let run = as_(&c, "root", &["stats", "--json"]);
    run.expect_code(0);
    let stats: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(stats["sessions"], 1);
    assert_eq!(stats["by_state"]["CANCELLED"], 1);
    assert_eq!(stats["top_requesters"][0]["name"], "cli:alice");
    let run = as_(&c, "root", &["stats", "--since", "30d"]);
    run.expect_code(0);
    assert!(run.stdout.contains("by state      CANCELLED 1"), "{}", run.stdout);
}

#[tokio::test]
async fn audit_verify_names_the_row_that_was_altered() {
    let c = Cli::new();
    c.run(&["deploy", "ecommerce", "dev", "--approve"]).expect_code(0);
    let run = c.run(&["audit", "verify"]);
    run.expect_code(0);
    assert!(run.stdout.contains("chain intact"), "{}", run.stdout);

    // Someone with the database file rewrites who approved.
    let store = cloud_core::store::Store::open_in(&c.path("data")).await.unwrap();
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM audit_events WHERE action = 'session.approve'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = ?")
        .bind(seq)
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;

    let run = c.run(&["audit", "verify"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "audit row #{seq} does not verify: its content does not match its hash"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unpriced_instance_type_is_named_in_the_plan_and_a_broken_price_list_exits_2() {
    let mut c = Cli::new();
    // A price list without t3.micro (dev's launch template type).
    let prices = std::fs::read_to_string(c.workspace.path("config/pricing.yaml")).unwrap();
    assert!(prices.contains("  t3.micro: 0.0104\n"));
    std::fs::write(c.path("prices.yaml"), prices.replace("  t3.micro: 0.0104\n", "")).unwrap();
    c.set("CLOUD_PRICING", &c.path("prices.yaml").display().to_string());
    let run = c.run(&["plan", "ecommerce", "dev", "--stacks", "network,security,compute-ec2"]);
    run.expect_code(0);
    assert!(run.stdout.contains("not priced (not in the total):"), "{}", run.stdout);
    assert!(
        run.stdout.contains("(aws:autoscaling/group:Group): instance type `t3.micro` is not in the price list (add it under ec2_hourly)"),
        "{}",
        run.stdout
    );

    std::fs::write(
        c.path("prices.yaml"),
        prices.replace("t3.small: 0.0208", "t3.small: -0.0208"),
    )
    .unwrap();
    let run = c.run(&["list"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("prices.yaml: ec2_hourly.t3.small = -0.0208: a price must be a number ≥ 0"),
        "{}",
        run.stderr
    );
}

#[test]
fn audit_verify_vouches_with_the_signed_head_and_notices_a_deleted_database() {
    let c = Cli::new();
    c.run(&["grant", "bob", "ecommerce", "read", "--reason", "support"])
        .expect_code(0);
    let run = c.run(&["audit", "verify"]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("signed head: vouches for rows 1–"),
        "{}",
        run.stdout
    );
    let data = c.path("data");
    let key = std::fs::metadata(data.join("audit.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );
    // Someone with the data dir but without respect for it deletes the database.
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("cloud.db") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let run = c.run(&["audit", "verify"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("does not match its signed head") && run.stderr.contains("deleted"),
        "{}",
        run.stderr
    );
}
