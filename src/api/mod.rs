//! The HTTP API of `cloud serve --api`: `/api/v1/…`, JSON, bearer tokens. It covers what the
//! CLI does remotely — open and plan a deploy, status, list, approve, cancel, stream logs,
//! grants and quotas — and `cloud login <url>` points the CLI at it (see [`crate::remote`]).
//!
//! Like the chat bots it is a front end: it authenticates the token to a person
//! ([`auth::Caller`]) and calls the same core (the shared actions of `cloud_chat` and the
//! orchestrator), so roles, token limits, four-eyes, quotas and state rules are the ones every
//! front end gets. The OpenAPI description is derived from the handlers and the body types
//! ([`openapi`]); `docs/openapi.json` is its committed copy (`cloud serve --print-openapi`).

pub mod access;
pub mod auth;
pub mod error;
pub mod model;
pub mod sessions;

use std::sync::Arc;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cloud_chat::Core;

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub core: Arc<Core>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cloud-engine API",
        description = "Plan-first, four-eyes Pulumi deployments over HTTP: the same sessions, roles and rules as the `cloud` CLI and the Discord and Slack bots. Every request carries `Authorization: Bearer <API token>` (`cloud tokens create`, `/cloud-token`). Errors are `{\"error\": {\"code\", \"message\"}}` with 401 (no, unknown, revoked or expired token), 403 (not permitted), 404 (unknown), 409 (state or busy stacks), 422 (bad input).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "sessions", description = "Deploy sessions: plan, approve, apply, cancel, logs"),
        (name = "access", description = "Grants and quotas"),
        (name = "identity", description = "Who the token is"),
    )
)]
struct ApiDoc;

/// The `bearer` security scheme the operations name.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cloud-engine API token")
                    .build(),
            ),
        );
    }
}

/// The routes and their OpenAPI description, from one list: a handler without a route or a
/// route without a description cannot exist.
fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(access::whoami))
        .routes(routes!(sessions::deploy))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::status))
        .routes(routes!(sessions::approve))
        .routes(routes!(sessions::cancel))
        .routes(routes!(sessions::logs))
        .routes(routes!(access::list_grants, access::create_grant, access::revoke_grant))
        .routes(routes!(access::show_quotas, access::set_quota))
}

/// The `/api/v1` router over `core`.
pub fn router(core: Arc<Core>) -> axum::Router {
    let (router, _) = routes().split_for_parts();
    router
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(|| async { error::ApiError::not_found("no such API endpoint; see docs/openapi.json") }),
        )
        .with_state(ApiState { core })
}

/// The OpenAPI description of the API (what `docs/openapi.json` holds).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = routes().split_for_parts();
    api.info.version = "v1".into();
    api
}

/// [`openapi`] as the pretty JSON committed in `docs/openapi.json` (with a final newline).
pub fn openapi_json() -> String {
    let mut text = openapi().to_pretty_json().expect("the OpenAPI description serialises");
    text.push('\n');
    text
}
