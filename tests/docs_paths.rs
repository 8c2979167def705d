//! The docs point at files that exist. Code moves (the workspace split moved tests, fixtures and
//! fakes into crates); a doc that still names the old place sends a reader nowhere. Every
//! backticked path in README.md and docs/*.md that starts at a top-level directory of the
//! repository must exist.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Backticked spans of `text` that look like repository paths: they start with a top-level
/// directory of the repository and hold no placeholder (`<stack>`, `*`).
fn repo_paths(text: &str, top: &[String]) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| !span.contains(['<', '>', '*', ' ', '{', '$']))
        .filter(|span| {
            let first = span.split('/').next().unwrap_or("");
            span.contains('/') && top.iter().any(|t| t == first)
        })
        .map(|span| span.trim_end_matches(['/', '.', ',', ':']).to_string())
        .collect()
}

#[test]
fn every_path_the_docs_name_exists() {
    let root = repo();
    let top: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "target" && !n.starts_with('.') || n == ".ci" || n == ".cargo")
        .collect();
    assert!(top.iter().any(|t| t == "crates"), "top-level directories: {top:?}");
    let mut docs: Vec<PathBuf> = vec![root.join("README.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    let mut checked = 0;
    let mut missing = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for path in repo_paths(&text, &top) {
            checked += 1;
            if !Path::new(&root).join(&path).exists() {
                missing.push(format!("{}: {path}", doc.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    assert!(checked > 20, "the docs name repository paths ({checked} found)");
    assert!(
        missing.is_empty(),
        "docs name paths that do not exist:\n{}",
        missing.join("\n")
    );
}
