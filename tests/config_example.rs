//! config/cloud.yaml documents the access keys of issue 16 (`access.os_users`, `token_file`,
//! `audit_key_file`) as commented examples. Uncommented, the examples must load: the
//! configuration refuses unknown keys, so a renamed key or a bad example fails here.

use std::collections::BTreeMap;

use cloud_core::config::{Config, Overrides};

#[test]
fn the_commented_access_examples_are_real_keys_that_load() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/cloud.yaml")).unwrap();
    let mut in_access = false;
    let mut uncommented = Vec::new();
    let mut enabled = Vec::new();
    for line in example.lines() {
        if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
            in_access = line == "access:";
        }
        let example_line = line
            .strip_prefix("  # ")
            .filter(|rest| in_access && (rest.starts_with(|c: char| c.is_ascii_lowercase()) || rest.starts_with("  ")))
            .filter(|rest| rest.contains(':'));
        match example_line {
            Some(rest) => {
                enabled.push(rest.split(':').next().unwrap().trim().to_string());
                uncommented.push(format!("  {rest}"));
            }
            None => uncommented.push(line.to_string()),
        }
    }
    for key in ["os_users", "token_file", "audit_key_file"] {
        assert!(
            enabled.iter().any(|k| k == key),
            "config/cloud.yaml has no `access.{key}` example: {enabled:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.yaml");
    std::fs::write(&path, uncommented.join("\n")).unwrap();
    let config = Config::load_with_env(
        &Overrides {
            config: Some(path),
            data_dir: Some(dir.path().join("data")),
        },
        &BTreeMap::new(),
    )
    .unwrap_or_else(|e| panic!("the uncommented examples do not load: {e}"));
    assert_eq!(config.os_users.len(), 2, "{:?}", config.os_users);
    assert!(config.audit_key_file.ends_with("audit.key"));
}
