//! The catalog's `cloud` commands, run through the real `cloud` binary in a throwaway workspace.

mod catalog_support;

use catalog_support::*;
use cloud_catalog::{find_deployment, Catalog};
use cloud_domain::error::ExitCode;

#[test]
fn init_default_and_minimal() {
    let ws = empty_workspace();
    let out = ws
        .cloud(&["init", "--org", "acme-corp", "--project", "shop", "--id", "D00000A"])
        .unwrap();
    insta::assert_snapshot!(out, @r"
    created deploy/D00000A-acme-corp-shop/manifest.yaml (deployment D00000A, template default)
    stacks: 16; environments enabled: dev, stage, prod
    next: review the manifest, then `cloud validate D00000A`
    ");
    let text = ws.read("deploy/D00000A-acme-corp-shop/manifest.yaml");
    assert!(text.starts_with("# Deployment D00000A of acme-corp/shop"), "{text}");
    assert!(
        text.contains("domainName: \"{{env}}.shop.example.com\""),
        "runtime placeholders pass through: {text}"
    );

    // Generated id, minimal template.
    let out = ws
        .cloud(&[
            "init",
            "--org",
            "acme-corp",
            "--project",
            "blog",
            "--template",
            "minimal",
        ])
        .unwrap();
    let d = find_deployment(ws.root(), "acme-corp/blog").unwrap();
    let id = d.manifest.deployment_id.clone().unwrap();
    assert!(
        out.contains(&format!("deploy/{id}-acme-corp-blog/manifest.yaml")),
        "{out}"
    );
    assert_eq!(d.manifest.enabled_stacks(Some("dev")), ["network", "security"]);
    assert_eq!(d.manifest.enabled_environments(), ["dev"]);
    assert!(ws.cloud(&["validate"]).is_ok());

    let list = ws.cloud(&["deployments", "list"]).unwrap();
    assert!(
        list.starts_with("ID       ORG        PROJECT  ENVIRONMENTS    STACKS\n"),
        "{list}"
    );
    assert!(
        list.contains("D00000A  acme-corp  shop     dev,stage,prod  16"),
        "{list}"
    );
}

#[test]
fn init_refuses_bad_input_and_writes_nothing() {
    let ws = sample_workspace();
    let before = ws.files();
    let cases: &[(&[&str], &str)] = &[
        (&["init", "--org", "a", "--project", "shop"], "invalid org `a`"),
        (
            &["init", "--org", "acme-corp", "--project", "Shop"],
            "invalid project `Shop`",
        ),
        (
            &["init", "--org", "acme-corp", "--project", "shop", "--id", "d123"],
            "invalid deployment id `d123`",
        ),
        (
            &["init", "--org", "acme-corp", "--project", "shop", "--id", "D1BRV40"],
            "deployment id D1BRV40 is already used by deploy/D1BRV40-acme-corp-ecommerce",
        ),
        (
            &["init", "--org", "acme-corp", "--project", "ecommerce"],
            "acme-corp/ecommerce already has a deployment: deploy/D1BRV40-acme-corp-ecommerce; use it, or pass --id",
        ),
        (
            &["init", "--org", "acme-corp", "--project", "shop", "--template", "nope"],
            "no deployment template `nope`",
        ),
        (
            &[
                "init",
                "--org",
                "acme-corp",
                "--project",
                "shop",
                "--template",
                "../deploy",
            ],
            "no deployment template `../deploy`",
        ),
    ];
    for (args, needle) in cases {
        let e = ws.cloud(args).unwrap_err();
        assert_eq!(e.code, ExitCode::Invalid, "{args:?}: {}", e.message);
        assert!(e.message.contains(needle), "{args:?}: {}", e.message);
    }
    // A second instance of the same project is fine when asked for by id.
    ws.cloud(&[
        "init",
        "--org",
        "acme-corp",
        "--project",
        "ecommerce",
        "--id",
        "D2BRV40",
        "--template",
        "minimal",
    ])
    .unwrap();
    std::fs::remove_dir_all(ws.path("deploy/D2BRV40-acme-corp-ecommerce")).unwrap();

    // A template that renders to an invalid deployment: refused after rendering, nothing left.
    ws.write("templates/broken/manifest.yaml.template", "deployment_id: {{DEPLOYMENT_ID}}\norg: {{ORG}}\nproject: {{PROJECT}}\nenvironments:\n  dev: {enabled: true}\nstacks:\n  security: {}\n  {{UNKNOWN}}: {}\n");
    let e = ws
        .cloud(&[
            "init",
            "--org",
            "acme-corp",
            "--project",
            "shop",
            "--template",
            "broken",
        ])
        .unwrap_err();
    assert_eq!(e.code, ExitCode::Invalid);
    assert!(
        e.message.contains("placeholder `{{UNKNOWN}}` has no value"),
        "{}",
        e.message
    );
    ws.write("templates/broken/manifest.yaml.template", "deployment_id: {{DEPLOYMENT_ID}}\norg: {{ORG}}\nproject: {{PROJECT}}\nenvironments:\n  dev: {enabled: true}\nstacks:\n  security: {}\n");
    let e = ws
        .cloud(&[
            "init",
            "--org",
            "acme-corp",
            "--project",
            "shop",
            "--template",
            "broken",
            "--id",
            "D3BRV40",
        ])
        .unwrap_err();
    insta::assert_snapshot!(e.message, @r"
    template `broken` does not give a valid deployment; nothing was written:
    deploy/D3BRV40-acme-corp-shop/manifest.yaml:7:3: stack `security` depends on `network`, which is not listed in this deployment; add `network` under `stacks:` (`cloud stacks register <deployment> network`) or disable `security`
    ");
    std::fs::remove_dir_all(ws.path("templates/broken")).unwrap();
    assert_eq!(ws.files(), before, "no partial files");
    assert!(
        std::fs::read_dir(ws.path("deploy")).unwrap().count() == 1,
        "no staging directory left"
    );
}

#[test]
fn init_writes_back_a_missing_deployment_id() {
    let ws = empty_workspace();
    ws.write(
        "templates/noid/manifest.yaml.template",
        "# custom\norg: {{ORG}}\nproject: {{PROJECT}}\nenvironments:\n  dev: {enabled: true}\nstacks:\n  network: {}\n",
    );
    ws.cloud(&[
        "init",
        "--org",
        "acme-corp",
        "--project",
        "shop",
        "--template",
        "noid",
        "--id",
        "D0NO1D0",
    ])
    .unwrap();
    assert_eq!(
        ws.read("deploy/D0NO1D0-acme-corp-shop/manifest.yaml"),
        "# custom\ndeployment_id: D0NO1D0\norg: acme-corp\nproject: shop\nenvironments:\n  dev: {enabled: true}\nstacks:\n  network: {}\n"
    );
}

#[test]
fn stacks_new_renders_atomically_and_registers() {
    let ws = empty_workspace();
    let out = ws
        .cloud(&[
            "stacks",
            "new",
            "queue-sqs",
            "--depends-on",
            "network,services-ecs",
            "--description",
            "SQS queues",
        ])
        .unwrap();
    assert!(
        out.starts_with("created stacks/queue-sqs from templates/stack; it is in the catalog"),
        "{out}"
    );
    insta::assert_snapshot!(ws.read("stacks/queue-sqs/stack.yaml"), @r"
    name: queue-sqs
    description: SQS queues
    depends_on: [network, services-ecs]
    required_config: []
    config:
      retentionDays: auto
    outputs: [exampleLogGroupName]
    ");
    let index = ws.read("stacks/queue-sqs/index.ts");
    assert!(index.contains("const networkRef = stackReference(ctx, \"network\");\nconst servicesEcsRef = stackReference(ctx, \"services-ecs\");"), "{index}");
    assert!(index.contains(&format!("({}, ", env!("CARGO_PKG_VERSION"))), "{index}");
    assert!(ws.path("stacks/queue-sqs/src/outputs.ts").is_file());
    let catalog = Catalog::load(ws.root()).unwrap();
    assert_eq!(catalog.get("queue-sqs").unwrap().meta.depends_on.len(), 2);
    assert!(ws
        .cloud(&["stacks", "list"])
        .unwrap()
        .contains("queue-sqs          aws       network,services-ecs"));
}

#[test]
fn stacks_new_refuses_bad_input_and_leaves_nothing() {
    let ws = empty_workspace();
    let before = ws.files();
    let cases: &[(&[&str], &str)] = &[
        (
            &["stacks", "new", "network"],
            "stack `network` already exists (stacks/network)",
        ),
        (&["stacks", "new", "Queue"], "invalid stack name `Queue`"),
        (&["stacks", "new", "x-"], "invalid stack name `x-`"),
        (&["stacks", "new", "tools"], "`tools` is reserved"),
        (
            &["stacks", "new", "queue", "--depends-on", "network,netwrk,dbs"],
            "unknown dependencies `netwrk`, `dbs`: not in the catalog",
        ),
        (
            &["stacks", "new", "queue", "--description", "a: b"],
            "invalid description `a: b`",
        ),
    ];
    for (args, needle) in cases {
        let e = ws.cloud(args).unwrap_err();
        assert_eq!(e.code, ExitCode::Invalid, "{args:?}: {}", e.message);
        assert!(e.message.contains(needle), "{args:?}: {}", e.message);
    }
    // A template with an unknown placeholder: every one listed with file and line; nothing left.
    ws.write(
        "templates/stack/src/extra.ts.template",
        "// {{STACK_NAME}}\n// {{OWNER}} {{TEAM}}\n",
    );
    let e = ws.cloud(&["stacks", "new", "queue"]).unwrap_err();
    insta::assert_snapshot!(e.message, @r"
    templates/stack/src/extra.ts.template:2:4: placeholder `{{OWNER}}` has no value (known: DATE, DEPENDS_ON_YAML, STACK_DESCRIPTION, STACK_NAME, STACK_REFERENCES_TS, VERSION)
    templates/stack/src/extra.ts.template:2:14: placeholder `{{TEAM}}` has no value (known: DATE, DEPENDS_ON_YAML, STACK_DESCRIPTION, STACK_NAME, STACK_REFERENCES_TS, VERSION)
    2 problems found
    ");
    std::fs::remove_file(ws.path("templates/stack/src/extra.ts.template")).unwrap();
    // A template that renders a stack without index.ts: checked in staging, then discarded.
    std::fs::rename(
        ws.path("templates/stack/index.ts.template"),
        ws.path("templates/index.ts.bak"),
    )
    .unwrap();
    let e = ws.cloud(&["stacks", "new", "queue"]).unwrap_err();
    assert!(e.message.contains("the rendered stack is incomplete"), "{}", e.message);
    std::fs::rename(
        ws.path("templates/index.ts.bak"),
        ws.path("templates/stack/index.ts.template"),
    )
    .unwrap();
    assert_eq!(ws.files(), before, "no partial files");
    let leftovers: Vec<_> = std::fs::read_dir(ws.path("stacks"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no staging directory left");
}

#[test]
fn environments_enable_disable_keep_comments() {
    let ws = sample_workspace();
    let original = ws.read(SAMPLE);
    let out = ws.cloud(&["environments", "disable", "D1BRV40", "stage"]).unwrap();
    insta::assert_snapshot!(out, @"stage disabled in deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml (comments and layout kept)");
    let text = ws.read(SAMPLE);
    assert_eq!(
        text,
        original.replacen("  stage:\n    enabled: true", "  stage:\n    enabled: false", 1)
    );
    let list = ws.cloud(&["environments", "list", "D1BRV40"]).unwrap();
    assert!(list.contains("stage  no "), "{list}");
    assert_eq!(
        ws.cloud(&["environments", "disable", "D1BRV40", "stage"]).unwrap(),
        "nothing to change: stage disabled already\n"
    );
    ws.cloud(&["environments", "enable", "D1BRV40", "stage"]).unwrap();
    assert_eq!(ws.read(SAMPLE), original);
    let e = ws.cloud(&["environments", "enable", "D1BRV40", "qa"]).unwrap_err();
    assert_eq!(e.message, "invalid environment `qa`: use dev, stage or prod");
    let e = ws.cloud(&["environments", "enable", "D9ZZZZZ", "dev"]).unwrap_err();
    assert!(
        e.message
            .starts_with("no deployment `D9ZZZZZ` under deploy/ (known: D1BRV40-acme-corp-ecommerce)"),
        "{}",
        e.message
    );
}

#[test]
fn environments_added_when_absent() {
    let ws = empty_workspace();
    ws.cloud(&[
        "init",
        "--org",
        "acme-corp",
        "--project",
        "blog",
        "--template",
        "minimal",
        "--id",
        "D00000B",
    ])
    .unwrap();
    let rel = "deploy/D00000B-acme-corp-blog/manifest.yaml";
    ws.cloud(&["environments", "enable", "D00000B", "prod"]).unwrap();
    let text = ws.read(rel);
    assert!(
        text.contains("environments:\n  dev: {enabled: true}\n  prod: {enabled: true}\n"),
        "{text}"
    );
    assert!(text.starts_with("# Deployment D00000B"), "comments kept");
}

#[test]
fn stacks_register_unregister_update() {
    let ws = empty_workspace();
    ws.cloud(&[
        "init",
        "--org",
        "acme-corp",
        "--project",
        "blog",
        "--template",
        "minimal",
        "--id",
        "D00000B",
    ])
    .unwrap();
    let rel = "deploy/D00000B-acme-corp-blog/manifest.yaml";

    // Registering a stack whose dependency is missing is refused with the reason.
    let e = ws
        .cloud(&["stacks", "register", "D00000B", "database-rds"])
        .unwrap_err();
    assert_eq!(e.code, ExitCode::Invalid);
    assert!(
        e.message
            .contains("stack `database-rds` depends on `secrets`, which is not listed"),
        "{}",
        e.message
    );

    ws.cloud(&["stacks", "register", "D00000B", "secrets"]).unwrap();
    let out = ws.cloud(&["stacks", "register", "D00000B", "database-rds"]).unwrap();
    assert_eq!(
        out,
        "database-rds enabled in deploy/D00000B-acme-corp-blog/manifest.yaml (comments and layout kept)\n"
    );
    assert!(
        ws.read(rel)
            .ends_with("  security: {enabled: true}\n  secrets: {enabled: true}\n  database-rds: {enabled: true}\n"),
        "{}",
        ws.read(rel)
    );

    // Unregister refuses while a dependent is enabled, naming it.
    let e = ws.cloud(&["stacks", "unregister", "D00000B", "secrets"]).unwrap_err();
    insta::assert_snapshot!(e.message, @"cannot unregister `secrets`: enabled stack `database-rds` depends on it; unregister or disable it first");
    let e = ws.cloud(&["stacks", "unregister", "D00000B", "network"]).unwrap_err();
    insta::assert_snapshot!(e.message, @"cannot unregister `network`: enabled stacks `database-rds`, `security` depend on it; unregister or disable them first");

    // Update: plain values, per environment, secrets by reference; undeclared keys refused.
    ws.cloud(&[
        "stacks",
        "update",
        "D00000B",
        "database-rds",
        "--set",
        "instanceClass=db.t4g.small",
        "--set",
        "dbName=blog",
    ])
    .unwrap();
    ws.cloud(&[
        "stacks",
        "update",
        "D00000B",
        "database-rds",
        "--env",
        "dev",
        "--set",
        "multiAz=false",
    ])
    .unwrap();
    ws.cloud(&[
        "stacks",
        "update",
        "D00000B",
        "secrets",
        "--secret-env",
        "dbUsername=DB_USER",
    ])
    .unwrap();
    let text = ws.read(rel);
    assert!(
        text.contains("  database-rds: {enabled: true, config: {instanceClass: db.t4g.small, dbName: blog}}"),
        "{text}"
    );
    assert!(
        text.contains("  dev: {enabled: true, stacks: {database-rds: {config: {multiAz: 'false'}}}}"),
        "{text}"
    );
    assert!(
        text.contains("  secrets: {enabled: true, config: {dbUsername: {secret_env: DB_USER}}}"),
        "{text}"
    );
    let e = ws
        .cloud(&["stacks", "update", "D00000B", "database-rds", "--set", "instanceClas=x"])
        .unwrap_err();
    assert!(
        e.message
            .contains("stack `database-rds` does not declare config key `instanceClas`"),
        "{}",
        e.message
    );
    let e = ws.cloud(&["stacks", "update", "D00000B", "database-rds"]).unwrap_err();
    assert!(e.message.starts_with("nothing to update"), "{}", e.message);
    ws.cloud(&["stacks", "update", "D00000B", "database-rds", "--unset", "dbName"])
        .unwrap();
    assert!(ws.read(rel).contains("config: {instanceClass: db.t4g.small}}"));

    // Unregister a leaf: its per-environment entry goes too.
    let out = ws.cloud(&["stacks", "unregister", "D00000B", "database-rds"]).unwrap();
    assert_eq!(
        out,
        "database-rds removed in deploy/D00000B-acme-corp-blog/manifest.yaml (comments and layout kept)\n"
    );
    let text = ws.read(rel);
    assert!(text.contains("  dev: {enabled: true, stacks: {}}\n"), "{text}");
    assert!(text.starts_with("# Deployment D00000B"), "{text}");
    let d = find_deployment(ws.root(), "D00000B").unwrap();
    assert!(!d.manifest.stacks.contains_key("database-rds"));
    assert!(d.manifest.environments.get("dev").unwrap().stacks.is_empty());
    assert!(ws.cloud(&["validate", "D00000B"]).is_ok());
}

#[test]
fn graph_text_and_dot() {
    let ws = sample_workspace();
    let text = ws.cloud(&["graph", "D1BRV40"]).unwrap();
    assert!(
        text.starts_with(
            "D1BRV40: 16 stacks, 6 waves\nwave 1:\n  network\nwave 2:\n  dns → network\n  security → network\n"
        ),
        "{text}"
    );
    let dot = ws.cloud(&["graph", "acme-corp/ecommerce", "--format", "dot"]).unwrap();
    assert!(dot.starts_with("digraph \"D1BRV40\" {"), "{dot}");
    assert!(dot.contains("  \"services-api\" -> \"monitoring\";\n"), "{dot}");
    let e = ws.cloud(&["graph", "D1BRV40", "--env", "qa"]).unwrap_err();
    assert_eq!(e.code, ExitCode::Invalid);
}

#[test]
fn templates_list_show_validate() {
    let ws = empty_workspace();
    insta::assert_snapshot!(ws.cloud(&["templates", "list"]).unwrap(), @r"
    TEMPLATE  KIND        FILES
    default   deployment  1
    docs      docs        1
    minimal   deployment  1
    stack     stack       6
    ");
    let show = ws.cloud(&["templates", "show", "stack"]).unwrap();
    assert!(
        show.contains("stack.yaml.template") && show.contains("uses DEPENDS_ON_YAML, STACK_DESCRIPTION, STACK_NAME"),
        "{show}"
    );
    assert_eq!(
        ws.cloud(&["templates", "validate"]).unwrap(),
        "ok: 4 templates render with sample values\n"
    );
    ws.write(
        "templates/docs/Stack_Resources.md.template",
        "# {{STACK_NAME}} {{STACK_OWNER}}\n",
    );
    ws.write(
        "templates/minimal/manifest.yaml.template",
        "org: {{ORG}}\nproject: {{PROJECT}}\nstacks: {network: {enabld: true}}\n",
    );
    let e = ws.cloud(&["templates", "validate"]).unwrap_err();
    assert_eq!(e.code, ExitCode::Invalid);
    insta::assert_snapshot!(e.message, @r"
    templates/docs/Stack_Resources.md.template:1:18: placeholder `{{STACK_OWNER}}` has no value (known: DATE, DEPENDS_ON_YAML, STACK_DESCRIPTION, STACK_NAME, STACK_REFERENCES_TS, VERSION)
    templates/minimal/manifest.yaml.template (rendered):3:20: stacks.network: unknown field `enabld`, expected `enabled` or `config`
    2 problems found
    ");
}

#[test]
fn inspect_needs_node_modules_or_snapshot() {
    let ws = sample_workspace();
    ws.write("stacks/tools/inspect.ts", "// the stacks engineer's inspector\n");
    let e = ws.cloud(&["stacks", "inspect", "network", "--env", "dev"]).unwrap_err();
    insta::assert_snapshot!(e.message, @"cannot run the inspector: stacks/node_modules is missing: run `cd stacks && npm ci --ignore-scripts`; or pass --snapshot to read the committed snapshot stacks/network/inspect/dev.json");
    let snapshot = r#"{"stack": "network", "env": "dev", "resources": [
      {"type": "cloud:network:Vpc", "name": "D000000-network-dev-vpc", "parent": null, "custom": false, "inputs": {}},
      {"type": "aws:ec2/vpc:Vpc", "name": "D000000-network-dev-vpc", "parent": "cloud:network:Vpc::D000000-network-dev-vpc", "custom": true, "inputs": {"cidrBlock": "10.0.0.0/16", "enableDnsHostnames": true, "tags": {"stack": "network"}}}
    ], "outputs": {"vpcId": "vpc-1"}}"#;
    ws.write("stacks/network/inspect/dev.json", snapshot);
    ws.write("stacks/security/inspect/dev.json", r#"{"resources": [{"type": "aws:kms/key:Key", "name": "k", "parent": null, "inputs": {"deletionWindowInDays": 7}}]}"#);
    insta::assert_snapshot!(ws.cloud(&["stacks", "inspect", "network", "--env", "dev", "--snapshot"]).unwrap(), @r"
    network in dev: 2 resources (snapshot stacks/network/inspect/dev.json — names use D000000)
    TYPE               NAME                     KEY INPUTS
    cloud:network:Vpc  D000000-network-dev-vpc
      aws:ec2/vpc:Vpc  D000000-network-dev-vpc  cidrBlock=10.0.0.0/16, enableDnsHostnames=true
    ");
    let json = ws
        .cloud(&["stacks", "inspect", "network", "--env", "dev", "--snapshot", "--json"])
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["outputs"]["vpcId"], "vpc-1");
    let e = ws
        .cloud(&["stacks", "inspect", "nope", "--env", "dev", "--snapshot"])
        .unwrap_err();
    assert!(e.message.starts_with("unknown stack `nope`"), "{}", e.message);

    // discover-resources: every enabled stack in wave order; a missing snapshot is an error.
    ws.cloud(&[
        "init",
        "--org",
        "acme-corp",
        "--project",
        "blog",
        "--template",
        "minimal",
        "--id",
        "D00000B",
    ])
    .unwrap();
    let out = ws
        .cloud(&["discover-resources", "D00000B", "dev", "--snapshot"])
        .unwrap();
    assert!(out.starts_with("== wave 1 ==\nnetwork in dev: 2 resources"), "{out}");
    assert!(out.contains("== wave 2 ==\nsecurity in dev: 1 resources"), "{out}");
    assert!(out.ends_with("total: 3 resources in 2 stacks\n"), "{out}");
    let json = ws
        .cloud(&["discover-resources", "D00000B", "dev", "--snapshot", "--json"])
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[1]["stack"], "security");
    assert_eq!(v[1]["wave"], 2);
    let e = ws
        .cloud(&["discover-resources", "D00000B", "prod", "--snapshot"])
        .unwrap_err();
    assert!(
        e.message.starts_with("environment prod is not enabled"),
        "{}",
        e.message
    );
}
