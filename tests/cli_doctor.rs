//! `cloud doctor` as a user runs it: one line per check, a fix on every failing line, exit 2 when
//! anything fails, and never a secret's value — only whether it is there.

#[path = "support/cli.rs"]
mod cli;

use cli::{script, Cli, Run};

const PASSPHRASE: &str = "doctor-passphrase-5e3c";
const AWS_SECRET: &str = "wJalrXUtnFEMI-doctor-secret";
const AWS_KEY: &str = "AKIADOCTOREXAMPLE";
const PULUMI_TOKEN: &str = "pul-doctortoken-77aa";

/// The line of a check, by its name (the second column).
fn line<'a>(run: &'a Run, check: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(check)))
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{}", run.stdout))
}

fn status<'a>(run: &'a Run, check: &str) -> &'a str {
    line(run, check).split_whitespace().next().unwrap()
}

fn assert_no_secrets(run: &Run) {
    for secret in [PASSPHRASE, AWS_SECRET, AWS_KEY, PULUMI_TOKEN] {
        assert!(!run.all().contains(secret), "{secret} printed:\n{}", run.all());
    }
}

#[test]
fn a_ready_installation_passes_every_check() {
    let cli = Cli::new();
    // A database with every migration: any command creates it.
    cli.run(&["list"]).expect_code(0);
    let run = cli.run_with(
        &["doctor"],
        &[
            ("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE),
            ("AWS_ACCESS_KEY_ID", AWS_KEY),
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
            ("AWS_REGION", "eu-west-1"),
        ],
    );
    run.expect_code(0);
    let names: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l[6..].split("  ").next().unwrap().trim())
        .collect();
    assert_eq!(
        names,
        [
            "configuration",
            "pulumi binary",
            "backend",
            "passphrase",
            "cloud credentials",
            "data dir",
            "database",
            "session rows"
        ]
    );
    for l in run.stdout.lines() {
        assert!(l.starts_with("ok "), "{l}");
    }
    assert!(
        line(&run, "pulumi binary").contains("pulumi-standin (v3."),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "backend").contains("/data/pulumi-state (writable)"),
        "{}",
        run.stdout
    );
    assert!(line(&run, "passphrase").contains("PULUMI_CONFIG_PASSPHRASE is set (value not shown)"));
    assert!(line(&run, "cloud credentials")
        .contains("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY set (values not shown); region from AWS_REGION"));
    let migrations = std::fs::read_dir(cli::repo().join("migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "sql"))
        .count();
    assert!(
        line(&run, "database").contains(&format!("{migrations}/{migrations} migrations applied")),
        "{}",
        run.stdout
    );
    assert_no_secrets(&run);
    assert!(!run.all().contains("eu-west-1"), "values are never shown");
}

#[test]
fn a_fresh_machine_is_ready_to_create_what_it_needs_and_the_doctor_creates_nothing() {
    let cli = Cli::new();
    let run = cli.run(&["doctor"]);
    run.expect_code(0);
    assert!(
        line(&run, "data dir").contains("(created on first use;"),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "database").contains("not created yet: the next `cloud` command creates it"),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "passphrase").contains("generated on first use"),
        "{}",
        run.stdout
    );
    // No credentials: fine for the stand-in, so a warning, not a failure.
    assert_eq!(status(&run, "cloud credentials"), "warn");
    assert!(line(&run, "cloud credentials").contains("— fix: the real stacks need AWS credentials"));
    assert!(!cli.path("data").exists(), "the doctor looks, it does not create");
}

#[test]
fn every_failure_is_named_with_its_fix_and_exits_2() {
    let mut cli = Cli::new();
    std::fs::write(cli.path("a-file"), "not a directory").unwrap();
    std::fs::write(
        cli.path("cloud.yaml"),
        "pulumi:\n  binary: /nonexistent/bin/pulumi\n  passphrase_file: missing-passphrase\n",
    )
    .unwrap();
    let config = cli.path("cloud.yaml").display().to_string();
    cli.set("CLOUD_CONFIG", &config);
    cli.set("CLOUD_DATA_DIR", "a-file/data");
    cli.unset("CLOUD_PULUMI_BINARY");
    cli.set("CLOUD_PULUMI_BACKEND_URL", "file:///proc/cloud-doctor-state");
    let run = cli.run_with(&["doctor"], &[("AWS_SECRET_ACCESS_KEY", AWS_SECRET)]);
    run.expect_code(2);
    for (check, needle, fix) in [
        (
            "pulumi binary",
            "the engine binary `/nonexistent/bin/pulumi` was not found",
            "set `pulumi.binary` in",
        ),
        (
            "backend",
            "file:///proc/cloud-doctor-state:",
            "set `pulumi.backend_url` (or CLOUD_PULUMI_BACKEND_URL)",
        ),
        (
            "passphrase",
            "cannot read the passphrase file missing-passphrase",
            "point `pulumi.passphrase_file`",
        ),
        (
            "cloud credentials",
            "AWS: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
            "export AWS_ACCESS_KEY_ID",
        ),
        (
            "data dir",
            "a-file/data cannot be created: ",
            "set `data_dir` in the configuration, CLOUD_DATA_DIR or --data-dir",
        ),
        ("database", "a-file/data/cloud.db cannot be created", "set `data_dir`"),
    ] {
        let l = line(&run, check);
        assert!(l.starts_with("FAIL "), "{l}");
        assert!(l.contains(needle), "{check}: {needle:?} not in {l}");
        assert!(l.contains(&format!("— fix: {fix}")), "{check}: fix {fix:?} not in {l}");
    }
    assert!(line(&run, "pulumi binary").contains("curl -fsSL https://get.pulumi.com | sh"));
    assert_eq!(
        run.stderr,
        "error: 6 checks failed; each FAIL line above says how to fix it\n"
    );
    assert_no_secrets(&run);
}

#[test]
fn an_engine_that_fails_its_version_check_is_a_failure() {
    let mut cli = Cli::new();
    let fake = script(
        &cli.path("pulumi"),
        "echo 'error: could not load plugins' >&2\nexit 255\n",
    );
    cli.set("CLOUD_PULUMI_BINARY", fake.to_str().unwrap());
    let run = cli.run(&["doctor"]);
    run.expect_code(2);
    let l = line(&run, "pulumi binary");
    assert!(
        l.starts_with("FAIL") && l.contains("version` exited with 255: error: could not load plugins"),
        "{l}"
    );

    let not_executable = cli.path("pulumi-plain");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    cli.set("CLOUD_PULUMI_BINARY", not_executable.to_str().unwrap());
    let run = cli.run(&["doctor"]);
    run.expect_code(2);
    assert!(
        line(&run, "pulumi binary").contains("is not executable"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_damaged_database_fails() {
    let cli = Cli::new();
    std::fs::create_dir_all(cli.path("data")).unwrap();
    std::fs::write(
        cli.path("data/cloud.db"),
        "this is not SQLite, it is a text file that lost its way\n".repeat(100),
    )
    .unwrap();
    let run = cli.run(&["doctor"]);
    run.expect_code(2);
    let l = line(&run, "database");
    assert!(l.starts_with("FAIL") && l.contains("file is not a database"), "{l}");
    assert!(l.contains("— fix: move the file away"), "{l}");
}

#[test]
fn http_backends_are_checked_for_reachability_and_a_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cli = Cli::new();
    cli.set(
        "CLOUD_PULUMI_BACKEND_URL",
        &format!("http://user:hunter2pw@127.0.0.1:{port}/api"),
    );
    let run = cli.run_with(&["doctor"], &[("PULUMI_ACCESS_TOKEN", PULUMI_TOKEN)]);
    run.expect_code(0);
    assert!(
        line(&run, "backend").contains(&format!(
            "http://user:********@127.0.0.1:{port}/api (reachable: connected to 127.0.0.1:{port})"
        )),
        "{}",
        run.stdout
    );
    assert!(line(&run, "pulumi token").contains("PULUMI_ACCESS_TOKEN is set (value not shown)"));
    assert!(!run.all().contains("hunter2pw"), "{}", run.all());
    assert_no_secrets(&run);

    // Nobody listening, and no token: both fail.
    drop(listener);
    let run = cli.run(&["doctor"]);
    run.expect_code(2);
    assert!(
        line(&run, "backend").starts_with("FAIL") && line(&run, "backend").contains("cannot connect to 127.0.0.1"),
        "{}",
        run.stdout
    );
    assert_eq!(status(&run, "pulumi token"), "FAIL");

    // Object-store backends are named as not checked.
    cli.set("CLOUD_PULUMI_BACKEND_URL", "s3://my-state-bucket/pulumi");
    let run = cli.run(&["doctor"]);
    run.expect_code(0);
    assert_eq!(status(&run, "backend"), "skip");
    assert!(line(&run, "backend").contains("not checked"), "{}", run.stdout);
}

#[test]
fn a_broken_configuration_is_one_failing_line() {
    let mut cli = Cli::new();
    std::fs::write(cli.path("cloud.yaml"), "pulumi:\n  binray: pulumi\n").unwrap();
    cli.set("CLOUD_CONFIG", "cloud.yaml");
    let run = cli.run(&["doctor"]);
    run.expect_code(2);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let l = line(&run, "configuration");
    assert!(
        l.starts_with("FAIL") && l.contains("cloud.yaml:2:3: pulumi: unknown field `binray`"),
        "{l}"
    );
}
