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

/// A well-formed (made-up) Discord bot token and Slack secrets.
const DISCORD_TOKEN: &str = "MTE5ODc2NTQzMjEwOTg3NjU0Mw.GhIjKl.doctor-discord-hmac-part-0123456789abc";
const SLACK_BOT: &str = "xoxb-1-doctor-bot-token";
const SLACK_SIGNING: &str = "0123456789abcdef0123456789abcdef";

/// The `cloud` of these stories: its PATH is only the temp dir's `bin/`, so the machine's own
/// `aws` and `gcloud` are never asked — a story puts the CLIs it needs there ([`fake_cli`]).
fn doctor_cli() -> Cli {
    let mut cli = Cli::new();
    let bin = cli.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    cli.set("PATH", bin.to_str().unwrap());
    cli.set("USER", "alice");
    cli
}

/// Installs `bin/<name>` (a shell script of builtins only) on the doctor's PATH.
fn fake_cli(cli: &Cli, name: &str, body: &str) {
    script(&cli.path(&format!("bin/{name}")), body);
}

/// An `aws` that answers `sts get-caller-identity` when it has credentials.
const AWS_OK: &str = r#"[ "$1 $2" = "sts get-caller-identity" ] || exit 2
[ -n "$AWS_ACCESS_KEY_ID" ] || { echo 'Unable to locate credentials. You can configure credentials by running "aws configure".' >&2; exit 253; }
echo '{"UserId": "AIDADOCTOR", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/alice"}'
"#;

fn assert_no_secrets(run: &Run) {
    for secret in [
        PASSPHRASE,
        AWS_SECRET,
        AWS_KEY,
        PULUMI_TOKEN,
        DISCORD_TOKEN,
        SLACK_BOT,
        SLACK_SIGNING,
    ] {
        assert!(!run.all().contains(secret), "{secret} printed:\n{}", run.all());
    }
}

#[test]
fn a_ready_installation_passes_every_check() {
    let cli = doctor_cli();
    // A database with every migration: any command creates it.
    cli.run(&["list"]).expect_code(0);
    fake_cli(&cli, "aws", AWS_OK);
    fake_cli(
        &cli,
        "gcloud",
        "[ \"$1 $2\" = \"auth list\" ] || exit 2\necho alice@example.com\n",
    );
    std::fs::write(cli.path("gcp-key.json"), "{}").unwrap();
    let key = cli.path("gcp-key.json").display().to_string();
    let run = cli.run_with(
        &["doctor"],
        &[
            ("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE),
            ("AWS_ACCESS_KEY_ID", AWS_KEY),
            ("AWS_SECRET_ACCESS_KEY", AWS_SECRET),
            ("AWS_REGION", "eu-west-1"),
            ("GOOGLE_APPLICATION_CREDENTIALS", &key),
            ("DISCORD_TOKEN", DISCORD_TOKEN),
            ("SLACK_BOT_TOKEN", SLACK_BOT),
            ("SLACK_SIGNING_SECRET", SLACK_SIGNING),
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
            "pulumi login",
            "passphrase",
            "cloud credentials",
            "aws identity",
            "gcp credentials",
            "gcp identity",
            "chat tokens",
            "data dir",
            "data dir access",
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
    assert!(
        line(&run, "pulumi login").contains("logged in as alice on file://"),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "aws identity").contains("account 123456789012 as arn:aws:iam::123456789012:user/alice"),
        "{}",
        run.stdout
    );
    assert!(line(&run, "gcp identity").contains("active account alice@example.com"));
    assert!(
        line(&run, "chat tokens")
            .contains("Discord token from DISCORD_TOKEN, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET: well-formed"),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "data dir access").contains("is private (mode 0700)"),
        "{}",
        run.stdout
    );
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
    let cli = doctor_cli();
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
    let mut cli = doctor_cli();
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
    let mut cli = doctor_cli();
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
    let cli = doctor_cli();
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
    let mut cli = doctor_cli();
    cli.set(
        "CLOUD_PULUMI_BACKEND_URL",
        &format!("http://user:hunter2pw@127.0.0.1:{port}/api"),
    );
    let run = cli.run_with(&["doctor"], &[("PULUMI_ACCESS_TOKEN", PULUMI_TOKEN)]);
    // Reachable, with a token: but `pulumi whoami` is what proves the login, and the stand-in
    // has no Pulumi Cloud — the one failure, named with the backend masked.
    run.expect_code(2);
    assert_eq!(status(&run, "pulumi login"), "FAIL", "{}", run.stdout);
    assert!(
        line(&run, "pulumi login").contains("http://user:********@127.0.0.1"),
        "{}",
        run.stdout
    );
    assert!(
        line(&run, "pulumi login").contains("— fix: export PULUMI_ACCESS_TOKEN"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "error: 1 check failed; each FAIL line above says how to fix it\n"
    );
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
    // (The stand-in logs in to local backends only, so `pulumi login` fails here.)
    run.expect_code(2);
    assert_eq!(status(&run, "pulumi login"), "FAIL", "{}", run.stdout);
    assert_eq!(status(&run, "backend"), "skip");
    assert!(line(&run, "backend").contains("not checked"), "{}", run.stdout);
}

#[test]
fn a_broken_configuration_is_one_failing_line() {
    let mut cli = doctor_cli();
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

#[test]
fn identities_are_asked_of_the_installed_clis_and_otherwise_named_as_not_checked() {
    let cli = doctor_cli();
    let creds = [("AWS_ACCESS_KEY_ID", AWS_KEY), ("AWS_SECRET_ACCESS_KEY", AWS_SECRET)];
    // Neither CLI installed: said so, not failed.
    let run = cli.run_with(&["doctor"], &creds);
    run.expect_code(0);
    assert_eq!(status(&run, "aws identity"), "skip");
    assert!(line(&run, "aws identity").contains("not checked: the aws CLI is not installed"));
    assert_eq!(status(&run, "gcp identity"), "skip");
    assert!(line(&run, "gcp identity").contains("not checked: the gcloud CLI is not installed"));
    assert_eq!(status(&run, "gcp credentials"), "warn");
    assert!(line(&run, "gcp credentials").contains("— fix: the gcp-* stacks need Google Cloud credentials"));

    // Installed, but the credentials are refused / nobody is logged in: a warning with the fix.
    fake_cli(
        &cli,
        "aws",
        "echo 'An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired' >&2\nexit 254\n",
    );
    fake_cli(&cli, "gcloud", "exit 0\n");
    let run = cli.run_with(&["doctor"], &creds);
    run.expect_code(0);
    let aws = line(&run, "aws identity");
    assert!(
        aws.starts_with("warn") && aws.contains("exited with 254: An error occurred (ExpiredToken)"),
        "{aws}"
    );
    assert!(aws.contains("— fix: refresh the credentials (`aws sso login`"), "{aws}");
    let gcp = line(&run, "gcp identity");
    assert!(gcp.starts_with("warn") && gcp.contains("no active account"), "{gcp}");
    assert!(gcp.contains("— fix: log in with `gcloud auth login`"), "{gcp}");

    // The identity call gets the credentials it needs.
    fake_cli(&cli, "aws", AWS_OK);
    let run = cli.run_with(&["doctor"], &creds);
    assert_eq!(status(&run, "aws identity"), "ok", "{}", run.stdout);
    assert_no_secrets(&run);

    // A key file that is not there fails.
    let run = cli.run_with(
        &["doctor"],
        &[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")],
    );
    run.expect_code(2);
    assert_eq!(status(&run, "gcp credentials"), "FAIL");
}

#[test]
fn malformed_chat_tokens_fail_without_being_shown() {
    let cli = doctor_cli();
    let run = cli.run_with(&["doctor"], &[]);
    assert_eq!(status(&run, "chat tokens"), "skip");
    assert!(line(&run, "chat tokens").contains("none configured (only `cloud serve` needs them)"));

    let bot_prefixed = format!("Bot {DISCORD_TOKEN}");
    let run = cli.run_with(
        &["doctor"],
        &[
            ("DISCORD_TOKEN", bot_prefixed.as_str()),
            ("SLACK_BOT_TOKEN", "xoxp-user-token-doctor"),
            ("SLACK_SIGNING_SECRET", "doctor-not-hex"),
        ],
    );
    run.expect_code(2);
    let l = line(&run, "chat tokens");
    assert!(l.starts_with("FAIL"), "{l}");
    assert!(
        l.contains("the Discord token starts with `Bot ` — give the token alone"),
        "{l}"
    );
    assert!(l.contains("SLACK_BOT_TOKEN does not start with `xoxb-`"), "{l}");
    assert!(l.contains("SLACK_SIGNING_SECRET is not 32 hex digits"), "{l}");
    for secret in [DISCORD_TOKEN, "xoxp-user-token-doctor", "doctor-not-hex"] {
        assert!(!run.all().contains(secret), "{secret} printed:\n{}", run.all());
    }
}

#[test]
fn a_data_dir_other_users_can_read_fails_with_its_chmod() {
    use std::os::unix::fs::PermissionsExt;
    let cli = doctor_cli();
    cli.run(&["list"]).expect_code(0);
    std::fs::set_permissions(cli.path("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = cli.run(&["doctor"]);
    run.expect_code(2);
    let l = line(&run, "data dir access");
    assert!(l.starts_with("FAIL") && l.contains("mode 0755"), "{l}");
    assert!(
        l.contains(&format!("— fix: chmod 700 {}", cli.path("data").display())),
        "{l}"
    );
}
