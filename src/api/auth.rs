//! Who calls: every `/api/v1` request carries `Authorization: Bearer <token>`, an API token
//! (`cloud tokens create`, `/cloud-token`). The token is verified against the store on every
//! request (revoked and expired tokens stop working at once) and becomes the request's
//! [`Actor`]: the token's person with the token's limits. Nothing in the body or the query can
//! name another person; the handlers act only as this actor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cloud_core::orchestrator::OrchestratorError;
use cloud_core::policy::Actor;

use super::error::ApiError;
use super::ApiState;

/// The verified caller of a request.
pub struct Caller(pub Actor);

const HOW: &str = "send `Authorization: Bearer <token>` with an API token: get one from chat (/cloud-token) or from an admin (`cloud tokens create <you>`)";

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(format!("no API token: {HOW}")));
        };
        let text = header
            .to_str()
            .map_err(|_| ApiError::unauthorized(format!("the Authorization header is not text: {HOW}")))?;
        let Some(secret) = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            return Err(ApiError::unauthorized(format!(
                "the Authorization header is not a bearer token: {HOW}"
            )));
        };
        match state.core.orchestrator().identify_token(secret).await {
            Ok(actor) => {
                tracing::debug!(principal = %actor.principal, "API caller identified");
                Ok(Caller(actor))
            }
            // Unknown, revoked, expired: the token proves nothing (401, not 403).
            Err(OrchestratorError::User(e)) => Err(ApiError::unauthorized(
                e.message.replace("CLOUD_TOKEN is not", "this is not"),
            )),
            Err(other) => Err(other.into()),
        }
    }
}
