//! Destroy safety: `destroy-stack` refuses while stacks that depend on the stack are deployed
//! and names them (exit 2, nothing started), or with `--with-dependents` destroys them in the
//! same approved session, dependents first.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;
use serde_json::Value;

/// How many resources the stand-in's backend holds for `stack` in dev.
fn resources_in_backend(cli: &Cli, stack: &str) -> usize {
    let file = cli.path(&format!(
        "data/pulumi-state/.pulumi/stacks/ecommerce/D1BRV40-{stack}-dev.json"
    ));
    let Ok(text) = std::fs::read_to_string(file) else {
        return 0;
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["checkpoint"]["latest"]["resources"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

#[test]
fn destroying_the_network_under_live_dependents_is_refused_or_takes_them_along() {
    let cli = Cli::new();
    cli.run(&[
        "deploy",
        "D1BRV40",
        "dev",
        "--stacks",
        "network,security,dns",
        "--approve",
    ])
    .expect_code(0);
    let deployed = cli.sessions();

    // network under live security and dns: refused, both named, nothing started.
    let run = cli.run(&["destroy-stack", "D1BRV40", "network", "dev", "--approve"]);
    run.expect_code(2);
    let err = run.all();
    assert!(
        err.contains("network cannot be destroyed in D1BRV40/dev while stacks that depend on it are deployed"),
        "{err}"
    );
    assert!(err.contains("security, dns") || err.contains("dns, security"), "{err}");
    assert!(err.contains("--with-dependents"), "{err}");
    assert_eq!(cli.sessions(), deployed, "no session was opened");
    assert!(resources_in_backend(&cli, "network") > 0);

    // A leaf has no dependents: destroyed on its own.
    cli.run(&["destroy-stack", "D1BRV40", "dns", "dev", "--approve"])
        .expect_code(0);
    assert_eq!(resources_in_backend(&cli, "dns"), 0);
    assert!(resources_in_backend(&cli, "security") > 0);

    // With its dependents: one session, one approval, security before network.
    let run = cli.run(&[
        "destroy-stack",
        "D1BRV40",
        "network",
        "dev",
        "--approve",
        "--with-dependents",
    ]);
    run.expect_code(0);
    let (session, state) = cli.sessions()[0].clone();
    assert_eq!(state, "APPLIED");
    let status = cli.run(&["status", &session, "--json"]);
    let v: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(v["session"]["operation"], "destroy");
    let order: Vec<&str> = v["session"]["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(order, ["security", "network"], "dependents first (dns is gone already)");
    let security_line = run.stdout.find("security: applied").expect("security destroyed");
    let network_line = run.stdout.find("network: applying").expect("network destroyed");
    assert!(security_line < network_line, "{}", run.stdout);
    assert_eq!(resources_in_backend(&cli, "security"), 0);
    assert_eq!(resources_in_backend(&cli, "network"), 0);

    // Nothing depends on anything deployed any more: a plain destroy-stack is accepted.
    cli.run(&["deploy", "D1BRV40", "dev", "--stacks", "network", "--approve"])
        .expect_code(0);
    cli.run(&["destroy-stack", "D1BRV40", "network", "dev", "--approve"])
        .expect_code(0);
}
