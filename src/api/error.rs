//! The API's errors: `{ "error": { "code": "...", "message": "..." } }` with the status that
//! says what kind — 401 no/invalid/expired token, 403 not permitted, 404 unknown, 409 the state
//! does not allow it, 422 bad input, 500 the operation failed. The message is the same text the
//! CLI and the chat bots show for the same refusal.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use cloud_core::orchestrator::OrchestratorError;
use cloud_core::store::StoreError;
use cloud_domain::error::{ExitCode, UserError};

/// What went wrong.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `not_found`, `conflict`, `invalid`, `failed`.
    pub code: String,
    /// What to do about it, for a person.
    pub message: String,
}

/// Every error answer of the API.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An error answer: a status and its body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// The `code` of the body for a status.
    pub fn code(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "invalid",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "failed",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code().into(),
                message: self.message.clone(),
            },
        }
    }
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> ApiError {
        let status = match e.code {
            ExitCode::Denied => StatusCode::FORBIDDEN,
            ExitCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ExitCode::Failed | ExitCode::Success => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::from(OrchestratorError::Store(e))
    }
}

impl From<OrchestratorError> for ApiError {
    fn from(e: OrchestratorError) -> ApiError {
        let status = match &e {
            OrchestratorError::User(_) => return ApiError::from(e.to_user()),
            OrchestratorError::LostRace(_) => StatusCode::CONFLICT,
            OrchestratorError::Store(StoreError::SessionNotFound(_)) => StatusCode::NOT_FOUND,
            OrchestratorError::Store(StoreError::AmbiguousSession(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            OrchestratorError::Store(
                StoreError::StateChanged { .. }
                | StoreError::Transition(_)
                | StoreError::Conflict(_)
                | StoreError::LeaseHeld { .. }
                | StoreError::Fenced { .. },
            ) => StatusCode::CONFLICT,
            OrchestratorError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            OrchestratorError::Busy { .. } | OrchestratorError::Waiting { .. } | OrchestratorError::Refused { .. } => {
                StatusCode::CONFLICT
            }
        };
        ApiError::new(status, e.to_user().message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, message = %self.message, "API request failed");
        }
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// An optional JSON body: empty means `None`; anything else must be the type's JSON, or the
/// request is refused with a 422 in the API's error shape (unknown fields included: a body
/// cannot add a claim, such as another requester, that the API does not take).
pub struct JsonBody<T>(pub Option<T>);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("cannot read the request body: {e}")))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| JsonBody(Some(v)))
            .map_err(|e| ApiError::invalid(format!("the request body is not what this endpoint takes: {e}")))
    }
}

impl<T> JsonBody<T> {
    /// The body, required.
    pub fn required(self) -> ApiResult<T> {
        self.0
            .ok_or_else(|| ApiError::invalid("this endpoint needs a JSON body; see docs/openapi.json"))
    }
}
