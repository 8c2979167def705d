//! `cloud plan show` as a stream: read an event log of any size once, from a [`BufRead`], and
//! write the same text or JSON that [`PlanShow`](super::summary::PlanShow) renders — in memory
//! that does not grow with the file.
//!
//! What this gives the user: a 1 GB event log (a long-running stack, or many stacks one after
//! another) is summarised in seconds in a few megabytes; the in-memory reader needed several
//! times the file's size.
//!
//! How the memory stays bounded:
//! * each event is parsed on its own, and only the fields the view shows are read
//!   ([`LeanEvent`]): resource states (`old`/`new`, with every input and output) are skipped by
//!   the JSON parser without being built, except the outputs of a `read` step, which the
//!   counting rule compares;
//! * counting keeps, per stack, 64-bit hashes of the (resource, operation) pairs already counted;
//! * what is printed later than it is read (a stack's steps come after its totals in the text
//!   view; errors and the per-stack table come after all steps in the JSON view) goes to
//!   [`Spill`] buffers that move to an anonymous temporary file past a megabyte.
//!
//! The reading rules are those of [`parse_stream`](super::events::parse_stream) (same framing
//! with [`StreamParser`], same skipped lines, same truncation), and the counting rules those of
//! [`StreamSummary`](super::summary::StreamSummary); a test renders every recorded fixture both
//! ways and compares the bytes. A `pulumi preview --json` document (one object, nothing after
//! it) is handed to [`plan_show`](super::summary::plan_show): it is small by nature.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufWriter, Read, Seek, SeekFrom, Write};

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use super::events::{StreamParser, SummaryEvent};
use super::summary::{
    counts_line, is_default_provider, plan_show, severity_from, stack_from_urn, step_line, strip_colors, type_from_urn,
    PlanShowError,
};
use cloud_domain::engine::{ChangeCounts, ResourceStep, Severity, StepOp};

/// Why a streamed `plan show` stopped.
#[derive(Debug, thiserror::Error)]
pub enum PlanStreamError {
    /// Nothing to show (nothing has been written).
    #[error(transparent)]
    Input(#[from] PlanShowError),
    #[error("cannot read the input: {0}")]
    Read(std::io::Error),
    #[error("cannot write output: {0}")]
    Write(std::io::Error),
}

// ---------------------------------------------------------------------------------------------
// Spill buffers.

/// Bytes kept in memory up to [`SPILL_LIMIT`], then in an anonymous temporary file (deleted by
/// the OS when closed): text that must be printed later than it is produced.
struct Spill {
    mem: Vec<u8>,
    file: Option<BufWriter<File>>,
    limit: usize,
}

/// In-memory size of one spill buffer before it moves to a file.
pub const SPILL_LIMIT: usize = 1 << 20;

impl Spill {
    fn new(limit: usize) -> Self {
        Spill {
            mem: Vec::new(),
            file: None,
            limit,
        }
    }

    fn is_empty(&self) -> bool {
        self.mem.is_empty() && self.file.is_none()
    }

    fn push(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            return f.write_all(bytes);
        }
        self.mem.extend_from_slice(bytes);
        if self.mem.len() > self.limit {
            let mut f = BufWriter::new(tempfile::tempfile()?);
            f.write_all(&self.mem)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        Ok(())
    }

    /// Write everything to `out` and start over empty.
    fn drain_into(&mut self, out: &mut impl Write) -> Result<(), PlanStreamError> {
        if let Some(f) = self.file.take() {
            let mut f = f.into_inner().map_err(|e| PlanStreamError::Write(e.into_error()))?;
            f.seek(SeekFrom::Start(0)).map_err(PlanStreamError::Write)?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f.read(&mut buf).map_err(PlanStreamError::Write)?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(PlanStreamError::Write)?;
            }
        } else {
            out.write_all(&self.mem).map_err(PlanStreamError::Write)?;
        }
        self.mem.clear();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The lean event: only what the view shows.

/// A step's metadata, reduced to what `plan show` uses.
struct LeanMeta<'a> {
    op: Cow<'a, str>,
    urn: Cow<'a, str>,
    resource_type: Cow<'a, str>,
    logical: Option<bool>,
    /// Kept unparsed: only a `read` step's outputs are ever compared.
    old: Option<&'a RawValue>,
    new: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for LeanMeta<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LeanMeta<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("step metadata")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LeanMeta<'de>, A::Error> {
                let (mut op, mut urn, mut ty, mut logical, mut old, mut new) = (None, None, None, None, None, None);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.0.as_ref() {
                        "op" => op = Some(map.next_value::<Str<'de>>()?.0),
                        "urn" => urn = Some(map.next_value::<Str<'de>>()?.0),
                        "type" => ty = Some(map.next_value::<Str<'de>>()?.0),
                        "logical" => logical = map.next_value::<Option<bool>>()?,
                        "old" => old = map.next_value::<Option<&'de RawValue>>()?,
                        "new" => new = map.next_value::<Option<&'de RawValue>>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(LeanMeta {
                    op: op.ok_or_else(|| de::Error::missing_field("op"))?,
                    urn: urn.ok_or_else(|| de::Error::missing_field("urn"))?,
                    resource_type: ty.ok_or_else(|| de::Error::missing_field("type"))?,
                    logical,
                    old,
                    new,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// A string, borrowed from the input when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object key (the same as [`Str`], named for readability).
type Key<'a> = Str<'a>;

/// `{"step": {…}}`-style payloads that carry a `metadata` field.
struct WithMeta<'a> {
    meta: LeanMeta<'a>,
    status: i64,
}

impl<'de: 'a, 'a> Deserialize<'de> for WithMeta<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = WithMeta<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a step event")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WithMeta<'de>, A::Error> {
                let (mut meta, mut status) = (None, 0i64);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    match key.0.as_ref() {
                        "metadata" => meta = Some(map.next_value::<LeanMeta<'de>>()?),
                        "status" => status = map.next_value::<i64>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(WithMeta {
                    meta: meta.ok_or_else(|| de::Error::missing_field("metadata"))?,
                    status,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// `diagnosticEvent`, reduced.
#[derive(Deserialize)]
struct LeanDiagnostic<'a> {
    #[serde(default, borrow)]
    urn: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Cow<'a, str>,
    #[serde(default, borrow)]
    severity: Cow<'a, str>,
}

/// `errorEvent`, reduced.
#[derive(Deserialize)]
struct LeanError<'a> {
    #[serde(default, borrow)]
    error: Cow<'a, str>,
}

/// What the view needs of one event.
enum LeanKind<'a> {
    Prelude,
    ResourcePre(LeanMeta<'a>),
    ResOutputs(LeanMeta<'a>),
    ResOpFailed(LeanMeta<'a>, i64),
    Diagnostic(LeanDiagnostic<'a>),
    Error(LeanError<'a>),
    Summary(Box<SummaryEvent>),
    /// Any other kind, known or not: counted, not shown.
    Other,
}

struct LeanEvent<'a> {
    timestamp: i64,
    kind: LeanKind<'a>,
}

/// Envelope keys the full parser types; an unknown `<kind>Event` is an event too.
const KNOWN_OTHER_KINDS: [&str; 10] = [
    "stdoutEvent",
    "progressEvent",
    "startDebuggingEvent",
    "policyEvent",
    "policyRemediationEvent",
    "policyLoadEvent",
    "policyAnalyzeSummaryEvent",
    "policyRemediateSummaryEvent",
    "policyAnalyzeStackSummaryEvent",
    "cancelEvent",
];

impl<'de: 'a, 'a> Deserialize<'de> for LeanEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LeanEvent<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an engine event object {sequence, timestamp, <kind>Event}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LeanEvent<'de>, A::Error> {
                let mut timestamp = None;
                let mut kind: Option<LeanKind<'de>> = None;
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let key = key.0;
                    let parsed = match key.as_ref() {
                        "sequence" => {
                            map.next_value::<i64>()?;
                            continue;
                        }
                        "timestamp" => {
                            timestamp = Some(map.next_value::<i64>()?);
                            continue;
                        }
                        "preludeEvent" => {
                            map.next_value::<IgnoredAny>()?;
                            LeanKind::Prelude
                        }
                        "resourcePreEvent" => LeanKind::ResourcePre(map.next_value::<WithMeta<'de>>()?.meta),
                        "resOutputsEvent" => LeanKind::ResOutputs(map.next_value::<WithMeta<'de>>()?.meta),
                        "resOpFailedEvent" => {
                            let e = map.next_value::<WithMeta<'de>>()?;
                            LeanKind::ResOpFailed(e.meta, e.status)
                        }
                        "diagnosticEvent" => LeanKind::Diagnostic(map.next_value()?),
                        "errorEvent" => LeanKind::Error(map.next_value()?),
                        "summaryEvent" => LeanKind::Summary(Box::new(map.next_value()?)),
                        other
                            if KNOWN_OTHER_KINDS.contains(&other) || (other.ends_with("Event") && other.len() > 5) =>
                        {
                            map.next_value::<IgnoredAny>()?;
                            LeanKind::Other
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if kind.is_some() {
                        return Err(de::Error::custom(format!(
                            "event has more than one kind (second: `{key}`)"
                        )));
                    }
                    kind = Some(parsed);
                }
                let kind = kind.ok_or_else(|| de::Error::custom("event has no `<kind>Event` field"))?;
                Ok(LeanEvent {
                    timestamp: timestamp.unwrap_or(0),
                    kind,
                })
            }
        }
        d.deserialize_map(V)
    }
}

fn parse_lean(text: &str) -> Result<LeanEvent<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

/// `old.outputs != new.outputs` of a `read` step, as the full parser compares them.
fn read_changed(old: Option<&RawValue>, new: Option<&RawValue>) -> bool {
    #[derive(Deserialize)]
    struct Outputs {
        #[serde(default)]
        outputs: Map<String, Value>,
    }
    let parse = |raw: &RawValue| {
        serde_json::from_str::<Outputs>(raw.get())
            .map(|o| o.outputs)
            .unwrap_or_default()
    };
    match (old, new) {
        (Some(old), Some(new)) => parse(old) != parse(new),
        _ => false,
    }
}

fn hash_pair(a: &str, b: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    a.hash(&mut h);
    b.hash(&mut h);
    h.finish()
}

fn hash_one(a: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    a.hash(&mut h);
    h.finish()
}

// ---------------------------------------------------------------------------------------------
// One stack (a segment of the stream between preludes).

/// Everything one stack's part of the stream says, folded as it is read.
struct Segment {
    events: u64,
    /// URN of the first `resourcePreEvent`, and of the first `resOutputsEvent`.
    first_step_urn: Option<String>,
    first_finished_urn: Option<String>,
    summary: Option<SummaryEvent>,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
    any_failed: bool,
    any_error_diag: bool,
    /// Counting from finished steps: (urn, op) already counted, per op name.
    finished_counted: HashSet<u64>,
    finished_counts: ChangeCounts,
    /// Finished steps that count only if their resource was refreshed: (urn hash, op).
    finished_if_refreshed: HashMap<u64, (u64, String)>,
    any_finished: bool,
    refreshed: HashSet<u64>,
    /// Counting from planned steps (when nothing finished).
    planned_counted: HashSet<u64>,
    planned_counts: ChangeCounts,
    /// Text view: the changing steps, failed steps and diagnostics by severity rank.
    steps_text: Spill,
    failed_text: Spill,
    /// Error diagnostics, then `errorEvent`s, warnings, infoerr, info.
    diag_text: [Spill; 5],
    /// JSON view: this stack's errors — error diagnostics, then `errorEvent`s, then failed
    /// steps — one compact object per line (the stack is added when the segment ends).
    error_diags_json: Spill,
    error_events_json: Spill,
    failed_json: Spill,
    errors: u64,
}

impl Segment {
    fn new(limit: usize) -> Self {
        Segment {
            events: 0,
            first_step_urn: None,
            first_finished_urn: None,
            summary: None,
            first_ts: None,
            last_ts: None,
            any_failed: false,
            any_error_diag: false,
            finished_counted: HashSet::new(),
            finished_counts: ChangeCounts::new(),
            finished_if_refreshed: HashMap::new(),
            any_finished: false,
            refreshed: HashSet::new(),
            planned_counted: HashSet::new(),
            planned_counts: ChangeCounts::new(),
            steps_text: Spill::new(limit),
            failed_text: Spill::new(limit),
            diag_text: std::array::from_fn(|_| Spill::new(limit)),
            error_diags_json: Spill::new(limit),
            error_events_json: Spill::new(limit),
            failed_json: Spill::new(limit),
            errors: 0,
        }
    }

    fn stack(&self) -> Option<String> {
        self.first_step_urn
            .as_deref()
            .or(self.first_finished_urn.as_deref())
            .and_then(stack_from_urn)
    }

    /// The engine's totals, else finished steps counted, else planned steps counted.
    fn counts(&self) -> ChangeCounts {
        if let Some(s) = &self.summary {
            return s.resource_changes.clone();
        }
        if self.any_finished {
            let mut counts = self.finished_counts.clone();
            let mut seen = self.finished_counted.clone();
            for (pair, (urn, op)) in &self.finished_if_refreshed {
                if self.refreshed.contains(urn) && seen.insert(*pair) {
                    *counts.entry(op.clone()).or_default() += 1;
                }
            }
            return counts;
        }
        self.planned_counts.clone()
    }

    fn result(&self) -> Option<String> {
        let s = self.summary.as_ref()?;
        if let Some(r) = &s.result {
            return Some(r.clone());
        }
        let failed = self.any_failed || self.any_error_diag;
        Some(if failed { "failed" } else { "succeeded" }.to_string())
    }

    fn duration_ms(&self) -> u64 {
        if let Some(s) = &self.summary {
            return s.duration_seconds.max(0) as u64 * 1000;
        }
        match (self.first_ts, self.last_ts) {
            (Some(a), Some(b)) if b > a => (b - a) as u64 * 1000,
            _ => 0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The view.

/// Pretty JSON of `v`, every line after the first indented by `indent` spaces (to sit inside the
/// document `serde_json::to_string_pretty` would print).
fn pretty_at(v: &Value, indent: usize) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    if indent == 0 {
        return text;
    }
    text.replace('\n', &format!("\n{}", " ".repeat(indent)))
}

/// The state of one `plan show` run.
struct View<'o, W: Write> {
    out: &'o mut W,
    json: bool,
    segment: Segment,
    has_prelude: bool,
    stacks: u64,
    total: ChangeCounts,
    /// JSON: steps written so far (the array is opened lazily).
    steps_written: u64,
    /// JSON: the `stacks` table and every error, pretty-printed at their final indent.
    stacks_json: Spill,
    errors_json: Spill,
    errors_written: u64,
    errors_total: u64,
    /// Skipped inputs: how many, the first one's text, and (JSON) their line numbers.
    skipped: u64,
    skipped_first: Option<String>,
    skipped_lines: Spill,
    any_event: bool,
    spill_limit: usize,
}

impl<'o, W: Write> View<'o, W> {
    fn new(out: &'o mut W, json: bool, spill_limit: usize) -> Self {
        View {
            out,
            json,
            segment: Segment::new(spill_limit),
            has_prelude: false,
            stacks: 0,
            total: ChangeCounts::new(),
            steps_written: 0,
            stacks_json: Spill::new(spill_limit),
            errors_json: Spill::new(spill_limit),
            errors_written: 0,
            errors_total: 0,
            skipped: 0,
            skipped_first: None,
            skipped_lines: Spill::new(spill_limit),
            any_event: false,
            spill_limit,
        }
    }

    fn w(&mut self, bytes: &[u8]) -> Result<(), PlanStreamError> {
        self.out.write_all(bytes).map_err(PlanStreamError::Write)
    }

    fn skipped_input(&mut self, line: usize, text: &str) -> Result<(), PlanStreamError> {
        self.skipped += 1;
        if self.skipped_first.is_none() {
            self.skipped_first = Some(text.chars().take(60).collect());
        }
        if self.json {
            let sep = if self.skipped > 1 { ",\n    " } else { "\n    " };
            self.skipped_lines
                .push(format!("{sep}{line}").as_bytes())
                .map_err(PlanStreamError::Write)?;
        }
        Ok(())
    }

    fn event(&mut self, ev: LeanEvent<'_>) -> Result<(), PlanStreamError> {
        self.any_event = true;
        // Events before a stack's prelude belong to it: only a second prelude starts the next.
        if matches!(ev.kind, LeanKind::Prelude) {
            if self.has_prelude {
                self.end_segment()?;
            }
            self.has_prelude = true;
        }
        let seg = &mut self.segment;
        seg.events += 1;
        if ev.timestamp > 0 {
            seg.first_ts.get_or_insert(ev.timestamp);
            seg.last_ts = Some(ev.timestamp);
        }
        match ev.kind {
            LeanKind::Prelude | LeanKind::Other => {}
            LeanKind::ResourcePre(meta) => {
                if seg.first_step_urn.is_none() {
                    seg.first_step_urn = Some(meta.urn.to_string());
                }
                let op = StepOp::from(meta.op.as_ref());
                if op == StepOp::Refresh {
                    seg.refreshed.insert(hash_one(&meta.urn));
                }
                let provider = is_default_provider(&meta.resource_type, &meta.urn);
                if meta.logical == Some(true)
                    && !provider
                    && op != StepOp::RemovePendingReplace
                    && seg.planned_counted.insert(hash_pair(&meta.urn, op.as_str()))
                {
                    *seg.planned_counts.entry(op.to_string()).or_default() += 1;
                }
                if !provider {
                    self.step(&meta, &op)?;
                }
            }
            LeanKind::ResOutputs(meta) => {
                if seg.first_finished_urn.is_none() {
                    seg.first_finished_urn = Some(meta.urn.to_string());
                }
                seg.any_finished = true;
                let op = StepOp::from(meta.op.as_ref());
                let provider = is_default_provider(&meta.resource_type, &meta.urn);
                // `counts_as_change`: logical, not a default provider nor an internal step, and a
                // `read` only when it changed the outputs.
                let counts = meta.logical == Some(true)
                    && !provider
                    && op != StepOp::RemovePendingReplace
                    && (op != StepOp::Read || read_changed(meta.old, meta.new));
                let pair = hash_pair(&meta.urn, op.as_str());
                if counts {
                    if seg.finished_counted.insert(pair) {
                        *seg.finished_counts.entry(op.to_string()).or_default() += 1;
                    }
                } else if !provider {
                    // Counted after all if the resource turns out to have been refreshed.
                    seg.finished_if_refreshed
                        .entry(pair)
                        .or_insert_with(|| (hash_one(&meta.urn), op.to_string()));
                }
            }
            LeanKind::ResOpFailed(meta, _status) => {
                seg.any_failed = true;
                seg.errors += 1;
                let name = ResourceStep::name_from_urn(&meta.urn);
                let op = StepOp::from(meta.op.as_ref());
                if self.json {
                    let e = json!({
                        "kind": "failed-step",
                        "urn": meta.urn,
                        "type": meta.resource_type,
                        "op": op.as_str(),
                        "message": format!("{} of {} ({}) failed", op, name, meta.resource_type),
                    });
                    // The stack is known only at the end of the segment: filled in then.
                    seg.failed_json
                        .push(serde_json::to_string(&e).unwrap_or_default().as_bytes())
                        .map_err(PlanStreamError::Write)?;
                    seg.failed_json.push(b"\n").map_err(PlanStreamError::Write)?;
                } else {
                    seg.failed_text
                        .push(format!("  !! {op} of {name} failed\n").as_bytes())
                        .map_err(PlanStreamError::Write)?;
                }
            }
            LeanKind::Diagnostic(d) => {
                let severity = severity_from(&d.severity);
                if severity != Severity::Debug {
                    let message = strip_colors(&d.message);
                    if !message.is_empty() {
                        if severity == Severity::Error {
                            seg.any_error_diag = true;
                        }
                        self.diagnostic(severity, d.urn.as_deref(), &message, false)?;
                    }
                }
            }
            LeanKind::Error(e) => {
                let message = strip_colors(&e.error);
                self.diagnostic(Severity::Error, None, &message, true)?;
            }
            LeanKind::Summary(s) => self.segment.summary = Some(*s),
        }
        Ok(())
    }

    /// A step people see (one per `resourcePreEvent`, default providers left out).
    fn step(&mut self, meta: &LeanMeta<'_>, op: &StepOp) -> Result<(), PlanStreamError> {
        if self.json {
            let v = json!({"urn": meta.urn, "type": meta.resource_type, "op": op.as_str()});
            let sep: &[u8] = if self.steps_written == 0 {
                b"{\n  \"steps\": [\n    "
            } else {
                b",\n    "
            };
            self.w(sep)?;
            let text = pretty_at(&v, 4);
            self.w(text.as_bytes())?;
            self.steps_written += 1;
        } else if *op != StepOp::Same {
            let line = format!(
                "  {}\n",
                step_line(op, &ResourceStep::name_from_urn(&meta.urn), &meta.resource_type)
            );
            self.segment
                .steps_text
                .push(line.as_bytes())
                .map_err(PlanStreamError::Write)?;
        }
        Ok(())
    }

    /// A diagnostic of the current stack; `error_event` for `errorEvent`s (sorted after the
    /// error diagnostics, as the in-memory view does).
    fn diagnostic(
        &mut self,
        severity: Severity,
        urn: Option<&str>,
        message: &str,
        error_event: bool,
    ) -> Result<(), PlanStreamError> {
        let seg = &mut self.segment;
        if severity == Severity::Error {
            seg.errors += 1;
        }
        if self.json {
            if severity == Severity::Error {
                let mut e = Map::new();
                e.insert("kind".into(), json!("diagnostic"));
                if let Some(urn) = urn {
                    e.insert("urn".into(), json!(urn));
                    e.insert("type".into(), json!(type_from_urn(urn)));
                }
                e.insert("message".into(), json!(message));
                let part = if error_event {
                    &mut seg.error_events_json
                } else {
                    &mut seg.error_diags_json
                };
                part.push(serde_json::to_string(&Value::Object(e)).unwrap_or_default().as_bytes())
                    .map_err(PlanStreamError::Write)?;
                part.push(b"\n").map_err(PlanStreamError::Write)?;
            }
            return Ok(());
        }
        let rank = match (severity, error_event) {
            (Severity::Error, false) => 0,
            (Severity::Error, true) => 1,
            (Severity::Warning, _) => 2,
            (Severity::Infoerr, _) => 3,
            (Severity::Info, _) | (Severity::Debug, _) => 4,
        };
        let sev = match severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info | Severity::Infoerr => "info",
            Severity::Debug => "debug",
        };
        let who = urn
            .map(|u| format!(" [{}]", ResourceStep::name_from_urn(u)))
            .unwrap_or_default();
        let mut text = String::new();
        for (i, line) in message.lines().enumerate() {
            if i == 0 {
                text.push_str(&format!("  {sev}{who}: {line}\n"));
            } else {
                text.push_str(&format!("      {line}\n"));
            }
        }
        seg.diag_text[rank]
            .push(text.as_bytes())
            .map_err(PlanStreamError::Write)
    }

    /// The current stack is complete: print (text) or record (JSON) it.
    fn end_segment(&mut self) -> Result<(), PlanStreamError> {
        let mut seg = std::mem::replace(&mut self.segment, Segment::new(self.spill_limit));
        if seg.events == 0 {
            return Ok(());
        }
        self.stacks += 1;
        let counts = seg.counts();
        for (op, n) in &counts {
            *self.total.entry(op.clone()).or_default() += n;
        }
        let stack = seg.stack();
        let result = seg.result();
        self.errors_total += seg.errors;
        if self.json {
            let entry = json!({
                "stack": stack,
                "counts": counts,
                "countsFromEngine": seg.summary.is_some(),
                "result": result,
                "durationMs": seg.duration_ms(),
            });
            let sep = if self.stacks > 1 { ",\n    " } else { "\n    " };
            self.stacks_json
                .push(format!("{sep}{}", pretty_at(&entry, 4)).as_bytes())
                .map_err(PlanStreamError::Write)?;
            // Errors: the compact lines spilled while reading, now with the stack, pretty.
            for part in [
                &mut seg.error_diags_json,
                &mut seg.error_events_json,
                &mut seg.failed_json,
            ] {
                if part.is_empty() {
                    continue;
                }
                let mut lines = Vec::new();
                part.drain_into(&mut lines)?;
                for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let v: Map<String, Value> = serde_json::from_slice(line).unwrap_or_default();
                    // `stack` goes right after `kind`, as in the in-memory view.
                    let mut ordered = Map::new();
                    for (k, val) in v {
                        ordered.insert(k.clone(), val);
                        if k == "kind" {
                            if let Some(stack) = &stack {
                                ordered.insert("stack".into(), json!(stack));
                            }
                        }
                    }
                    let sep = if self.errors_written > 0 { ",\n    " } else { "\n    " };
                    self.errors_written += 1;
                    self.errors_json
                        .push(format!("{sep}{}", pretty_at(&Value::Object(ordered), 4)).as_bytes())
                        .map_err(PlanStreamError::Write)?;
                }
            }
            return Ok(());
        }
        let name = stack.as_deref().unwrap_or("(unnamed stack)");
        let mut head = format!("Stack {name}: {}\n", counts_line(&counts));
        if let Some(r) = &result {
            if r != "succeeded" {
                head.push_str(&format!("  result: {r}\n"));
            }
        }
        self.w(head.as_bytes())?;
        seg.steps_text.drain_into(self.out)?;
        seg.failed_text.drain_into(self.out)?;
        for part in seg.diag_text.iter_mut() {
            part.drain_into(self.out)?;
        }
        Ok(())
    }

    /// The end of the input: the last stack, totals and notes.
    fn finish(mut self, truncated: Option<usize>) -> Result<(), PlanStreamError> {
        self.end_segment()?;
        if self.json {
            if self.steps_written == 0 {
                self.w(b"{\n  \"steps\": [],\n")?;
            } else {
                self.w(b"\n  ],\n")?;
            }
            let counts = format!("  \"counts\": {},\n", pretty_at(&json!(self.total), 2));
            self.w(counts.as_bytes())?;
            for (key, spill, empty) in [("errors", 0, self.errors_written == 0), ("stacks", 1, self.stacks == 0)] {
                if empty {
                    self.w(format!("  \"{key}\": []").as_bytes())?;
                } else {
                    self.w(format!("  \"{key}\": [").as_bytes())?;
                    let part = if spill == 0 {
                        &mut self.errors_json
                    } else {
                        &mut self.stacks_json
                    };
                    part.drain_into(self.out)?;
                    self.w(b"\n  ]")?;
                }
                if key == "errors" {
                    self.w(b",\n")?;
                }
            }
            if let Some(line) = truncated {
                self.w(format!(",\n  \"truncated\": {}", pretty_at(&json!({"line": line}), 2)).as_bytes())?;
            }
            if self.skipped > 0 {
                self.w(b",\n  \"skippedLines\": [")?;
                self.skipped_lines.drain_into(self.out)?;
                self.w(b"\n  ]")?;
            }
            self.w(b"\n}\n")?;
        } else {
            let mut tail = String::new();
            if self.stacks > 1 {
                tail.push_str(&format!(
                    "Total ({} stacks): {}\n",
                    self.stacks,
                    counts_line(&self.total)
                ));
            }
            if self.errors_total > 0 {
                tail.push_str(&format!("{} error(s)\n", self.errors_total));
            }
            if let Some(line) = truncated {
                tail.push_str(&format!(
                    "note: the event log ends with an incomplete event at line {line} (the engine was cut off)\n"
                ));
            }
            if self.skipped > 0 {
                tail.push_str(&format!(
                    "note: {} line(s) that were not engine events were skipped\n",
                    self.skipped
                ));
            }
            self.w(tail.as_bytes())?;
        }
        self.out.flush().map_err(PlanStreamError::Write)
    }
}

/// The largest event (one line, or one pretty-printed object) the reader keeps: far above what
/// Pulumi writes (a CloudFormation template body is at most 1 MB), and what bounds the reader's
/// memory whatever the input.
pub const MAX_EVENT_BYTES: usize = 32 << 20;

/// Read one line (with its `\n`) into `line`, keeping at most `cap` bytes of it; the rest of an
/// overlong line is read and dropped. Returns the bytes read and whether the line was cut.
fn read_line_capped(input: &mut impl BufRead, line: &mut Vec<u8>, cap: usize) -> std::io::Result<(usize, bool)> {
    let mut read = 0;
    let mut cut = false;
    loop {
        let (done, used) = {
            let buf = match input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok((read, cut));
            }
            let (chunk, done) = match memchr_newline(buf) {
                Some(i) => (&buf[..=i], true),
                None => (buf, false),
            };
            let room = cap.saturating_sub(line.len());
            if chunk.len() > room {
                line.extend_from_slice(&chunk[..room]);
                cut = true;
            } else {
                line.extend_from_slice(chunk);
            }
            (done, chunk.len())
        };
        input.consume(used);
        read += used;
        if done {
            if cut && line.last() != Some(&b'\n') {
                line.push(b'\n');
            }
            return Ok((read, cut));
        }
    }
}

fn memchr_newline(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf)
}

/// Whether a JSON object is a `pulumi preview --json` document rather than an event.
fn looks_like_preview_document(text: &str) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(obj)) => {
            (obj.contains_key("steps") || obj.contains_key("changeSummary"))
                && !obj.keys().any(|k| k.ends_with("Event"))
        }
        _ => false,
    }
}

/// Stream an event log (or a `preview --json` document) from `input` to `out` as `cloud plan
/// show` prints it: text, or the JSON document with `json`. Nothing is written when the input
/// holds no event ([`PlanStreamError::Input`]).
pub fn plan_show_stream(input: impl BufRead, out: &mut impl Write, json: bool) -> Result<(), PlanStreamError> {
    plan_show_stream_with(input, out, json, Limits::default())
}

/// The sizes that bound a streamed `plan show`'s memory.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A buffer moves to a temporary file past this many bytes ([`SPILL_LIMIT`]).
    pub spill: usize,
    /// A longer line, or a larger pretty-printed object, is skipped ([`MAX_EVENT_BYTES`]).
    pub max_event: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            spill: SPILL_LIMIT,
            max_event: MAX_EVENT_BYTES,
        }
    }
}

/// [`plan_show_stream`] with other [`Limits`] (tests use tiny ones so that every path through
/// the temporary files and the size checks runs).
pub fn plan_show_stream_with(
    input: impl BufRead,
    out: &mut impl Write,
    json: bool,
    limits: Limits,
) -> Result<(), PlanStreamError> {
    let (spill_limit, max_event) = (limits.spill, limits.max_event);
    let mut input = input;
    let mut parser = StreamParser::new();
    let mut view = View::new(out, json, spill_limit);
    let mut line: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut any_content = false;
    // The first object, held back while it may be a preview document (nothing may follow it).
    let mut document: Option<(usize, String)> = None;
    let mut objects = 0u64;
    let mut truncated: Option<usize> = None;

    loop {
        line.clear();
        let (n, oversize) = read_line_capped(&mut input, &mut line, max_event).map_err(PlanStreamError::Read)?;
        if n == 0 {
            break;
        }
        let last = line.last() != Some(&b'\n');
        if !last {
            line.pop();
        }
        if oversize {
            // Not kept: the memory a reader needs must not depend on its input.
            parser.count_line();
            // Inside an object, the line belongs to it: the object is what is skipped.
            let inside = parser.is_mid_object();
            if parser.open_len() > 0 {
                parser.abandon_object(format!("an event larger than {max_event} bytes"));
            }
            parser.drop_object();
            if !inside {
                let head = String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned();
                parser.record_skip(parser.line_no(), &head, format!("a line longer than {max_event} bytes"));
            }
            for s in parser.take_skipped() {
                view.skipped_input(s.line, &s.text)?;
            }
            any_content = true;
            if last {
                break;
            }
            continue;
        }
        // A log cut off inside a multi-byte character is still worth reading. (`from_utf8` first:
        // validating is several times faster than the lossy conversion.)
        let text: Cow<'_, str> = match std::str::from_utf8(&line) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(&line),
        };
        if !text.trim().is_empty() {
            any_content = true;
            if let Some((start, doc)) = document.take() {
                // Something follows: the held object was a stream object after all.
                replay_object(&mut parser, &mut view, start, &doc)?;
            }
        }
        // Only the input's first object may be a `preview --json` document.
        let may_be_document = objects == 0 && view.skipped == 0 && parser.skipped().is_empty();
        // Each completed object is handled inside the parse callback: the event borrows the
        // object's text, which lives only as long as the callback.
        let mut held: Option<String> = None;
        let mut handled: Result<bool, PlanStreamError> = Ok(false);
        let mut handle = |obj: &str| -> Result<(), serde_json::Error> {
            match parse_lean(obj) {
                Ok(ev) => {
                    handled = view.event(ev).map(|()| true);
                    Ok(())
                }
                Err(_) if may_be_document && looks_like_preview_document(obj) => {
                    held = Some(obj.to_string());
                    Ok(())
                }
                Err(e) => Err(e),
            }
        };
        if last && !text.trim().is_empty() && !parser.is_mid_object() && text.trim_start().starts_with('{') {
            // A final line without its newline: accept it only if it is a complete event.
            match parse_lean(&text) {
                Err(e) if e.is_eof() => {
                    truncated = Some(parser.line_no() + 1);
                    tracing::warn!(
                        line = parser.line_no() + 1,
                        "engine event stream ends with a truncated line"
                    );
                    break;
                }
                Ok(_) => {
                    parser.count_line();
                    let _ = handle(&text);
                }
                Err(_) if may_be_document && looks_like_preview_document(&text) => {
                    parser.count_line();
                    let _ = handle(&text);
                }
                Err(_) => {
                    parser.push_line_with(&text, handle);
                }
            }
        } else {
            parser.push_line_with(&text, handle);
        }
        if handled? {
            objects += 1;
        }
        if parser.open_len() > max_event {
            parser.abandon_object(format!("an event larger than {max_event} bytes"));
            for s in parser.take_skipped() {
                view.skipped_input(s.line, &s.text)?;
            }
        }
        if let Some(doc) = held {
            objects += 1;
            document = Some((parser.object_start().max(1), doc));
        }
        for s in parser.take_skipped() {
            view.skipped_input(s.line, &s.text)?;
        }
        if last {
            break;
        }
    }
    if let Some((_, doc)) = document.take() {
        // One object and nothing else: the `preview --json` document.
        let show = plan_show(&doc)?;
        let text = if json {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&show.to_json()).map_err(|e| PlanStreamError::Write(e.into()))?
            )
        } else {
            show.render_text()
        };
        view.out.write_all(text.as_bytes()).map_err(PlanStreamError::Write)?;
        return view.out.flush().map_err(PlanStreamError::Write);
    }
    if truncated.is_none() {
        if let Some(t) = parser.finish() {
            truncated = Some(t.line);
        }
    }
    for s in parser.take_skipped() {
        view.skipped_input(s.line, &s.text)?;
    }
    if !view.any_event {
        if !any_content {
            return Err(PlanShowError::Empty.into());
        }
        return Err(PlanShowError::NoEvents {
            skipped: view.skipped as usize,
            first: view.skipped_first.clone(),
        }
        .into());
    }
    view.finish(truncated)
}

/// A held-back object turned out to be part of a stream: treat it as the stream reader would
/// have (it is not an event, so it is skipped at its line).
fn replay_object<W: Write>(
    parser: &mut StreamParser,
    view: &mut View<'_, W>,
    start: usize,
    text: &str,
) -> Result<(), PlanStreamError> {
    match parse_lean(text) {
        Ok(ev) => view.event(ev),
        Err(e) => {
            parser.record_skip(start, text, e.to_string());
            for s in parser.take_skipped() {
                view.skipped_input(s.line, &s.text)?;
            }
            Ok(())
        }
    }
}
