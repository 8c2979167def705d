//! `cloud plan show` streamed ([`plan_show_stream`]) prints byte for byte what the in-memory view
//! ([`plan_show`]) prints — on every recorded Pulumi stream, in both layouts (JSON lines and
//! pretty-printed), several stacks one after another, streams without the engine's totals,
//! damaged input, `preview --json` documents, and a log large enough to spill to disk.

use cloud_pulumi::plan_stream::{plan_show_stream, plan_show_stream_with, Limits, PlanStreamError};
use cloud_pulumi::summary::plan_show;
use serde_json::{json, Value};

fn fixtures() -> Vec<(String, String)> {
    let dir = cloud_testkit::paths::pulumi_fixtures();
    let mut out = vec![];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("json") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    out.sort();
    assert!(out.len() >= 40, "the recorded fixtures are there");
    out
}

/// What the in-memory view prints (the CLI's output before streaming).
fn in_memory(input: &str, json: bool) -> Result<String, String> {
    let show = plan_show(input).map_err(|e| e.to_string())?;
    Ok(if json {
        format!("{}\n", serde_json::to_string_pretty(&show.to_json()).unwrap())
    } else {
        show.render_text()
    })
}

/// Streamed, with the default buffers, or with buffers that move to disk past 64 bytes.
fn streamed(input: &str, json: bool, spill: bool) -> Result<String, String> {
    let mut out = Vec::new();
    let result = if spill {
        let limits = Limits {
            spill: 64,
            ..Limits::default()
        };
        plan_show_stream_with(input.as_bytes(), &mut out, json, limits)
    } else {
        plan_show_stream(input.as_bytes(), &mut out, json)
    };
    match result {
        Ok(()) => Ok(String::from_utf8(out).unwrap()),
        Err(PlanStreamError::Input(e)) => {
            assert!(out.is_empty(), "nothing is written when there is nothing to show");
            Err(e.to_string())
        }
        Err(e) => panic!("{e}"),
    }
}

#[track_caller]
fn same(name: &str, input: &str) {
    for (json, spill) in [(false, false), (true, false), (false, true), (true, true)] {
        let (a, b) = (in_memory(input, json), streamed(input, json, spill));
        if a != b {
            let (a, b) = (a.unwrap_or_else(|e| e), b.unwrap_or_else(|e| e));
            let at = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            panic!(
                "{name} (json: {json}, spilled: {spill}) differs at byte {at}:\nin memory: …{}\nstreamed:  …{}",
                &a[at.saturating_sub(200)..(at + 200).min(a.len())],
                &b[at.saturating_sub(200)..(at + 200).min(b.len())]
            );
        }
    }
}

/// The events of a stream, one object each.
fn events(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|v| v.unwrap())
        .collect()
}

fn lines(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

#[test]
fn every_recorded_stream_is_shown_the_same() {
    for (name, text) in fixtures() {
        same(&name, &text);
        // The other layout: one object per line becomes pretty-printed, and back.
        let evs = events(&text);
        let pretty: String = evs
            .iter()
            .map(|e| format!("{}\n", serde_json::to_string_pretty(e).unwrap()))
            .collect();
        same(&format!("{name} pretty"), &pretty);
        same(&format!("{name} lines"), &lines(&evs));
        // No newline at the end; Windows line ends.
        same(&format!("{name} no final newline"), text.trim_end());
        same(&format!("{name} crlf"), &lines(&evs).replace('\n', "\r\n"));
    }
}

#[test]
fn streams_without_the_engines_totals_are_counted_the_same() {
    for (name, text) in fixtures() {
        let evs: Vec<Value> = events(&text)
            .into_iter()
            .filter(|e| e.get("summaryEvent").is_none())
            .collect();
        same(&format!("{name} without summary"), &lines(&evs));
        let planned: Vec<Value> = evs
            .iter()
            .filter(|e| e.get("resOutputsEvent").is_none())
            .cloned()
            .collect();
        same(&format!("{name} planned steps only"), &lines(&planned));
    }
}

#[test]
fn several_stacks_one_after_another_are_shown_the_same() {
    let all = fixtures();
    let joined: String = all.iter().map(|(_, t)| lines(&events(t))).collect();
    same("every fixture, one after another", &joined);
    let pretty_and_lines: String = all.iter().take(10).map(|(_, t)| t.clone() + "\n").collect();
    same("ten fixtures as recorded", &pretty_and_lines);
}

#[test]
fn damaged_input_is_shown_the_same() {
    let (_, text) = fixtures()
        .into_iter()
        .find(|(n, _)| n.contains("up-interrupted"))
        .unwrap();
    let evs = lines(&events(&text));
    let mut with_noise: Vec<&str> = evs.lines().collect();
    with_noise.insert(2, "Warning: this is not an engine event");
    with_noise.insert(4, "{\"sequence\": 9, \"no kind\": true}");
    with_noise.insert(6, "{ unbalanced");
    same("noise between events", &with_noise.join("\n"));

    let (last, complete) = evs
        .trim_end()
        .lines()
        .collect::<Vec<_>>()
        .split_last()
        .map(|(l, c)| (l.to_string(), c.join("\n")))
        .unwrap();
    same(
        "truncated last line",
        &format!("{complete}\n{}", &last[..last.len() / 2]),
    );
    same(
        "truncated last object, pretty",
        &format!("{complete}\n{{\n  \"sequence\": 1,\n  \"stdoutEvent\": {{"),
    );
    same("a stray closing brace", &format!("{complete}\n}}\n"));
    same(
        "invalid UTF-8 inside a string",
        &String::from_utf8_lossy(
            &[
                evs.as_bytes(),
                b"{\"sequence\":1,\"stdoutEvent\":{\"message\":\"\xff\"}}\n",
            ]
            .concat(),
        ),
    );
}

#[test]
fn empty_or_foreign_input_fails_the_same() {
    for (name, input) in [
        ("empty", ""),
        ("blank lines", "\n \n\t\n"),
        ("notes", "Previewing update (dev)\nResources: 3 to create\n"),
        ("json that is no event", "{\"hello\": 1}\n[1, 2]\n"),
    ] {
        let (a, b) = (in_memory(input, true), streamed(input, true, false));
        assert!(a.is_err(), "{name}: {a:?}");
        assert_eq!(a, b, "{name}");
    }
}

fn preview_document() -> String {
    let urn = "urn:pulumi:D1BRV40-network-dev::ecommerce::aws:s3/bucket:Bucket::logs";
    serde_json::to_string_pretty(&json!({
        "config": {"aws:region": "eu-west-1"},
        "steps": [
            {"op": "same", "urn": "urn:pulumi:D1BRV40-network-dev::ecommerce::pulumi:pulumi:Stack::ecommerce-D1BRV40-network-dev"},
            {"op": "create", "urn": urn, "newState": {"type": "aws:s3/bucket:Bucket", "urn": urn, "inputs": {"bucket": "logs"}}},
        ],
        "diagnostics": [{"message": "a warning", "severity": "warning"}],
        "duration": 1_500_000_000,
        "changeSummary": {"create": 1, "same": 1},
    }))
    .unwrap()
}

#[test]
fn a_preview_document_is_shown_the_same() {
    let doc = preview_document();
    same("preview document", &doc);
    same("preview document, blank lines around", &format!("\n\n{doc}\n\n"));
    same(
        "preview document on one line",
        &format!(
            "{}\n",
            serde_json::to_string(&serde_json::from_str::<Value>(&doc).unwrap()).unwrap()
        ),
    );
    // Followed or preceded by anything, it is one more object of a stream (and not an event).
    let (_, text) = fixtures().into_iter().next().unwrap();
    same("document then events", &format!("{doc}\n{text}"));
    same("events then document", &format!("{text}\n{doc}\n"));
    same("noise then document", &format!("not json\n{doc}\n"));
}

/// A log big enough for the default buffers to move to disk: stacks with thousands of steps,
/// failed steps and diagnostics of every severity, one without the engine's totals.
#[test]
fn a_log_that_spills_to_disk_is_shown_the_same() {
    let mut text = String::new();
    let mut seq = 0;
    let mut push = |text: &mut String, kind: &str, payload: Value| {
        text.push_str(&json!({"sequence": seq, "timestamp": 1_700_000_000 + seq / 100, kind: payload}).to_string());
        text.push('\n');
        seq += 1;
    };
    for stack in 0..3 {
        push(&mut text, "preludeEvent", json!({"config": {}}));
        for i in 0..2500 {
            let urn = format!("urn:pulumi:s{stack}::p::aws:ec2/subnet:Subnet::subnet-with-a-long-name-{i}");
            let op = ["create", "update", "same", "delete", "read"][i % 5];
            let meta = json!({"op": op, "urn": urn, "type": "aws:ec2/subnet:Subnet", "old": {"outputs": {"a": i % 3}}, "new": {"outputs": {"a": i % 2}}, "detailedDiff": null, "logical": true, "provider": ""});
            push(&mut text, "resourcePreEvent", json!({"metadata": meta}));
            if i % 7 == 0 {
                push(
                    &mut text,
                    "resOpFailedEvent",
                    json!({"metadata": meta, "status": 1, "steps": 1}),
                );
            } else {
                push(&mut text, "resOutputsEvent", json!({"metadata": meta}));
            }
            let severity = ["error", "warning", "info", "infoerr", "debug"][i % 5];
            push(
                &mut text,
                "diagnosticEvent",
                json!({"urn": urn, "message": format!("<{{%fg 1%}}>message {i}\nsecond line<{{%reset%}}>"), "color": "raw", "severity": severity}),
            );
            if i % 11 == 0 {
                push(&mut text, "errorEvent", json!({"error": format!("error event {i}")}));
            }
        }
        if stack != 1 {
            push(
                &mut text,
                "summaryEvent",
                json!({"maybeCorrupt": false, "durationSeconds": 7, "resourceChanges": {"create": 1}, "PolicyPacks": {}}),
            );
        }
        push(&mut text, "cancelEvent", json!({}));
    }
    assert!(text.len() > 4 << 20, "{} bytes", text.len());
    same("big log", &text);
}

/// An event larger than the limit is skipped (and reported) instead of being held in memory;
/// what follows it is read as usual.
#[test]
fn an_oversized_event_is_skipped_and_reading_goes_on() {
    let (_, text) = fixtures()
        .into_iter()
        .find(|(n, _)| n.contains("up-interrupted"))
        .unwrap();
    let evs = lines(&events(&text));
    let mut input: Vec<String> = evs.lines().map(str::to_string).collect();
    let huge = format!(
        "{{\"sequence\": 99, \"stdoutEvent\": {{\"message\": \"{}\"}}}}",
        "x".repeat(5000)
    );
    input.insert(2, huge.clone());
    let pretty_huge = format!(
        "{{\n  \"sequence\": 98,\n  \"stdoutEvent\": {{\n{}\n  }}\n}}",
        "    \"m\": 1,\n".repeat(400)
    );
    input.insert(4, pretty_huge);
    let limited = |json: bool| {
        let mut out = Vec::new();
        let limits = Limits {
            max_event: 4096,
            ..Limits::default()
        };
        plan_show_stream_with(input.join("\n").as_bytes(), &mut out, json, limits).unwrap();
        String::from_utf8(out).unwrap()
    };
    let got: Value = serde_json::from_str(&limited(true)).unwrap();
    assert_eq!(got["skippedLines"], json!([3, 5]), "{got:#}");
    let clean: Value = serde_json::from_str(&streamed(&evs, true, false).unwrap()).unwrap();
    for key in ["steps", "counts", "errors", "stacks"] {
        assert_eq!(got[key], clean[key], "{key}: nothing else lost");
    }
    assert!(limited(false).contains("note: 2 line(s) that were not engine events were skipped"));
}
