//! The Slack Web API as the app uses it: the client with the bot token, where a lobby lives,
//! and file uploads. The app's behaviour ([`super::app`]) and the thread sink
//! ([`super::sink`]) both speak to Slack through it.

use std::sync::Arc;

use serde::Serialize;
use slack_morphism::prelude::*;
use tracing::{info, info_span};

/// The Slack Web API client type (HTTPS to Slack, plain HTTP to a local fake).
pub type Client = SlackClient<SlackClientHyperConnector<SlackHyperHttpsConnector>>;

/// Where a session's lobby lives: its channel and message `ts` (the thread's root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lobby {
    pub channel: String,
    pub ts: String,
}

/// The Web API client and the bot token it calls with.
pub struct Web {
    client: Arc<Client>,
    token: SlackApiToken,
}

impl Web {
    pub fn new(client: Arc<Client>, token: SlackApiToken) -> Self {
        Web { client, token }
    }

    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    pub fn session(&self) -> SlackClientSession<'_, SlackClientHyperConnector<SlackHyperHttpsConnector>> {
        self.client.open_session(&self.token)
    }

    /// Uploads `content` as a file shared in `channel` (in the thread of `thread_ts` when given).
    pub async fn upload(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        filename: &str,
        content: &str,
    ) -> anyhow::Result<()> {
        let session = self.session();
        let bytes = content.as_bytes().to_vec();
        let url = session
            .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
                filename.to_string(),
                bytes.len(),
            ))
            .await?;
        session
            .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
                url.upload_url,
                bytes,
                "text/plain".into(),
            ))
            .await?;
        let mut complete =
            SlackApiFilesCompleteUploadExternalRequest::new(vec![
                SlackApiFilesComplete::new(url.file_id).with_title(filename.to_string())
            ])
            .with_channel_id(channel.to_string().into());
        if let Some(ts) = thread_ts {
            complete = complete.with_thread_ts(ts.to_string().into());
        }
        session.files_complete_upload_external(&complete).await?;
        info!(filename, bytes = content.len(), "slack: file uploaded");
        Ok(())
    }
}

/// What a message sent through a response URL does to the message it answers (a command's
/// acknowledgement, or the message whose button was clicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// A new message for the person alone; the original stays.
    Ephemeral,
    /// Replaces the original (a command's "working on it" note) for the person alone.
    ReplaceOriginal,
    /// A new message for everyone in the channel.
    InChannel,
    /// Deletes the original; the message carries no content.
    DeleteOriginal,
}

/// A response-URL message as Slack reads it. slack-morphism's webhook request has no
/// `response_type`, so this is ours.
#[derive(Serialize)]
struct ResponseMessage<'a> {
    #[serde(flatten)]
    content: Option<&'a SlackMessageContent>,
    response_type: &'static str,
    replace_original: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    delete_original: bool,
}

impl Web {
    /// Posts to a command's or click's response URL. Slack limits a response URL to five uses
    /// in 30 minutes, not to a rate: slack-morphism's webhook call would hold every response
    /// of the process to one a second (a limit meant for incoming webhooks), so twenty people
    /// clicking at once would wait up to twenty seconds for their answers. This call only
    /// follows a 429's `Retry-After`.
    pub async fn respond(
        &self,
        url: &SlackResponseUrl,
        content: &SlackMessageContent,
        how: Response,
    ) -> Result<(), slack_morphism::errors::SlackClientError> {
        let message = ResponseMessage {
            content: (how != Response::DeleteOriginal).then_some(content),
            response_type: if how == Response::InChannel {
                "in_channel"
            } else {
                "ephemeral"
            },
            replace_original: how == Response::ReplaceOriginal,
            delete_original: how == Response::DeleteOriginal,
        };
        let span = info_span!("slack_response_url");
        let context = SlackClientApiCallContext {
            rate_control_params: None,
            token: None,
            tracing_span: &span,
            is_sensitive_url: true,
        };
        let _: SlackApiPostWebhookMessageResponse = self
            .client
            .http_api
            .connector
            .http_post_uri(url.value().clone(), &message, context)
            .await?;
        Ok(())
    }
}

/// Builds the Web API client for `api_url` (HTTPS with the system's roots; plain HTTP only when
/// the URL says so, i.e. a local fake).
pub fn client(api_url: &str) -> anyhow::Result<Arc<Client>> {
    let plain_http = api_url.starts_with("http://");
    let https = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(builder) => builder,
        // A local fake over plain HTTP needs no roots (test machines may have none).
        Err(_) if plain_http => {
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
        }
        Err(e) => anyhow::bail!("cannot load the system's TLS root certificates to reach Slack ({e}); install the CA certificates (e.g. the ca-certificates package)"),
    };
    let connector = if plain_http {
        https.https_or_http()
    } else {
        https.https_only()
    }
    .enable_http1()
    .wrap_connector({
        // Requests leave at once: with Nagle's algorithm a request written while an earlier
        // segment is unacknowledged waits for Slack's delayed ACK (up to 40 ms).
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http
    });
    let connector = SlackClientHyperConnector::with_connector(connector)
        .with_slack_api_url(api_url)
        // Follow Slack's Retry-After on a 429 rather than failing the call.
        .with_rate_control(SlackApiRateControlConfig::new().with_max_retries(5));
    Ok(Arc::new(SlackClient::new(connector)))
}
