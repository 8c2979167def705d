//! The repository's own workspace: the real 16 stacks (from the stacks branch), the real
//! templates, and the sample deployment used by the README quick start.

mod catalog_support;

use std::path::{Path, PathBuf};

use cloud_engine::catalog::{validate::validate_workspace, Catalog, DependencyGraph};

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
    let ws = catalog_support::Ws { dir: tempfile::tempdir().unwrap() };
    for d in ["stacks", "templates", "deploy"] {
        copy(&repo().join(d), &ws.path(d));
    }
    ws
}

#[test]
fn the_repository_workspace_is_valid() {
    let report = validate_workspace(&repo(), None).unwrap();
    assert!(report.problems.is_empty(), "{}", report.problems);
    assert_eq!(report.stacks, 16);
    assert!(report.deployments.contains(&"D1BRV40-acme-corp-ecommerce".to_string()));
    let catalog = Catalog::load(&repo()).unwrap();
    let g = DependencyGraph::for_catalog(&catalog).unwrap();
    assert_eq!(g.waves().len(), 6);
    assert_eq!(g.waves()[0], vec!["network".parse().unwrap()]);
}

#[test]
fn the_repository_templates_render() {
    let ws = copy_repo();
    assert_eq!(ws.cloud(&["templates", "validate"]).unwrap(), "ok: 4 templates render with sample values\n");
    // stacks new with the real template gives a stack the catalog accepts.
    ws.cloud(&["stacks", "new", "queue-sqs", "--depends-on", "network,security", "--description", "SQS queues for the workers"]).unwrap();
    let catalog = Catalog::load(ws.root()).unwrap();
    let def = catalog.get("queue-sqs").unwrap();
    assert_eq!(def.meta.depends_on.len(), 2);
    let index = ws.read("stacks/queue-sqs/index.ts");
    assert!(index.contains("const networkRef = stackReference(ctx, \"network\");"), "{index}");
    assert!(!index.contains("{{"), "{index}");
    // init with both shipped templates gives valid deployments.
    ws.cloud(&["init", "--org", "acme-corp", "--project", "shop"]).unwrap();
    ws.cloud(&["init", "--org", "acme-corp", "--project", "blog", "--template", "minimal"]).unwrap();
    ws.cloud(&["validate"]).unwrap();
}

#[test]
fn discover_resources_from_committed_snapshots() {
    let ws = copy_repo();
    let out = ws.cloud(&["discover-resources", "D1BRV40", "prod", "--snapshot"]).unwrap();
    assert!(out.starts_with("== wave 1 ==\nnetwork in prod: "), "{out}");
    assert!(out.contains("== wave 6 ==\nmonitoring in prod: "), "{out}");
    assert!(out.contains("total: ") && out.ends_with("resources in 16 stacks\n"), "{out}");
}
