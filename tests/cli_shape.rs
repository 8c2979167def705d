//! The shape of the `cloud` command line (issue 18.7) as a user meets it: seed 000's flat names
//! beside the nested commands, `--verbose`/`--debug`, `init -t`, a deployment-level `status`,
//! commands typed outside a checkout, and costs per month and per hour.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

#[test]
fn seed_000_flat_names_run_the_nested_commands() {
    let cli = Cli::new();
    cli.run(&["create-project", "shop", "--org", "acme"]).expect_code(0);
    let nested = cli.run(&["projects", "list"]);
    nested.expect_code(0);
    assert!(
        nested
            .stdout
            .lines()
            .any(|l| l.starts_with("shop") && l.contains("acme")),
        "{}",
        nested.stdout
    );
    let flat = cli.run(&["list-projects"]);
    flat.expect_code(0);
    assert_eq!(flat.stdout, nested.stdout);
    // A bare group means its list, options included.
    let bare = cli.run(&["projects"]);
    bare.expect_code(0);
    assert_eq!(bare.stdout, nested.stdout);
    assert_eq!(
        cli.run(&["projects", "--json"]).stdout,
        cli.run(&["projects", "list", "--json"]).stdout
    );

    let deployments = cli.run(&["deployments"]);
    deployments.expect_code(0);
    assert!(deployments.stdout.contains("D1BRV40"), "{}", deployments.stdout);
    assert_eq!(cli.run(&["list-deployments"]).stdout, deployments.stdout);

    cli.run(&["env-disable", "D1BRV40", "stage"]).expect_code(0);
    let envs = cli.run(&["environments", "list", "D1BRV40"]);
    envs.expect_code(0);
    let stage = envs.stdout.lines().find(|l| l.starts_with("stage")).unwrap();
    assert!(stage.split_whitespace().nth(1) == Some("no"), "{}", envs.stdout);
    cli.run(&["env-enable", "D1BRV40", "stage"]).expect_code(0);
}

#[test]
fn help_lists_every_alias_and_each_alias_is_its_nested_command() {
    let cli = Cli::new();
    let help = cli.run(&["--help"]);
    help.expect_code(0);
    for (flat, nested) in cloud::cli::aliases::FLAT_ALIASES {
        let entry = format!("{flat:<20} = {}", nested.join(" "));
        assert!(
            help.stdout.contains(&entry),
            "`{entry}` not in --help:\n{}",
            help.stdout
        );
        let run = cli.run(&[flat, "--help"]);
        run.expect_code(0);
        let usage = format!("Usage: cloud {}", nested.join(" "));
        assert!(run.stdout.contains(&usage), "{flat}: {usage:?} not in\n{}", run.stdout);
    }
    // Global options of seed 000.
    for option in ["--verbose", "--debug"] {
        assert!(help.stdout.contains(option), "{option}:\n{}", help.stdout);
    }
}

#[test]
fn verbose_and_debug_show_what_cloud_engine_does_on_stderr() {
    let cli = Cli::new();
    // One environment per run: each plan holds its stack until it is applied or cancelled.
    let quiet = cli.run(&["plan", "ecommerce", "dev", "--stacks", "network"]);
    quiet.expect_code(0);
    assert!(!quiet.stderr.contains(" INFO "), "{}", quiet.stderr);

    let verbose = cli.run(&["--verbose", "plan", "ecommerce", "stage", "--stacks", "network"]);
    verbose.expect_code(0);
    assert!(
        verbose.stderr.contains(" INFO ") && verbose.stderr.contains("session started"),
        "{}",
        verbose.stderr
    );
    assert!(!verbose.stderr.contains(" DEBUG "), "{}", verbose.stderr);

    let debug = cli.run(&["plan", "ecommerce", "prod", "--stacks", "network", "--debug"]);
    debug.expect_code(0);
    assert!(debug.stderr.contains(" DEBUG "), "{}", debug.stderr);
    // Only cloud-engine's own crates: no database driver chatter.
    assert!(!debug.stderr.contains("sqlx::"), "{}", debug.stderr);
}

#[test]
fn init_takes_its_template_as_t() {
    let cli = Cli::new();
    cli.run(&[
        "init",
        "-t",
        "minimal",
        "--org",
        "acme",
        "--project",
        "shop",
        "--id",
        "D9MIN01",
    ])
    .expect_code(0);
    let manifest = std::fs::read_to_string(cli.workspace.path("deploy/D9MIN01-acme-shop/manifest.yaml")).unwrap();
    assert!(manifest.contains("network"), "{manifest}");
    assert!(!manifest.contains("database-rds"), "minimal, not default:\n{manifest}");
}

#[test]
fn status_of_a_deployment_shows_every_stack_and_environment() {
    let cli = Cli::new();
    cli.run(&["deploy", "ecommerce", "dev", "--stacks", "network", "--approve"])
        .expect_code(0);
    let applied = cli.sessions()[0].0.clone();

    let run = cli.run(&["status", "D1BRV40"]);
    run.expect_code(0);
    let out = &run.stdout;
    assert!(out.starts_with("Deployment D1BRV40 (acme-corp/ecommerce)"), "{out}");
    for env in ["dev:", "stage:", "prod:"] {
        assert!(out.lines().any(|l| l == env), "{env} missing:\n{out}");
    }
    let dev_network = out
        .lines()
        .skip_while(|l| *l != "dev:")
        .find(|l| l.trim_start().starts_with("network"))
        .unwrap();
    assert!(
        dev_network.contains(&format!("{applied} APPLIED deploy")),
        "{dev_network}"
    );
    assert!(dev_network.contains("drift unknown"), "{dev_network}");
    assert!(dev_network.contains("vpcId=vpc-"), "outputs: {dev_network}");
    let stage_network = out
        .lines()
        .skip_while(|l| *l != "stage:")
        .find(|l| l.trim_start().starts_with("network"))
        .unwrap();
    assert!(stage_network.contains("no session yet"), "{stage_network}");
    assert!(out.contains("`cloud plan ecommerce <env> --stacks <stack>`"), "{out}");

    // A preview with no change since the apply: no drift.
    cli.run(&["plan", "ecommerce", "dev", "--stacks", "network"])
        .expect_code(0);
    let json = cli.run(&["status", "acme-corp/ecommerce", "--json"]);
    json.expect_code(0);
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["env"] == "dev" && r["stack"] == "network")
        .unwrap();
    assert_eq!(row["drift"], "drift-free", "{row}");
    assert!(row["outputs"]["vpcId"].as_str().unwrap().starts_with("vpc-"));

    // An unknown deployment is named, with where to look.
    let missing = cli.run(&["status", "D9ZZZZZ"]);
    missing.expect_code(2);
    assert!(missing.stderr.contains("no deployment `D9ZZZZZ`"), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("`cloud deployments list`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn outside_a_checkout_commands_say_so_and_create_nothing() {
    let mut cli = Cli::new();
    cli.unset("CLOUD_WORKSPACE").unset("CLOUD_DATA_DIR");
    for args in [&["list"][..], &["status"], &["projects", "list"]] {
        let run = cli.run(args);
        run.expect_code(2);
        assert!(
            run.stderr.contains("not in a cloud-engine checkout") && run.stderr.contains("cd to your checkout"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert!(
        !cli.path(".cloud-engine").exists(),
        "nothing is created outside a checkout"
    );
    // Naming a data directory is a deliberate choice: it works.
    let data = cli.path("elsewhere").display().to_string();
    cli.run(&["--data-dir", &data, "list"]).expect_code(0);
}

#[test]
fn plans_show_their_cost_per_month_and_per_hour() {
    let cli = Cli::new();
    let run = cli.run(&["plan", "ecommerce", "dev", "--stacks", "network"]);
    run.expect_code(0);
    // network: one NAT gateway, 36.50 a month = 0.050 an hour (730 h).
    let month = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("total ") && l.contains('→'))
        .unwrap();
    assert!(month.ends_with("+$36.50"), "{month}");
    let hour = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("total per hour"))
        .unwrap_or_else(|| panic!("no hourly line:\n{}", run.stdout));
    assert!(hour.ends_with("+$0.050"), "{hour}");
}
