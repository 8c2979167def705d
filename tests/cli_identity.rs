//! Who is acting, proven: on a shared store (`access.local_cli_admin: false`) the CLI knows its
//! user only from an API token or from the OS user mapped in `access.os_users`; `--as` and
//! `CLOUD_USER` are refused with the fix. Tokens are shown once, capped, revocable; four-eyes
//! counts a person once across their linked identities. On a single-user store `--as` still
//! works, and the audit log says who typed it.

#[path = "support/cli.rs"]
mod cli;

use std::os::unix::fs::PermissionsExt;

use cli::Cli;

const DISCORD_ALICE: &str = "discord:80351110224678912";

fn audit(c: &Cli) -> Vec<serde_json::Value> {
    let run = c.as_user("root", &["audit", "--json"]);
    run.expect_code(0);
    serde_json::from_str::<serde_json::Value>(&run.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn on_a_shared_store_nobody_can_claim_to_be_someone_else() {
    let c = Cli::strict();
    c.as_user("root", &["grant", "alice", "ecommerce", "deploy", "--reason", "dev"])
        .expect_code(0);
    let before = audit(&c).len();
    // Mallory, on the server host, tries every way of naming the admin.
    for run in [
        c.run(&[
            "grant",
            "mallory",
            "ecommerce",
            "admin",
            "--reason",
            "x",
            "--as",
            "root",
        ]),
        c.run_with(
            &["grant", "mallory", "ecommerce", "admin", "--reason", "x"],
            &[("CLOUD_USER", "root")],
        ),
        c.run_with(&["list"], &[("CLOUD_USER", DISCORD_ALICE)]),
    ] {
        run.expect_code(2);
        assert!(
            run.stderr.contains("--as/CLOUD_USER")
                && run.stderr.contains("access.local_cli_admin: true")
                && run.stderr.contains("CLOUD_TOKEN"),
            "{}",
            run.stderr
        );
    }
    // A token that is not one, and one nobody issued.
    let run = c.run_with(&["list"], &[("CLOUD_TOKEN", "root")]);
    run.expect_code(3);
    assert!(run.stderr.contains("not a cloud-engine token"), "{}", run.stderr);
    let forged = format!("cet_{}", "0".repeat(64));
    let run = c.run_with(&["list"], &[("CLOUD_TOKEN", forged.as_str())]);
    run.expect_code(3);
    assert!(run.stderr.contains("this token is not known here"), "{}", run.stderr);
    assert_eq!(audit(&c).len(), before, "nothing was written");
}

#[test]
fn a_token_speaks_for_its_holder_within_its_role_until_revoked() {
    let c = Cli::strict();
    c.as_user("root", &["grant", "alice", "ecommerce", "admin", "--reason", "owner"])
        .expect_code(0);
    // Root gives alice a read-only token: shown once, stored hashed.
    let run = c.as_user(
        "root",
        &["tokens", "create", "alice", "--role", "read", "--for", "2h", "--json"],
    );
    run.expect_code(0);
    let made: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let (id, token) = (made["id"].as_str().unwrap(), made["token"].as_str().unwrap());
    assert!(token.starts_with("cet_") && token.len() == 68, "{token}");
    let listed = c.as_user("root", &["tokens", "list"]).stdout;
    assert!(
        listed.contains(id) && !listed.contains(token),
        "the secret is never shown again:\n{listed}"
    );
    let runs_as = |args: &[&str]| c.run_with(args, &[("CLOUD_TOKEN", token)]);

    // Alice holds admin on ecommerce, but this token caps her at read.
    runs_as(&["grants", "list", "--project", "ecommerce"]).expect_code(3);
    runs_as(&["list"]).expect_code(0);
    // She cannot mint a wider token with it.
    let run = runs_as(&["tokens", "create", "alice", "--role", "admin"]);
    run.expect_code(3);
    assert!(run.stderr.contains("a token cannot create tokens"), "{}", run.stderr);

    // Her own token may be revoked by her; then it identifies nobody.
    let run = runs_as(&["tokens", "revoke", id, "--reason", "laptop lost"]);
    run.expect_code(0);
    let run = runs_as(&["list"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains(&format!("token {id} was revoked")) && run.stderr.contains("/cloud-token"),
        "{}",
        run.stderr
    );
    let actions: Vec<String> = audit(&c)
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"token.created".into()) && actions.contains(&"token.revoked".into()));
    assert!(
        !serde_json::to_string(&audit(&c)).unwrap().contains(token),
        "the audit log never holds a secret"
    );
}

#[test]
fn a_token_file_must_be_readable_by_its_owner_only() {
    let c = Cli::strict();
    let token = c.token_for("alice");
    let file = c.path("alice-token");
    std::fs::write(&file, &token).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = file.display().to_string();
    let run = c.run_with(&["list"], &[("CLOUD_TOKEN_FILE", path.as_str())]);
    run.expect_code(2);
    assert!(run.stderr.contains(&format!("chmod 600 {path}")), "{}", run.stderr);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    c.run_with(&["list"], &[("CLOUD_TOKEN_FILE", path.as_str())])
        .expect_code(0);
}

#[test]
fn an_unmapped_os_user_without_a_token_is_told_how_to_identify() {
    let mut c = Cli::strict();
    let config = c.path("nobody.yaml");
    std::fs::write(&config, "access:\n  local_cli_admin: false\n").unwrap();
    c.set("CLOUD_CONFIG", &config.display().to_string());
    let run = c.run(&["list"]);
    run.expect_code(3);
    assert!(
        run.stderr.contains("cannot tell who you are")
            && run
                .stderr
                .contains(&format!("`{}` is not in access.os_users", cli::os_user())),
        "{}",
        run.stderr
    );
}

#[test]
fn four_eyes_counts_a_person_once_whichever_identity_they_approve_with() {
    let c = Cli::strict();
    for args in [
        ["grant", "alice", "ecommerce", "deploy", "--reason", "release"],
        ["grant", DISCORD_ALICE, "ecommerce", "approve", "--reason", "reviews"],
        ["grant", "bob", "ecommerce", "approve", "--reason", "reviewer"],
    ] {
        c.as_user("root", &args).expect_code(0);
    }
    let run = c.as_user("root", &["people", "link", "alice", "cli:alice", DISCORD_ALICE]);
    run.expect_code(0);
    assert!(
        run.stdout.contains("alice is cli:alice, discord:80351110224678912"),
        "{}",
        run.stdout
    );

    c.as_user("alice", &["plan", "ecommerce", "stage"]).expect_code(0);
    let id = c.sessions()[0].0.clone();
    // Alice approves her own plan with her Discord identity (a token root issued to it).
    let run = c.as_user(DISCORD_ALICE, &["approve", &id, "--no-apply"]);
    run.expect_code(3);
    assert!(
        run.stderr
            .contains("you requested this session (as cli:alice, linked to the same person)")
            && run.stderr.contains("four-eyes"),
        "{}",
        run.stderr
    );
    // Someone else approves: it counts.
    c.as_user("bob", &["approve", &id, "--no-apply"]).expect_code(0);
    let run = c.as_user("root", &["status", &id, "--json"]);
    assert!(run.stdout.contains("\"APPROVED\""), "{}", run.stdout);
}

#[test]
fn on_a_single_user_store_as_still_works_and_the_audit_log_says_who_typed_it() {
    // The checkout's default (README quick start): `local_cli_admin: true`, CLOUD_USER=alice.
    let c = Cli::new();
    c.run(&["grant", "bob", "ecommerce", "read", "--reason", "support"])
        .expect_code(0);
    let run = c.run(&["audit", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let acting = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "identity.acting_as")
        .expect("an acting-as row");
    assert_eq!(acting["actor"], "cli:alice");
    assert_eq!(acting["details"]["os_user"], cli::os_user());
    let grant_row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "grant.created")
        .unwrap();
    assert_eq!(
        acting["details"]["rows"][0], grant_row["seq"],
        "it names the rows it covers"
    );
    // A refused command writes nothing, not even this.
    let before = rows.as_array().unwrap().len();
    c.run(&["grant", "bob", "shop", "read", "--reason", "x"]).expect_code(2);
    // Reading does not add one.
    let count = |c: &Cli| {
        let run = c.run(&["audit", "--json"]);
        serde_json::from_str::<serde_json::Value>(&run.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&c), before);
    c.run(&["list"]).expect_code(0);
    assert_eq!(count(&c), before);
}
