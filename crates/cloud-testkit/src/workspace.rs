//! A throwaway working tree for tests: copies of the repository's `stacks/`, `templates/` and
//! `config/` and of the sample deployment, in a temporary directory.
//!
//! Tests never use the checkout itself as their workspace. A developer who followed the README
//! quick start there has deployments of their own under `deploy/` (`cloud init` creates
//! `deploy/D…-acme-corp-shop`) and state under `.data/`; a test that read or wrote those would
//! pass or fail depending on what the developer did before running it. A [`TempWorkspace`]
//! holds exactly what is committed for the stacks and templates, and exactly one deployment: the
//! sample one the stories deploy.

use std::io;
use std::path::{Path, PathBuf};

use crate::paths;

/// The sample deployment every story deploys: `deploy/<SAMPLE_DEPLOYMENT>/manifest.yaml`.
pub const SAMPLE_DEPLOYMENT: &str = "D1BRV40-acme-corp-ecommerce";

/// Entries of `stacks/` and `templates/` that are not part of the repository's content: npm's
/// install (linked instead, it is large and only read), and what local tools leave behind
/// (`stacks/.gitignore`).
fn is_local_leftover(name: &str) -> bool {
    name == "node_modules" || name == "bin" || name.starts_with(".tmp-")
}

/// A temporary workspace (`stacks/`, `templates/`, `config/`, `deploy/`); removed on drop.
pub struct TempWorkspace {
    dir: tempfile::TempDir,
}

impl TempWorkspace {
    /// The repository's stacks, templates and configuration, and the sample deployment
    /// ([`SAMPLE_DEPLOYMENT`]) as the only deployment. Without `stacks/node_modules`: the
    /// offline inspector cannot run there unless the test asks for it
    /// ([`TempWorkspace::link_node_modules`]).
    pub fn sample() -> TempWorkspace {
        let ws = TempWorkspace::empty();
        ws.add_deployment(SAMPLE_DEPLOYMENT);
        ws
    }

    /// Like [`TempWorkspace::sample`] but without any deployment (`deploy/` is empty).
    pub fn empty() -> TempWorkspace {
        let dir = tempfile::Builder::new()
            .prefix("cloud-workspace-")
            .tempdir()
            .expect("a temporary directory");
        let repo = paths::repo();
        for sub in ["stacks", "templates", "config"] {
            copy_tree(&repo.join(sub), &dir.path().join(sub))
                .unwrap_or_else(|e| panic!("cannot copy {sub}/ into the test workspace: {e}"));
        }
        std::fs::create_dir_all(dir.path().join("deploy")).expect("cannot create deploy/");
        TempWorkspace { dir }
    }

    /// Links the checkout's `stacks/node_modules` (npm's install: large, and only read) into
    /// this workspace, so that the offline inspector can run here. False when the checkout has
    /// none (`cd stacks && npm ci --ignore-scripts` installs it).
    pub fn link_node_modules(&self) -> bool {
        let node_modules = paths::repo().join("stacks/node_modules");
        if !node_modules.is_dir() {
            return false;
        }
        let target = node_modules.canonicalize().expect("stacks/node_modules resolves");
        std::os::unix::fs::symlink(target, self.path("stacks/node_modules"))
            .expect("cannot link stacks/node_modules into the test workspace");
        true
    }

    /// Copies the repository's committed deployment `deploy/<name>` into this workspace.
    pub fn add_deployment(&self, name: &str) {
        copy_tree(
            &paths::repo().join("deploy").join(name),
            &self.root().join("deploy").join(name),
        )
        .unwrap_or_else(|e| panic!("cannot copy deploy/{name} into the test workspace: {e}"));
    }

    /// The workspace root (`CLOUD_WORKSPACE`, `workspace:` in a configuration file).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` under the root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// The deployment directories under `deploy/`, sorted.
    pub fn deployments(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("deploy"))
            .expect("deploy/ is readable")
            .map(|e| e.expect("a deploy/ entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Copies the directory `from` to `to` (created), skipping [`is_local_leftover`] entries.
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if is_local_leftover(&name.to_string_lossy()) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the checkout's `deploy/` holds (a quick start, a `cloud init`), a test workspace
    /// holds the sample deployment only, and the repository's stacks.
    #[test]
    fn a_sample_workspace_holds_the_sample_deployment_only() {
        let ws = TempWorkspace::sample();
        assert_eq!(ws.deployments(), vec![SAMPLE_DEPLOYMENT.to_string()]);
        assert!(ws.path("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml").is_file());
        let stacks = std::fs::read_dir(ws.path("stacks"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().join("stack.yaml").is_file())
            .count();
        assert_eq!(stacks, 20, "16 AWS stacks and 4 GCP stacks");
        assert!(ws.path("templates/default/manifest.yaml.template").is_file());
        assert!(ws.path("config/pricing.yaml").is_file());
        assert!(TempWorkspace::empty().deployments().is_empty());
    }

    #[test]
    fn the_workspace_goes_away_with_the_test() {
        let ws = TempWorkspace::sample();
        let root = ws.root().to_path_buf();
        drop(ws);
        assert!(!root.exists());
    }
}
