//! `/api/v1` session endpoints: open a deploy (and plan it), read one, list them, approve,
//! cancel, and stream the engine output. Each goes through the same core calls — and so the
//! same gates, four-eyes rule, quotas and state checks — as the CLI and the chat bots.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use futures::SinkExt;
use tracing::{info, info_span, warn, Instrument};

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use super::model::{
    ApproveRequest, CancelRequest, DeployRequest, ListQuery, LogEvent, LogsQuery, Session, SessionPage,
};
use super::ApiState;
use cloud_chat::view::FollowUp;
use cloud_chat::Core;
use cloud_core::store::{SessionFilter, SessionRecord};
use cloud_domain::error::ExitCode;
use cloud_domain::session::{SessionId, SessionState};

/// A session by id or unique prefix: 404 when there is none.
async fn find(core: &Core, text: &str) -> ApiResult<SessionRecord> {
    Ok(core.store().find_session(text.trim()).await?)
}

/// The whole session as the caller may read it.
async fn session_json(core: &Core, id: SessionId) -> ApiResult<Session> {
    let view = core.orchestrator().status(id).await?;
    Ok(Session::from_view(&view))
}

/// Open a deploy session for a project (or deployment id) in an environment and plan it.
///
/// The plan runs in the server; poll `GET /sessions/{id}` or follow
/// `GET /sessions/{id}/logs?follow=true` until the session is `PLAN_READY`. When other sessions
/// hold its stacks, it stays `DRAFT` (the answer's `reason` names them).
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{project_or_id}/{env}/sessions",
    tag = "sessions",
    params(
        ("project_or_id" = String, Path, description = "A project name or deployment id"),
        ("env" = String, Path, description = "An environment, e.g. dev"),
    ),
    request_body(content = Option<DeployRequest>, description = "Which stacks (optional)"),
    responses(
        (status = 201, description = "The session was opened; its plan is running", body = Session),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "Unknown project, deployment or environment", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn deploy(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Path((target, env)): Path<(String, String)>,
    JsonBody(body): JsonBody<DeployRequest>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let core = &state.core;
    if !core.config.environments.contains_key(&env) {
        let known: Vec<&str> = core.config.environments.keys().map(String::as_str).collect();
        return Err(ApiError::not_found(format!(
            "unknown environment `{}`; known: {}",
            cloud_domain::input::escape_for_display(&env),
            known.join(", ")
        )));
    }
    let deployment = core
        .orchestrator()
        .deployment_target(&target)
        .await
        .map_err(|e| ApiError::not_found(e.to_user().message))?;
    if core.store().project(&deployment.project).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "unknown project `{}`; an admin creates it with `cloud projects create`",
            deployment.project
        )));
    }
    let stacks = body.and_then(|b| b.stacks).map(|s| s.join(","));
    // The shared action: draining, gate, stack names, busy stacks — as /cloud-deploy does.
    let reply = cloud_chat::actions::deploy(core, &actor, &target, &env, stacks.as_deref()).await;
    if let Some(refusal) = reply.as_user_error() {
        return Err(refusal_error(reply.code, refusal.message));
    }
    let Some(id) = reply.follow_ups.iter().find_map(|f| match f {
        FollowUp::PostLobby { session } => Some(*session),
        _ => None,
    }) else {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, reply.plain()));
    };
    info!(session = %id, principal = %actor.principal, "session opened over the API");
    // No lobby to post: the API client is its audience. Plan now (unless its stacks are busy).
    cloud_chat::actions::lobby_posted(core, &actor, id).await;
    Ok((StatusCode::CREATED, Json(session_json(core, id).await?)))
}

/// A refusal of the shared action layer as an API error.
fn refusal_error(code: ExitCode, message: String) -> ApiError {
    let status = match code {
        ExitCode::Denied => StatusCode::FORBIDDEN,
        ExitCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ExitCode::Failed | ExitCode::Success => StatusCode::CONFLICT,
    };
    ApiError::new(status, message)
}

/// One session: state, stacks, digest and approvals.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "Session id or a unique prefix (8+ characters)")),
    responses(
        (status = 200, body = Session),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn status(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Session>> {
    let s = find(&state.core, &id).await?;
    let view = state.core.orchestrator().view(s.id, &actor).await?;
    Ok(Json(Session::from_view(&view)))
}

/// Sessions the caller may read, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "sessions",
    params(ListQuery),
    responses(
        (status = 200, body = SessionPage),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<SessionPage>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid(format!("limit {limit} is out of range: use 1–200")));
    }
    let session_state = q
        .state
        .as_deref()
        .map(str::parse::<SessionState>)
        .transpose()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let before = match q.before.as_deref() {
        Some(text) => Some(find(&state.core, text).await?.id),
        None => None,
    };
    let filter = SessionFilter {
        state: session_state,
        project: q.project,
        env: q.env,
        active: q.active.unwrap_or(false),
        limit: Some(limit),
        before,
        // A page carries no plans (`GET /sessions/{id}` does).
        without_plans: true,
    };
    let sessions = state.core.orchestrator().list_for(&actor, &filter).await?;
    let next = (sessions.len() == limit as usize)
        .then(|| sessions.last().map(|s| s.id.to_string()))
        .flatten();
    Ok(Json(SessionPage {
        sessions: sessions.iter().map(Session::from_record).collect(),
        next,
    }))
}

/// Approve a session's plan. The requester cannot approve their own session where the
/// environment needs four eyes (403); once it has enough approvals the server applies it.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{id}/approve",
    tag = "sessions",
    params(("id" = String, Path, description = "Session id or a unique prefix")),
    request_body(content = Option<ApproveRequest>),
    responses(
        (status = 200, description = "The approval was recorded (state APPROVED starts the apply)", body = Session),
        (status = 401, body = ErrorBody),
        (status = 403, description = "No `approve` role, or the four-eyes rule", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The session is not PLAN_READY", body = ErrorBody),
        (status = 422, description = "The digest is not the plan's", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn approve(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApproveRequest>,
) -> ApiResult<Json<Session>> {
    let core = &state.core;
    let s = find(core, &id).await?;
    let digest = match body.and_then(|b| b.digest) {
        Some(d) => d,
        None => match &s.digest {
            Some(d) => d.0.clone(),
            None => {
                // Still the gate first: who may not approve learns nothing more.
                core.orchestrator().view(s.id, &actor).await?;
                return Err(ApiError::conflict(format!(
                    "session {} has no plan to approve (it is {})",
                    s.id.short(),
                    s.state
                )));
            }
        },
    };
    if !core.accepting() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down; approve again once it is back",
        ));
    }
    let record = match core.orchestrator().approve(s.id, &actor, &digest).await {
        Ok(r) => r,
        Err(e) => {
            let err = ApiError::from(e);
            // A refusal because of the state (not PLAN_READY) is a conflict, not bad input.
            if err.status == StatusCode::UNPROCESSABLE_ENTITY && s.state != SessionState::PlanReady {
                return Err(ApiError::conflict(err.message));
            }
            return Err(err);
        }
    };
    info!(session = %record.id, principal = %actor.principal, state = %record.state, "approved over the API");
    if record.state == SessionState::Approved {
        apply(core, record.id, actor.clone());
    }
    Ok(Json(session_json(core, record.id).await?))
}

/// Applies an APPROVED session on the core's tracked tasks (graceful shutdown waits for it).
fn apply(core: &Arc<Core>, id: SessionId, by: cloud_core::policy::Actor) {
    let orchestrator = core.orchestrator().clone();
    core.spawn_work(
        async move {
            if let Err(e) = orchestrator.apply(id, by).await {
                warn!(session = %id, error = %e.to_user(), "apply did not run");
            }
        }
        .instrument(info_span!("apply", session = %id)),
    );
}

/// Cancel a session: the requester with `deploy`, anyone else with `approve`. A running apply
/// stops gracefully (in-flight steps finish).
#[utoipa::path(
    post,
    path = "/api/v1/sessions/{id}/cancel",
    tag = "sessions",
    params(("id" = String, Path, description = "Session id or a unique prefix")),
    request_body(content = Option<CancelRequest>),
    responses(
        (status = 200, body = Session),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The session already ended", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CancelRequest>,
) -> ApiResult<Json<Session>> {
    let core = &state.core;
    let s = find(core, &id).await?;
    let reason = body
        .and_then(|b| b.reason)
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "cancelled over the API".into());
    match core.orchestrator().cancel(s.id, &actor, &reason).await {
        Ok(record) => {
            info!(session = %record.id, principal = %actor.principal, "cancelled over the API");
            Ok(Json(session_json(core, record.id).await?))
        }
        Err(e) => {
            let err = ApiError::from(e);
            if err.status == StatusCode::UNPROCESSABLE_ENTITY && s.state.is_terminal() {
                return Err(ApiError::conflict(err.message));
            }
            Err(err)
        }
    }
}

/// How often a followed stream re-reads the store when no event of this process arrived: the
/// session may be driven by another process (a CLI, another replica) whose events come through
/// the database only.
const FOLLOW_RECHECK: Duration = Duration::from_millis(500);

/// The engine output of a session as NDJSON (`application/x-ndjson`), one [`LogEvent`] a line.
/// With `follow=true` the response stays open, streaming new lines and state changes, and ends
/// with an `end` line when the session ends.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{id}/logs",
    tag = "sessions",
    params(("id" = String, Path, description = "Session id or a unique prefix"), LogsQuery),
    responses(
        (status = 200, description = "NDJSON: one LogEvent per line", content_type = "application/x-ndjson", body = LogEvent),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn logs(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let core = state.core.clone();
    let s = find(&core, &id).await?;
    // Reading a session's output needs `read` on its project/environment.
    core.orchestrator().view(s.id, &actor).await?;
    let follow = q.follow.unwrap_or(false);
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, Infallible>>(32);
    let session = s.id;
    let mut after = q.after.unwrap_or(0);
    tokio::spawn(
        async move {
            // Subscribed before the first read: no event between the read and the wait is lost.
            let mut events = core.orchestrator().subscribe();
            let draining = core.draining();
            let mut last_state: Option<SessionState> = None;
            loop {
                let lines = match core.store().logs(session, after).await {
                    Ok(l) => l,
                    Err(e) => return warn!(%session, error = %e, "cannot read the session's logs"),
                };
                let current = match core.store().session(session).await {
                    Ok(r) => r.state,
                    Err(e) => return warn!(%session, error = %e, "cannot read the session"),
                };
                let mut out = Vec::new();
                for l in lines {
                    after = l.seq;
                    out.push(LogEvent::Log {
                        seq: l.seq,
                        stack: l.stack,
                        line: l.line,
                    });
                }
                let done = !follow || current.is_terminal();
                if done {
                    out.push(LogEvent::End {
                        state: current.to_string(),
                    });
                } else if last_state != Some(current) {
                    out.push(LogEvent::State {
                        state: current.to_string(),
                    });
                }
                last_state = Some(current);
                for event in out {
                    let mut line = serde_json::to_vec(&event).expect("a log event serialises");
                    line.push(b'\n');
                    if tx.send(Ok(Bytes::from(line))).await.is_err() {
                        return; // the client went away
                    }
                }
                if done {
                    return;
                }
                // Wait for an event of this session in this process, or re-check the store.
                let wait = async {
                    loop {
                        match events.recv().await {
                            Ok(e) if e.session == session => return,
                            Ok(_) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                                return std::future::pending().await
                            }
                        }
                    }
                };
                // A stopping server ends followed streams (their clients see the body end and
                // can follow again elsewhere): an open stream must not hold the shutdown up.
                tokio::select! {
                    _ = tokio::time::timeout(FOLLOW_RECHECK, wait) => {}
                    _ = draining.cancelled() => return,
                }
            }
        }
        .instrument(info_span!("api_logs", %session)),
    );
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(rx))
        .expect("a valid response"))
}
