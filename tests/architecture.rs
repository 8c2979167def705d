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

/// Cargo's unit graph (what it would compile, without compiling) for `args`. The unit graph is
/// an unstable cargo output; cargo's own channel override enables it on a stable toolchain. It
/// runs against a throwaway target directory so it never waits on the build lock of the suite
/// that runs this test.
fn unit_graph(args: &[&str]) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = tempfile::tempdir().expect("temp target dir");
    let out = Command::new(cargo)
        .args(args)
        .args(["--offline", "--locked", "-Z", "unstable-options", "--unit-graph"])
        .env("__CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS", "nightly")
        .env("CARGO_TARGET_DIR", target.path())
        .current_dir(repo())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the unit graph is JSON")
}

/// Every external unit of a unit graph, identified as cargo identifies a compiled artifact: the
/// package, target, mode, features, profile settings (not the profile's name: `test` inherits
/// `dev`'s settings and shares its artifacts) and, recursively, the identities of its
/// dependencies — a dependency built with other features is another artifact, and so is
/// everything above it.
fn external_units(graph: &Value) -> BTreeMap<String, String> {
    let units = graph["units"].as_array().unwrap();
    fn identity(units: &[Value], i: usize, memo: &mut BTreeMap<usize, String>) -> String {
        if let Some(id) = memo.get(&i) {
            return id.clone();
        }
        let u = &units[i];
        let mut profile = u["profile"].clone();
        profile.as_object_mut().unwrap().remove("name");
        let mut deps: Vec<String> = u["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| identity(units, d["index"].as_u64().unwrap() as usize, memo))
            .collect();
        deps.sort();
        let id = format!(
            "{} {} {} {} {} {} [{}]",
            u["pkg_id"],
            u["target"]["name"],
            u["target"]["kind"],
            u["mode"],
            u["features"],
            profile,
            deps.join(",")
        );
        memo.insert(i, id.clone());
        id
    }
    let mut memo = BTreeMap::new();
    (0..units.len())
        .filter(|&i| !units[i]["pkg_id"].as_str().unwrap().starts_with("path+"))
        .map(|i| {
            let u = &units[i];
            let name = format!(
                "{} ({})",
                u["pkg_id"].as_str().unwrap().rsplit('#').next().unwrap(),
                u["mode"]
            );
            (identity(units, i, &mut memo), name)
        })
        .collect()
}

/// Issue 14.6: after `cargo build --bins`, the test build reuses every external crate it built.
/// A dev-dependency that switches on another feature of a shared crate (proptest turning on
/// regex-syntax's Unicode tables did) makes `cargo test` compile that crate again, and every
/// crate above it (regex, tracing-subscriber, poise…): this names them.
#[test]
fn the_test_build_recompiles_no_external_crate_the_binaries_built() {
    let bins = external_units(&unit_graph(&["build", "--bins"]));
    let tests = external_units(&unit_graph(&["test", "--workspace", "--no-run"]));
    let rebuilt: BTreeSet<&String> = bins
        .iter()
        .filter(|(id, _)| !tests.contains_key(*id))
        .map(|(_, name)| name)
        .collect();
    assert!(
        bins.len() > 100,
        "the unit graph lists the external crates: {}",
        bins.len()
    );
    assert!(
        rebuilt.is_empty(),
        "`cargo test` would compile again {} external crates that `cargo build --bins` built: {rebuilt:?}",
        rebuilt.len()
    );
}
