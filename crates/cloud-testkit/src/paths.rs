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
pub fn standin() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| workspace_binary("pulumi-standin", "pulumi-standin"))
        .clone()
}

/// The benchmark program `cloud bench …` runs (`target/<profile>/cloud-bench`, beside `cloud`).
pub fn bench() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| workspace_binary("cloud-bench", "cloud-bench"))
        .clone()
}

/// The binary `bin` of the workspace package `package`, built for this build profile.
///
/// A test binary runs from `target/<profile>/deps/`; a binary of another workspace package is
/// not handed to the test by cargo (`CARGO_BIN_EXE_*` covers only a package's own binaries),
/// and `cargo test` builds it only when it has to. So that a test's outcome never depends on
/// what the developer happened to build before, the binary is built here, once per test
/// process, with the same cargo: a no-op when it is fresh, and a rebuild when it is missing or
/// *stale* (a stand-in older than its sources once made a whole suite plan against a contract
/// the code no longer spoke). Cargo holds no build lock while tests run, so this cannot wait
/// on the `cargo test` that started us.
fn workspace_binary(package: &str, bin: &str) -> PathBuf {
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
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-p", package, "--bin", bin]).current_dir(repo());
    if release {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building {bin} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(path.is_file(), "{bin} is not at {}", path.display());
    path
}
