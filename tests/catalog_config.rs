//! Configuration tiers, placeholders, secrets, and the hashes that go into a plan digest.

mod catalog_support;

use catalog_support::*;
use cloud_catalog::{config_hash, content_hash, find_deployment, Catalog, OutputValue, ProblemKind, Resolver};
use cloud_core::engine::ConfigValue;
use cloud_domain::session::StackName;

fn show(cfg: &[ConfigValue]) -> String {
    cfg.iter()
        .map(|c| {
            format!(
                "{}={}{}",
                c.key,
                if c.secret { "<secret>" } else { &c.value },
                if c.secret { " (secret)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn tiers_apply_in_order_and_env_config_only_to_declaring_stacks() {
    let ws = sample_workspace();
    let catalog = Catalog::load(ws.root()).unwrap();
    let d = find_deployment(ws.root(), "D1BRV40").unwrap();
    let r = Resolver::new(&catalog, &d);

    // prod: env stack config beats manifest stack config beats defaults.
    insta::assert_snapshot!(show(&r.resolve("database-rds", "prod").unwrap()), @r"
    allocatedStorage=200
    backupRetentionDays=14
    dbName=shop
    deploymentId=D1BRV40
    engineVersion=16.3
    environment=prod
    instanceClass=db.r6g.large
    multiAz=true
    org=acme-corp
    project=ecommerce
    ");
    // dev: defaults except the manifest's dbName.
    let dev = r.resolve("database-rds", "dev").unwrap();
    assert!(dev.contains(&ConfigValue {
        key: "instanceClass".into(),
        value: "auto".into(),
        secret: false
    }));
    // environments.prod.config.instanceType reaches compute-ec2 (declares it) …
    let ec2 = r.resolve("compute-ec2", "prod").unwrap();
    assert!(ec2.iter().any(|c| c.key == "instanceType" && c.value == "m6i.large"));
    // … and not network (does not declare it).
    let net = r.resolve("network", "prod").unwrap();
    assert!(!net.iter().any(|c| c.key == "instanceType"));
    assert!(net.iter().any(|c| c.key == "cidrBlock" && c.value == "10.10.0.0/16"));
    // Runtime placeholders.
    let dns = r.resolve("dns", "stage").unwrap();
    assert!(dns
        .iter()
        .any(|c| c.key == "domainName" && c.value == "stage.shop.acme-corp.example.com"));
}

#[test]
fn upstream_outputs_and_secrets() {
    let ws = empty_workspace();
    ws.write("secret.txt", "");
    write_manifest(
        &ws,
        "D1BRV40",
        "environments:\n  dev: {enabled: true}\nstacks:\n  network: {}\n  security: {}\n  secrets:\n    config:\n      dbUsername: {secret_env: DB_USER}\n  database-rds:\n    config:\n      dbName: \"{{project}}-{{network.vpcId}}\"\n      engineVersion: {secret: \"{{secrets.dbCredentialsSecretArn}}\"}\n      instanceClass: {secret_file: db-class.txt}\n",
    );
    ws.write("deploy/D1BRV40-acme-corp-shop/db-class.txt", "db.t4g.micro\n");
    let catalog = Catalog::load(ws.root()).unwrap();
    let d = find_deployment(ws.root(), "acme-corp/shop").unwrap();
    assert!(ws.cloud(&["validate"]).is_ok());

    // Outputs not available yet: a clear error naming the stack that must be applied first.
    let e = Resolver::new(&catalog, &d).resolve("database-rds", "dev").unwrap_err();
    assert!(e.has_kind(ProblemKind::Placeholder));
    assert!(
        e.to_string().contains("`{{network.vpcId}}` is not available yet — `network` must be applied in dev (with output `vpcId`) before `database-rds`"),
        "{e}"
    );

    let outputs = |s: &StackName, o: &str| match (s.as_str(), o) {
        ("network", "vpcId") => Some(OutputValue {
            value: "vpc-123".into(),
            secret: false,
        }),
        ("secrets", "dbCredentialsSecretArn") => Some(OutputValue::from_json(&serde_json::json!("arn:sm"), true)),
        _ => None,
    };
    let cfg = Resolver::new(&catalog, &d)
        .with_outputs(&outputs)
        .resolve("database-rds", "dev")
        .unwrap();
    let get = |k: &str| cfg.iter().find(|c| c.key == k).unwrap().clone();
    assert_eq!(
        get("dbName"),
        ConfigValue {
            key: "dbName".into(),
            value: "shop-vpc-123".into(),
            secret: false
        }
    );
    assert_eq!(
        get("engineVersion"),
        ConfigValue {
            key: "engineVersion".into(),
            value: "arn:sm".into(),
            secret: true
        }
    );
    assert_eq!(
        get("instanceClass"),
        ConfigValue {
            key: "instanceClass".into(),
            value: "db.t4g.micro".into(),
            secret: true
        }
    );

    // secret_env: read at resolution, missing → error naming the variable.
    let r = Resolver::new(&catalog, &d).with_env_vars(|_| None);
    insta::assert_snapshot!(r.resolve("secrets", "dev").unwrap_err().to_string(), @"deploy/D1BRV40-acme-corp-shop/manifest.yaml:11:7: stack `secrets` config `dbUsername`: environment variable `DB_USER` is not set; export it before planning");
    let r = Resolver::new(&catalog, &d).with_env_vars(|v| (v == "DB_USER").then(|| "admin".to_string()));
    let s = r.resolve("secrets", "dev").unwrap();
    assert!(s.contains(&ConfigValue {
        key: "dbUsername".into(),
        value: "admin".into(),
        secret: true
    }));
}

#[test]
fn config_hash_is_order_independent_and_hides_secrets() {
    let a = vec![
        ConfigValue {
            key: "b".into(),
            value: "2".into(),
            secret: false,
        },
        ConfigValue {
            key: "a".into(),
            value: "hunter2".into(),
            secret: true,
        },
    ];
    let mut b = a.clone();
    b.reverse();
    assert_eq!(config_hash(&a), config_hash(&b));
    let mut c = a.clone();
    c[1].value = "hunter3".into();
    assert_ne!(config_hash(&a), config_hash(&c), "a changed secret changes the hash");
    let mut d = a.clone();
    d[1].secret = false;
    assert_ne!(config_hash(&a), config_hash(&d), "the secret flag is part of the hash");
    assert_eq!(config_hash(&a).len(), 64);
}

#[test]
fn content_hash_covers_program_files_only() {
    let ws = empty_workspace();
    let dir = ws.path("stacks/network");
    let h0 = content_hash(&dir).unwrap();
    ws.write("stacks/network/docs/README.md", "docs\n");
    ws.write("stacks/network/inspect/dev.json", "{}\n");
    ws.write("stacks/network/node_modules/x/index.js", "x\n");
    ws.write("stacks/network/src/node_modules/y.js", "y\n");
    ws.write(
        "stacks/network/stack.yaml",
        &ws.read("stacks/network/stack.yaml").replace("The network stack", "VPC"),
    );
    assert_eq!(
        content_hash(&dir).unwrap(),
        h0,
        "docs, inspect, node_modules and stack.yaml are not program files"
    );
    ws.write("stacks/network/src/vpc.ts", "export {};\n");
    let h1 = content_hash(&dir).unwrap();
    assert_ne!(h1, h0);
    ws.write("stacks/network/tsconfig.json", "{}\n");
    assert_ne!(content_hash(&dir).unwrap(), h1);
    let catalog = Catalog::load(ws.root()).unwrap();
    assert_eq!(catalog.content_hash("network").unwrap(), content_hash(&dir).unwrap());
    assert_eq!(
        cloud_catalog::workspace::program_files(&dir).unwrap(),
        [
            "Pulumi.yaml",
            "index.ts",
            "package.json",
            "src/lib.ts",
            "src/vpc.ts",
            "tsconfig.json"
        ]
    );
    // The code every program imports from stacks/shared is part of every program.
    let h2 = content_hash(&dir).unwrap();
    ws.write("stacks/shared/context.ts", "export {};\n");
    assert_ne!(
        content_hash(&dir).unwrap(),
        h2,
        "an edit to stacks/shared changes every stack's hash"
    );
    assert!(cloud_catalog::workspace::program_files(&dir)
        .unwrap()
        .contains(&"../shared/context.ts".to_string()));
}
