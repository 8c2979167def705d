//! The crate graph is the architecture: docs/architecture.md draws it, `cargo metadata` is the
//! truth, and this test fails when they disagree — or when the product links the test kit or
//! the fakes' certificate crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn metadata(extra: &[&str]) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(extra)
        .current_dir(repo())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// `(crate, dependency)` for every normal (non-dev, non-build) dependency between workspace crates.
fn workspace_edges(meta: &Value) -> BTreeSet<(String, String)> {
    let packages = meta["packages"].as_array().unwrap();
    let members: BTreeSet<&str> = packages.iter().map(|p| p["name"].as_str().unwrap()).collect();
    let mut edges = BTreeSet::new();
    for p in packages {
        for d in p["dependencies"].as_array().unwrap() {
            let name = d["name"].as_str().unwrap();
            if members.contains(name) && d["kind"].is_null() {
                edges.insert((p["name"].as_str().unwrap().to_string(), name.to_string()));
            }
        }
    }
    edges
}

/// The `a --> b` lines of the mermaid block in docs/architecture.md.
fn documented_edges() -> BTreeSet<(String, String)> {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap();
    let block = doc
        .split("```mermaid")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/architecture.md has a mermaid block");
    block
        .lines()
        .filter_map(|line| line.split_once("-->"))
        .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
        .collect()
}

#[test]
fn the_documented_crate_graph_is_the_manifests_graph() {
    let actual = workspace_edges(&metadata(&["--no-deps"]));
    let documented = documented_edges();
    let missing: Vec<_> = actual.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/architecture.md's graph disagrees with the manifests:\n  not drawn: {missing:?}\n  drawn but not a dependency: {stale:?}"
    );
}

#[test]
fn the_layers_only_point_down() {
    // Lower layers first; a crate may depend only on crates earlier in this list.
    let order = [
        "cloud-domain",
        "cloud-store",
        "cloud-store-sqlite",
        "cloud-store-postgres",
        "cloud-catalog",
        "cloud-core",
        "cloud-pulumi",
        "cloud-chat",
        "cloud-discord",
        "cloud-slack",
        "cloud",
    ];
    let rank: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    for (from, to) in workspace_edges(&metadata(&["--no-deps"])) {
        if let (Some(a), Some(b)) = (rank.get(from.as_str()), rank.get(to.as_str())) {
            assert!(b < a, "{from} depends on {to}, which is not below it");
        }
        if from == "cloud-store-sqlite" || from == "cloud-store-postgres" {
            assert!(
                ["cloud-domain", "cloud-store"].contains(&to.as_str()),
                "{from} depends on {to}: a store backend knows only the domain and cloud-store"
            );
        }
        if from == "cloud-discord" || from == "cloud-slack" {
            assert!(
                !["cloud-discord", "cloud-slack", "cloud-pulumi"].contains(&to.as_str()),
                "{from} depends on {to}: adapters know only the chat layer below them"
            );
        }
    }
}

/// The host's target triple (`rustc -vV`), so the resolved graph is this platform's.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

#[test]
fn the_cloud_binary_links_no_test_kit_and_no_certificate_generator() {
    let meta = metadata(&["--filter-platform", &host_triple()]);
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let by_id: BTreeMap<&str, &Value> = nodes.iter().map(|n| (n["id"].as_str().unwrap(), n)).collect();
    let name_of = |id: &str| -> String {
        meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_string())
            .unwrap()
    };
    let root = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cloud")
        .map(|p| p["id"].as_str().unwrap())
        .unwrap();
    // Everything the `cloud` package links through normal dependencies.
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in by_id[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
            if normal {
                stack.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    let linked: BTreeSet<String> = seen.iter().map(|id| name_of(id)).collect();
    for forbidden in ["cloud-testkit", "cloud-bench", "rcgen"] {
        assert!(!linked.contains(forbidden), "the cloud binary links {forbidden}");
    }
    assert!(
        linked.contains("cloud-core"),
        "the walk found the product crates: {linked:?}"
    );
}
