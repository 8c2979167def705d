//! Deployments chosen exactly from the CLI: a deployment id works wherever a project is
//! accepted (`cloud deploy D1BRV40 dev`), a project with several deployments is refused with
//! their ids (exit 2) rather than one picked silently, and a disabled environment refuses plans
//! and deploys.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;
use serde_json::Value;

/// A second deployment of the sample project, `D2SHOP0`, enabled in dev only.
fn add_second_deployment(cli: &Cli) {
    let sample = cli.workspace.path("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml");
    let text = std::fs::read_to_string(sample).unwrap();
    let text = text
        .replace("deployment_id: D1BRV40", "deployment_id: D2SHOP0")
        .replace("  stage:\n    enabled: true", "  stage:\n    enabled: false")
        .replace("  prod:\n    enabled: true", "  prod:\n    enabled: false");
    let dir = cli.workspace.path("deploy/D2SHOP0-acme-corp-ecommerce");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.yaml"), text).unwrap();
}

/// How many resources the stand-in's backend holds for a Pulumi stack (0 when it has none).
fn resources_in_backend(cli: &Cli, stack: &str) -> usize {
    let file = cli.path(&format!("data/pulumi-state/.pulumi/stacks/ecommerce/{stack}.json"));
    let Ok(text) = std::fs::read_to_string(file) else {
        return 0;
    };
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["checkpoint"]["latest"]["resources"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

fn deployment_of(cli: &Cli, session: &str) -> String {
    let run = cli.run(&["status", session, "--json"]);
    run.expect_code(0);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["session"]["deployment_id"].as_str().unwrap().to_string()
}

#[test]
fn a_deployment_id_is_accepted_where_a_project_is() {
    let cli = Cli::new();
    cli.run(&["deploy", "D1BRV40", "dev", "--stacks", "network", "--approve"])
        .expect_code(0);
    let (session, state) = cli.sessions()[0].clone();
    assert_eq!(state, "APPLIED");
    assert_eq!(deployment_of(&cli, &session), "D1BRV40");
    // Any case, and the other session commands too.
    cli.run(&["plan", "d1brv40", "dev", "--stacks", "network"])
        .expect_code(0);
    assert_eq!(deployment_of(&cli, &cli.sessions()[0].0), "D1BRV40");
}

#[test]
fn a_project_with_two_deployments_must_be_named_by_id() {
    let cli = Cli::new();
    add_second_deployment(&cli);
    let run = cli.run(&["deploy", "ecommerce", "dev", "--stacks", "network", "--approve"]);
    run.expect_code(2);
    let err = run.all();
    for words in [
        "project `ecommerce` has 2 deployments",
        "D1BRV40 ecommerce (dev, stage, prod)",
        "D2SHOP0 ecommerce (dev)",
        "name one by its id",
    ] {
        assert!(err.contains(words), "`{words}` missing from:\n{err}");
    }
    assert!(cli.sessions().is_empty(), "nothing was started");

    // Named by id, each one is deployed exactly.
    cli.run(&["deploy", "D2SHOP0", "dev", "--stacks", "network", "--approve"])
        .expect_code(0);
    assert_eq!(deployment_of(&cli, &cli.sessions()[0].0), "D2SHOP0");
    cli.run(&["plan", "D1BRV40", "dev", "--stacks", "network"])
        .expect_code(0);
    assert_eq!(deployment_of(&cli, &cli.sessions()[0].0), "D1BRV40");
    // Each has its own Pulumi stack: D2SHOP0's network was applied, D1BRV40's only previewed.
    assert!(resources_in_backend(&cli, "D2SHOP0-network-dev") > 0);
    assert_eq!(resources_in_backend(&cli, "D1BRV40-network-dev"), 0);
}

#[test]
fn a_disabled_environment_refuses_plans_and_deploys() {
    let cli = Cli::new();
    cli.run(&["environments", "disable", "D1BRV40", "stage"]).expect_code(0);
    for args in [
        &["plan", "D1BRV40", "stage", "--stacks", "network"][..],
        &["deploy", "ecommerce", "stage", "--stacks", "network", "--approve"][..],
        &["deploy-stack", "D1BRV40", "network", "stage"][..],
    ] {
        let run = cli.run(args);
        run.expect_code(2);
        assert!(
            run.all().contains("environment `stage` is not enabled"),
            "{args:?}: {}",
            run.all()
        );
        assert!(
            run.all().contains("cloud environments enable D1BRV40 stage"),
            "{}",
            run.all()
        );
    }
    assert!(cli.sessions().is_empty(), "nothing was started");
    cli.run(&["environments", "enable", "D1BRV40", "stage"]).expect_code(0);
    cli.run(&["plan", "D1BRV40", "stage", "--stacks", "network"])
        .expect_code(0);
}
