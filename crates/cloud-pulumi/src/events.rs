//! The Pulumi engine-event stream (`--event-log FILE`): typed events, a tolerant reader and an
//! incremental tailer.
//!
//! What this gives the user: a running `pulumi up` is reported resource by resource while it
//! happens, and a stream that a crashed or interrupted CLI left half-written is still read as far
//! as it goes.
//!
//! * [`EngineEvent`] is the envelope `{sequence, timestamp, <kind>Event: {...}}`. Every kind the
//!   Pulumi CLI (v3.226+) writes has a typed payload (Pulumi's own recorded streams are under
//!   `crates/cloud-testkit/fixtures/pulumi/`); a kind we do not know becomes
//!   [`EventKind::Unknown`] with its raw payload, and fields we do not know are kept in each
//!   struct's `extra` map — a newer CLI must never break the bot.
//! * `StreamParser` / [`parse_stream`] accept one object per line *and* pretty-printed objects
//!   one after another. A line that is not JSON is skipped (with a `tracing::warn!`) and reading
//!   continues; an incomplete object at the end of the input is reported as truncated, not fatal.
//! * [`Tailer`] follows a file another process is writing, yielding events as complete lines
//!   appear (polling — no inotify dependency, works on every filesystem), deduplicated by
//!   `sequence`, until a `cancelEvent` or until it is told that the writer exited (it then drains
//!   what is left).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use cloud_domain::engine::StepOp;

/// One event of the stream: the envelope plus exactly one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineEvent {
    /// Position in the stream, starting at 0 (the lifecycle-test recordings use 0 throughout).
    pub sequence: i64,
    /// Unix seconds.
    pub timestamp: i64,
    pub kind: EventKind,
    /// Envelope fields we do not know, kept as they were.
    pub extra: Map<String, Value>,
}

/// The payload of an event, by its envelope key (`preludeEvent` → [`EventKind::Prelude`], …).
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Prelude(PreludeEvent),
    ResourcePre(StepEvent),
    ResOutputs(StepEvent),
    ResOpFailed(ResOpFailedEvent),
    Diagnostic(DiagnosticEvent),
    Stdout(StdoutEvent),
    Progress(ProgressEvent),
    Error(ErrorEvent),
    StartDebugging(StartDebuggingEvent),
    Policy(PolicyEvent),
    PolicyRemediation(PolicyRemediationEvent),
    PolicyLoad(EmptyEvent),
    PolicyAnalyzeSummary(PolicySummaryEvent),
    PolicyRemediateSummary(PolicySummaryEvent),
    PolicyAnalyzeStackSummary(PolicySummaryEvent),
    Summary(SummaryEvent),
    Cancel(EmptyEvent),
    /// A kind this version does not know: `kind` is the envelope key without the `Event` suffix.
    Unknown {
        kind: String,
        payload: Value,
    },
}

impl EventKind {
    /// The envelope key of this kind, e.g. `resourcePreEvent`.
    pub(crate) fn key(&self) -> String {
        let k = match self {
            EventKind::Prelude(_) => "preludeEvent",
            EventKind::ResourcePre(_) => "resourcePreEvent",
            EventKind::ResOutputs(_) => "resOutputsEvent",
            EventKind::ResOpFailed(_) => "resOpFailedEvent",
            EventKind::Diagnostic(_) => "diagnosticEvent",
            EventKind::Stdout(_) => "stdoutEvent",
            EventKind::Progress(_) => "progressEvent",
            EventKind::Error(_) => "errorEvent",
            EventKind::StartDebugging(_) => "startDebuggingEvent",
            EventKind::Policy(_) => "policyEvent",
            EventKind::PolicyRemediation(_) => "policyRemediationEvent",
            EventKind::PolicyLoad(_) => "policyLoadEvent",
            EventKind::PolicyAnalyzeSummary(_) => "policyAnalyzeSummaryEvent",
            EventKind::PolicyRemediateSummary(_) => "policyRemediateSummaryEvent",
            EventKind::PolicyAnalyzeStackSummary(_) => "policyAnalyzeStackSummaryEvent",
            EventKind::Summary(_) => "summaryEvent",
            EventKind::Cancel(_) => "cancelEvent",
            EventKind::Unknown { kind, .. } => return format!("{kind}Event"),
        };
        k.to_string()
    }
}

/// `preludeEvent`: the first event; secret config values appear as `[secret]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreludeEvent {
    #[serde(default)]
    pub config: Map<String, Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `resourcePreEvent` (a step is about to run) and `resOutputsEvent` (it finished).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    pub metadata: StepMeta,
    /// True in previews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planning: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `resOpFailedEvent`: the step failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResOpFailedEvent {
    pub metadata: StepMeta,
    #[serde(default)]
    pub status: i64,
    #[serde(default)]
    pub steps: i64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What the engine says about one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMeta {
    pub op: StepOp,
    pub urn: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    #[serde(default)]
    pub old: Option<State>,
    #[serde(default)]
    pub new: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diffs: Option<Vec<String>>,
    /// Always present in events (may be null); keyed by property path.
    #[serde(default, rename = "detailedDiff")]
    pub detailed_diff: Option<BTreeMap<String, PropertyDiff>>,
    /// Whether the step is the logical operation on the resource (`false` for the
    /// create-replacement / delete-replaced halves of a replace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical: Option<bool>,
    #[serde(default)]
    pub provider: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A resource's state as the engine reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    #[serde(rename = "type", default)]
    pub resource_type: String,
    #[serde(default)]
    pub urn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub parent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_on_delete: Option<bool>,
    #[serde(default)]
    pub inputs: Map<String, Value>,
    #[serde(default)]
    pub outputs: Map<String, Value>,
    #[serde(default)]
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_errors: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How one property differs. Events say `diffKind`; the `preview --json` document says `kind`
/// (accepted here as an alias).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyDiff {
    #[serde(rename = "diffKind", alias = "kind")]
    pub diff_kind: DiffKind,
    #[serde(rename = "inputDiff", default)]
    pub input_diff: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `add | add-replace | delete | delete-replace | update | update-replace`; unknown kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum DiffKind {
    Add,
    AddReplace,
    Delete,
    DeleteReplace,
    Update,
    UpdateReplace,
    Other(String),
}

impl DiffKind {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            DiffKind::Add => "add",
            DiffKind::AddReplace => "add-replace",
            DiffKind::Delete => "delete",
            DiffKind::DeleteReplace => "delete-replace",
            DiffKind::Update => "update",
            DiffKind::UpdateReplace => "update-replace",
            DiffKind::Other(s) => s,
        }
    }
}

impl From<String> for DiffKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "add" => DiffKind::Add,
            "add-replace" => DiffKind::AddReplace,
            "delete" => DiffKind::Delete,
            "delete-replace" => DiffKind::DeleteReplace,
            "update" => DiffKind::Update,
            "update-replace" => DiffKind::UpdateReplace,
            _ => DiffKind::Other(s),
        }
    }
}

impl From<DiffKind> for String {
    fn from(k: DiffKind) -> Self {
        k.as_str().to_string()
    }
}

/// `diagnosticEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub color: String,
    /// `debug | info | infoerr | warning | error` (kept as text: unknown severities survive).
    #[serde(default)]
    pub severity: String,
    #[serde(default, rename = "streamID", skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `stdoutEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StdoutEvent {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub color: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `progressEvent` (plugin downloads and the like).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressEvent {
    #[serde(rename = "type", default)]
    pub progress_type: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub received: i64,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub done: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `errorEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    #[serde(default)]
    pub error: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `startDebuggingEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartDebuggingEvent {
    #[serde(default)]
    pub config: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `policyEvent`: a policy violation or advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_urn: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub color: String,
    #[serde(default)]
    pub policy_name: String,
    #[serde(default)]
    pub policy_pack_name: String,
    #[serde(default)]
    pub policy_pack_version: String,
    #[serde(default)]
    pub policy_pack_version_tag: String,
    /// `advisory | mandatory | remediate | disabled`.
    #[serde(default)]
    pub enforcement_level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `policyRemediationEvent`: a policy changed a resource's inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRemediationEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_urn: Option<String>,
    #[serde(default)]
    pub color: String,
    #[serde(default)]
    pub policy_name: String,
    #[serde(default)]
    pub policy_pack_name: String,
    #[serde(default)]
    pub policy_pack_version: String,
    #[serde(default)]
    pub policy_pack_version_tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `policyAnalyzeSummaryEvent`, `policyRemediateSummaryEvent`, `policyAnalyzeStackSummaryEvent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummaryEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_urn: Option<String>,
    #[serde(default)]
    pub policy_pack_name: String,
    #[serde(default)]
    pub policy_pack_version: String,
    #[serde(default)]
    pub policy_pack_version_tag: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `summaryEvent`: the engine's own totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryEvent {
    #[serde(rename = "maybeCorrupt", default)]
    pub maybe_corrupt: bool,
    #[serde(rename = "durationSeconds", default)]
    pub duration_seconds: i64,
    #[serde(rename = "resourceChanges", default)]
    pub resource_changes: BTreeMap<String, u64>,
    #[serde(rename = "PolicyPacks", default)]
    pub policy_packs: Map<String, Value>,
    #[serde(rename = "isPreview", default, skip_serializing_if = "Option::is_none")]
    pub is_preview: Option<bool>,
    /// `succeeded | failed | canceled` (absent in older CLIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Events with no payload of their own (`cancelEvent`, `policyLoadEvent`); fields kept anyway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmptyEvent {
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

// ---------------------------------------------------------------------------------------------
// Envelope (de)serialization. Hand-written so a payload is deserialized straight into its typed
// struct in one pass (no intermediate `Value`), which is what keeps the parser fast.

impl<'de> Deserialize<'de> for EngineEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

/// An envelope key, borrowed from the input when it has no escapes (saves an allocation per key).
struct EnvelopeKey<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for EnvelopeKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = EnvelopeKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(EnvelopeKey(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(EnvelopeKey(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(EnvelopeKey(std::borrow::Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = EngineEvent;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an engine event object {sequence, timestamp, <kind>Event}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EngineEvent, A::Error> {
        let mut sequence = None;
        let mut timestamp = None;
        let mut kind: Option<EventKind> = None;
        let mut extra = Map::new();
        while let Some(EnvelopeKey(key)) = map.next_key::<EnvelopeKey<'de>>()? {
            macro_rules! typed {
                ($variant:ident) => {
                    EventKind::$variant(map.next_value()?)
                };
            }
            let parsed = match key.as_ref() {
                "sequence" => {
                    sequence = Some(map.next_value::<i64>()?);
                    continue;
                }
                "timestamp" => {
                    timestamp = Some(map.next_value::<i64>()?);
                    continue;
                }
                "preludeEvent" => typed!(Prelude),
                "resourcePreEvent" => typed!(ResourcePre),
                "resOutputsEvent" => typed!(ResOutputs),
                "resOpFailedEvent" => typed!(ResOpFailed),
                "diagnosticEvent" => typed!(Diagnostic),
                "stdoutEvent" => typed!(Stdout),
                "progressEvent" => typed!(Progress),
                "errorEvent" => typed!(Error),
                "startDebuggingEvent" => typed!(StartDebugging),
                "policyEvent" => typed!(Policy),
                "policyRemediationEvent" => typed!(PolicyRemediation),
                "policyLoadEvent" => typed!(PolicyLoad),
                "policyAnalyzeSummaryEvent" => typed!(PolicyAnalyzeSummary),
                "policyRemediateSummaryEvent" => typed!(PolicyRemediateSummary),
                "policyAnalyzeStackSummaryEvent" => typed!(PolicyAnalyzeStackSummary),
                "summaryEvent" => typed!(Summary),
                "cancelEvent" => typed!(Cancel),
                other if other.ends_with("Event") && other.len() > "Event".len() => {
                    let payload: Value = map.next_value()?;
                    EventKind::Unknown {
                        kind: other[..other.len() - 5].to_string(),
                        payload,
                    }
                }
                other => {
                    extra.insert(other.to_string(), map.next_value()?);
                    continue;
                }
            };
            if kind.is_some() {
                return Err(de::Error::custom(format!(
                    "event has more than one kind (second: `{}`)",
                    key
                )));
            }
            kind = Some(parsed);
        }
        let kind = kind.ok_or_else(|| de::Error::custom("event has no `<kind>Event` field"))?;
        Ok(EngineEvent {
            sequence: sequence.unwrap_or(0),
            timestamp: timestamp.unwrap_or(0),
            kind,
            extra,
        })
    }
}

impl Serialize for EngineEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(Some(3 + self.extra.len()))?;
        m.serialize_entry("sequence", &self.sequence)?;
        m.serialize_entry("timestamp", &self.timestamp)?;
        let key = self.kind.key();
        match &self.kind {
            EventKind::Prelude(e) => m.serialize_entry(&key, e)?,
            EventKind::ResourcePre(e) | EventKind::ResOutputs(e) => m.serialize_entry(&key, e)?,
            EventKind::ResOpFailed(e) => m.serialize_entry(&key, e)?,
            EventKind::Diagnostic(e) => m.serialize_entry(&key, e)?,
            EventKind::Stdout(e) => m.serialize_entry(&key, e)?,
            EventKind::Progress(e) => m.serialize_entry(&key, e)?,
            EventKind::Error(e) => m.serialize_entry(&key, e)?,
            EventKind::StartDebugging(e) => m.serialize_entry(&key, e)?,
            EventKind::Policy(e) => m.serialize_entry(&key, e)?,
            EventKind::PolicyRemediation(e) => m.serialize_entry(&key, e)?,
            EventKind::PolicyLoad(e) | EventKind::Cancel(e) => m.serialize_entry(&key, e)?,
            EventKind::PolicyAnalyzeSummary(e)
            | EventKind::PolicyRemediateSummary(e)
            | EventKind::PolicyAnalyzeStackSummary(e) => m.serialize_entry(&key, e)?,
            EventKind::Summary(e) => m.serialize_entry(&key, e)?,
            EventKind::Unknown { payload, .. } => m.serialize_entry(&key, payload)?,
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl EngineEvent {
    /// Parse one complete event object.
    pub(crate) fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn is_cancel(&self) -> bool {
        matches!(self.kind, EventKind::Cancel(_))
    }
}

// ---------------------------------------------------------------------------------------------
// The tolerant reader.

/// A piece of input that was not an event (not JSON, or JSON that is not an event object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedInput {
    /// 1-based line where the skipped text starts.
    pub line: usize,
    /// The text (cut to 200 characters).
    pub text: String,
    pub reason: String,
}

/// An object that was still open when the input ended (a writer killed mid-line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    pub line: usize,
    /// The text (cut to 200 characters).
    pub text: String,
}

/// Splits a stream into event objects line by line, tracking `{}` depth outside strings so that
/// both one-object-per-line and pretty-printed objects work. Feed it lines without their `\n`.
#[derive(Debug, Default)]
pub(crate) struct StreamParser {
    buf: String,
    /// An abandoned object's remaining lines are being read past (brace depth still tracked,
    /// nothing kept).
    discarding: bool,
    depth: i32,
    in_string: bool,
    escaped: bool,
    start_line: usize,
    line_no: usize,
    skipped: Vec<SkippedInput>,
}

fn cut(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

impl StreamParser {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Scan `line` and update the brace depth; returns false when the depth went negative (a
    /// stray `}`), which makes the accumulated text garbage.
    fn scan(&mut self, line: &str) -> bool {
        for &b in line.as_bytes() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth < 0 {
                        return false;
                    }
                }
                _ => {}
            }
        }
        true
    }

    fn reset(&mut self) {
        self.discarding = false;
        self.buf.clear();
        self.depth = 0;
        self.in_string = false;
        self.escaped = false;
    }

    fn skip(&mut self, line: usize, text: &str, reason: String) {
        tracing::warn!(line, text = %cut(text), %reason, "skipping engine-stream input that is not an event");
        self.skipped.push(SkippedInput {
            line,
            text: cut(text),
            reason,
        });
    }

    /// Feed one line (without its newline). Returns the event it completes, if any.
    pub(crate) fn push_line(&mut self, line: &str) -> Option<EngineEvent> {
        self.push_line_with(line, EngineEvent::from_json)
    }

    /// [`Self::push_line`] with another parser for the completed object (a reader that needs
    /// only some fields parses only those); what `parse` refuses is skipped like any other
    /// object that is not an event.
    pub(crate) fn push_line_with<T>(
        &mut self,
        line: &str,
        mut parse: impl FnMut(&str) -> Result<T, serde_json::Error>,
    ) -> Option<T> {
        self.line_no += 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if self.discarding {
            if !self.scan(line) || (self.depth == 0 && !self.in_string) {
                self.reset();
            }
            return None;
        }
        if self.buf.is_empty() && self.depth == 0 {
            let trimmed = line.trim_start();
            if trimmed.is_empty() {
                return None;
            }
            if !trimmed.starts_with('{') {
                self.skip(self.line_no, line, "not a JSON object".into());
                return None;
            }
            self.start_line = self.line_no;
            // The common case (JSON lines): a line that parses is exactly one complete object,
            // so its braces need no scan of their own (the scan costs as much as the parse).
            // Only a line that does not parse is scanned, and then handled as below.
            if let Ok(ev) = parse(line) {
                return Some(ev);
            }
            if !self.scan(line) {
                self.reset();
                self.skip(self.line_no, line, "unbalanced braces".into());
                return None;
            }
            if self.depth == 0 && !self.in_string {
                return self.finish_object(line, parse);
            }
            self.buf.push_str(line);
            self.buf.push('\n');
            return None;
        }
        if !self.scan(line) {
            let text = std::mem::take(&mut self.buf) + line;
            self.reset();
            self.skip(self.start_line, &text, "unbalanced braces".into());
            return None;
        }
        self.buf.push_str(line);
        self.buf.push('\n');
        if self.depth == 0 && !self.in_string {
            let text = std::mem::take(&mut self.buf);
            self.reset();
            return self.finish_object(&text, parse);
        }
        None
    }

    fn finish_object<T>(&mut self, text: &str, parse: impl FnOnce(&str) -> Result<T, serde_json::Error>) -> Option<T> {
        self.reset();
        match parse(text) {
            Ok(ev) => Some(ev),
            Err(e) => {
                self.skip(self.start_line, text, e.to_string());
                None
            }
        }
    }

    /// Lines read so far.
    pub(crate) fn line_no(&self) -> usize {
        self.line_no
    }

    /// Counts a line that the caller handled itself (so later line numbers stay right).
    pub(crate) fn count_line(&mut self) {
        self.line_no += 1;
    }

    /// The 1-based line where the open object started.
    pub(crate) fn object_start(&self) -> usize {
        self.start_line
    }

    /// Takes the inputs skipped so far (a long-running reader keeps its memory bounded).
    pub(crate) fn take_skipped(&mut self) -> Vec<SkippedInput> {
        std::mem::take(&mut self.skipped)
    }

    /// Records a skipped input the caller found itself.
    pub(crate) fn record_skip(&mut self, line: usize, text: &str, reason: String) {
        self.skip(line, text, reason);
    }

    /// Forgets the open (or abandoned) object without a trace: the next line starts afresh.
    pub(crate) fn drop_object(&mut self) {
        self.reset();
    }

    /// Bytes of the object still open (0 between objects).
    pub(crate) fn open_len(&self) -> usize {
        self.buf.len()
    }

    /// Gives up the open object (a reader with a size limit): it is skipped at its first line,
    /// and its remaining lines are read past without being kept.
    pub(crate) fn abandon_object(&mut self, reason: String) {
        let text = std::mem::take(&mut self.buf);
        self.skip(self.start_line, &text, reason);
        self.discarding = true;
    }

    /// Whether an object is open (lines were read but it has not closed yet).
    pub(crate) fn is_mid_object(&self) -> bool {
        !self.buf.is_empty() || self.discarding
    }

    /// Inputs skipped so far.
    pub(crate) fn skipped(&self) -> &[SkippedInput] {
        &self.skipped
    }

    /// End of input: an object still open is reported as truncated.
    pub(crate) fn finish(&mut self) -> Option<Truncated> {
        if self.buf.trim().is_empty() {
            self.reset();
            return None;
        }
        let t = Truncated {
            line: self.start_line,
            text: cut(&self.buf),
        };
        tracing::warn!(line = t.line, text = %t.text, "engine event stream ends inside an object (truncated)");
        self.reset();
        Some(t)
    }
}

/// A whole stream read at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedStream {
    pub events: Vec<EngineEvent>,
    pub skipped: Vec<SkippedInput>,
    pub truncated: Option<Truncated>,
}

/// Read a complete stream (a finished `--event-log` file, a recording). Never fails: what is not
/// an event is listed in `skipped`, an unfinished final object in `truncated`.
pub fn parse_stream(input: &str) -> ParsedStream {
    let mut parser = StreamParser::new();
    let mut events = Vec::new();
    let mut lines = input.split('\n').peekable();
    while let Some(line) = lines.next() {
        let is_last = lines.peek().is_none();
        if is_last && !line.trim().is_empty() && !parser.is_mid_object() {
            // A final line without its newline: accept it only if it is a complete event.
            let trimmed = line.trim_start();
            if trimmed.starts_with('{') {
                match EngineEvent::from_json(line) {
                    Ok(ev) => events.push(ev),
                    Err(e) if e.is_eof() => {
                        parser.line_no += 1;
                        tracing::warn!(line = parser.line_no, "engine event stream ends with a truncated line");
                        return ParsedStream {
                            events,
                            skipped: parser.skipped,
                            truncated: Some(Truncated {
                                line: parser.line_no,
                                text: cut(line),
                            }),
                        };
                    }
                    Err(_) => {
                        if let Some(ev) = parser.push_line(line) {
                            events.push(ev);
                        }
                    }
                }
                continue;
            }
        }
        if let Some(ev) = parser.push_line(line) {
            events.push(ev);
        }
    }
    let truncated = parser.finish();
    ParsedStream {
        events,
        skipped: parser.skipped,
        truncated,
    }
}

// ---------------------------------------------------------------------------------------------
// The tailer.

/// How often the tailer looks for new bytes. Short enough that a chat message follows the engine
/// within a tick; long enough to cost nothing (one `read` on an unchanged file).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What the tailer saw besides events.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TailReport {
    /// Whether the file ever appeared (an early CLI failure never creates it).
    pub file_seen: bool,
    pub skipped: Vec<SkippedInput>,
    pub truncated: Option<Truncated>,
    /// Events dropped because their `sequence` had already been delivered.
    pub duplicates: u64,
    /// Whether a `cancelEvent` ended the stream.
    pub saw_cancel: bool,
}

/// Follows an event-log file that another process is writing.
///
/// Reads only complete lines while the writer runs; when `writer_exited` is cancelled it drains
/// the rest (including a final line without newline) and ends. A `cancelEvent` ends it at once —
/// it is always the last event.
pub struct Tailer {
    path: PathBuf,
    poll: Duration,
    writer_exited: CancellationToken,
    file: Option<std::fs::File>,
    pos: u64,
    /// Bytes after the last complete line.
    pending: Vec<u8>,
    parser: StreamParser,
    seen: HashSet<i64>,
    queue: VecDeque<EngineEvent>,
    done: bool,
    report: TailReport,
}

impl Tailer {
    pub fn new(path: impl Into<PathBuf>, writer_exited: CancellationToken) -> Self {
        Tailer {
            path: path.into(),
            poll: DEFAULT_POLL_INTERVAL,
            writer_exited,
            file: None,
            pos: 0,
            pending: Vec::new(),
            parser: StreamParser::new(),
            seen: HashSet::new(),
            queue: VecDeque::new(),
            done: false,
            report: TailReport::default(),
        }
    }

    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The next event, waiting for it; `None` once the stream is over.
    pub async fn next(&mut self) -> Option<EngineEvent> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Some(ev);
            }
            if self.done {
                return None;
            }
            // Check "exited" before reading, so the final read happens after the writer is gone.
            let exited = self.writer_exited.is_cancelled();
            self.read_available(exited);
            if exited {
                self.finish();
                continue;
            }
            if self.queue.is_empty() && !self.done {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = self.writer_exited.cancelled() => {}
                }
            }
        }
    }

    /// What was seen besides events (complete once [`Tailer::next`] returned `None`).
    pub(crate) fn into_report(self) -> TailReport {
        self.report
    }

    fn finish(&mut self) {
        if !self.done {
            if !self.pending.is_empty() {
                let rest = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
                // A last line without newline: complete object → event, otherwise truncated.
                if self.parser.is_mid_object() {
                    if let Some(ev) = self.parser.push_line(&rest) {
                        self.deliver(ev);
                    }
                } else if rest.trim_start().starts_with('{') {
                    match EngineEvent::from_json(&rest) {
                        Ok(ev) => self.deliver(ev),
                        Err(_) => {
                            tracing::warn!(path = %self.path.display(), "engine event log ends with a truncated line");
                            self.report.truncated = Some(Truncated {
                                line: self.parser.line_no + 1,
                                text: cut(&rest),
                            });
                        }
                    }
                } else if let Some(ev) = self.parser.push_line(&rest) {
                    self.deliver(ev);
                }
            }
            if self.report.truncated.is_none() {
                self.report.truncated = self.parser.finish();
            }
            self.report.skipped = self.parser.skipped.clone();
            self.done = true;
        }
    }

    fn deliver(&mut self, ev: EngineEvent) {
        if self.done {
            return;
        }
        if !self.seen.insert(ev.sequence) {
            self.report.duplicates += 1;
            return;
        }
        let cancel = ev.is_cancel();
        self.queue.push_back(ev);
        if cancel {
            self.report.saw_cancel = true;
            self.report.skipped = self.parser.skipped.clone();
            self.done = true;
        }
    }

    /// Read whatever the writer has appended and parse its complete lines. Blocking std I/O on a
    /// local file: a read of what one poll interval produced is far cheaper than a
    /// `spawn_blocking` round trip.
    fn read_available(&mut self, _final_read: bool) {
        if self.file.is_none() {
            match std::fs::File::open(&self.path) {
                Ok(f) => {
                    self.file = Some(f);
                    self.report.file_seen = true;
                }
                Err(_) => return,
            }
        }
        let Some(file) = self.file.as_mut() else { return };
        // A file shorter than what we read was truncated and is being rewritten: start over
        // (the sequence dedupe drops what we already delivered).
        if let Ok(meta) = file.metadata() {
            if meta.len() < self.pos {
                tracing::warn!(path = %self.path.display(), "engine event log was truncated; re-reading it");
                self.pos = 0;
                self.pending.clear();
                let _ = file.seek(SeekFrom::Start(0));
            }
        }
        let mut chunk = Vec::new();
        if let Err(e) = file.read_to_end(&mut chunk) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot read the engine event log");
            return;
        }
        if chunk.is_empty() {
            return;
        }
        self.pos += chunk.len() as u64;
        self.pending.extend_from_slice(&chunk);
        let Some(last_nl) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.pending.drain(..=last_nl).collect();
        let text = String::from_utf8_lossy(&complete);
        for line in text[..text.len() - 1].split('\n') {
            if let Some(ev) = self.parser.push_line(line) {
                self.deliver(ev);
                if self.done {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const PRE: &str = r#"{"sequence":1,"timestamp":5,"resourcePreEvent":{"metadata":{"op":"create","urn":"urn:pulumi:dev::p::aws:s3/bucket:Bucket::b","type":"aws:s3/bucket:Bucket","old":null,"new":{"type":"aws:s3/bucket:Bucket","urn":"urn:pulumi:dev::p::aws:s3/bucket:Bucket::b","id":"","parent":"","inputs":{"acl":"private"},"outputs":{},"provider":"","futureField":1},"detailedDiff":{"acl":{"diffKind":"add-replace","inputDiff":true}},"provider":"","brandNew":true},"planning":true}}"#;

    #[test]
    fn typed_payloads_keep_unknown_fields() {
        let ev = EngineEvent::from_json(PRE).unwrap();
        assert_eq!(ev.sequence, 1);
        let EventKind::ResourcePre(step) = &ev.kind else {
            panic!("{ev:?}")
        };
        assert_eq!(step.metadata.op, StepOp::Create);
        assert_eq!(step.planning, Some(true));
        assert_eq!(step.metadata.extra.get("brandNew"), Some(&Value::Bool(true)));
        let new = step.metadata.new.as_ref().unwrap();
        assert_eq!(new.extra.get("futureField"), Some(&serde_json::json!(1)));
        let dd = step.metadata.detailed_diff.as_ref().unwrap();
        assert_eq!(dd["acl"].diff_kind, DiffKind::AddReplace);
        // Round trip keeps everything.
        let back: EngineEvent = serde_json::from_str(&serde_json::to_string(&ev).unwrap()).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn unknown_kinds_are_kept_with_their_payload() {
        let ev =
            EngineEvent::from_json(r#"{"sequence":3,"timestamp":0,"fancyNewEvent":{"x":[1,2]},"envelopeExtra":"y"}"#)
                .unwrap();
        assert_eq!(
            ev.kind,
            EventKind::Unknown {
                kind: "fancyNew".into(),
                payload: serde_json::json!({"x":[1,2]})
            }
        );
        assert_eq!(ev.extra["envelopeExtra"], "y");
        assert_eq!(ev.kind.key(), "fancyNewEvent");
    }

    #[test]
    fn all_contract_kinds_parse() {
        let lines = [
            r#"{"sequence":0,"timestamp":0,"preludeEvent":{"config":{"a:b":"[secret]"}}}"#,
            r#"{"sequence":1,"timestamp":0,"diagnosticEvent":{"message":"m","color":"never","severity":"error","streamID":3,"ephemeral":false}}"#,
            r#"{"sequence":2,"timestamp":0,"stdoutEvent":{"message":"hi","color":"never"}}"#,
            r#"{"sequence":3,"timestamp":0,"progressEvent":{"type":"plugin-download","id":"x","message":"m","received":1,"total":2,"done":false}}"#,
            r#"{"sequence":4,"timestamp":0,"errorEvent":{"error":"boom"}}"#,
            r#"{"sequence":5,"timestamp":0,"startDebuggingEvent":{"config":{"port":1}}}"#,
            r#"{"sequence":6,"timestamp":0,"policyEvent":{"message":"m","color":"raw","policyName":"n","policyPackName":"p","policyPackVersion":"1","policyPackVersionTag":"1","enforcementLevel":"mandatory"}}"#,
            r#"{"sequence":7,"timestamp":0,"policyLoadEvent":{}}"#,
            r#"{"sequence":8,"timestamp":0,"policyAnalyzeStackSummaryEvent":{"policyPackName":"p","policyPackVersion":"1","policyPackVersionTag":"1","failed":["x"]}}"#,
            r#"{"sequence":9,"timestamp":0,"resOpFailedEvent":{"metadata":{"op":"update","urn":"u","type":"t","old":null,"new":null,"detailedDiff":null,"provider":""},"status":2,"steps":1}}"#,
            r#"{"sequence":10,"timestamp":0,"summaryEvent":{"maybeCorrupt":false,"durationSeconds":1,"resourceChanges":{"create":1},"PolicyPacks":{},"isPreview":true,"result":"succeeded"}}"#,
            r#"{"sequence":11,"timestamp":0,"cancelEvent":{}}"#,
        ];
        let parsed = parse_stream(&lines.join("\n"));
        assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
        assert_eq!(parsed.events.len(), lines.len());
        assert!(parsed
            .events
            .iter()
            .all(|e| !matches!(e.kind, EventKind::Unknown { .. })));
        let EventKind::Summary(s) = &parsed.events[10].kind else {
            panic!()
        };
        assert_eq!(s.result.as_deref(), Some("succeeded"));
        assert_eq!(s.resource_changes["create"], 1);
    }

    #[test]
    fn reads_pretty_printed_objects_one_after_another() {
        let a = serde_json::to_string_pretty(&EngineEvent::from_json(PRE).unwrap()).unwrap();
        let b = "{\n  \"sequence\": 2,\n  \"timestamp\": 0,\n  \"cancelEvent\": {}\n}";
        let parsed = parse_stream(&format!("{a}\n{b}\n"));
        assert_eq!(parsed.events.len(), 2);
        assert!(parsed.skipped.is_empty());
        assert!(parsed.truncated.is_none());
    }

    #[test]
    fn braces_inside_strings_do_not_confuse_the_reader() {
        let line = r#"{"sequence":1,"timestamp":0,"stdoutEvent":{"message":"a } b { \" } ","color":"x"}}"#;
        let parsed = parse_stream(&format!("{line}\n{line}\n"));
        assert_eq!(parsed.events.len(), 2);
    }

    #[test]
    fn a_non_json_line_is_skipped_and_reading_continues() {
        let input = format!(
            "{PRE}\nwarning: something printed by a plugin\n{{not json at all}}\n{}\n",
            r#"{"sequence":2,"timestamp":0,"cancelEvent":{}}"#
        );
        let parsed = parse_stream(&input);
        assert_eq!(parsed.events.len(), 2);
        assert_eq!(parsed.skipped.len(), 2);
        assert_eq!(parsed.skipped[0].line, 2);
        assert!(parsed.skipped[0].text.contains("plugin"));
        assert!(parsed.truncated.is_none());
    }

    #[test]
    fn a_truncated_final_line_is_reported_not_fatal() {
        let input = format!("{PRE}\n{}", &PRE[..60]);
        let parsed = parse_stream(&input);
        assert_eq!(parsed.events.len(), 1);
        let t = parsed.truncated.expect("truncation reported");
        assert_eq!(t.line, 2);
        // And a final line without newline that is complete is accepted.
        let parsed = parse_stream(PRE);
        assert_eq!(parsed.events.len(), 1);
        assert!(parsed.truncated.is_none());
        // A pretty-printed object cut off mid-way.
        let parsed = parse_stream("{\n  \"sequence\": 2,\n  \"cancelEvent\": {\n");
        assert!(parsed.events.is_empty());
        assert_eq!(parsed.truncated.unwrap().line, 1);
    }

    #[test]
    fn an_object_without_a_kind_is_skipped() {
        let parsed = parse_stream("{\"sequence\":1,\"timestamp\":2}\n");
        assert!(parsed.events.is_empty());
        assert!(parsed.skipped[0].reason.contains("no `<kind>Event`"));
    }

    fn ev_line(seq: i64, kind: &str) -> String {
        format!("{{\"sequence\":{seq},\"timestamp\":0,\"{kind}\":{{\"message\":\"m{seq}\",\"color\":\"never\"}}}}\n")
    }

    #[tokio::test]
    async fn tailer_yields_events_as_lines_appear_and_stops_at_cancel() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let exited = CancellationToken::new();
        let mut tailer = Tailer::new(&path, exited.clone()).with_poll_interval(Duration::from_millis(5));
        let writer_path = path.clone();
        let (step_tx, mut step_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let writer = tokio::spawn(async move {
            // The file does not exist at first.
            tokio::time::sleep(Duration::from_millis(30)).await;
            let mut f = std::fs::File::create(&writer_path).unwrap();
            for seq in 0..3 {
                let line = ev_line(seq, "stdoutEvent");
                // Write each line in two halves: the tailer must not parse half a line.
                let (a, b) = line.split_at(line.len() / 2);
                f.write_all(a.as_bytes()).unwrap();
                f.flush().unwrap();
                tokio::time::sleep(Duration::from_millis(15)).await;
                f.write_all(b.as_bytes()).unwrap();
                f.flush().unwrap();
                step_rx.recv().await.unwrap();
            }
            // A duplicate (re-written) sequence, then the end.
            f.write_all(ev_line(2, "stdoutEvent").as_bytes()).unwrap();
            f.write_all(b"{\"sequence\":3,\"timestamp\":0,\"cancelEvent\":{}}\n")
                .unwrap();
            f.write_all(ev_line(4, "stdoutEvent").as_bytes()).unwrap();
        });
        for seq in 0..3 {
            let ev = tokio::time::timeout(Duration::from_secs(5), tailer.next())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(ev.sequence, seq);
            step_tx.send(()).unwrap();
        }
        let ev = tokio::time::timeout(Duration::from_secs(5), tailer.next())
            .await
            .unwrap()
            .unwrap();
        assert!(ev.is_cancel());
        assert_eq!(tailer.next().await, None, "nothing after cancelEvent");
        writer.await.unwrap();
        let report = tailer.into_report();
        assert!(report.file_seen && report.saw_cancel);
        assert_eq!(report.duplicates, 1);
    }

    #[tokio::test]
    async fn tailer_drains_after_exit_and_reports_a_truncated_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(
            &path,
            format!(
                "{}{}{{\"sequence\":2,\"times",
                ev_line(0, "stdoutEvent"),
                ev_line(1, "stdoutEvent")
            ),
        )
        .unwrap();
        let exited = CancellationToken::new();
        exited.cancel();
        let mut tailer = Tailer::new(&path, exited);
        let mut seqs = vec![];
        while let Some(ev) = tailer.next().await {
            seqs.push(ev.sequence);
        }
        assert_eq!(seqs, vec![0, 1]);
        let report = tailer.into_report();
        assert!(report.truncated.is_some());
        assert!(!report.saw_cancel);
    }

    #[tokio::test]
    async fn tailer_ends_when_the_file_never_appears() {
        let dir = tempfile::tempdir().unwrap();
        let exited = CancellationToken::new();
        let mut tailer = Tailer::new(dir.path().join("never.jsonl"), exited.clone());
        let stop = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(40)).await;
            exited.cancel();
        });
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), tailer.next())
                .await
                .unwrap(),
            None
        );
        stop.await.unwrap();
        assert!(!tailer.report.file_seen);
    }
}
