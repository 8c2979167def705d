//! The fake's driver: sends what Slack sends when a person types a slash command or clicks a
//! button — a v0-signed form post to the app's HTTP endpoint, or an envelope over Socket Mode —
//! and returns the app's acknowledgement. Slack gives an app 3 s to acknowledge; the driver
//! fails the test when it takes longer.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sha2::Sha256;

use super::{FakeSlack, Shared, APP_ID, CHANNEL, TEAM};

/// Slack's deadline for an acknowledgement.
pub const ACK_DEADLINE: Duration = Duration::from_millis(3000);

/// How the app receives Slack's requests.
#[derive(Debug, Clone)]
pub enum Transport {
    /// HTTP: the app's base URL (`http://127.0.0.1:PORT`), endpoints `/slack/commands`,
    /// `/slack/actions`.
    Http(String),
    /// Socket Mode: envelopes over the fake's websocket.
    Socket,
}

/// The app's answer to one request.
#[derive(Debug, Clone)]
pub struct Ack {
    /// HTTP status (Socket Mode: 200 when an ack arrived).
    pub status: u16,
    /// The response body (HTTP) or the ack's `payload` (Socket Mode); `Null` when empty.
    pub body: Value,
    pub elapsed: Duration,
    /// The request's number, the last segment of its `response_url`
    /// ([`FakeSlack::response_at`]); 0 for requests without one.
    pub request: u64,
}

impl Ack {
    /// The text of the acknowledgement message (empty for a bare ack).
    pub fn text(&self) -> String {
        // Slack shows the blocks; `text` is only the fallback for notifications.
        let mut parts: Vec<String> = Vec::new();
        for b in self.body["blocks"].as_array().into_iter().flatten() {
            super::validate::block_texts(b, &mut parts);
        }
        if parts.is_empty() {
            if let Some(t) = self.body["text"].as_str() {
                parts.push(t.to_string());
            }
        }
        parts.join("\n")
    }

    /// `ephemeral` (Slack's default when absent) or `in_channel`.
    pub fn response_type(&self) -> &str {
        self.body["response_type"].as_str().unwrap_or("ephemeral")
    }
}

/// `v0=<hex hmac>` of `v0:{ts}:{body}`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn form(pairs: &[(&str, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// How to sign an HTTP request (tests of the signature check change these). The default signs
/// now, with the right secret.
#[derive(Debug, Clone, Default)]
pub struct Signing {
    /// Seconds before now the request claims to have been sent.
    pub age_secs: i64,
    /// Sign with this secret instead of the right one.
    pub secret: Option<String>,
}

impl FakeSlack {
    /// The request's number and its form fields.
    fn slash_fields(&self, user: &str, command: &str, text: &str) -> (u64, Vec<(&'static str, String)>) {
        let mut inner = self.lock();
        let id = Shared::next_id(&mut inner);
        let fields = vec![
            ("token", "deprecated-verification-token".into()),
            ("team_id", TEAM.into()),
            ("team_domain", "cloud-fake".into()),
            ("channel_id", CHANNEL.into()),
            ("channel_name", "deploys".into()),
            ("user_id", user.into()),
            ("user_name", user.to_lowercase()),
            ("command", command.into()),
            ("text", text.into()),
            ("api_app_id", APP_ID.into()),
            ("is_enterprise_install", "false".into()),
            ("response_url", format!("{}/response/{id}", self.url)),
            ("trigger_id", format!("{id}.fake.trigger")),
        ];
        (id, fields)
    }

    /// The request's number and the `block_actions` payload.
    fn block_actions(&self, user: &str, message_ts: &str, action_id: &str) -> (u64, Value) {
        let message = self
            .message(message_ts)
            .unwrap_or_else(|| panic!("no message {message_ts} to click on\n{}", self.transcript()));
        let (block_id, value) = message
            .blocks
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| {
                b["elements"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |e| (b["block_id"].clone(), e))
            })
            .find(|(_, e)| e["action_id"] == action_id)
            .map(|(block, e)| (block, e["value"].clone()))
            .unwrap_or_else(|| {
                panic!(
                    "message {message_ts} has no button {action_id}; it has {:?}\n{}",
                    message.action_ids(),
                    self.transcript()
                )
            });
        let id = {
            let mut inner = self.lock();
            Shared::next_id(&mut inner)
        };
        let mut action = json!({"action_id": action_id, "block_id": block_id, "type": "button", "action_ts": format!("{}.000100", unix_now())});
        if !value.is_null() {
            action["value"] = value;
        }
        let payload = json!({
            "type": "block_actions",
            "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": TEAM},
            "api_app_id": APP_ID,
            "token": "deprecated-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL, "is_ephemeral": false},
            "trigger_id": format!("{id}.fake.trigger"),
            "team": {"id": TEAM, "domain": "cloud-fake"},
            "is_enterprise_install": false,
            "channel": {"id": CHANNEL, "name": "deploys"},
            "message": {"type": "message", "ts": message_ts, "text": message.text, "blocks": message.blocks, "bot_id": super::BOT_ID, "user": super::BOT_USER},
            "state": {"values": {}},
            "response_url": format!("{}/response/{id}", self.url),
            "actions": [action],
        });
        (id, payload)
    }

    /// A person types `command text` in the deploy channel.
    pub async fn slash(&self, transport: &Transport, user: &str, command: &str, text: &str) -> Ack {
        let (request, fields) = self.slash_fields(user, command, text);
        let ack = match transport {
            Transport::Http(app) => {
                let body = form(&fields);
                self.post_signed(&format!("{app}/slack/commands"), &body, &Signing::default())
                    .await
            }
            Transport::Socket => {
                let payload: serde_json::Map<String, Value> =
                    fields.into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
                self.envelope("slash_commands", Value::Object(payload)).await
            }
        };
        Ack { request, ..ack }
    }

    /// A slash command over HTTP with a chosen signature (age, secret).
    pub async fn slash_signed(&self, app: &str, user: &str, command: &str, text: &str, signing: &Signing) -> Ack {
        let (request, fields) = self.slash_fields(user, command, text);
        let ack = self
            .post_signed(&format!("{app}/slack/commands"), &form(&fields), signing)
            .await;
        Ack { request, ..ack }
    }

    /// A person clicks the button `action_id` on message `message_ts`.
    pub async fn click(&self, transport: &Transport, user: &str, message_ts: &str, action_id: &str) -> Ack {
        let (request, payload) = self.block_actions(user, message_ts, action_id);
        let ack = match transport {
            Transport::Http(app) => {
                let body = form(&[("payload", payload.to_string())]);
                self.post_signed(&format!("{app}/slack/actions"), &body, &Signing::default())
                    .await
            }
            Transport::Socket => self.envelope("interactive", payload).await,
        };
        Ack { request, ..ack }
    }

    async fn post_signed(&self, url: &str, body: &str, signing: &Signing) -> Ack {
        let ts = unix_now() - signing.age_secs;
        let secret = signing.secret.as_deref().unwrap_or(&self.signing_secret);
        let headers = [
            ("x-slack-request-timestamp", ts.to_string()),
            ("x-slack-signature", sign(secret, ts, body)),
        ];
        self.post_with_headers(url, body, &headers).await
    }

    /// A slash command posted to the app with exactly these Slack headers (none: an unsigned
    /// request), for the edges of the signature check: what a forger or a misconfigured proxy
    /// sends, not what Slack does.
    pub async fn slash_with_headers(
        &self,
        app: &str,
        user: &str,
        command: &str,
        text: &str,
        headers: &[(&'static str, String)],
    ) -> Ack {
        let (request, fields) = self.slash_fields(user, command, text);
        let ack = self
            .post_with_headers(&format!("{app}/slack/commands"), &form(&fields), headers)
            .await;
        Ack { request, ..ack }
    }

    async fn post_with_headers(&self, url: &str, body: &str, headers: &[(&'static str, String)]) -> Ack {
        let mut request = hyper::Request::post(url).header("content-type", "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request.body(Full::new(bytes::Bytes::from(body.to_string()))).unwrap();
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let started = Instant::now();
        let response = tokio::time::timeout(crate::wait::SAFETY_NET, client.request(request))
            .await
            .unwrap_or_else(|_| panic!("the app never answered {url}\n{}", self.transcript()))
            .unwrap_or_else(|e| panic!("cannot reach the app at {url}: {e}"));
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let elapsed = started.elapsed();
        assert!(
            elapsed <= ACK_DEADLINE,
            "the app took {elapsed:?} to acknowledge {url}; Slack gives up after 3 s"
        );
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}))
        };
        Ack {
            status,
            body,
            elapsed,
            request: 0,
        }
    }

    /// Sends an envelope over the Socket Mode connection and waits for its ack.
    pub async fn envelope(&self, kind: &str, payload: Value) -> Ack {
        self.wait_for("a Socket Mode connection", |f| f.socket_connected().then_some(()))
            .await;
        let envelope_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut inner = self.lock();
            inner.acks.insert(envelope_id.clone(), tx);
            let frame = json!({"envelope_id": envelope_id, "type": kind, "accepts_response_payload": kind != "events_api", "retry_attempt": 0, "retry_reason": "", "payload": payload});
            inner
                .socket
                .as_ref()
                .expect("connected")
                .send(frame.to_string())
                .expect("socket open");
        }
        let started = Instant::now();
        let ack = tokio::time::timeout(ACK_DEADLINE, rx)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no ack for {kind} envelope {envelope_id} within 3 s\n{}",
                    self.transcript()
                )
            })
            .expect("ack sender kept");
        Ack {
            status: 200,
            body: ack.get("payload").cloned().unwrap_or(Value::Null),
            elapsed: started.elapsed(),
            request: 0,
        }
    }
}
