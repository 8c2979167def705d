//! Providers (issue 18.4) through the CLI: a project deploys to one cloud (`aws` by default,
//! `gcp`), every stack says which cloud it targets (`provider:` in its `stack.yaml`), and a
//! deployment of a project only runs stacks of the project's provider.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

fn project_line(cli: &Cli, name: &str) -> String {
    let run = cli.run(&["projects", "list"]);
    run.expect_code(0);
    run.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no project {name}:\n{}", run.stdout))
        .to_string()
}

#[test]
fn a_project_has_a_provider_and_an_unknown_one_is_refused() {
    let cli = Cli::new();
    cli.run(&["projects", "create", "shop", "--org", "acme", "--provider", "gcp"])
        .expect_code(0);
    assert!(
        project_line(&cli, "shop").contains(" gcp "),
        "{}",
        project_line(&cli, "shop")
    );
    cli.run(&["projects", "create", "books", "--org", "acme"])
        .expect_code(0);
    assert!(project_line(&cli, "books").contains(" aws "), "aws is the default");

    let before = cli.run(&["projects", "list", "--json"]).stdout;
    let run = cli.run(&["projects", "create", "cafe", "--org", "acme", "--provider", "azure"]);
    run.expect_code(2);
    assert_eq!(run.stderr, "error: unknown provider `azure`: use one of aws, gcp\n");
    assert_eq!(
        cli.run(&["projects", "list", "--json"]).stdout,
        before,
        "nothing stored"
    );
}

#[test]
fn the_catalog_names_each_stacks_provider_and_validate_counts_them() {
    let cli = Cli::new();
    let list = cli.run(&["stacks", "list"]);
    list.expect_code(0);
    let provider_of = |stack: &str| {
        list.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(stack))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no {stack}:\n{}", list.stdout))
            .to_string()
    };
    assert_eq!(provider_of("network"), "aws");
    for gcp in ["gcp-network", "gcp-compute", "gcp-database", "gcp-storage"] {
        assert_eq!(provider_of(gcp), "gcp");
    }
    let validate = cli.run(&["validate"]);
    validate.expect_code(0);
    assert!(
        validate.stdout.contains("stacks in the catalog (16 aws, 4 gcp)"),
        "{}",
        validate.stdout
    );

    // A stack.yaml naming an unknown provider is refused where it is written.
    let meta = cli.workspace.path("stacks/gcp-storage/stack.yaml");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text.replace("provider: gcp", "provider: azure")).unwrap();
    let run = cli.run(&["validate"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("stacks/gcp-storage/stack.yaml") && run.stderr.contains("azure"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("aws") && run.stderr.contains("gcp"),
        "names what is accepted: {}",
        run.stderr
    );
}

#[test]
fn a_deployment_cannot_be_made_to_mix_providers() {
    let cli = Cli::new();
    let manifest = cli.workspace.path("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml");
    let before = std::fs::read_to_string(&manifest).unwrap();
    let run = cli.run(&["stacks", "register", "D1BRV40", "gcp-network"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("the stacks target more than one provider") && run.stderr.contains("and gcp (gcp-network)"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), before, "nothing written");
    cli.run(&["validate", "D1BRV40"]).expect_code(0);
}

#[test]
fn a_project_deploys_only_the_stacks_of_its_provider() {
    let cli = Cli::new();
    // A gcp deployment of a project created without a provider (aws).
    cli.run(&["projects", "create", "shop", "--org", "acme"]).expect_code(0);
    cli.run(&[
        "init",
        "-t",
        "gcp",
        "--org",
        "acme",
        "--project",
        "shop",
        "--id",
        "D9GCP01",
    ])
    .expect_code(0);
    let run = cli.run(&["plan", "shop", "dev"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("project `shop` deploys to aws, but stacks `gcp-network` (gcp), `gcp-storage` (gcp)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--provider <provider>"), "{}", run.stderr);
    assert!(cli.sessions().is_empty(), "no session opened");

    // A manifest's new project takes its stacks' provider, and deploys them.
    cli.run(&[
        "init",
        "-t",
        "gcp",
        "--org",
        "acme",
        "--project",
        "cafe",
        "--id",
        "D9GCP02",
    ])
    .expect_code(0);
    let run = cli.run(&["plan", "cafe", "dev"]);
    run.expect_code(0);
    assert!(
        project_line(&cli, "cafe").contains(" gcp "),
        "{}",
        project_line(&cli, "cafe")
    );
    assert!(run.stdout.contains("us-central1 prices"), "{}", run.stdout);
}
