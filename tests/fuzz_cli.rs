//! Fuzzing the command line and the configuration file with proptest: any argument vector —
//! real subcommands and flags mixed with garbage, control characters, huge and empty words —
//! is parsed or refused by clap without a panic, and any configuration text is loaded or
//! refused with a `ConfigError` (never a panic), each within a time bound.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use cloud::cli::Cli;
use proptest::prelude::*;

const BOUND: Duration = Duration::from_secs(2);

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "deploy",
            "plan",
            "show",
            "approve",
            "apply",
            "cancel",
            "status",
            "list",
            "logs",
            "audit",
            "verify",
            "grant",
            "revoke",
            "grants",
            "quota",
            "set",
            "stats",
            "admin",
            "config",
            "doctor",
            "init",
            "validate",
            "stacks",
            "update",
            "new",
            "inspect",
            "templates",
            "graph",
            "environments",
            "enable",
            "rollback",
            "deploy-stack",
            "destroy",
            "--stacks",
            "--as",
            "--config",
            "--data-dir",
            "--reason",
            "--for",
            "--until",
            "--env",
            "--json",
            "--format",
            "--set",
            "--secret-env",
            "--secret-file",
            "--",
            "-",
            "ecommerce",
            "dev",
            "prod",
            "D1BRV40",
            "network",
            "--help",
            "-h",
            "--version",
        ])
        .prop_map(String::from),
        any::<String>(),
        "[\\PC\u{202e}\u{1b}]{0,12}",
        Just(String::new()),
        Just("x".repeat(10_000)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn any_command_line_is_parsed_or_refused_without_panic(args in prop::collection::vec(word(), 0..8)) {
        let t = Instant::now();
        let _ = Cli::try_parse_from(std::iter::once("cloud".to_string()).chain(args));
        prop_assert!(t.elapsed() < BOUND);
    }

    #[test]
    fn any_configuration_text_is_loaded_or_refused_without_panic(
        text in prop_oneof![any::<String>(), "[a-z_:. \\[\\]{}\n&*-]{0,300}"],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.yaml");
        std::fs::write(&path, &text).unwrap();
        let overrides = cloud_core::config::Overrides { config: Some(path), data_dir: Some(dir.path().join("data")) };
        let t = Instant::now();
        let _ = cloud_core::config::Config::load_with_env(&overrides, &BTreeMap::new());
        prop_assert!(t.elapsed() < BOUND);
    }
}
