//! `deploy/service/` holds the service files of `cloud serve` (docs/operations.md), not a
//! deployment: with it in the workspace, `cloud validate` still passes, the deployments listed
//! are the real ones, and naming it as a deployment is refused like any unknown one.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

#[test]
fn the_service_files_under_deploy_are_not_a_deployment() {
    let cli = Cli::new();
    let service = cli.workspace.path("deploy/service");
    std::fs::create_dir_all(&service).unwrap();
    for file in ["cloud-engine.service", "Dockerfile"] {
        let from = cli::repo().join("deploy/service").join(file);
        std::fs::copy(&from, service.join(file)).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }

    let run = cli.run(&["validate"]);
    run.expect_code(0);
    assert!(!run.all().contains("deploy/service"), "{}", run.all());

    let run = cli.run(&["deploy", "service", "dev", "--stacks", "network"]);
    assert_ne!(run.code, Some(0), "{}", run.all());
    // Not a deployment: `service` is looked up as a deployment, then as a project, and is neither.
    assert!(
        run.stderr.contains("no deployment `service`") || run.stderr.contains("unknown project `service`"),
        "{}",
        run.stderr
    );
}
