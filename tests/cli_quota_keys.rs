//! Quota keys as seed 004 writes them (`compute_vm`, `monthly_cost`, `resources:<type>`) are
//! accepted as aliases of the keys the program stores, and the help lists exactly what parses.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

#[test]
fn seed_004_quota_names_set_the_same_limits_and_the_help_lists_them() {
    let cli = Cli::new();
    cli.run(&["deploy", "ecommerce", "dev", "--stacks", "network", "--approve"])
        .expect_code(0);
    for (key, limit) in [
        ("compute_vm", "4"),
        ("monthly_cost", "900"),
        ("concurrent_sessions", "3"),
        ("resources:gcp:compute/instance:Instance", "2"),
    ] {
        cli.run(&["quota", "set", "ecommerce", key, limit]).expect_code(0);
    }
    let show = cli.run(&["quota", "show", "ecommerce"]);
    show.expect_code(0);
    for words in ["vm", "cost", "sessions", "gcp:compute/instance:Instance"] {
        assert!(show.stdout.contains(words), "`{words}` missing:\n{}", show.stdout);
    }
    // compute_vm and vm are one quota: setting one replaces the other.
    cli.run(&["quota", "set", "ecommerce", "vm", "5"]).expect_code(0);
    let show = cli.run(&["quota", "show", "ecommerce", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    let text = v.to_string();
    assert_eq!(text.matches("aws:ec2/instance:Instance").count(), 1, "{text}");

    // A key nobody accepts: exit 2, and the refusal lists the names that work.
    let run = cli.run(&["quota", "set", "ecommerce", "cpus", "3"]);
    run.expect_code(2);
    assert!(run.all().contains("compute_vm"), "{}", run.all());

    // Every alias the help names parses.
    let help = cli.run(&["quota", "set", "--help"]);
    for name in [
        "compute_vm",
        "concurrent_sessions",
        "monthly_cost",
        "database_instance",
        "nat_gateway",
    ] {
        assert!(
            help.stdout.contains(name),
            "{name} missing from the help:\n{}",
            help.stdout
        );
    }
}
