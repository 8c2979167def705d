//! `/api/v1` identity and access endpoints: who the token is, grants (admin) and quotas. The
//! orchestrator gates each (admin on the project for grants and quota limits, read for quota
//! usage), as for the CLI and the chat commands.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use tracing::info;

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorBody, JsonBody};
use super::model::{Grant, GrantRequest, GrantsQuery, QuotaLine, QuotaRequest, Quotas, RevokeRequest, WhoAmI};
use super::ApiState;
use cloud_chat::view::Reply;
use cloud_core::orchestrator::{GrantExpiry, GrantParams, GrantsFilter};
use cloud_domain::policy::QuotaUsage;
use cloud_domain::session::Principal;

/// A bad-input reply of the shared parsers as a 422.
fn bad_input(reply: Reply) -> ApiError {
    ApiError::invalid(reply.plain())
}

fn principal(text: &str) -> ApiResult<Principal> {
    text.trim().parse::<Principal>().map_err(|e| {
        ApiError::invalid(format!(
            "`{}` is not a principal ({e}); write it like cli:bob, discord:<user id> or slack:<user id>",
            cloud_domain::input::escape_for_display(text)
        ))
    })
}

/// Who the bearer token speaks for, and its limits (what `cloud login` checks).
#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    tag = "identity",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn whoami(Caller(actor): Caller) -> Json<WhoAmI> {
    let token = actor.token.as_ref();
    Json(WhoAmI {
        principal: actor.principal.to_string(),
        token_id: token.map(|t| t.token_id.clone()).unwrap_or_default(),
        role: token.map(|t| t.role.to_string()).unwrap_or_default(),
        projects: token.and_then(|t| t.projects.clone()),
    })
}

/// Grants (active ones unless `all=true`): needs `admin` on the project filtered on, or on
/// every project.
#[utoipa::path(
    get,
    path = "/api/v1/grants",
    tag = "access",
    params(GrantsQuery),
    responses(
        (status = 200, body = Vec<Grant>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_grants(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Query(q): Query<GrantsQuery>,
) -> ApiResult<Json<Vec<Grant>>> {
    let filter = GrantsFilter {
        principal: q.principal.as_deref().map(principal).transpose()?,
        project: q.project,
        all: q.all.unwrap_or(false),
    };
    let rows = state.core.orchestrator().grants(&actor, &filter).await?;
    Ok(Json(rows.iter().map(Grant::from_row).collect()))
}

/// Give a principal a role on a project (admin of the project; `*` needs admin everywhere).
#[utoipa::path(
    post,
    path = "/api/v1/grants",
    tag = "access",
    request_body = GrantRequest,
    responses(
        (status = 201, body = Grant),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_grant(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    body: JsonBody<GrantRequest>,
) -> ApiResult<(StatusCode, Json<Grant>)> {
    let body = body.required()?;
    let core = &state.core;
    let who = principal(&body.principal)?;
    let role = cloud_chat::actions::parse_role(&body.role).map_err(bad_input)?;
    let expiry = match body.duration.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => GrantExpiry::For(cloud_chat::actions::parse_duration(d).map_err(bad_input)?),
        None => GrantExpiry::Never,
    };
    if body.project != "*" && core.store().project(&body.project).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "unknown project `{}`",
            cloud_domain::input::escape_for_display(&body.project)
        )));
    }
    let params = GrantParams {
        principal: who,
        project: body.project.clone(),
        env: body.env.clone().filter(|e| e != "*"),
        role,
        expiry,
        reason: body.reason.clone(),
    };
    let row = core.orchestrator().grant(&actor, params).await?;
    info!(grant = %row.id, by = %actor.principal, "grant created over the API");
    Ok((StatusCode::CREATED, Json(Grant::from_row(&row))))
}

/// Revoke a grant (admin of its project).
#[utoipa::path(
    delete,
    path = "/api/v1/grants",
    tag = "access",
    request_body = RevokeRequest,
    responses(
        (status = 200, body = Grant),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_grant(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    body: JsonBody<RevokeRequest>,
) -> ApiResult<Json<Grant>> {
    let body = body.required()?;
    let row = state.core.orchestrator().revoke(&actor, &body.id, &body.reason).await?;
    info!(grant = %row.id, by = %actor.principal, "grant revoked over the API");
    Ok(Json(Grant::from_row(&row)))
}

fn quotas_json(usage: &QuotaUsage) -> Quotas {
    Quotas {
        project: usage.project.clone(),
        quotas: usage
            .lines
            .iter()
            .map(|l| QuotaLine {
                key: l.key.to_string(),
                limit: l.limit,
                used: l.used,
            })
            .collect(),
        basis: usage.basis.clone(),
    }
}

async fn known_project(state: &ApiState, project: &str) -> ApiResult<()> {
    match state.core.store().project(project).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!(
            "unknown project `{}`",
            cloud_domain::input::escape_for_display(project)
        ))),
    }
}

/// A project's quotas and their usage (anyone who may read the project).
#[utoipa::path(
    get,
    path = "/api/v1/quotas/{project}",
    tag = "access",
    params(("project" = String, Path)),
    responses(
        (status = 200, body = Quotas),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn show_quotas(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Quotas>> {
    known_project(&state, &project).await?;
    let usage = state.core.orchestrator().quota_show(&actor, &project).await?;
    Ok(Json(quotas_json(&usage)))
}

/// Set one quota limit of a project (admin of the project; audited with the previous value).
#[utoipa::path(
    put,
    path = "/api/v1/quotas/{project}",
    tag = "access",
    params(("project" = String, Path)),
    request_body = QuotaRequest,
    responses(
        (status = 200, body = Quotas),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_quota(
    State(state): State<ApiState>,
    Caller(actor): Caller,
    Path(project): Path<String>,
    body: JsonBody<QuotaRequest>,
) -> ApiResult<Json<Quotas>> {
    let body = body.required()?;
    known_project(&state, &project).await?;
    let usage = state
        .core
        .orchestrator()
        .quota_set(&actor, &project, &body.key, body.limit)
        .await?;
    Ok(Json(quotas_json(&usage)))
}
