//! Bad input: each case gets a clear message naming file:line:col (where there is one) and the
//! fix, exit code 2, and `cloud validate` reports every problem of a workspace in one run.

mod catalog_support;

use catalog_support::*;
use cloud_catalog::{Catalog, ProblemKind};
use cloud_domain::error::ExitCode;

fn validate_err(ws: &Ws) -> String {
    let e = ws.cloud(&["validate"]).expect_err("validate should fail");
    assert_eq!(e.code, ExitCode::Invalid, "{}", e.message);
    e.message
}

#[test]
fn the_sample_workspace_is_valid() {
    let ws = sample_workspace();
    insta::assert_snapshot!(ws.cloud(&["validate"]).unwrap(), @"ok: 16 stacks in the catalog (16 aws), 1 deployment checked (D1BRV40-acme-corp-ecommerce)");
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1BRV40",
        "stacks:\n  network: {enabled: true\n  security: {enabled: true}\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @"deploy/D1BRV40-acme-corp-shop/manifest.yaml:6:11: invalid YAML: did not find expected ',' or '}', while parsing a flow mapping at line 5 column 12");
}

#[test]
fn tabs_are_syntax_errors_with_a_location() {
    let ws = empty_workspace();
    write_manifest(&ws, "D1BRV40", "stacks:\n\tnetwork: {}\n");
    let msg = validate_err(&ws);
    assert!(
        msg.starts_with("deploy/D1BRV40-acme-corp-shop/manifest.yaml:5:1: invalid YAML"),
        "{msg}"
    );
}

#[test]
fn unknown_keys_are_schema_errors_with_a_location() {
    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1BRV40",
        "environments:\n  dev: {enabled: true}\nstacks:\n  network: {enabled: true, confg: {cidrBlock: 10.1.0.0/16}}\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @"deploy/D1BRV40-acme-corp-shop/manifest.yaml:7:28: stacks.network: unknown field `confg`, expected `enabled` or `config`");

    let ws = empty_workspace();
    write_manifest(&ws, "D1BRV40", "region: us-east-1\n");
    insta::assert_snapshot!(validate_err(&ws), @"deploy/D1BRV40-acme-corp-shop/manifest.yaml:4:1: unknown field `region`, expected one of `deployment_id`, `org`, `project`, `description`, `environments`, `stacks`");
}

#[test]
fn unknown_keys_in_stack_yaml_are_errors() {
    let ws = empty_workspace();
    ws.write(
        "stacks/network/stack.yaml",
        "name: network\ndescription: VPC\ndepends: []\n",
    );
    let msg = validate_err(&ws);
    assert!(
        msg.starts_with("stacks/network/stack.yaml:3:1: unknown field `depends`, expected one of `name`, `description`, `depends_on`"),
        "{msg}"
    );
}

#[test]
fn duplicate_stacks_are_rejected_clearly() {
    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1BRV40",
        "environments:\n  dev: {enabled: true}\nstacks:\n  network: {enabled: true}\n  security: {enabled: true}\n  network: {enabled: false}\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @"deploy/D1BRV40-acme-corp-shop/manifest.yaml:9:3: duplicate key `network`: a key may appear only once in a mapping (YAML keeps no duplicates); merge the two `network` entries into one");
}

#[test]
fn deployment_ids_must_match_the_pattern() {
    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1brv40",
        "environments:\n  dev: {enabled: true}\nstacks:\n  network: {}\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @"deploy/D1brv40-acme-corp-shop/manifest.yaml:1:16: invalid deployment id `D1brv40`: `D` followed by 6 uppercase base36 characters, e.g. D1BRV40");
}

#[test]
fn deployment_ids_must_be_unique_and_match_the_directory() {
    let ws = empty_workspace();
    let body = "environments:\n  dev: {enabled: true}\nstacks:\n  network: {}\n";
    write_manifest(&ws, "D1BRV40", body);
    ws.write(
        "deploy/D1BRV40-acme-corp-other/manifest.yaml",
        &format!("deployment_id: D1BRV40\norg: acme-corp\nproject: other\n{body}"),
    );
    ws.write(
        "deploy/D2222222-acme-corp-x/manifest.yaml",
        &format!("deployment_id: D222222\norg: acme-corp\nproject: shop\n{body}"),
    );
    insta::assert_snapshot!(validate_err(&ws), @r"
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:1:1: deployment id D1BRV40 is used by both deploy/D1BRV40-acme-corp-other and deploy/D1BRV40-acme-corp-shop; ids must be unique — give one of them a new id (`cloud init` generates one) and rename its directory
    deploy/D2222222-acme-corp-x/manifest.yaml:1:1: the directory deploy/D2222222-acme-corp-x does not match the manifest; it must be named <id>-<org>-<project> = deploy/D222222-acme-corp-shop (rename it, or fix deployment_id/org/project)
    2 problems found
    ");
}

#[test]
fn missing_index_ts_and_pulumi_yaml_are_reported() {
    let ws = empty_workspace();
    std::fs::remove_file(ws.path("stacks/storage/index.ts")).unwrap();
    std::fs::remove_file(ws.path("stacks/dns/Pulumi.yaml")).unwrap();
    insta::assert_snapshot!(validate_err(&ws), @r"
    stacks/dns/Pulumi.yaml: stacks/dns/Pulumi.yaml does not exist; every stack needs a Pulumi.yaml with `runtime: nodejs` and `main: index.ts`
    stacks/storage/index.ts: stack program is missing: stacks/storage/index.ts does not exist; every stack's entry point is index.ts (create it, or `cloud stacks new` to start from the template)
    2 problems found
    ");
}

#[test]
fn main_must_point_at_index_ts_and_runtime_must_be_nodejs() {
    let ws = empty_workspace();
    ws.write(
        "stacks/network/Pulumi.yaml",
        "name: network\nruntime: nodejs\nmain: src/main.ts\n",
    );
    ws.write("stacks/security/Pulumi.yaml", "name: security\nruntime: python\n");
    ws.write(
        "stacks/dns/Pulumi.yaml",
        "name: dns\nruntime: {name: nodejs, options: {typescript: true}}\nmain: ./index.ts\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @r"
    stacks/network/Pulumi.yaml:3:1: `main: src/main.ts` must point at index.ts (the catalog hashes, inspects and runs index.ts); set `main: index.ts` or remove `main`
    stacks/security/Pulumi.yaml:2:1: stacks/security/Pulumi.yaml: runtime is `python`; stacks are TypeScript programs: set `runtime: nodejs`
    2 problems found
    ");
}

#[test]
fn cycles_name_the_cycle() {
    let ws = empty_workspace();
    ws.add_stack("network", &["security"], "config: {}", "[vpcId]");
    let msg = validate_err(&ws);
    insta::assert_snapshot!(msg, @"stacks/network/stack.yaml:3:1: dependency cycle: network → security → network; remove one of these depends_on entries");
    let (catalog, _) = Catalog::load_lenient(ws.root());
    let errs = cloud_catalog::DependencyGraph::for_catalog(&catalog).unwrap_err();
    assert_eq!(errs.len(), 1);
}

#[test]
fn enabled_stack_on_a_disabled_or_absent_dependency() {
    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1BRV40",
        "environments:\n  dev: {enabled: true}\n  prod:\n    enabled: true\n    stacks:\n      network: {enabled: false}\nstacks:\n  network: {enabled: true}\n  security: {enabled: true}\n  secrets: {enabled: false}\n  database-rds: {enabled: true}\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @r"
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:12:3: in prod: stack `security` depends on `network`, which is disabled in this deployment; enable `network` or disable `security`
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:14:3: in prod: stack `database-rds` depends on `network`, which is disabled in this deployment; enable `network` or disable `database-rds`
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:14:3: stack `database-rds` depends on `secrets`, which is disabled in this deployment; enable `secrets` or disable `database-rds`
    3 problems found
    ");

    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1BRV40",
        "environments:\n  dev: {enabled: true}\nstacks:\n  security: {enabled: true}\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @"deploy/D1BRV40-acme-corp-shop/manifest.yaml:7:3: stack `security` depends on `network`, which is not listed in this deployment; add `network` under `stacks:` (`cloud stacks register <deployment> network`) or disable `security`");
}

#[test]
fn unresolved_and_invalid_placeholders() {
    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1BRV40",
        "environments:\n  dev: {enabled: true}\nstacks:\n  network: {config: {cidrBlock: \"{{network.vpcId}}\"}}\n  security:\n    config:\n      appPort: \"{{network.port}}\"\n  storage: {config: {logRetentionDays: \"{{envv}}\"}}\n  dns:\n    config:\n      domainName: \"{{env:DOMAIN}}\"\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @r"
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:7:22: stack `network` config `cidrBlock`: `{{network.vpcId}}`: `network` is not upstream of `network` in dev (upstream: none); only outputs of stacks `network` depends on can be used
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:10:7: stack `security` config `appPort`: `{{network.port}}`: stack `network` has no output `port` (its outputs: vpcId, privateSubnetIds)
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:11:22: stack `storage` config `logRetentionDays` (manifest stack config): unknown placeholder `{{envv}}`; use {{deployment.id}}, {{env}}, {{org}}, {{project}} or {{<stack>.<output>}}
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:14:7: stack `dns` config `domainName` (manifest stack config): `{{env:DOMAIN}}`: environment variables are read only for secrets — write the value as {secret_env: DOMAIN}
    4 problems found
    ");
}

#[test]
fn config_problems_required_undeclared_reserved_and_clear_secrets() {
    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1BRV40",
        "environments:\n  dev: {enabled: true, config: {colour: blue}}\nstacks:\n  network: {config: {vpcCidr: 10.1.0.0/16, environment: prod}}\n  security: {config: {appPort: {secret: hunter2}}}\n  dns: {}\n",
    );
    insta::assert_snapshot!(validate_err(&ws), @r"
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:5:33: environments.dev.config.colour: no stack enabled in dev declares `colour`, so it has no effect; fix the key or remove it
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:7:22: stack `network` does not declare config key `vpcCidr` (declared: azCount, cidrBlock); fix the key, or declare it in stacks/network/stack.yaml (config with a default, or required_config)
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:7:44: `environment` is set by the catalog for every stack (deploymentId, environment, org, project); remove it from the manifest
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:7:44: stack `network` does not declare config key `environment` (declared: azCount, cidrBlock); fix the key, or declare it in stacks/network/stack.yaml (config with a default, or required_config)
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:8:23: `appPort` stores a secret in clear in the manifest; use {secret_env: VAR} or {secret_file: path} instead (`secret:` only marks a {{stack.output}} placeholder as secret)
    deploy/D1BRV40-acme-corp-shop/manifest.yaml:9:3: stack `dns` requires config `domainName` in dev, but no tier sets it; set it under stacks.dns.config or environments.dev.stacks.dns.config in deploy/D1BRV40-acme-corp-shop/manifest.yaml
    6 problems found
    ");
}

#[test]
fn invalid_names_are_reported() {
    let ws = empty_workspace();
    ws.write(
        "deploy/D1BRV40-ac-Shop/manifest.yaml",
        "deployment_id: D1BRV40\norg: ac\nproject: Shop\nenvironments:\n  qa: {enabled: true}\nstacks:\n  Network: {}\n",
    );
    let msg = validate_err(&ws);
    insta::assert_snapshot!(msg, @r"
    deploy/D1BRV40-ac-Shop/manifest.yaml:2:1: invalid org `ac`: use 3-40 letters, digits, `-` or `_`, starting and ending with a letter or digit (Pulumi's org rule), e.g. acme-corp
    deploy/D1BRV40-ac-Shop/manifest.yaml:3:1: invalid project `Shop`: use 1-40 lowercase letters, digits and inner dashes, starting with a letter, e.g. ecommerce
    deploy/D1BRV40-ac-Shop/manifest.yaml:5:3: invalid environment `qa`: use dev, stage or prod
    deploy/D1BRV40-ac-Shop/manifest.yaml:7:3: invalid stack name `Network`: 1-40 lowercase letters, digits and inner dashes, starting with a letter (e.g. database-rds)
    deploy/D1BRV40-ac-Shop/manifest.yaml:7:3: unknown stack `Network`: not in the catalog (known: authentication, compute-ec2, compute-lambda, containers-apps, containers-images, database-rds, dns, monitoring, network, secrets, security, services-api, services-ecr, services-ecs, services-eks, storage); fix the name or remove the entry
    5 problems found
    ");
}

#[test]
fn validate_reports_everything_in_one_run() {
    let ws = sample_workspace();
    // Break several things at once, in different files.
    std::fs::remove_file(ws.path("stacks/storage/index.ts")).unwrap();
    ws.write(
        "stacks/network/Pulumi.yaml",
        "name: network\nruntime: nodejs\nmain: app.ts\n",
    );
    write_manifest(
        &ws,
        "D2BRV40",
        "environments:\n  dev: {enabled: true}\nstacks:\n  netwrk: {}\n  security: {}\n",
    );
    ws.write(
        "deploy/D3BRV40-acme-corp-bad/manifest.yaml",
        "deployment_id: D3BRV40\norg: acme-corp\nproject: bad\nstacks: [\n",
    );
    let msg = validate_err(&ws);
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.last(), Some(&"5 problems found"), "{msg}");
    for needle in [
        "stacks/storage/index.ts: stack program is missing",
        "stacks/network/Pulumi.yaml:3:1: `main: app.ts`",
        "deploy/D2BRV40-acme-corp-shop/manifest.yaml:7:3: unknown stack `netwrk`",
        "deploy/D2BRV40-acme-corp-shop/manifest.yaml:8:3: stack `security` depends on `network`, which is not listed",
        "deploy/D3BRV40-acme-corp-bad/manifest.yaml:5:1: invalid YAML",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in:\n{msg}");
    }
    // One deployment only: the catalog problems plus that deployment's.
    let e = ws.cloud(&["validate", "D1BRV40"]).unwrap_err();
    assert_eq!(e.code, ExitCode::Invalid);
    assert!(e.message.ends_with("2 problems found"), "{}", e.message);
}

#[test]
fn problem_kinds_are_typed() {
    let ws = empty_workspace();
    write_manifest(
        &ws,
        "D1BRV40",
        "environments:\n  dev: {enabled: true}\nstacks:\n  security: {}\n",
    );
    let report = cloud_catalog::validate::validate_workspace(ws.root(), None).unwrap();
    assert!(report.problems.has_kind(ProblemKind::MissingDependency));
    assert!(!report.problems.has_kind(ProblemKind::Cycle));
}

/// `cloud init` and `cloud stacks new` check what a template renders before writing anything:
/// malformed YAML, unknown keys, duplicate stacks, a stack without index.ts or Pulumi.yaml, and
/// `main` not pointing at index.ts are refused with the template's file and line, exit 2, and
/// the workspace is left exactly as it was.
#[test]
fn init_and_stacks_new_refuse_bad_templates_and_write_nothing() {
    let ws = empty_workspace();
    let header = "deployment_id: {{DEPLOYMENT_ID}}\norg: {{ORG}}\nproject: {{PROJECT}}\n";
    let manifests: &[(&str, &str, &str)] = &[
        (
            "yaml",
            "stacks: {network: {enabled: true}\n",
            "templates/yaml/manifest.yaml.template (rendered):5:1: invalid YAML",
        ),
        (
            "unknown",
            "region: us-east-1\nenvironments:\n  dev: {enabled: true}\nstacks:\n  network: {}\n",
            "templates/unknown/manifest.yaml.template (rendered):4:1: unknown field `region`",
        ),
        (
            "duplicate",
            "environments:\n  dev: {enabled: true}\nstacks:\n  network: {}\n  network: {enabled: false}\n",
            "templates/duplicate/manifest.yaml.template (rendered):8:3: duplicate key `network`",
        ),
    ];
    for (name, body, _) in manifests {
        ws.write(
            &format!("templates/{name}/manifest.yaml.template"),
            &format!("{header}{body}"),
        );
    }
    let before = ws.files();
    for (name, _, needle) in manifests {
        let e = ws
            .cloud(&["init", "--org", "acme-corp", "--project", "shop", "--template", name])
            .unwrap_err();
        assert_eq!(e.code, ExitCode::Invalid, "{name}: {}", e.message);
        assert!(
            e.message.starts_with(&format!(
                "template `{name}` does not give a valid deployment; nothing was written:\n{needle}"
            )),
            "{name}: {}",
            e.message
        );
    }
    assert_eq!(ws.files(), before, "init wrote nothing");

    let stack_template = |file: &str| ws.path(&format!("templates/stack/{file}"));
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "Pulumi.yaml.template",
            Some("name: {{STACK_NAME}}\nruntime: nodejs\nmain: src/main.ts\n"),
            "`main: src/main.ts` must point at index.ts",
        ),
        (
            "Pulumi.yaml.template",
            None,
            "templates/stack (rendered for queue)/Pulumi.yaml does not exist",
        ),
        (
            "index.ts.template",
            None,
            "stack program is missing: templates/stack (rendered for queue)/index.ts does not exist",
        ),
        (
            "stack.yaml.template",
            Some("name: {{STACK_NAME}}\ndescription: [\n"),
            "templates/stack (rendered for queue)/stack.yaml:3:1: invalid YAML",
        ),
        (
            "stack.yaml.template",
            Some("name: {{STACK_NAME}}\ndepends_on: {{DEPENDS_ON_YAML}}\ncolour: blue\n"),
            "templates/stack (rendered for queue)/stack.yaml:3:1: unknown field `colour`",
        ),
    ];
    for (file, replacement, needle) in cases {
        let original = std::fs::read_to_string(stack_template(file)).unwrap();
        match replacement {
            Some(text) => std::fs::write(stack_template(file), text).unwrap(),
            None => std::fs::remove_file(stack_template(file)).unwrap(),
        }
        let before = ws.files();
        let e = ws.cloud(&["stacks", "new", "queue"]).unwrap_err();
        assert_eq!(e.code, ExitCode::Invalid, "{file}: {}", e.message);
        assert!(e.message.contains(needle), "{file}: {needle:?} not in {}", e.message);
        assert!(
            !e.message.contains(".tmp"),
            "no staging path in the message: {}",
            e.message
        );
        assert_eq!(ws.files(), before, "stacks new wrote nothing ({file})");
        std::fs::write(stack_template(file), original).unwrap();
    }
    assert!(
        ws.cloud(&["stacks", "new", "queue"]).is_ok(),
        "the restored template works"
    );
}
