//! What people and the adapter read on stdout: the human progress display, the
//! `preview --json` document and `stack output --json`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::backend::ResourceState;
use crate::events::{Diagnostic, Severity, SECRET_SIG, SECRET_SIG_KEY};
use crate::operation::Operation;
use crate::plan::{Class, Step, StepOp};

pub fn heading(op: Operation, planning: bool) -> &'static str {
    match (op, planning) {
        (Operation::Preview, _) | (Operation::Up, true) => "Previewing update",
        (Operation::Up, false) => "Updating",
        (Operation::Destroy, true) => "Previewing destroy",
        (Operation::Destroy, false) => "Destroying",
        (Operation::Refresh, true) => "Previewing refresh",
        (Operation::Refresh, false) => "Refreshing",
    }
}

pub fn verb_ing(op: StepOp) -> &'static str {
    match op {
        StepOp::Same => "reading",
        StepOp::Create | StepOp::CreateReplacement => "creating",
        StepOp::Update => "updating",
        StepOp::Replace => "replacing",
        StepOp::Delete | StepOp::DeleteReplaced => "deleting",
        StepOp::Refresh => "refreshing",
    }
}

fn symbol_and_word(op: StepOp, planning: bool) -> (&'static str, &'static str) {
    match (op, planning) {
        (StepOp::Same, _) => ("   ", ""),
        (StepOp::Create, true) => (" + ", "create"),
        (StepOp::Create, false) => (" + ", "created"),
        (StepOp::Update, true) => (" ~ ", "update"),
        (StepOp::Update, false) => (" ~ ", "updated"),
        (StepOp::Replace, true) => ("+-", "replace"),
        (StepOp::Replace, false) => ("+-", "replaced"),
        (StepOp::CreateReplacement, true) => ("++", "create-replacement"),
        (StepOp::CreateReplacement, false) => ("++", "created replacement"),
        (StepOp::DeleteReplaced, true) => ("--", "delete-replaced"),
        (StepOp::DeleteReplaced, false) => ("--", "deleted original"),
        (StepOp::Delete, true) => (" - ", "delete"),
        (StepOp::Delete, false) => (" - ", "deleted"),
        (StepOp::Refresh, _) => ("   ", "refreshed"),
    }
}

/// One progress line per finished step (default providers are not shown, like the real display).
pub fn print_step(step: &Step, planning: bool) {
    if step.class == Class::Provider {
        return;
    }
    let (symbol, word) = symbol_and_word(step.op, planning);
    let name = step.urn.rsplit("::").next().unwrap_or(&step.urn);
    println!(" {symbol} {:<40} {:<30} {word}", step.ty, name);
}

pub fn print_diagnostic(d: &Diagnostic) {
    let prefix = match d.severity {
        Severity::Error => "error: ",
        Severity::Warning => "warning: ",
    };
    match &d.urn {
        Some(urn) => println!("    {urn}:\n      {prefix}{}", d.message),
        None => println!("    {prefix}{}", d.message),
    }
}

pub fn print_outputs(outputs: Option<&Map<String, Value>>) {
    let Some(outputs) = outputs.filter(|o| !o.is_empty()) else {
        return;
    };
    println!("\nOutputs:");
    for (k, v) in outputs {
        println!("    {k}: {}", mask_output(v));
    }
}

pub fn print_summary(changes: &BTreeMap<String, u64>, planning: bool, took: Duration) {
    println!("\nResources:");
    for (op, n) in changes {
        let line = match (op.as_str(), planning) {
            ("same", _) => format!("    {n} unchanged"),
            ("create", true) => format!("    + {n} to create"),
            ("create", false) => format!("    + {n} created"),
            ("update", true) => format!("    ~ {n} to update"),
            ("update", false) => format!("    ~ {n} updated"),
            ("replace", true) => format!("    +-{n} to replace"),
            ("replace", false) => format!("    +-{n} replaced"),
            ("delete", true) => format!("    - {n} to delete"),
            ("delete", false) => format!("    - {n} deleted"),
            (other, _) => format!("    {n} {other}"),
        };
        println!("{line}");
    }
    println!("\nDuration: {}s", took.as_secs());
}

/// A stack output as shown to people: secrets as `[secret]`.
pub fn mask_output(value: &Value) -> Value {
    match value {
        Value::Object(m) if m.get(SECRET_SIG_KEY).and_then(Value::as_str) == Some(SECRET_SIG) => json!("[secret]"),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), mask_output(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(mask_output).collect()),
        other => other.clone(),
    }
}

/// JSON with 4-space indentation (the preview document's format).
pub fn to_json_4(value: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    value.serialize(&mut ser).expect("a Value always serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// JSON with 2-space indentation and keys sorted at every level (`stack output --json`).
pub fn to_json_sorted(value: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sort(value)).expect("a Value always serializes")
}

/// Pulumi's `ResourceV3` form used in the preview document.
fn resource_v3(state: &ResourceState) -> Value {
    let mut m = Map::new();
    m.insert("urn".into(), json!(state.urn));
    m.insert("custom".into(), json!(state.custom));
    if state.delete {
        m.insert("delete".into(), json!(true));
    }
    if !state.id.is_empty() {
        m.insert("id".into(), json!(state.id));
    }
    m.insert("type".into(), json!(state.ty));
    if !state.inputs.is_empty() {
        m.insert("inputs".into(), mask_output(&Value::Object(state.inputs.clone())));
    }
    if !state.outputs.is_empty() {
        m.insert("outputs".into(), mask_output(&Value::Object(state.outputs.clone())));
    }
    if !state.parent.is_empty() {
        m.insert("parent".into(), json!(state.parent));
    }
    if !state.provider.is_empty() {
        m.insert("provider".into(), json!(state.provider));
    }
    Value::Object(m)
}

/// The document `pulumi preview --json` prints when the preview ends. Same steps are hidden
/// (except the root stack), as are default providers and the physical halves of replacements;
/// `detailedDiff` uses `kind` where events use `diffKind`.
pub fn preview_document(
    config: &Map<String, Value>,
    steps: &[(Step, Option<ResourceState>)],
    diagnostics: &[Diagnostic],
    took: Duration,
    changes: &BTreeMap<String, u64>,
) -> Value {
    let mut doc = Map::new();
    if !config.is_empty() {
        doc.insert("config".into(), Value::Object(config.clone()));
    }
    let shown: Vec<Value> = steps
        .iter()
        .filter(|(s, _)| match (s.class, s.op) {
            (Class::Provider, _) => false,
            (_, StepOp::CreateReplacement | StepOp::DeleteReplaced) => false,
            (Class::Root, _) => true,
            (_, StepOp::Same | StepOp::Refresh) => false,
            _ => true,
        })
        .map(|(s, result)| {
            let mut m = Map::new();
            m.insert("op".into(), json!(s.op.as_str()));
            m.insert("urn".into(), json!(s.urn));
            if !s.provider().is_empty() {
                m.insert("provider".into(), json!(s.provider()));
            }
            if let Some(old) = &s.old {
                m.insert("oldState".into(), resource_v3(old));
            }
            if let Some(new) = result.as_ref().or(s.new.as_ref()) {
                m.insert("newState".into(), resource_v3(new));
            }
            if !s.diffs.is_empty() {
                m.insert("diffReasons".into(), json!(s.diffs));
            }
            if !s.keys.is_empty() {
                m.insert("replaceReasons".into(), json!(s.keys));
            }
            let detailed = s.detailed_diff.as_ref().map(|d| {
                Value::Object(
                    d.iter()
                        .map(|(k, v)| (k.clone(), json!({"kind": v["diffKind"], "inputDiff": v["inputDiff"]})))
                        .collect(),
                )
            });
            m.insert("detailedDiff".into(), detailed.unwrap_or(Value::Null));
            Value::Object(m)
        })
        .collect();
    if !shown.is_empty() {
        doc.insert("steps".into(), Value::Array(shown));
    }
    if !diagnostics.is_empty() {
        let diags: Vec<Value> = diagnostics
            .iter()
            .map(|d| {
                let mut m = Map::new();
                if let Some(urn) = &d.urn {
                    m.insert("urn".into(), json!(urn));
                }
                m.insert("message".into(), json!(format!("{}\n", d.message)));
                m.insert("severity".into(), json!(d.severity.as_str()));
                Value::Object(m)
            })
            .collect();
        doc.insert("diagnostics".into(), Value::Array(diags));
    }
    doc.insert("duration".into(), json!(took.as_nanos() as u64));
    doc.insert("changeSummary".into(), json!(changes));
    Value::Object(doc)
}
