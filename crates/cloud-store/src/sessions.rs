//! Session rows, their per-stack sub-states, approvals and logs: the records callers get, the rows
//! as stored, and the one decoding between them.

use serde::Serialize;

use crate::owner::ProcessOwner;
use crate::time::parse_time;
use crate::{StoreError, StoreResult};
use cloud_domain::engine::ChangeCounts;
use cloud_domain::session::{
    DeploymentId, Digest, Operation, Plan, Principal, SessionId, SessionState, StackName, StackState,
};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub project: String,
    pub env: String,
    pub deployment_id: DeploymentId,
    pub requester: Principal,
    pub state: SessionState,
    pub operation: Operation,
    pub stacks: Vec<StackName>,
    pub plan: Option<Plan>,
    pub digest: Option<Digest>,
    pub approvals_required: u32,
    pub allow_self_approve: bool,
    /// Why the session ended where it did (failure, cancel or expiry reason).
    pub reason: Option<String>,
    pub follow_up_of: Option<SessionId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub plan_ready_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The process that last drove the session through PLANNING / APPLYING.
    pub owner: Option<ProcessOwner>,
}

/// A `sessions` row that does not decode: left out of listings and the sweeper, shown by
/// `cloud doctor`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadSessionRow {
    /// The id as stored (it may itself be what is malformed).
    pub session: String,
    /// What is wrong, naming the column (`session …: column state: …`).
    pub problem: String,
}

/// Per-stack sub-state of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackRow {
    pub stack: StackName,
    pub position: u32,
    pub wave: u32,
    pub state: StackState,
    pub counts: ChangeCounts,
    pub error: Option<String>,
}

/// One recorded approval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRow {
    pub approver: Principal,
    pub digest: String,
    pub override_reason: Option<String>,
    pub created_at: String,
}

/// One line of engine output kept for `cloud logs`. Decoded by the query itself (plain columns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub seq: i64,
    pub stack: String,
    pub line: String,
}

/// What a new session starts with.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub project: String,
    pub env: String,
    pub deployment_id: DeploymentId,
    pub requester: Principal,
    pub operation: Operation,
    /// `(stack, wave)` in apply order.
    pub stacks: Vec<(StackName, u32)>,
    pub approvals_required: u32,
    pub allow_self_approve: bool,
    pub follow_up_of: Option<SessionId>,
}

/// Columns a transition may set besides the state.
#[derive(Debug, Clone, Default)]
pub struct SessionUpdate {
    pub plan: Option<Plan>,
    pub reason: Option<String>,
}

/// A compare-and-set move of one session, with its audit row.
#[derive(Debug, Clone)]
pub struct Transition {
    pub id: SessionId,
    pub from: SessionState,
    pub to: SessionState,
    pub actor: String,
    pub details: serde_json::Value,
    pub update: SessionUpdate,
}

/// Filters for listing sessions.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub state: Option<SessionState>,
    pub project: Option<String>,
    pub env: Option<String>,
    /// Only sessions that are not terminal.
    pub active: bool,
    pub limit: Option<u32>,
    /// Only sessions older than this one (`cloud list --before <id>`): the next page of a list
    /// read newest first, found through the `(created_at, id)` index however deep it is.
    pub before: Option<SessionId>,
    /// Leave the plan documents out (`plan: None`): a page of one-line summaries (`cloud list`,
    /// `/cloud-list`, autocompletion) then decodes rows, not up to fifty plans.
    pub without_plans: bool,
}

/// What `cloud stats` aggregates, computed by the database over a window of `created_at`
/// (never by loading the sessions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionStatsRows {
    /// `(state, sessions)` for the states that occur.
    pub by_state: Vec<(SessionState, u64)>,
    /// `(project, sessions)`, most first, at most the asked number.
    pub top_projects: Vec<(String, u64)>,
    /// `(requester, sessions)`, most first, at most the asked number.
    pub top_requesters: Vec<(String, u64)>,
    /// created → finished of each APPLIED session, in seconds.
    pub lead_times_secs: Vec<f64>,
}

/// The APPLIED session that last changed one stack of one environment (the quota inventory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackHead {
    pub env: String,
    pub stack: StackName,
    pub session: SessionId,
}

/// A `sessions` row exactly as stored (what `query_as!` fills).
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub id: String,
    pub project: String,
    pub env: String,
    pub deployment_id: String,
    pub requester: String,
    pub state: String,
    pub operation: String,
    pub stacks: String,
    pub plan: Option<String>,
    /// The plan document, compressed ([`crate::blob`]); `plan` is NULL when this is set.
    pub plan_z: Option<Vec<u8>>,
    pub digest: Option<String>,
    pub approvals_required: i64,
    pub allow_self_approve: i64,
    pub reason: Option<String>,
    pub follow_up_of: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub plan_ready_at: Option<String>,
    pub finished_at: Option<String>,
    pub owner_pid: Option<i64>,
    pub owner_start: Option<String>,
}

/// "session <id>: column <name>: <what is wrong>".
pub(crate) fn corrupt(row: &str, column: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{row}: column {column}: {e}"))
}

/// A stored 0/1 flag.
pub(crate) fn flag(row: &str, column: &str, value: i64) -> StoreResult<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(corrupt(row, column, format!("{other} is not 0 or 1"))),
    }
}

/// A stored non-negative count.
pub(crate) fn count(row: &str, column: &str, value: i64) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(row, column, format!("{value} is not a count")))
}

impl TryFrom<StoredSession> for SessionRecord {
    type Error = StoreError;

    fn try_from(row: StoredSession) -> StoreResult<SessionRecord> {
        let at = format!("session {}", row.id);
        let at = at.as_str();
        let time = |column: &str, value: &str| parse_time(&format!("{at}: column {column}"), value);
        let opt_time = |column: &str, value: Option<String>| value.map(|v| time(column, &v)).transpose();
        Ok(SessionRecord {
            id: row.id.parse().map_err(|e| corrupt(at, "id", e))?,
            deployment_id: row.deployment_id.parse().map_err(|e| corrupt(at, "deployment_id", e))?,
            requester: row.requester.parse().map_err(|e| corrupt(at, "requester", e))?,
            state: row.state.parse().map_err(|e| corrupt(at, "state", e))?,
            operation: row.operation.parse().map_err(|e| corrupt(at, "operation", e))?,
            stacks: serde_json::from_str(&row.stacks).map_err(|e| corrupt(at, "stacks", e))?,
            plan: match (row.plan, row.plan_z) {
                (None, None) => None,
                (text, blob) => {
                    let column = if blob.is_some() { "plan_z" } else { "plan" };
                    let json = crate::blob::decode(&format!("{at}: column {column}"), text.unwrap_or_default(), blob)?;
                    Some(serde_json::from_str(&json).map_err(|e| corrupt(at, column, e))?)
                }
            },
            digest: row.digest.map(Digest),
            approvals_required: count(at, "approvals_required", row.approvals_required)?,
            allow_self_approve: flag(at, "allow_self_approve", row.allow_self_approve)?,
            follow_up_of: row
                .follow_up_of
                .map(|s| s.parse())
                .transpose()
                .map_err(|e| corrupt(at, "follow_up_of", e))?,
            created_at: time("created_at", &row.created_at)?,
            updated_at: time("updated_at", &row.updated_at)?,
            plan_ready_at: opt_time("plan_ready_at", row.plan_ready_at)?,
            finished_at: opt_time("finished_at", row.finished_at)?,
            owner: match (row.owner_pid, row.owner_start) {
                (Some(pid), Some(start)) => Some(ProcessOwner {
                    pid: u32::try_from(pid).map_err(|_| corrupt(at, "owner_pid", format!("{pid} is not a pid")))?,
                    start,
                }),
                (None, None) => None,
                (pid, start) => {
                    return Err(corrupt(
                        at,
                        "owner_pid, owner_start",
                        format!("half an owner (pid {pid:?}, start {start:?})"),
                    ))
                }
            },
            project: row.project,
            env: row.env,
            reason: row.reason,
        })
    }
}

/// A `session_stacks` row as stored.
#[derive(Debug, Clone)]
pub struct StoredStack {
    pub session_id: String,
    pub stack: String,
    pub position: i64,
    pub wave: i64,
    pub state: String,
    pub counts: String,
    pub error: Option<String>,
}

impl TryFrom<StoredStack> for StackRow {
    type Error = StoreError;

    fn try_from(row: StoredStack) -> StoreResult<StackRow> {
        let at = format!("session {} stack {}", row.session_id, row.stack);
        let at = at.as_str();
        Ok(StackRow {
            stack: row.stack.parse().map_err(|e| corrupt(at, "stack", e))?,
            position: count(at, "position", row.position)?,
            wave: count(at, "wave", row.wave)?,
            state: row.state.parse().map_err(|e| corrupt(at, "state", e))?,
            counts: serde_json::from_str(&row.counts).map_err(|e| corrupt(at, "counts", e))?,
            error: row.error,
        })
    }
}

/// An `approvals` row as stored.
#[derive(Debug, Clone)]
pub struct StoredApproval {
    pub session_id: String,
    pub approver: String,
    pub digest: String,
    pub override_reason: Option<String>,
    pub created_at: String,
}

impl TryFrom<StoredApproval> for ApprovalRow {
    type Error = StoreError;

    fn try_from(row: StoredApproval) -> StoreResult<ApprovalRow> {
        Ok(ApprovalRow {
            approver: row
                .approver
                .parse()
                .map_err(|e| corrupt(&format!("approval of session {}", row.session_id), "approver", e))?,
            digest: row.digest,
            override_reason: row.override_reason,
            created_at: row.created_at,
        })
    }
}

/// The audit details of a transition: from, to, the caller's extra keys and the reason.
pub fn transition_details(t: &Transition) -> serde_json::Value {
    let mut details = serde_json::json!({"from": t.from.as_str(), "to": t.to.as_str()});
    if let (Some(obj), serde_json::Value::Object(extra)) = (details.as_object_mut(), t.details.clone()) {
        obj.extend(extra);
    }
    if let Some(reason) = &t.update.reason {
        details["reason"] = serde_json::Value::String(reason.clone());
    }
    details
}

/// What a prune removes (or would): engine output entries of the session event log (batches of
/// up to 64 lines each) and plan documents of terminal sessions,
/// with their sizes in bytes of stored text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PruneCounts {
    pub log_entries: u64,
    pub log_bytes: u64,
    pub plans: u64,
    pub plan_bytes: u64,
}
