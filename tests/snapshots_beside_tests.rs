//! insta snapshots and proptest regression seeds live beside the test that owns them, or they
//! silently stop counting: insta writes a fresh `.snap.new` for a snapshot it cannot find (and a
//! moved test starts from nothing), and proptest skips seeds it does not find next to the source.
//! When tests move between crates, their files must move with them; this checks they did.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Files named `*.{ext}` under the repository, outside build output and npm's install.
fn files_ending(ext: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | "node_modules" | ".git") {
                    walk(&path, ext, out);
                }
            } else if name.ends_with(&format!(".{ext}")) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo(), ext, &mut out);
    out.sort();
    out
}

#[test]
fn every_snapshot_sits_in_the_snapshots_directory_beside_its_test() {
    let snapshots = files_ending("snap");
    assert!(
        !snapshots.is_empty(),
        "no snapshot files found under {}",
        repo().display()
    );
    for snap in snapshots {
        let rel = snap.strip_prefix(repo()).unwrap().display().to_string();
        let dir = snap.parent().unwrap();
        assert_eq!(
            dir.file_name().unwrap(),
            "snapshots",
            "{rel}: not in a snapshots/ directory"
        );
        let text = std::fs::read_to_string(&snap).unwrap();
        let source = text
            .lines()
            .find_map(|l| l.strip_prefix("source: "))
            .unwrap_or_else(|| panic!("{rel}: no `source:` header"));
        let test_file = dir.parent().unwrap().join(Path::new(source).file_name().unwrap());
        assert!(
            test_file.is_file(),
            "{rel}: its test {source} is not beside the snapshots/ directory"
        );
        // `<test file>__<test fn or snapshot name>[-<n>].snap`: the test function, or the
        // assertion naming the snapshot, is still in that file.
        let stem = snap.file_stem().unwrap().to_string_lossy().to_string();
        let (file, function) = stem
            .split_once("__")
            .unwrap_or_else(|| panic!("{rel}: unexpected name"));
        assert_eq!(
            Path::new(source).file_stem().unwrap().to_string_lossy(),
            file,
            "{rel}: named after another test file than its source {source}"
        );
        let function = function
            .rsplit_once('-')
            .filter(|(_, n)| n.parse::<u32>().is_ok())
            .map_or(function, |(f, _)| f);
        let code = std::fs::read_to_string(&test_file).unwrap();
        assert!(
            code.contains(&format!("fn {function}(")) || code.contains(&format!("!(\"{function}\",")),
            "{rel}: no test or named snapshot `{function}` in {} (an orphaned snapshot)",
            test_file.display()
        );
    }
}

#[test]
fn every_proptest_regression_file_sits_beside_its_test() {
    for seeds in files_ending("proptest-regressions") {
        let rel = seeds.strip_prefix(repo()).unwrap().display().to_string();
        let test_file = seeds.with_extension("rs");
        assert!(test_file.is_file(), "{rel}: no {} beside it", test_file.display());
        let code = std::fs::read_to_string(&test_file).unwrap();
        assert!(
            code.contains("proptest!"),
            "{rel}: {} has no proptest",
            test_file.display()
        );
    }
}
