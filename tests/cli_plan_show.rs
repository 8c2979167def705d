//! `cloud plan show --event-log FILE [--json]` run as a user runs it, on the engine-event streams
//! Pulumi itself recorded (`crates/cloud-testkit/fixtures/pulumi`, read unmodified), on the stand-in's event log
//! and `preview --json` document, and on damaged input. Expected values are read from each file
//! independently of the code under test (plain `serde_json`), never written down per fixture.

#[path = "support/cli.rs"]
mod cli;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cli::{standin, Cli, Run};
use serde_json::{json, Value};

fn fixtures() -> Vec<PathBuf> {
    let dir = cloud_testkit::paths::pulumi_fixtures();
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    assert!(out.len() >= 40, "expected the recorded fixtures, found {}", out.len());
    out
}

/// Every JSON value in a file, whatever its layout.
fn values(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|v| v.unwrap())
        .collect()
}

fn show(cli: &Cli, file: &Path) -> Run {
    cli.run(&["plan", "show", "--event-log", file.to_str().unwrap()])
}

fn show_json(cli: &Cli, file: &Path) -> Value {
    let run = cli.run(&["plan", "show", "--event-log", file.to_str().unwrap(), "--json"]);
    run.expect_code(0);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{}: {e}\n{}", file.display(), run.stdout))
}

/// Pulumi's colour markup (`<{%reset%}>`) removed, trimmed.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("<{%") {
        out.push_str(&rest[..i]);
        match rest[i..].find("%}>") {
            Some(j) => rest = &rest[i + j + 3..],
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

fn is_default_provider(ty: &str, urn: &str) -> bool {
    ty.starts_with("pulumi:providers:") && urn.rsplit("::").next().is_some_and(|n| n.starts_with("default"))
}

/// What the file itself says `plan show --json` must contain.
struct Expected {
    steps: Vec<Value>,
    counts: BTreeMap<String, u64>,
    error_diagnostics: Vec<String>,
    failed_urns: Vec<String>,
}

fn expected(text: &str) -> Expected {
    let mut e = Expected {
        steps: vec![],
        counts: BTreeMap::new(),
        error_diagnostics: vec![],
        failed_urns: vec![],
    };
    for v in values(text) {
        if let Some(m) = v.get("resourcePreEvent").map(|p| &p["metadata"]) {
            let (urn, ty) = (m["urn"].as_str().unwrap(), m["type"].as_str().unwrap());
            if !is_default_provider(ty, urn) {
                e.steps.push(json!({"urn": urn, "type": ty, "op": m["op"]}));
            }
        }
        if let Some(rc) = v.get("summaryEvent").map(|s| &s["resourceChanges"]) {
            for (op, n) in rc.as_object().unwrap() {
                *e.counts.entry(op.clone()).or_default() += n.as_u64().unwrap();
            }
        }
        if let Some(d) = v.get("diagnosticEvent").filter(|d| d["severity"] == "error") {
            let message = plain(d["message"].as_str().unwrap());
            if !message.is_empty() {
                e.error_diagnostics.push(message);
            }
        }
        if let Some(err) = v.get("errorEvent") {
            e.error_diagnostics.push(plain(err["error"].as_str().unwrap()));
        }
        if let Some(f) = v.get("resOpFailedEvent") {
            e.failed_urns.push(f["metadata"]["urn"].as_str().unwrap().to_string());
        }
    }
    e
}

fn counts_of(v: &Value) -> BTreeMap<String, u64> {
    serde_json::from_value(v["counts"].clone()).unwrap()
}

#[test]
fn every_recorded_stream_is_summarised_as_the_file_itself_records() {
    let cli = Cli::new();
    for file in fixtures() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let want = expected(&text);
        let got = show_json(&cli, &file);

        assert_eq!(
            got["steps"].as_array().unwrap(),
            &want.steps,
            "{name}: one step per resourcePreEvent, in order"
        );
        assert_eq!(counts_of(&got), want.counts, "{name}: the engine's own totals");
        let errors = got["errors"].as_array().unwrap();
        let diag: Vec<String> = errors
            .iter()
            .filter(|e| e["kind"] == "diagnostic")
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect();
        let mut want_diag = want.error_diagnostics.clone();
        let mut got_diag = diag.clone();
        want_diag.sort();
        got_diag.sort();
        assert_eq!(got_diag, want_diag, "{name}: every error diagnostic");
        let failed: Vec<&str> = errors
            .iter()
            .filter(|e| e["kind"] == "failed-step")
            .map(|e| e["urn"].as_str().unwrap())
            .collect();
        assert_eq!(failed, want.failed_urns, "{name}: every failed operation");
        assert!(
            got.get("truncated").is_none() && got.get("skippedLines").is_none(),
            "{name}: read completely"
        );

        // The text form reads the same file without complaint.
        let run = show(&cli, &file);
        run.expect_code(0);
        assert!(run.stdout.starts_with("Stack "), "{name}: {}", run.stdout);
        if !errors.is_empty() {
            assert!(
                run.stdout.contains(&format!("{} error(s)", errors.len())),
                "{name}: {}",
                run.stdout
            );
        }
    }
}

#[test]
fn json_lines_and_pretty_printed_layouts_give_the_same_answer() {
    let cli = Cli::new();
    let tmp = tempfile::tempdir().unwrap();
    let mut pretty_inputs = 0;
    for file in fixtures() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.starts_with("{\"") {
            pretty_inputs += 1;
        }
        let original = show_json(&cli, &file);
        let vs = values(&text);
        let lines: String = vs.iter().map(|v| serde_json::to_string(v).unwrap() + "\n").collect();
        let pretty: String = vs
            .iter()
            .map(|v| serde_json::to_string_pretty(v).unwrap() + "\n")
            .collect();
        for (layout, body) in [("lines", lines), ("pretty", pretty)] {
            let path = tmp.path().join(format!("{layout}.json"));
            std::fs::write(&path, body).unwrap();
            assert_eq!(show_json(&cli, &path), original, "{name} as {layout}");
        }
    }
    assert!(
        pretty_inputs >= 4,
        "the recorded pretty-printed streams are among the inputs"
    );
}

#[test]
fn several_stacks_one_after_another_are_shown_each_and_totalled() {
    let cli = Cli::new();
    let files = fixtures();
    let (a, b) = (
        &files[0],
        files
            .iter()
            .find(|f| f.to_string_lossy().contains("lifecycle__"))
            .unwrap(),
    );
    let (ta, tb) = (std::fs::read_to_string(a).unwrap(), std::fs::read_to_string(b).unwrap());
    let both = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(both.path(), format!("{ta}\n{tb}")).unwrap();
    let got = show_json(&cli, both.path());
    assert_eq!(got["stacks"].as_array().unwrap().len(), 2, "{got}");
    let mut total = expected(&ta).counts;
    for (op, n) in expected(&tb).counts {
        *total.entry(op).or_default() += n;
    }
    assert_eq!(counts_of(&got), total);
    let mut steps = expected(&ta).steps;
    steps.extend(expected(&tb).steps);
    assert_eq!(got["steps"].as_array().unwrap(), &steps);
    assert!(show(&cli, both.path()).stdout.contains("Total (2 stacks): "));
}

// ---------------------------------------------------------------------------------------------
// The stand-in's preview: the event log and the `preview --json` document of one run agree.

/// Runs `pulumi-standin preview --event-log LOG --json > DOC` on the test resources (the way the
/// adapter would: stack init, config set, preview) and returns (LOG, DOC).
fn standin_preview(dir: &Path) -> (PathBuf, PathBuf) {
    let program = dir.join("network");
    std::fs::create_dir_all(&program).unwrap();
    std::fs::write(
        program.join("Pulumi.yaml"),
        "name: ecommerce\nruntime: nodejs\nmain: index.ts\n",
    )
    .unwrap();
    let stack = "organization/ecommerce/D000000-network-dev";
    let (log, doc) = (dir.join("preview.jsonl"), dir.join("preview.json"));
    let pulumi = |args: &[&str]| {
        let out = Command::new(standin())
            .args(args)
            .current_dir(&program)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PULUMI_BACKEND_URL", format!("file://{}", dir.join("state").display()))
            .env("PULUMI_CONFIG_PASSPHRASE", "")
            .env("PULUMI_DEBUG_COMMANDS", "true")
            .env("PULUMI_SKIP_UPDATE_CHECK", "true")
            .env(
                "PULUMI_STANDIN_RESOURCES",
                cloud_testkit::paths::fixtures().join("standin/network-dev.json"),
            )
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pulumi {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    pulumi(&["stack", "init", stack]);
    pulumi(&[
        "config",
        "set",
        "--stack",
        stack,
        "--plaintext",
        "environment",
        "--",
        "dev",
    ]);
    let document = pulumi(&[
        "preview",
        "--stack",
        stack,
        "--color",
        "never",
        "--non-interactive",
        "--event-log",
        log.to_str().unwrap(),
        "--json",
    ]);
    std::fs::write(&doc, document).unwrap();
    (log, doc)
}

#[test]
fn the_event_log_and_the_preview_document_of_one_preview_agree() {
    let cli = Cli::new();
    let tmp = tempfile::tempdir().unwrap();
    let (log, doc) = standin_preview(tmp.path());
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("\"type\":\"pulumi:providers:aws\""),
        "the log has a default provider to leave out"
    );

    let from_log = show_json(&cli, &log);
    let from_doc = show_json(&cli, &doc);
    let want = expected(&log_text);
    assert!(!want.steps.is_empty());
    assert_eq!(from_log["steps"].as_array().unwrap(), &want.steps);
    assert_eq!(counts_of(&from_log), want.counts);
    assert_eq!(from_doc["steps"], from_log["steps"], "same steps from either form");
    assert_eq!(from_doc["counts"], from_log["counts"], "same counts from either form");
    assert_eq!(from_doc["errors"], json!([]));
    let text = show(&cli, &doc).stdout;
    assert!(text.starts_with("Stack D000000-network-dev: "), "{text}");

    // Without its summary event the counts come from the steps — and still agree.
    let no_summary: String = log_text
        .lines()
        .filter(|l| !l.contains("\"summaryEvent\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let cut = tmp.path().join("no-summary.jsonl");
    std::fs::write(&cut, no_summary).unwrap();
    let counted = show_json(&cli, &cut);
    assert_eq!(counted["counts"], from_log["counts"]);
    assert_eq!(counted["stacks"][0]["countsFromEngine"], false);
    assert_eq!(from_log["stacks"][0]["countsFromEngine"], true);
}

// ---------------------------------------------------------------------------------------------
// Damaged or wrong input.

#[test]
fn a_non_json_line_is_skipped_logged_and_reading_goes_on() {
    let cli = Cli::new();
    let file = fixtures()
        .into_iter()
        .find(|f| f.to_string_lossy().contains("up-interrupted"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(3, "Warning: this is not an engine event");
    let damaged = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(damaged.path(), lines.join("\n") + "\n").unwrap();

    let run = cli.run(&[
        "plan",
        "show",
        "--event-log",
        damaged.path().to_str().unwrap(),
        "--json",
    ]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("skipping engine-stream input that is not an event"),
        "logged: {}",
        run.stderr
    );
    let got: Value = serde_json::from_str(&run.stdout).unwrap();
    let clean = show_json(&cli, &file);
    assert_eq!(got["skippedLines"], json!([4]));
    for key in ["steps", "counts", "errors"] {
        assert_eq!(got[key], clean[key], "{key}: nothing lost around the bad line");
    }
    let text = show(&cli, damaged.path()).stdout;
    assert!(
        text.contains("note: 1 line(s) that were not engine events were skipped"),
        "{text}"
    );
}

#[test]
fn a_truncated_final_event_is_reported_and_the_complete_ones_count() {
    let cli = Cli::new();
    let file = fixtures()
        .into_iter()
        .find(|f| f.to_string_lossy().ends_with("display__not-truncated__up.json"))
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (last, complete) = lines.split_last().unwrap();
    let cut = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cut.path(),
        format!("{}\n{}", complete.join("\n"), &last[..last.len() / 2]),
    )
    .unwrap();

    let got = show_json(&cli, cut.path());
    assert_eq!(got["truncated"], json!({"line": lines.len()}));
    let clean = show_json(&cli, &file);
    assert_eq!(got["steps"], clean["steps"]);
    let run = show(&cli, cut.path());
    run.expect_code(0);
    assert!(
        run.stdout.contains(&format!(
            "note: the event log ends with an incomplete event at line {}",
            lines.len()
        )),
        "{}",
        run.stdout
    );
}

#[test]
fn unreadable_empty_or_foreign_files_are_exit_2() {
    let cli = Cli::new();
    let run = cli.run(&["plan", "show", "--event-log", "no-such-file.jsonl"]);
    run.expect_code(2);
    assert!(
        run.stderr.starts_with("error: cannot read no-such-file.jsonl: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("pulumi preview --event-log FILE"), "{}", run.stderr);

    std::fs::write(cli.path("empty.jsonl"), "\n\n").unwrap();
    let run = cli.run(&["plan", "show", "--event-log", "empty.jsonl"]);
    run.expect_code(2);
    assert!(run.stderr.contains("empty.jsonl: the input is empty"), "{}", run.stderr);

    std::fs::write(
        cli.path("notes.txt"),
        "Previewing update (dev)\nResources: 3 to create\n",
    )
    .unwrap();
    let run = cli.run(&["plan", "show", "--event-log", "notes.txt", "--json"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("notes.txt: no engine events found in the input (2 non-event line(s) skipped"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let run = cli.run(&["plan", "show"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--event-log <FILE>"), "{}", run.stderr);
    assert!(!cli.path("data").exists(), "plan show opens no database");
}

#[test]
fn plan_with_a_project_still_opens_a_session() {
    let cli = Cli::new();
    let run = cli.run(&["plan", "ecommerce", "dev", "--stacks", "network"]);
    run.expect_code(0);
    assert!(run.stdout.contains("PLAN_READY"), "{}", run.stdout);
    let sessions = cli.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].1, "PLAN_READY");

    // Missing arguments are usage errors; a subcommand and a project do not mix.
    let run = cli.run(&["plan", "ecommerce"]);
    run.expect_code(2);
    assert!(run.stderr.contains("<ENV>"), "{}", run.stderr);
    let file = fixtures().remove(0);
    let run = cli.run(&["plan", "show", "--event-log", file.to_str().unwrap(), "ecommerce"]);
    run.expect_code(2);
    // After `--`, `show` is a project name like any other.
    let run = cli.run(&["plan", "--", "show", "dev"]);
    run.expect_code(2);
    assert!(run.stderr.contains("unknown project `show`"), "{}", run.stderr);
    assert_eq!(
        cli.sessions().len(),
        1,
        "no session from a usage error or an unknown project"
    );
}
