//! `cloud bench …`: the benchmarks are a separate program, `cloud-bench`, so that the release
//! binary carries none of the fakes and harnesses they need. Like git's and cargo's external
//! subcommands, `cloud bench <args>` runs `cloud-bench <args>` found beside the `cloud` binary
//! (or on `PATH`) and exits with its status.

use std::path::PathBuf;
use std::process::Command;

use clap::Args;

use super::GlobalArgs;

use cloud_domain::error::UserError;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The benchmark and its options (`cloud bench --help` lists them once cloud-bench is built)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// The `cloud-bench` program: beside the running `cloud` binary, else on `PATH`.
fn locate() -> Option<PathBuf> {
    let name = format!("cloud-bench{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe().ok()?.parent()?.join(&name);
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(&name))
        .find(|p| p.is_file())
}

/// Runs `cloud-bench` with the arguments; the global options reach it through their environment
/// variables (`CLOUD_CONFIG`, `CLOUD_DATA_DIR`, `CLOUD_USER`).
pub fn run(global: &GlobalArgs, args: &BenchArgs) -> anyhow::Result<()> {
    let Some(program) = locate() else {
        return Err(UserError::invalid(
            "the benchmarks are a separate program that is not part of the release binary: build it with `cargo build -p cloud-bench` (or `cargo build --release -p cloud-bench`), then run `cloud bench …` again",
        )
        .into());
    };
    let mut command = Command::new(&program);
    command.args(&args.args);
    if let Some(config) = &global.config {
        command.env("CLOUD_CONFIG", config);
    }
    if let Some(dir) = &global.data_dir {
        command.env("CLOUD_DATA_DIR", dir);
    }
    if let Some(user) = &global.as_user {
        command.env("CLOUD_USER", user);
    }
    let status = command
        .status()
        .map_err(|e| UserError::failed(format!("cannot run {}: {e}", program.display())))?;
    match status.code() {
        Some(0) => Ok(()),
        code => std::process::exit(code.unwrap_or(1)),
    }
}
