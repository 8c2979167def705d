//! A configuration change is previewed as what it changes: the Pulumi stand-in runs the stack's
//! program with the stack's configuration (through the stacks' offline inspector), so a changed
//! value shows as an update of the resource that uses it, with the changed property — not as
//! "no changes" from a replayed snapshot.

#[path = "support/cli.rs"]
mod cli;

use std::path::Path;

use cli::Cli;
use serde_json::Value;

/// A copy of the repository's workspace (stacks, the sample deployment, config, templates) in
/// `dir`, sharing the repository's `stacks/node_modules`.
fn copy_workspace(dir: &Path) {
    let repo = cli::repo();
    assert!(
        repo.join("stacks/node_modules").is_dir(),
        "stacks/node_modules is missing: run `cd stacks && npm ci --ignore-scripts --no-audit --no-fund`"
    );
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            if entry.file_name() == "node_modules" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                copy(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    for part in ["stacks", "deploy", "config", "templates"] {
        copy(&repo.join(part), &dir.join(part));
    }
    std::os::unix::fs::symlink(repo.join("stacks/node_modules"), dir.join("stacks/node_modules")).unwrap();
}

/// The steps of the session's plan that change something.
fn changes(cli: &Cli, session: &str) -> Vec<Value> {
    let run = cli.run(&["status", session, "--json"]);
    run.expect_code(0);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    v["session"]["plan"]["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["preview"]["steps"].as_array().unwrap().clone())
        .filter(|step| step["op"] != "same")
        .collect()
}

#[test]
fn a_changed_config_value_is_previewed_as_an_update_of_the_resource_that_uses_it() {
    let mut cli = Cli::new();
    let ws = cli.path("workspace");
    copy_workspace(&ws);
    cli.set("CLOUD_WORKSPACE", &ws.display().to_string());

    // dns (and the network it needs) are deployed as the sample deployment configures them.
    cli.run(&["deploy", "ecommerce", "dev", "--stacks", "network,dns", "--approve"])
        .expect_code(0);
    cli.run(&["plan", "ecommerce", "dev", "--stacks", "dns"]).expect_code(0);
    let unchanged = cli.sessions()[0].0.clone();
    assert_eq!(changes(&cli, &unchanged), Vec::<Value>::new(), "nothing changed yet");
    cli.run(&["cancel", &unchanged]).expect_code(0);

    // Someone changes the CAA issuer of the dev zone.
    cli.run(&[
        "stacks",
        "update",
        "D1BRV40",
        "dns",
        "--env",
        "dev",
        "--set",
        "caaIssuer=letsencrypt.org",
    ])
    .expect_code(0);
    let run = cli.run(&["plan", "ecommerce", "dev", "--stacks", "dns"]);
    run.expect_code(0);
    let session = cli.sessions()[0].0.clone();
    let steps = changes(&cli, &session);
    assert_eq!(
        steps.len(),
        1,
        "exactly the CAA record changes: {steps:#?}\n{}",
        run.stdout
    );
    let step = &steps[0];
    assert_eq!(step["op"], "update", "{step:#}");
    assert_eq!(step["type"], "aws:route53/record:Record", "{step:#}");
    assert!(step["name"].as_str().unwrap().ends_with("-zones-caa"), "{step:#}");
    assert_eq!(
        step["old_inputs"]["records"],
        serde_json::json!(["0 issue \"amazon.com\""])
    );
    assert_eq!(
        step["inputs"]["records"],
        serde_json::json!(["0 issue \"letsencrypt.org\""])
    );
    // Only that property differs.
    let (old, new) = (
        step["old_inputs"].as_object().unwrap(),
        step["inputs"].as_object().unwrap(),
    );
    let differing: Vec<&String> = old.keys().filter(|k| old.get(*k) != new.get(*k)).collect();
    assert_eq!(differing, ["records"], "{step:#}");
}
