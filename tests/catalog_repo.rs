//! The repository's own workspace: the real 20 stacks (16 AWS, 4 GCP), the real
//! templates, and the sample deployment used by the README quick start.

mod catalog_support;

use std::path::{Path, PathBuf};

use cloud_catalog::{validate::validate_workspace, Catalog, DependencyGraph};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copy stacks/ (without node_modules), templates/ and deploy/ into a temp dir.
fn copy_repo() -> catalog_support::Ws {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_name() == "node_modules" {
                continue;
            }
            let (f, t) = (e.path(), to.join(e.file_name()));
            if f.is_dir() {
                copy(&f, &t)
            } else {
                std::fs::copy(&f, &t).unwrap();
            }
        }
    }
    let ws = catalog_support::Ws {
        dir: tempfile::tempdir().unwrap(),
    };
    for d in ["stacks", "templates", "deploy"] {
        copy(&repo().join(d), &ws.path(d));
    }
    ws
}

#[test]
fn the_repository_workspace_is_valid() {
    let report = validate_workspace(&repo(), None).unwrap();
    assert!(report.problems.is_empty(), "{}", report.problems);
    assert_eq!(report.stacks, 20, "16 AWS stacks and 4 GCP stacks");
    assert!(report.deployments.contains(&"D1BRV40-acme-corp-ecommerce".to_string()));
    let catalog = Catalog::load(&repo()).unwrap();
    let g = DependencyGraph::for_catalog(&catalog).unwrap();
    assert_eq!(g.waves().len(), 6);
    assert_eq!(
        g.waves()[0],
        ["gcp-network", "gcp-storage", "network"]
            .map(|s| s.parse().unwrap())
            .to_vec()
    );
}

#[test]
fn the_repository_templates_render() {
    let ws = copy_repo();
    assert_eq!(
        ws.cloud(&["templates", "validate"]).unwrap(),
        "ok: 5 templates render with sample values\n"
    );
    // stacks new with the real template gives a stack the catalog accepts.
    ws.cloud(&[
        "stacks",
        "new",
        "queue-sqs",
        "--depends-on",
        "network,security",
        "--description",
        "SQS queues for the workers",
    ])
    .unwrap();
    let catalog = Catalog::load(ws.root()).unwrap();
    let def = catalog.get("queue-sqs").unwrap();
    assert_eq!(def.meta.depends_on.len(), 2);
    let index = ws.read("stacks/queue-sqs/index.ts");
    assert!(
        index.contains("const networkRef = stackReference(ctx, \"network\");"),
        "{index}"
    );
    assert!(!index.contains("{{"), "{index}");
    // init with every shipped deployment template gives valid deployments.
    ws.cloud(&["init", "--org", "acme-corp", "--project", "shop"]).unwrap();
    ws.cloud(&[
        "init",
        "--org",
        "acme-corp",
        "--project",
        "blog",
        "--template",
        "minimal",
    ])
    .unwrap();
    ws.cloud(&["init", "--org", "acme-corp", "--project", "maps", "--template", "gcp"])
        .unwrap();
    ws.cloud(&["validate"]).unwrap();
}

#[test]
fn discover_resources_from_committed_snapshots() {
    let ws = copy_repo();
    let out = ws
        .cloud(&["discover-resources", "D1BRV40", "prod", "--snapshot"])
        .unwrap();
    assert!(out.starts_with("== wave 1 ==\nnetwork in prod: "), "{out}");
    assert!(out.contains("== wave 6 ==\nmonitoring in prod: "), "{out}");
    assert!(
        out.contains("total: ") && out.ends_with("resources in 16 stacks\n"),
        "{out}"
    );
}

/// `cloud stacks inspect` on the real network program: evaluated under Pulumi's mock runtime by
/// `stacks/tools/inspect.ts`. Without `stacks/node_modules` the inspector cannot run, and the
/// command must say exactly which command installs them (exit 2).
#[test]
fn stacks_inspect_evaluates_the_real_program() {
    let root = repo();
    let run = |args: &[&str]| {
        let out = catalog_support::cloud_in(&root, args);
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    if !root.join("stacks/node_modules").is_dir() {
        let (code, _, stderr) = run(&["stacks", "inspect", "network", "--env", "dev"]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains("stacks/node_modules is missing: run `cd stacks && npm ci --ignore-scripts`"),
            "{stderr}"
        );
        eprintln!("NOTE: stacks/node_modules is missing, so only the install hint was checked; `cd stacks && npm ci --ignore-scripts` to inspect the real program");
        return;
    }
    let yaml = |rel: &str| {
        serde_yaml::from_str::<serde_yaml::Value>(&std::fs::read_to_string(root.join(rel)).unwrap()).unwrap()
    };
    let default_cidr = yaml("stacks/network/stack.yaml")["config"]["cidrBlock"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest_cidr = yaml("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml")["stacks"]["network"]["config"]
        ["cidrBlock"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(
        default_cidr, manifest_cidr,
        "the sample deployment overrides the default, so the check below means something"
    );

    // The table: type, name and key inputs, children under their component.
    let (code, text, stderr) = run(&["stacks", "inspect", "network", "--env", "dev"]);
    assert_eq!(code, Some(0), "{stderr}");
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("network in dev: ") && first.ends_with(" resources (inspector)"),
        "{text}"
    );
    assert!(text.lines().nth(1).unwrap().starts_with("TYPE "), "{text}");
    let vpc = text
        .lines()
        .find(|l| l.trim_start().starts_with("aws:ec2/vpc:Vpc "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        vpc.contains("D000000-network-dev") && vpc.contains(&format!("cidrBlock={default_cidr}")),
        "{vpc}"
    );

    // JSON with a deployment: its id in every name, its configuration in the inputs, and the
    // environment sizes the network (prod spreads NAT gateways over more zones than dev).
    let inspect = |env: &str| {
        let (code, json, stderr) = run(&[
            "stacks",
            "inspect",
            "network",
            "--env",
            env,
            "--deployment",
            "D1BRV40",
            "--json",
        ]);
        assert_eq!(code, Some(0), "{stderr}");
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        doc["resources"].as_array().unwrap().clone()
    };
    let (dev, prod) = (inspect("dev"), inspect("prod"));
    for r in dev.iter().chain(&prod) {
        assert!(r["type"].is_string() && r["inputs"].is_object(), "{r}");
        assert!(r["name"].as_str().unwrap().starts_with("D1BRV40-network-"), "{r}");
    }
    let vpc = dev.iter().find(|r| r["type"] == "aws:ec2/vpc:Vpc").unwrap();
    assert_eq!(vpc["inputs"]["cidrBlock"], manifest_cidr.as_str());
    let nat = |rs: &[serde_json::Value]| {
        rs.iter()
            .filter(|r| r["type"] == "aws:ec2/natGateway:NatGateway")
            .count()
    };
    assert!(
        nat(&prod) > nat(&dev) && nat(&dev) >= 1,
        "dev {} NAT, prod {}",
        nat(&dev),
        nat(&prod)
    );
}

/// The catalog commands read files only: run from elsewhere with `CLOUD_WORKSPACE` pointing at
/// the repository, they work and create no data directory or database.
#[test]
fn catalog_commands_use_the_configured_workspace_and_no_database() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cloud = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloud"))
            .args(args)
            .current_dir(tmp.path())
            .env("CLOUD_WORKSPACE", repo())
            .env("CLOUD_DATA_DIR", &data)
            .env_remove("CLOUD_CONFIG")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(cloud(&["validate"]).starts_with("ok: 20 stacks in the catalog"));
    let list = cloud(&["deployments", "list"]);
    assert!(
        list.lines().any(|l| l.starts_with("D1BRV40  acme-corp  ecommerce")),
        "{list}"
    );
    assert!(cloud(&["graph", "D1BRV40", "--env", "dev"]).starts_with("D1BRV40 dev: 16 stacks"));
    assert!(cloud(&["stacks", "list"]).contains("database-rds"));
    assert!(!data.exists(), "no data directory, no database");
}
