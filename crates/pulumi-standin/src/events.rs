//! The engine event stream: `--event-log FILE` (one JSON object per line) and, for
//! `up/destroy/refresh --json`, the same events pretty-printed on stdout.
//!
//! Envelope, kinds and field names follow the recorded Pulumi streams in
//! `shared/fixtures/pulumi/` (the conformance test checks this). Each line is written and
//! flushed as it happens, because the adapter tails the file while the process runs.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::backend::ResourceState;
use crate::error::{Context, Result};
use crate::plan::Step;

/// The signature key Pulumi uses to mark secret values.
pub const SECRET_SIG_KEY: &str = "4dabf18193072939515e22adb298388d";
/// The signature value of secrets.
pub const SECRET_SIG: &str = "1b47061264138c4ac30d75fd1eb44270";

/// Severity of a diagnostic; the prefix and color tags are those of the real engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Severity::Warning => "<{%fg 3%}>warning: <{%reset%}>",
            Severity::Error => "<{%fg 1%}>error: <{%reset%}>",
        }
    }
}

/// A diagnostic kept for the preview document and the human summary.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub urn: Option<String>,
    pub severity: Severity,
    pub message: String,
}

/// Where events go. Shared (behind a mutex) between the engine thread and the signal watcher.
pub struct EventSink {
    file: Option<File>,
    json_stdout: bool,
    sequence: u64,
    /// Set once `cancelEvent` is written: nothing may follow it.
    finished: bool,
}

impl EventSink {
    /// Create/truncate the event log (if any). Called when the engine starts, like the real CLI.
    pub fn open(path: Option<&Path>, json_stdout: bool) -> Result<EventSink> {
        let file = path
            .map(|p| File::create(p).context(|| format!("creating event log {}", p.display())))
            .transpose()?;
        Ok(EventSink {
            file,
            json_stdout,
            sequence: 0,
            finished: false,
        })
    }

    pub fn finished(&self) -> bool {
        self.finished
    }

    fn emit(&mut self, kind: &str, payload: Value) {
        if self.finished {
            return;
        }
        let mut event = Map::new();
        event.insert("sequence".into(), json!(self.sequence));
        event.insert("timestamp".into(), json!(chrono::Utc::now().timestamp()));
        event.insert(kind.into(), payload);
        let event = Value::Object(event);
        self.sequence += 1;
        if let Some(f) = self.file.as_mut() {
            // One write(2) per event: a reader tailing the file never sees half a line, and a
            // step costs one syscall instead of one per JSON token.
            let mut line = serde_json::to_vec(&event).unwrap_or_default();
            line.push(b'\n');
            // A failed write to the log must not stop the update (the real CLI logs and goes on).
            let _ = f.write_all(&line);
        }
        if self.json_stdout {
            let mut text = serde_json::to_vec_pretty(&event).unwrap_or_default();
            text.push(b'\n');
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&text).and_then(|_| out.flush());
        }
        if kind == "cancelEvent" {
            self.finished = true;
        }
    }

    pub fn prelude(&mut self, config: &Map<String, Value>) {
        self.emit("preludeEvent", json!({"config": config}));
    }

    pub fn resource_pre(&mut self, meta: Value, planning: bool) {
        self.emit("resourcePreEvent", with_planning(json!({"metadata": meta}), planning));
    }

    pub fn res_outputs(&mut self, meta: Value, planning: bool) {
        self.emit("resOutputsEvent", with_planning(json!({"metadata": meta}), planning));
    }

    pub fn res_op_failed(&mut self, meta: Value, status: i64, steps: i64) {
        self.emit(
            "resOpFailedEvent",
            json!({"metadata": meta, "status": status, "steps": steps}),
        );
    }

    pub fn diagnostic(&mut self, diag: &Diagnostic) {
        let mut payload = Map::new();
        if let Some(urn) = &diag.urn {
            payload.insert("urn".into(), json!(urn));
        }
        payload.insert("prefix".into(), json!(diag.severity.prefix()));
        payload.insert(
            "message".into(),
            json!(format!("<{{%reset%}}>{}<{{%reset%}}>\n", diag.message)),
        );
        payload.insert("color".into(), json!("raw"));
        payload.insert("severity".into(), json!(diag.severity.as_str()));
        self.emit("diagnosticEvent", Value::Object(payload));
    }

    pub fn stdout(&mut self, message: &str) {
        self.emit("stdoutEvent", json!({"message": message, "color": "raw"}));
    }

    pub fn summary(&mut self, summary: &Summary) {
        self.emit(
            "summaryEvent",
            json!({
                "maybeCorrupt": false,
                "durationSeconds": summary.duration_seconds,
                "resourceChanges": summary.changes,
                "PolicyPacks": {},
                "isPreview": summary.is_preview,
                "result": summary.result,
            }),
        );
    }

    pub fn cancel(&mut self) {
        self.emit("cancelEvent", json!({}));
    }
}

fn with_planning(mut payload: Value, planning: bool) -> Value {
    if planning {
        payload["planning"] = json!(true);
    }
    payload
}

/// The engine's own totals, as `summaryEvent` carries them.
#[derive(Debug, Clone)]
pub struct Summary {
    pub duration_seconds: u64,
    pub changes: BTreeMap<String, u64>,
    pub is_preview: bool,
    /// `succeeded`, `failed` or `canceled`.
    pub result: &'static str,
}

/// Replace every secret's ciphertext by `[secret]` (events never carry secret values).
pub fn mask_secrets(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.get(SECRET_SIG_KEY).and_then(Value::as_str) == Some(SECRET_SIG) => {
            json!({SECRET_SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"})
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), mask_secrets(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(mask_secrets).collect()),
        other => other.clone(),
    }
}

/// A resource state in event form: `{type, urn, custom?, delete?, id, parent, inputs, outputs,
/// provider}` — the field order and omissions of the recorded streams.
pub fn state_json(state: &ResourceState) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(state.ty));
    m.insert("urn".into(), json!(state.urn));
    if state.custom {
        m.insert("custom".into(), json!(true));
    }
    if state.delete {
        m.insert("delete".into(), json!(true));
    }
    m.insert("id".into(), json!(state.id));
    m.insert("parent".into(), json!(state.parent));
    m.insert("inputs".into(), mask_secrets(&Value::Object(state.inputs.clone())));
    m.insert("outputs".into(), mask_secrets(&Value::Object(state.outputs.clone())));
    m.insert("provider".into(), json!(state.provider));
    Value::Object(m)
}

/// StepMeta: `{op, urn, type, old, new, keys?, diffs?, detailedDiff, logical?, provider}`.
pub fn step_meta(step: &Step, old: Option<&ResourceState>, new: Option<&ResourceState>, op: &str) -> Value {
    let mut m = Map::new();
    m.insert("op".into(), json!(op));
    m.insert("urn".into(), json!(step.urn));
    m.insert("type".into(), json!(step.ty));
    m.insert("old".into(), old.map(state_json).unwrap_or(Value::Null));
    m.insert("new".into(), new.map(state_json).unwrap_or(Value::Null));
    if !step.keys.is_empty() {
        m.insert("keys".into(), json!(step.keys));
    }
    if !step.diffs.is_empty() {
        m.insert("diffs".into(), json!(step.diffs));
    }
    m.insert(
        "detailedDiff".into(),
        step.detailed_diff.clone().map(Value::Object).unwrap_or(Value::Null),
    );
    if step.logical() {
        m.insert("logical".into(), json!(true));
    }
    m.insert("provider".into(), json!(step.provider()));
    Value::Object(m)
}
