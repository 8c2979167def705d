//! The JSON bodies of the HTTP API: what `/api/v1` answers and accepts. They are the API's
//! contract (and so its OpenAPI schemas), kept apart from the store's rows so a column can
//! change without changing what clients read.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use cloud_core::orchestrator::SessionView;
use cloud_core::store::{GrantRow, SessionRecord};

/// Who the bearer token speaks for (`GET /api/v1/whoami`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// The verified principal, e.g. `cli:alice`.
    pub principal: String,
    /// The token's id (not its secret).
    pub token_id: String,
    /// The most the token allows (`read`, `deploy`, `approve`, `admin`).
    pub role: String,
    /// The projects the token is limited to; absent: every project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
}

/// One stack of a session, with its state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StackStatus {
    pub stack: String,
    /// e.g. `PENDING`, `PLANNED`, `APPLIED`, `FAILED`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One recorded approval.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Approval {
    pub approver: String,
    /// The plan digest that was approved.
    pub digest: String,
    pub at: String,
}

/// A deploy session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// The full session id (a unique prefix of 8+ characters works wherever an id is taken).
    pub id: String,
    pub project: String,
    pub env: String,
    pub deployment: String,
    /// `DRAFT`, `PLANNING`, `PLAN_READY`, `PLAN_FAILED`, `APPROVED`, `APPLYING`, `APPLIED`,
    /// `FAILED`, `CANCELLED`, `EXPIRED`.
    pub state: String,
    /// `deploy` or `destroy`.
    pub operation: String,
    pub requester: String,
    /// The plan digest to approve (once planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub approvals_required: u32,
    pub allow_self_approve: bool,
    /// Why the session ended where it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The stacks and their states (the stack names only in listings).
    pub stacks: Vec<StackStatus>,
    /// The approvals so far (in `GET /sessions/{id}` and the answers of actions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Session {
    /// A listing's line: the stacks' names, their states unknown (`-`).
    pub fn from_record(s: &SessionRecord) -> Session {
        Session {
            id: s.id.to_string(),
            project: s.project.clone(),
            env: s.env.clone(),
            deployment: s.deployment_id.to_string(),
            state: s.state.to_string(),
            operation: s.operation.to_string(),
            requester: s.requester.to_string(),
            digest: s.digest.as_ref().map(|d| d.0.clone()),
            approvals_required: s.approvals_required,
            allow_self_approve: s.allow_self_approve,
            reason: s.reason.clone(),
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
            finished_at: s.finished_at.map(time),
            stacks: s
                .stacks
                .iter()
                .map(|st| StackStatus {
                    stack: st.to_string(),
                    state: "-".into(),
                    error: None,
                })
                .collect(),
            approvals: vec![],
        }
    }

    /// The whole session: stacks with their states and the approvals.
    pub fn from_view(v: &SessionView) -> Session {
        Session {
            stacks: v
                .stacks
                .iter()
                .map(|st| StackStatus {
                    stack: st.stack.to_string(),
                    state: st.state.to_string(),
                    error: st.error.clone(),
                })
                .collect(),
            approvals: v
                .approvals
                .iter()
                .map(|a| Approval {
                    approver: a.approver.to_string(),
                    digest: a.digest.clone(),
                    at: a.created_at.clone(),
                })
                .collect(),
            ..Session::from_record(&v.session)
        }
    }
}

/// A page of sessions, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionPage {
    pub sessions: Vec<Session>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /sessions` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only sessions in this state (e.g. `PLAN_READY`).
    pub state: Option<String>,
    pub project: Option<String>,
    pub env: Option<String>,
    /// Only sessions that are not finished.
    pub active: Option<bool>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
    /// Only sessions older than this one (the previous page's `next`).
    pub before: Option<String>,
}

/// `POST /deployments/{project_or_id}/{env}/sessions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Only these stacks; absent: every enabled stack of the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stacks: Option<Vec<String>>,
}

/// `POST /sessions/{id}/approve`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The plan digest you reviewed (16+ hex digits); absent: the session's current plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `POST /sessions/{id}/cancel`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why (recorded in the audit log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /sessions/{id}/logs` options.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Keep the response open and stream new lines until the session ends.
    pub follow: Option<bool>,
    /// Only lines after this sequence number.
    pub after: Option<i64>,
}

/// One line of the `GET /sessions/{id}/logs` NDJSON stream: a line of engine output, a state
/// change, or (last) the end of the session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogEvent {
    /// Engine output of one stack.
    Log { seq: i64, stack: String, line: String },
    /// The session's state now.
    State { state: String },
    /// The stream ends: the session's final state (or its state now, without `follow`).
    End { state: String },
}

/// A grant: a role on a project (and optionally one environment), maybe until a time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Grant {
    pub id: String,
    pub principal: String,
    pub project: String,
    /// An environment or `*`.
    pub env: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub reason: String,
    pub granted_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl Grant {
    pub fn from_row(g: &GrantRow) -> Grant {
        Grant {
            id: g.id.clone(),
            principal: g.principal.to_string(),
            project: g.project.clone(),
            env: g.env.clone(),
            role: g.role.to_string(),
            expires_at: g.expires_at.map(time),
            reason: g.reason.clone(),
            granted_by: g.granted_by.clone(),
            created_at: g.created_at.clone(),
            revoked_at: g.revoked_at.clone(),
        }
    }
}

/// `GET /grants` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantsQuery {
    pub project: Option<String>,
    /// Only this principal's grants (e.g. `cli:bob`).
    pub principal: Option<String>,
    /// Revoked and expired grants too.
    pub all: Option<bool>,
}

/// `POST /grants` (admin).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// Who gets the role, e.g. `cli:bob`, `discord:123…`, `slack:U…`.
    pub principal: String,
    /// A project, or `*` for every project.
    pub project: String,
    /// `read`, `deploy`, `approve` or `admin`.
    pub role: String,
    /// An environment; absent or `*`: every environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// How long, e.g. `8h`, `2d`; absent: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Why (audited).
    pub reason: String,
}

/// `DELETE /grants` (admin of the grant's project).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub id: String,
    /// Why (audited).
    pub reason: String,
}

/// One quota of a project and its usage.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuotaLine {
    pub key: String,
    pub limit: f64,
    pub used: f64,
}

/// A project's quotas with their usage.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Quotas {
    pub project: String,
    pub quotas: Vec<QuotaLine>,
    /// What the usage counts.
    pub basis: String,
}

/// `PUT /quotas/{project}` (admin): set one limit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaRequest {
    /// A quota key, e.g. `max_instances`, `monthly_cost_usd`.
    pub key: String,
    pub limit: f64,
}
