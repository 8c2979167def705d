//! The durable session event log (`session_events`): what every process renders chat from.
//!
//! The store knows an event's kind (a CHECK-constrained column, so a reader can filter) and keeps
//! its payload as JSON text: the payload's shape is cloud-core's `SessionEventKind`, which
//! decodes it. The store writes the events that belong to its own transactions (a session
//! created, moved, a stack moved, an approval) with [`payload`] so they commit with the change.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use cloud_domain::session::SessionId;

/// What an event records. Stored as TEXT ([`EventKind::as_str`]), constrained by the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    StateChanged,
    StackStateChanged,
    Approved,
    Queued,
    LocksGranted,
    FollowUpOpened,
    Recovered,
    /// A batch of one stack's engine output (progress steps and lines).
    Output,
    /// `cloud serve` or a CLI run stopped a session it ran because it was asked to stop.
    Shutdown,
    /// Someone asked to cancel an apply that another process runs; that process acts on it.
    CancelRequested,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::Created,
        EventKind::StateChanged,
        EventKind::StackStateChanged,
        EventKind::Approved,
        EventKind::Queued,
        EventKind::LocksGranted,
        EventKind::FollowUpOpened,
        EventKind::Recovered,
        EventKind::Output,
        EventKind::Shutdown,
        EventKind::CancelRequested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::StateChanged => "state_changed",
            EventKind::StackStateChanged => "stack_state_changed",
            EventKind::Approved => "approved",
            EventKind::Queued => "queued",
            EventKind::LocksGranted => "locks_granted",
            EventKind::FollowUpOpened => "follow_up_opened",
            EventKind::Recovered => "recovered",
            EventKind::Output => "output",
            EventKind::Shutdown => "shutdown",
            EventKind::CancelRequested => "cancel_requested",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown event kind `{s}`"))
    }
}

/// An event to append: its kind and its JSON payload (tagged with `"type": <kind>`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub payload: String,
}

impl NewEvent {
    /// An event whose payload is `value` (a JSON object whose `type` is the kind's name).
    pub fn new(kind: EventKind, value: &serde_json::Value) -> NewEvent {
        NewEvent {
            kind,
            payload: value.to_string(),
        }
    }
}

/// The payload the store writes for the events of its own transactions, in the shape of
/// cloud-core's `SessionEventKind` (`{"type": "state_changed", "from": …, "to": …}`).
pub fn payload(kind: EventKind, fields: serde_json::Value) -> NewEvent {
    let mut value = fields;
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("type".into(), serde_json::Value::String(kind.as_str().into()));
    }
    NewEvent::new(kind, &value)
}

/// One stored event. `id` is the cursor: increasing in commit order across every session.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub session_id: SessionId,
    pub kind: EventKind,
    pub payload: String,
    pub at: String,
}

/// A `session_events` row as the queries return it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: i64,
    pub session_id: String,
    pub kind: String,
    pub payload: String,
    /// The payload, compressed ([`crate::blob`]); `payload` is empty when this is set.
    pub payload_z: Option<Vec<u8>>,
    pub at: String,
}

impl TryFrom<StoredEvent> for EventRow {
    type Error = crate::StoreError;
    fn try_from(row: StoredEvent) -> Result<Self, Self::Error> {
        let corrupt = |column: &str, e: String| {
            crate::StoreError::Corrupt(format!("session_events row {}: column {column}: {e}", row.id))
        };
        Ok(EventRow {
            id: row.id,
            session_id: row
                .session_id
                .parse()
                .map_err(|e| corrupt("session_id", format!("{e}")))?,
            kind: row.kind.parse().map_err(|e| corrupt("kind", e))?,
            payload: crate::blob::decode(
                &format!("session_events row {}: column payload_z", row.id),
                row.payload,
                row.payload_z,
            )?,
            at: row.at,
        })
    }
}
