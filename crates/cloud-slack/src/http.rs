//! The HTTP transport: slash commands (`/slack/commands`), interactivity (`/slack/actions`) and
//! the Events API (`/slack/events`) as signed posts on an axum listener. slack-morphism's events
//! layer checks every request's v0 signature over the raw body in constant time and refuses one
//! whose timestamp is more than 300 s away from now (answered 401, nothing else happens).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Extension, Json, Router};
use secrecy::ExposeSecret;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::{SlackEventAbsentSignatureError, SlackEventSignatureVerifierError};
use tracing::warn;

use super::app::SlackBot;
use super::web::Client;
use cloud_chat::config::SlackConfig;
use cloud_domain::error::UserError;

type Connector = SlackClientHyperConnector<SlackHyperHttpsConnector>;

/// Unsigned requests, bad signatures and stale timestamps are 401 (the request is not Slack's);
/// anything else the layer rejects (a signed but malformed body) is 400.
fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<Client>,
    _state: SlackClientEventsUserState,
) -> StatusCode {
    if is_unauthenticated(err.as_ref()) {
        warn!(error = %err, "slack: request refused: unsigned, bad or stale signature");
        StatusCode::UNAUTHORIZED
    } else {
        warn!(error = %err, "slack: malformed request");
        StatusCode::BAD_REQUEST
    }
}

/// Whether the events layer refused the request for its signature: none at all (either header
/// missing: slack-morphism's `SlackEventAbsentSignatureError`), headers that are not text, or a
/// signature or timestamp that does not verify.
fn is_unauthenticated(err: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    err.downcast_ref::<SlackEventSignatureVerifierError>().is_some()
        || err.downcast_ref::<SlackEventAbsentSignatureError>().is_some()
        || err.downcast_ref::<axum::http::header::ToStrError>().is_some()
}

/// The router for Slack's requests.
pub fn router(bot: Arc<SlackBot>, config: &SlackConfig) -> anyhow::Result<Router> {
    let secret = config.signing_secret.as_ref().ok_or_else(|| {
        UserError::invalid("the Slack signing secret is missing: set SLACK_SIGNING_SECRET (or SLACK_SIGNING_SECRET_FILE, or slack.signing_secret_file); it is on the app's Basic Information page")
    })?;
    let secret = SlackSigningSecret::new(secret.expose_secret().to_string());
    let env = Arc::new(
        SlackClientEventsListenerEnvironment::<Connector>::new(bot.web.client().clone()).with_error_handler(on_error),
    );
    let listener = SlackEventsAxumListener::new(env);
    Ok(Router::new()
        .route(
            "/slack/commands",
            post(command).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::command_event()),
            ),
        )
        .route(
            "/slack/actions",
            post(action).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::interaction_event()),
            ),
        )
        .route(
            "/slack/events",
            post(push).layer(
                listener
                    .events_layer(&secret)
                    .with_event_extractor(SlackEventsExtractors::push_event()),
            ),
        )
        .with_state(bot))
}

async fn command(
    State(bot): State<Arc<SlackBot>>,
    Extension(ev): Extension<SlackCommandEvent>,
) -> Json<SlackCommandEventResponse> {
    Json(bot.on_command(ev).await)
}

async fn action(
    State(bot): State<Arc<SlackBot>>,
    Extension(ev): Extension<SlackInteractionEvent>,
) -> impl IntoResponse {
    bot.on_interaction(ev).await;
    StatusCode::OK
}

/// Events API: answers Slack's URL verification; the app subscribes to no other event yet.
async fn push(Extension(ev): Extension<SlackPushEvent>) -> axum::response::Response {
    match ev {
        SlackPushEvent::UrlVerification(v) => v.challenge.into_response(),
        _ => StatusCode::OK.into_response(),
    }
}

#[cfg(test)]
mod tests {
    //! The signature check the events layer applies (slack-morphism's verifier), at the edges
    //! Slack documents: HMAC-SHA256 over `v0:{ts}:{raw body}`, timestamps within 300 s.
    use hmac::{Hmac, Mac};
    use slack_morphism::prelude::*;
    use slack_morphism::signature_verifier::{SlackEventSignatureVerifier, SlackEventSignatureVerifierError};

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const BODY: &str = "token=x&team_id=T1&command=%2Fcloud-list&text=";

    fn sign(secret: &str, ts: i64, body: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        format!("v0={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn verify(signature: &str, body: &str, ts: i64) -> Result<(), SlackEventSignatureVerifierError> {
        SlackEventSignatureVerifier::new(&SlackSigningSecret::new(SECRET.into())).verify(
            signature,
            body,
            &ts.to_string(),
        )
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_signed_request_up_to_300_s_old_verifies() {
        for age in [0, 290] {
            let ts = now() - age;
            assert!(verify(&sign(SECRET, ts, BODY), BODY, ts).is_ok(), "{age} s old");
        }
    }

    #[test]
    fn stale_forged_or_tampered_requests_do_not() {
        let ts = now() - 310;
        assert!(matches!(
            verify(&sign(SECRET, ts, BODY), BODY, ts),
            Err(SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_))
        ));
        let ts = now() + 310;
        assert!(verify(&sign(SECRET, ts, BODY), BODY, ts).is_err(), "from the future");
        let ts = now();
        assert!(matches!(
            verify(&sign("another-secret", ts, BODY), BODY, ts),
            Err(SlackEventSignatureVerifierError::WrongSignatureError(_))
        ));
        assert!(
            verify(&sign(SECRET, ts, BODY), &format!("{BODY}x"), ts).is_err(),
            "body changed after signing"
        );
        assert!(
            verify(&sign(SECRET, ts, BODY), BODY, ts - 1).is_err(),
            "timestamp changed after signing"
        );
    }
}
