//! The team backend through the binary: with `CLOUD_DATABASE_URL=postgres://…` the same
//! commands keep sessions in PostgreSQL, every process sees them, and `cloud doctor` checks the
//! server's migrations. Needs `CLOUD_TEST_POSTGRES_URL` (./scripts/test.sh starts a server).

#[path = "support/cli.rs"]
mod cli;

use cli::{Cli, Run};
use cloud_testkit::db::TestDatabase;

fn database_line(run: &Run) -> String {
    run.stdout
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with("database")))
        .unwrap_or_else(|| panic!("no database line in:\n{}", run.stdout))
        .to_string()
}

#[test]
fn a_deploy_on_a_team_database_is_seen_by_every_later_process() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDatabase::postgres());
    // The test server trusts every connection, so a password in the URL is accepted and
    // ignored: enough to check it is never printed.
    let url = db
        .url
        .replacen("postgres://postgres@", "postgres://postgres:hunter2-pg@", 1);
    assert_ne!(url, db.url, "the test URL names its user: {}", db.url);
    let mut cli = Cli::new();
    cli.set("CLOUD_DATABASE_URL", &url);

    let migrations = cloud_core::store::MIGRATOR.iter().count();
    let fresh = cli.run(&["doctor"]);
    let line = database_line(&fresh);
    assert!(line.starts_with("warn"), "{line}");
    assert!(
        line.contains(&format!("0 of {migrations} migrations applied, {migrations} pending")),
        "{line}"
    );
    assert!(line.contains("postgres:********@"), "{line}");

    cli.run(&["deploy", "ecommerce", "dev", "--approve"]).expect_code(0);
    let sessions = cli.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].1, "APPLIED");
    cli.run(&["audit", "verify"]).expect_code(0);
    assert!(
        !cli.path("data/cloud.db").exists(),
        "nothing went to the embedded database"
    );

    let ready = cli.run(&["doctor"]);
    let line = database_line(&ready);
    assert!(line.starts_with("ok"), "{line}");
    assert!(
        line.contains(&format!("{migrations}/{migrations} migrations applied")),
        "{line}"
    );
    for run in [&fresh, &ready] {
        assert!(
            !run.all().contains("hunter2-pg"),
            "the password was printed:\n{}",
            run.all()
        );
    }
    let shown = cli.run(&["config", "show"]);
    assert!(shown.stdout.contains("postgres:********@"), "{}", shown.stdout);
    assert!(!shown.all().contains("hunter2-pg"), "{}", shown.all());
}
