//! Bad input at the command line: one clear message naming the problem and the fix, exit 2, and
//! nothing stored changes.

use std::path::Path;
use std::process::{Command, Output};

fn cloud(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloud"))
        .args(args)
        .current_dir(dir)
        .env_remove("CLOUD_CONFIG")
        .env_remove("CLOUD_DATA_DIR")
        .env("CLOUD_USER", "alice")
        .output()
        .expect("cloud runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_malformed_config_file_is_reported_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "data_dir: .data\npulumi:\n  binary: [x\n").unwrap();
    let out = cloud(dir.path(), &["--config", "bad.yaml", "config", "show"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).starts_with("error: bad.yaml:"), "{}", stderr(&out));
}

#[test]
fn an_unknown_config_key_names_the_key_and_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), "data_dir: .data\nenvironmnets: {}\n").unwrap();
    let out = cloud(dir.path(), &["--config", "c.yaml", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("c.yaml:2:1: unknown field `environmnets`, expected one of"),
        "{err}"
    );
    assert!(
        !dir.path().join(".data").exists(),
        "nothing created on bad configuration"
    );
}

#[test]
fn an_unwritable_data_dir_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "not a dir").unwrap();
    let out = cloud(dir.path(), &["--data-dir", "file/sub", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("data directory file/sub is not usable"), "{err}");
    assert!(err.contains("--data-dir"), "{err}");
}

#[test]
fn config_show_masks_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cloud"))
        .args(["config", "show"])
        .current_dir(dir.path())
        .env_remove("CLOUD_CONFIG")
        .env("PULUMI_CONFIG_PASSPHRASE", "s3cret-passphrase")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s3cret-passphrase"), "{text}");
    assert!(text.contains("PULUMI_CONFIG_PASSPHRASE (set, ********)"), "{text}");
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &["deploy"],
        &["plan"],
        &["plan", "show"],
        &["refresh"],
        &["approve"],
        &["apply"],
        &["status"],
        &["list"],
        &["cancel"],
        &["logs"],
        &["audit"],
        &["projects"],
        &["config"],
        &["doctor"],
        &["init"],
        &["validate"],
        &["deployments"],
        &["deployments", "list"],
        &["graph"],
        &["environments"],
        &["stacks"],
        &["stacks", "inspect"],
        &["templates"],
        &["discover-resources"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = cloud(dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}");
        let usage = format!("Usage: cloud {}", cmd.join(" "));
        assert!(String::from_utf8_lossy(&out.stdout).contains(&usage), "{cmd:?}");
    }
}

#[test]
fn a_coded_error_points_at_its_troubleshooting_entry_and_the_entry_exists() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), "data_dir: .data\nenvironmnets: {}\n").unwrap();
    let out = cloud(dir.path(), &["--config", "c.yaml", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let link = err
        .lines()
        .find_map(|l| l.strip_prefix("  see: docs/troubleshooting.md#"))
        .unwrap_or_else(|| panic!("no troubleshooting pointer: {err}"));
    assert_eq!(link, "config-syntax", "{err}");
    assert_eq!(err.matches("error: ").count(), 1, "one error message: {err}");
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md")).unwrap();
    assert!(
        page.contains(&format!("\n### {link}\n")),
        "docs/troubleshooting.md has no entry {link}"
    );
}
