//! Where things are: the repository checkout, the recorded Pulumi fixtures, and the Pulumi
//! stand-in binary that tests run as `pulumi.binary`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The repository checkout (the workspace root: `stacks/`, `deploy/`, `templates/`, `config/`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/cloud-testkit sits two levels below the workspace root")
        .to_path_buf()
}

/// Pulumi's own recorded engine-event streams (a verbatim copy of `shared/fixtures/pulumi`).
pub fn pulumi_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pulumi")
}

/// The stand-in's recorded snapshots and other fixtures of this project.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The Pulumi stand-in executable of this build profile (`target/<profile>/pulumi-standin`).
///
/// A test binary runs from `target/<profile>/deps/`; the stand-in is a binary of another
/// workspace package, so cargo does not hand its path to the test (`CARGO_BIN_EXE_*` covers only
/// a package's own binaries). `cargo test` at the workspace root builds it; when a single
/// package's tests run alone and it is missing, it is built here once with the same cargo.
pub fn standin() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| {
                if deps.ends_with("deps") {
                    deps.parent()
                } else {
                    Some(deps)
                }
            })
            .expect("a target directory")
            .to_path_buf();
        let path = profile_dir.join(format!("pulumi-standin{}", std::env::consts::EXE_SUFFIX));
        if !path.is_file() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["build", "-p", "pulumi-standin", "--bin", "pulumi-standin"])
                .current_dir(repo());
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("cargo runs");
            assert!(status.success(), "building the Pulumi stand-in failed");
        }
        assert!(path.is_file(), "the Pulumi stand-in is not at {}", path.display());
        path
    })
    .clone()
}
