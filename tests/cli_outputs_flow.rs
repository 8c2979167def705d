//! Outputs flow between stacks: a dependent's `{{<stack>.<output>}}` placeholders take the ids
//! its upstream stacks exported. Driven through the `cloud` binary on the Pulumi stand-in; what
//! reaches each stack is read where the stand-in keeps it (the stack's `Pulumi.<stack>.yaml`
//! under the data dir's workspaces, and the upstream outputs in its backend's checkpoints).

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;
use serde_json::Value;

/// The outputs the stand-in's backend holds for `stack` in dev (the stack resource's outputs).
fn outputs_in_backend(cli: &Cli, stack: &str) -> serde_json::Map<String, Value> {
    let file = cli.path(&format!(
        "data/pulumi-state/.pulumi/stacks/ecommerce/D1BRV40-{stack}-dev.json"
    ));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    doc["checkpoint"]["latest"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "pulumi:pulumi:Stack")
        .and_then(|r| r["outputs"].as_object().cloned())
        .unwrap_or_else(|| panic!("{stack} has no stack outputs in {}", file.display()))
}

/// The configuration the stand-in was given for `stack` in dev, as `<namespace>:<key>` → text.
fn config_received(cli: &Cli, stack: &str) -> serde_yaml::Mapping {
    let file = cli.path(&format!(
        "data/workspaces/D1BRV40/{stack}-dev/Pulumi.D1BRV40-{stack}-dev.yaml"
    ));
    let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    doc["config"].as_mapping().cloned().unwrap()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn get<'a>(config: &'a serde_yaml::Mapping, key: &str) -> &'a str {
    config
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("`{key}` was not given: {config:?}"))
}

/// The plan of session `id` as `cloud status --json` shows it: (stack, provisional).
fn provisional_marks(cli: &Cli, id: &str) -> Vec<(String, bool)> {
    let run = cli.run(&["status", id, "--json"]);
    run.expect_code(0);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["session"]["plan"]["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stack"].as_str().unwrap().to_string(),
                s["provisional"].as_bool().unwrap(),
            )
        })
        .collect()
}

const STACKS: &str = "network,security,secrets,database-rds,services-ecr,services-ecs";

#[test]
fn network_ids_flow_through_security_and_database_into_services() {
    let cli = Cli::new();
    // The team wires the ids through the manifest, the way a user does.
    for (stack, sets) in [
        ("security", vec!["network:vpcId={{network.vpcId}}"]),
        (
            "database-rds",
            vec![
                "upstream:vpcId={{network.vpcId}}",
                "upstream:appSecurityGroupId={{security.appSecurityGroupId}}",
            ],
        ),
        (
            "services-ecs",
            vec![
                "upstream:privateSubnetIds={{network.privateSubnetIds}}",
                "upstream:albSecurityGroupId={{security.albSecurityGroupId}}",
            ],
        ),
    ] {
        let mut args = vec!["stacks", "update", "D1BRV40", stack, "--env", "dev"];
        for s in &sets {
            args.extend(["--set", s]);
        }
        cli.run(&args).expect_code(0);
    }
    // Nothing is applied yet: the database alone cannot plan, and the error says which stack,
    // which key and where the value was written.
    let run = cli.run(&["plan", "ecommerce", "dev", "--stacks", "database-rds"]);
    run.expect_code(2);
    let err = run.all();
    for words in [
        "database-rds",
        "upstream:vpcId",
        "{{network.vpcId}}",
        "deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml",
        "environment stack config",
        "`network` must be applied in dev",
    ] {
        assert!(err.contains(words), "`{words}` missing from:\n{err}");
    }
    assert!(cli.sessions().is_empty(), "a refused plan opens no session");

    // All of them in one session: the dependents plan with provisional values and say so.
    cli.run(&["plan", "ecommerce", "dev", "--stacks", STACKS])
        .expect_code(0);
    let session = cli.sessions()[0].0.clone();
    let marks = provisional_marks(&cli, &session);
    for (stack, provisional) in &marks {
        assert_eq!(*provisional, stack != "network", "{stack} in {marks:?}");
    }
    cli.run(&["approve", &session]).expect_code(0);
    assert_eq!(cli.sessions()[0], (session.clone(), "APPLIED".into()));

    // What each stack was given is what its upstream stacks exported.
    let network = outputs_in_backend(&cli, "network");
    let security = outputs_in_backend(&cli, "security");
    assert!(text(&network["vpcId"]).starts_with("vpc-"), "{network:?}");
    let got = config_received(&cli, "security");
    assert_eq!(get(&got, "network:vpcId"), text(&network["vpcId"]));
    let got = config_received(&cli, "database-rds");
    assert_eq!(get(&got, "upstream:vpcId"), text(&network["vpcId"]));
    assert_eq!(
        get(&got, "upstream:appSecurityGroupId"),
        text(&security["appSecurityGroupId"])
    );
    let got = config_received(&cli, "services-ecs");
    assert_eq!(
        get(&got, "upstream:privateSubnetIds"),
        text(&network["privateSubnetIds"])
    );
    assert_eq!(
        get(&got, "upstream:albSecurityGroupId"),
        text(&security["albSecurityGroupId"])
    );

    // Later, one stack plans on its own from the outputs last applied: firm, and no change.
    let run = cli.run(&["plan", "ecommerce", "dev", "--stacks", "services-ecs"]);
    run.expect_code(0);
    let later = cli.sessions()[0].0.clone();
    assert_eq!(provisional_marks(&cli, &later), [("services-ecs".to_string(), false)]);
    let status = cli.run(&["status", &later, "--json"]);
    let v: Value = serde_json::from_str(&status.stdout).unwrap();
    let steps = v["session"]["plan"]["stacks"][0]["preview"]["steps"]
        .as_array()
        .unwrap();
    assert!(
        steps.iter().all(|s| s["op"] == "same"),
        "the applied ids are given again, so nothing changes: {steps:#?}"
    );
}
