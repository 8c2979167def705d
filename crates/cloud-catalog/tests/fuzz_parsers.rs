//! Fuzzing the catalog's parsers with proptest (the normal test suite runs it; no nightly, no
//! cargo-fuzz): manifests, stack metadata, `{{…}}` templates and placeholders, names, and the
//! YAML shape check. Whatever the input — random text, or YAML-looking token soup with deep
//! nesting, anchors, aliases, quotes and tabs — every parser returns `Ok` or a located error,
//! never panics, and answers within a bound (no hang). Memory is bounded by the input caps of
//! `cloud_catalog::input` (a file over its cap is never parsed) and by the shape check (depth
//! and aliases), which is also what makes the time bound hold.

use std::path::Path;
use std::time::Duration;

use cloud_catalog::manifest::parse_manifest;
use cloud_catalog::{names, template, yaml, StackMeta};
use proptest::prelude::*;

/// CPU time, generous for a debug build; a regression to quadratic parsing of nested input
/// blows through it by orders of magnitude.
const BOUND: Duration = Duration::from_secs(2);

/// CPU time this thread has used. The bounds are on the work a parser does, which a busy
/// machine cannot inflate, not on the wall-clock time, which it stretches at will (the same as
/// `cloud_testkit::wait::thread_cpu_time`; the test kit sits above this crate).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Tokens that YAML parsers find interesting.
fn yaml_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just("- "),
        Just(": "),
        Just(":"),
        Just(","),
        Just("\n"),
        Just("  "),
        Just("\t"),
        Just("&a "),
        Just("*a"),
        Just("'"),
        Just("\""),
        Just("#"),
        Just("? "),
        Just("!!str "),
        Just("---\n"),
        Just("|\n"),
        Just(">\n"),
        Just("key"),
        Just("network"),
        Just("stacks"),
        Just("environments"),
        Just("org"),
        Just("deployment_id"),
        Just("D1BRV40"),
        Just("{{env}}"),
        Just("{{"),
        Just("}}"),
        Just("\u{202e}"),
        Just("\u{1b}[31m"),
        Just("\0"),
        Just("é"),
        Just("100000000000000000000"),
        Just("~"),
        Just("<<: *a\n"),
    ];
    prop::collection::vec(token, 0..200).prop_map(|v| v.concat())
}

fn timed<T>(what: &str, input: &str, f: impl FnOnce() -> T) -> T {
    let t = thread_cpu_time();
    let out = f();
    let used = thread_cpu_time() - t;
    assert!(used < BOUND, "{what} took {used:?} of CPU on {} bytes", input.len());
    out
}

fn exercise(text: &str) {
    let file = Path::new("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml");
    timed("manifest", text, || {
        let _ = parse_manifest(text, file);
    });
    timed("stack.yaml", text, || {
        let _ = yaml::parse_strict::<StackMeta>(text, Path::new("stacks/x/stack.yaml"));
    });
    timed("template", text, || {
        let _ = template::render(text, &template::Values::new());
        let _ = template::placeholders_in(text);
    });
    timed("placeholders", text, || {
        let _ = cloud_catalog::config::parse_value(text);
    });
    timed("names", text, || {
        let _ = names::check_org(text);
        let _ = names::check_project(text);
        let _ = names::check_env(text);
        let _ = names::check_config_key(text);
        let _ = text.parse::<cloud_domain::session::StackName>();
        let _ = text.parse::<cloud_domain::session::DeploymentId>();
        let _ = cloud_catalog::secret_file::check_path(text);
        let _ = cloud_domain::input::check_text("field", text, 100, false);
        let _ = cloud_domain::input::escape_for_display(text);
    });
    timed("locate", text, || {
        let _ = yaml::locate_key(text, &["stacks", "network", "config"]);
    });
}

proptest! {
    // 64 cases per property keep the debug-build suite fast; PROPTEST_CASES raises it.
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn any_text_is_parsed_or_refused_without_panic_or_hang(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn yaml_token_soup_is_parsed_or_refused_without_panic_or_hang(text in yaml_soup()) {
        exercise(&text);
    }

    #[test]
    fn deep_nesting_of_any_kind_is_refused_fast(depth in 65usize..5_000, kind in 0usize..4) {
        let text = match kind {
            0 => format!("stacks: {}", "[".repeat(depth)),
            1 => format!("stacks: {}", "{a: ".repeat(depth)),
            2 => (0..depth.min(400)).map(|i| format!("{}k{i}:\n", "  ".repeat(i))).collect(),
            _ => format!("stacks:\n{}1\n", "- ".repeat(depth)),
        };
        let err = timed("deep manifest", &text, || parse_manifest(&text, Path::new("m.yaml"))).unwrap_err();
        prop_assert!(err.message.contains("nest"), "{}", err.message);
    }

    #[test]
    fn a_valid_manifest_with_a_mutated_line_never_panics(line in 0usize..40, junk in yaml_soup()) {
        let sample = include_str!("../../../deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml");
        let mut lines: Vec<&str> = sample.lines().collect();
        let i = line % lines.len();
        lines[i] = &junk;
        let text = lines.join("\n");
        exercise(&text);
    }
}

/// The case the issue measured: a 100 000-deep document took more than a minute.
#[test]
fn a_100k_deep_document_is_refused_in_milliseconds() {
    let text = format!(
        "deployment_id: D1BRV40\norg: acme-corp\nproject: shop\nstacks: {}",
        "[".repeat(100_000)
    );
    let t = thread_cpu_time();
    let err = parse_manifest(&text, Path::new("m.yaml")).unwrap_err();
    let used = thread_cpu_time() - t;
    assert!(used < Duration::from_millis(200), "{used:?} of CPU");
    assert!(err.message.contains("nest more than 64 levels"), "{}", err.message);
}
