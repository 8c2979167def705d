//! The fake's REST routes under `/api/v10`, dispatched by hand from one handler so that every
//! request goes through the same bookkeeping: the request log, authentication, the global limit
//! and per-route buckets.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Request, State as AxState, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::limits::{check_components, check_message, ApiError, ARCHIVE_DURATIONS, MAX_THREAD_NAME};
use super::{AckKind, ChannelKind, Shared, State, StoredChannel, StoredFile, StoredMessage};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/gateway", get(gateway_upgrade))
        .fallback(handle)
        .with_state(shared)
}

async fn gateway_upgrade(AxState(shared): AxState<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| super::gateway::run(shared, socket))
}

/// A response under construction.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
            headers: vec![],
        }
    }
    fn empty() -> Reply {
        Reply {
            status: 204,
            body: None,
            headers: vec![],
        }
    }
    fn error(e: ApiError) -> Reply {
        Reply {
            status: e.status,
            body: Some(e.body()),
            headers: vec![],
        }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::error(e)
    }
}

type R = Result<Reply, ApiError>;

/// A request body: JSON, or multipart with `payload_json` and `files[n]`.
struct Payload {
    json: Value,
    files: Vec<StoredFile>,
}

async fn read_payload(req: Request) -> Result<Payload, ApiError> {
    let is_multipart = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.starts_with("multipart/"))
        .unwrap_or(false);
    if is_multipart {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::form("body", e.to_string()))?;
        let mut json = json!({});
        let mut files = Vec::new();
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|e| ApiError::form("body", e.to_string()))?
        {
            let name = field.name().unwrap_or("").to_string();
            let filename = field.file_name().map(str::to_string);
            let data = field.bytes().await.map_err(|e| ApiError::form("body", e.to_string()))?;
            if name == "payload_json" {
                json = serde_json::from_slice(&data).map_err(|e| ApiError::form("payload_json", e.to_string()))?;
            } else if name.starts_with("files[") {
                files.push(StoredFile {
                    filename: filename.unwrap_or_else(|| name.clone()),
                    content: data.to_vec(),
                });
            }
        }
        Ok(Payload { json, files })
    } else {
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024)
            .await
            .map_err(|e| ApiError::form("body", e.to_string()))?;
        let json = if bytes.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ApiError::form("body", format!("not JSON: {e}")))?
        };
        Ok(Payload { json, files: vec![] })
    }
}

async fn handle(AxState(shared): AxState<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let reply = match route(&shared, &method, &path, &headers, req).await {
        Ok(r) => r,
        Err(e) => Reply::error(e),
    };
    {
        let mut st = shared.state.lock().expect("fake state");
        let at = st.now();
        st.requests.push(super::RequestRecord {
            method: method.to_string(),
            path: path.clone(),
            status: reply.status,
            at,
        });
    }
    shared.touch();
    let mut resp = match &reply.body {
        Some(body) => (StatusCode::from_u16(reply.status).unwrap(), axum::Json(body.clone())).into_response(),
        None => Response::builder().status(reply.status).body(Body::empty()).unwrap(),
    };
    for (k, v) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn unauthorized() -> ApiError {
    ApiError::new(401, 0, "401: Unauthorized")
}

fn check_auth(st: &State, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if given == format!("Bot {}", st.config.token) {
        Ok(())
    } else {
        Err(unauthorized())
    }
}

/// A bucketed request: take from the route's bucket in this channel or answer 429.
fn bucket(st: &mut State, key: &str) -> Result<Vec<(&'static str, String)>, Reply> {
    let now = st.now();
    let (res, headers) = st.take(key, now);
    match res {
        Ok(()) => Ok(headers),
        Err(retry_after) => Err(Reply {
            status: 429,
            body: Some(
                json!({"message": "You are being rate limited.", "retry_after": (retry_after * 1000.0).round() / 1000.0, "global": false}),
            ),
            headers,
        }),
    }
}

fn parse_id(s: &str) -> Result<u64, ApiError> {
    s.parse()
        .map_err(|_| ApiError::form("id", format!("Value \"{s}\" is not snowflake.")))
}

async fn route(shared: &Arc<Shared>, method: &Method, path: &str, headers: &HeaderMap, req: Request) -> R {
    let Some(rest) = path.strip_prefix("/api/v10/") else {
        return Err(ApiError::new(404, 0, format!("404: Not Found ({path})")));
    };
    let seg: Vec<&str> = rest.split('/').collect();
    // Interaction callbacks and webhooks authenticate by the token in the path.
    let token_route = matches!(seg.first(), Some(&"interactions") | Some(&"webhooks"));
    {
        let mut st = shared.state.lock().expect("fake state");
        if !token_route {
            check_auth(&st, headers)?;
        }
        let now = st.now();
        // The global limit is the bot token's: interaction endpoints (the callback, and the
        // followups and `@original` under `/webhooks/{app}/{interaction token}`) are exempt.
        if !token_route && !st.take_global(now) {
            return Ok(Reply {
                status: 429,
                body: Some(json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": true})),
                headers: vec![
                    ("retry-after", "1".into()),
                    ("x-ratelimit-global", "true".into()),
                    ("x-ratelimit-scope", "global".into()),
                ],
            });
        }
    }
    let ws_url = format!("ws://{}/gateway", shared.addr);
    match (method.clone(), seg.as_slice()) {
        (Method::GET, ["gateway"]) => Ok(Reply::json(json!({"url": ws_url}))),
        (Method::GET, ["gateway", "bot"]) => Ok(Reply::json(json!({
            "url": ws_url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        }))),
        (Method::GET, ["users", "@me"]) => {
            let st = shared.state.lock().unwrap();
            Ok(Reply::json(bot_user(&st)))
        }
        (Method::GET, ["oauth2", "applications", "@me"]) => {
            let st = shared.state.lock().unwrap();
            Ok(Reply::json(json!({
                "id": st.config.application_id.to_string(), "name": "cloud", "icon": null, "description": "",
                "bot_public": false, "bot_require_code_grant": false, "verify_key": "00",
                "owner": bot_user(&st), "team": null, "flags": 0
            })))
        }
        (Method::PUT, ["applications", _app, "commands"])
        | (Method::PUT, ["applications", _app, "guilds", _, "commands"]) => {
            let payload = read_payload(req).await?;
            put_commands(shared, payload.json)
        }
        (Method::POST, ["interactions", id, token, "callback"]) => {
            let payload = read_payload(req).await?;
            callback(shared, parse_id(id)?, token, payload.json)
        }
        (Method::POST, ["webhooks", _app, token]) => {
            let payload = read_payload(req).await?;
            followup(shared, token, payload)
        }
        (m, ["webhooks", _app, token, "messages", which]) => {
            let payload = if m == Method::PATCH {
                Some(read_payload(req).await?)
            } else {
                None
            };
            webhook_message(shared, m, token, which, payload)
        }
        (Method::GET, ["channels", c]) => {
            let st = shared.state.lock().unwrap();
            let c = parse_id(c)?;
            let ch = st
                .channels
                .get(&c)
                .ok_or_else(|| ApiError::new(404, 10003, "Unknown Channel"))?;
            Ok(Reply::json(ch.to_json(st.config.guild_id)))
        }
        (Method::POST, ["channels", c, "messages"]) => {
            let c = parse_id(c)?;
            let payload = read_payload(req).await?;
            create_channel_message(shared, c, payload)
        }
        (m @ (Method::PATCH | Method::GET | Method::DELETE), ["channels", c, "messages", id]) => {
            let (c, id) = (parse_id(c)?, parse_id(id)?);
            let payload = if m == Method::PATCH {
                Some(read_payload(req).await?)
            } else {
                None
            };
            if m == Method::PATCH {
                // A test holds this message's edits (FakeDiscord::hold_edits): answer later.
                let held = shared
                    .state
                    .lock()
                    .expect("fake state lock")
                    .held_edits
                    .get(&id)
                    .cloned();
                if let Some(mut held) = held {
                    let _ = held.wait_for(|released| *released).await;
                }
            }
            channel_message(shared, m, c, id, payload)
        }
        (Method::POST, ["channels", c, "messages", m, "threads"]) => {
            let (c, m) = (parse_id(c)?, parse_id(m)?);
            let payload = read_payload(req).await?;
            thread_from_message(shared, c, m, payload.json)
        }
        (Method::POST, ["channels", c, "threads"]) => {
            let c = parse_id(c)?;
            let payload = read_payload(req).await?;
            thread_without_message(shared, c, payload.json)
        }
        _ => Err(ApiError::new(
            404,
            0,
            format!("404: Not Found (the fake does not model {method} /api/v10/{rest})"),
        )),
    }
}

fn bot_user(st: &State) -> Value {
    json!({"id": st.config.bot_user_id.to_string(), "username": "cloud", "discriminator": "0000", "global_name": null, "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0})
}

fn put_commands(shared: &Arc<Shared>, body: Value) -> R {
    let list = body
        .as_array()
        .cloned()
        .ok_or_else(|| ApiError::form("_", "Must be an array"))?;
    let mut st = shared.state.lock().unwrap();
    let app = st.config.application_id;
    let mut out = Vec::new();
    for mut cmd in list {
        let name = cmd["name"].as_str().unwrap_or("").to_string();
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(ApiError::form("name", format!("Command name `{name}` is invalid")));
        }
        let desc = cmd["description"].as_str().unwrap_or("");
        if desc.is_empty() || desc.chars().count() > 100 {
            return Err(ApiError::form(
                "description",
                format!("/{name}: description must be 1-100 characters"),
            ));
        }
        if cmd["options"].as_array().map(Vec::len).unwrap_or(0) > 25 {
            return Err(ApiError::form("options", "Must be 25 or fewer in length."));
        }
        let id = st.snowflake();
        cmd["id"] = json!(id.to_string());
        cmd["application_id"] = json!(app.to_string());
        cmd["version"] = json!("1");
        if cmd.get("type").is_none() {
            cmd["type"] = json!(1);
        }
        cmd["default_member_permissions"] = cmd.get("default_member_permissions").cloned().unwrap_or(Value::Null);
        st.commands.insert(name, cmd.clone());
        out.push(cmd);
    }
    Ok(Reply::json(Value::Array(out)))
}

fn new_message(
    st: &mut State,
    channel: u64,
    body: &Value,
    files: Vec<StoredFile>,
    interaction: Option<u64>,
) -> StoredMessage {
    let id = st.snowflake();
    StoredMessage {
        id,
        channel_id: channel,
        author_id: st.config.bot_user_id,
        content: body["content"].as_str().unwrap_or("").to_string(),
        embeds: body["embeds"].as_array().cloned().unwrap_or_default(),
        components: body["components"].as_array().cloned().unwrap_or_default(),
        flags: body["flags"].as_u64().unwrap_or(0),
        files,
        interaction,
        loading: false,
        edits: 0,
        created: st.now(),
        allowed_mentions: body.get("allowed_mentions").cloned(),
    }
}

fn apply_edit(msg: &mut StoredMessage, body: &Value, files: Vec<StoredFile>) {
    if body.get("content").is_some() || body.get("embeds").is_some() {
        // Discord parses the mentions of an edit with the edit's own allowed_mentions.
        msg.allowed_mentions = body.get("allowed_mentions").cloned();
    }
    if let Some(c) = body.get("content") {
        msg.content = c.as_str().unwrap_or("").to_string();
    }
    if let Some(e) = body.get("embeds") {
        msg.embeds = e.as_array().cloned().unwrap_or_default();
    }
    if let Some(c) = body.get("components") {
        msg.components = c.as_array().cloned().unwrap_or_default();
    }
    if !files.is_empty() {
        msg.files.extend(files);
    }
    msg.loading = false;
    msg.edits += 1;
}

fn callback(shared: &Arc<Shared>, id: u64, token: &str, body: Value) -> R {
    let mut st = shared.state.lock().unwrap();
    let deadline = st.config.ack_deadline;
    let guild = st.config.guild_id;
    let Some(inter) = st.interactions.get(&id).cloned() else {
        return Err(ApiError::new(404, 10062, "Unknown interaction"));
    };
    if inter.token != token {
        return Err(ApiError::new(401, 50027, "Invalid Webhook Token"));
    }
    let age = st.now().duration_since(inter.created);
    if age > deadline {
        st.interactions.get_mut(&id).unwrap().refused.push(10062);
        return Err(ApiError::new(404, 10062, "Unknown interaction"));
    }
    if inter.acked.is_some() {
        st.interactions.get_mut(&id).unwrap().refused.push(40060);
        return Err(ApiError::new(400, 40060, "Interaction has already been acknowledged."));
    }
    let kind = body["type"].as_u64().unwrap_or(0);
    let data = body.get("data").cloned().unwrap_or(json!({}));
    let is_component = inter.kind == 3;
    let (ack, original) = match kind {
        4 => {
            check_message(&data, 0, true)?;
            let msg = new_message(&mut st, inter.channel_id, &data, vec![], Some(id));
            let mid = msg.id;
            st.messages.insert(mid, msg);
            (AckKind::Message, Some(mid))
        }
        5 => {
            let mut msg = new_message(
                &mut st,
                inter.channel_id,
                &json!({"flags": data["flags"]}),
                vec![],
                Some(id),
            );
            msg.loading = true;
            let mid = msg.id;
            st.messages.insert(mid, msg);
            (AckKind::DeferredMessage, Some(mid))
        }
        6 if is_component => (AckKind::DeferredUpdate, inter.message_id),
        7 if is_component => {
            check_message(&data, 0, false)?;
            let mid = inter.message_id.expect("component interactions have a message");
            if let Some(msg) = st.messages.get_mut(&mid) {
                apply_edit(msg, &data, vec![]);
            }
            (AckKind::UpdateMessage, Some(mid))
        }
        6 | 7 => {
            return Err(ApiError::form(
                "type",
                "DEFERRED_UPDATE_MESSAGE and UPDATE_MESSAGE are only valid for component interactions",
            ))
        }
        8 if inter.kind == 4 => {
            let choices = data["choices"].as_array().cloned().unwrap_or_default();
            if choices.len() > 25 {
                return Err(ApiError::form("data.choices", "Must be 25 or fewer in length."));
            }
            st.interactions.get_mut(&id).unwrap().choices = Some(Value::Array(choices));
            (AckKind::Autocomplete, None)
        }
        8 => {
            return Err(ApiError::form(
                "type",
                "autocomplete results answer only autocomplete interactions",
            ))
        }
        9 => {
            check_components(data["components"].as_array().map(Vec::as_slice).unwrap_or(&[]))?;
            (AckKind::Modal, None)
        }
        other => {
            return Err(ApiError::form(
                "type",
                format!("Value {other} is not a valid interaction callback type"),
            ))
        }
    };
    let _ = guild;
    let inter = st.interactions.get_mut(&id).unwrap();
    inter.acked = Some((ack, age));
    if matches!(ack, AckKind::Message | AckKind::UpdateMessage) {
        inter.answered = Some(age);
    }
    inter.original = original;
    Ok(Reply::empty())
}

fn interaction_by_token<'a>(st: &'a mut State, token: &str) -> Result<&'a mut super::StoredInteraction, ApiError> {
    let lifetime = st.config.token_lifetime;
    let now = st.now();
    let inter = st
        .interactions
        .values_mut()
        .find(|i| i.token == token)
        .ok_or_else(|| ApiError::new(404, 10015, "Unknown Webhook"))?;
    if now.duration_since(inter.created) > lifetime {
        return Err(ApiError::new(401, 50027, "Invalid Webhook Token"));
    }
    if inter.acked.is_none() {
        return Err(ApiError::new(404, 10015, "Unknown Webhook"));
    }
    Ok(inter)
}

fn followup(shared: &Arc<Shared>, token: &str, payload: Payload) -> R {
    let mut st = shared.state.lock().unwrap();
    let guild = st.config.guild_id;
    let inter = interaction_by_token(&mut st, token)?.clone();
    check_message(&payload.json, payload.files.len(), true)?;
    // The first followup after a deferred response replaces the loading message.
    if let (Some((AckKind::DeferredMessage, _)), Some(orig)) = (inter.acked, inter.original) {
        if st.messages.get(&orig).map(|m| m.loading).unwrap_or(false) {
            mark_answered(&mut st, inter.id);
            let msg = st.messages.get_mut(&orig).unwrap();
            apply_edit(msg, &payload.json, payload.files);
            return Ok(Reply::json(msg.to_json(guild)));
        }
    }
    let msg = new_message(&mut st, inter.channel_id, &payload.json, payload.files, Some(inter.id));
    let v = msg.to_json(guild);
    st.messages.insert(msg.id, msg);
    Ok(Reply::json(v))
}

/// The deferred interaction `id` got its answer now.
fn mark_answered(st: &mut State, id: u64) {
    let now = st.now();
    if let Some(inter) = st.interactions.get_mut(&id) {
        inter.answered.get_or_insert(now.duration_since(inter.created));
    }
}

fn webhook_message(shared: &Arc<Shared>, method: Method, token: &str, which: &str, payload: Option<Payload>) -> R {
    let mut st = shared.state.lock().unwrap();
    let guild = st.config.guild_id;
    let inter = interaction_by_token(&mut st, token)?.clone();
    let mid = if which == "@original" {
        inter
            .original
            .ok_or_else(|| ApiError::new(404, 10008, "Unknown Message"))?
    } else {
        let id = parse_id(which)?;
        let ok = st
            .messages
            .get(&id)
            .map(|m| m.interaction == Some(inter.id))
            .unwrap_or(false);
        if !ok {
            return Err(ApiError::new(404, 10008, "Unknown Message"));
        }
        id
    };
    match method {
        Method::GET => {
            let msg = st
                .messages
                .get(&mid)
                .ok_or_else(|| ApiError::new(404, 10008, "Unknown Message"))?;
            Ok(Reply::json(msg.to_json(guild)))
        }
        Method::DELETE => {
            st.messages
                .remove(&mid)
                .ok_or_else(|| ApiError::new(404, 10008, "Unknown Message"))?;
            Ok(Reply::empty())
        }
        Method::PATCH => {
            let payload = payload.expect("patch has a body");
            check_message(&payload.json, payload.files.len(), false)?;
            if st.messages.get(&mid).is_some_and(|m| m.loading) {
                mark_answered(&mut st, inter.id);
            }
            let msg = st
                .messages
                .get_mut(&mid)
                .ok_or_else(|| ApiError::new(404, 10008, "Unknown Message"))?;
            apply_edit(msg, &payload.json, payload.files);
            Ok(Reply::json(msg.to_json(guild)))
        }
        _ => Err(ApiError::new(405, 0, "405: Method Not Allowed")),
    }
}

fn create_channel_message(shared: &Arc<Shared>, channel: u64, payload: Payload) -> R {
    let mut st = shared.state.lock().unwrap();
    if !st.channels.contains_key(&channel) {
        return Err(ApiError::new(404, 10003, "Unknown Channel"));
    }
    if let Some(reply) = injected_refusal(&mut st, channel, &payload.json) {
        return Ok(reply);
    }
    let headers = match bucket(&mut st, &format!("POST /channels/messages:{channel}")) {
        Ok(h) => h,
        Err(reply) => return Ok(reply),
    };
    check_message(&payload.json, payload.files.len(), true)?;
    let guild = st.config.guild_id;
    let mut body = payload.json;
    // Ephemeral is for interaction responses only; a channel message ignores the flag.
    body["flags"] = json!(body["flags"].as_u64().unwrap_or(0) & !64);
    let msg = new_message(&mut st, channel, &body, payload.files, None);
    let v = msg.to_json(guild);
    st.messages.insert(msg.id, msg);
    Ok(Reply {
        status: 200,
        body: Some(v),
        headers,
    })
}

/// A 429 a test injected ([`super::FakeDiscord::rate_limit_posts_containing`]), or one for a
/// post that came before the injected one's `Retry-After` ran out.
fn injected_refusal(st: &mut State, channel: u64, body: &Value) -> Option<Reply> {
    const RETRY_AFTER: Duration = Duration::from_secs(1);
    let now = st.now();
    let waiting = st.retry_after_until.get(&channel).is_some_and(|until| now < *until);
    let inject = !waiting
        && match st.rate_limit_posts.as_mut() {
            Some((needle, n)) if *n > 0 && body["content"].as_str().unwrap_or("").contains(needle.as_str()) => {
                *n -= 1;
                true
            }
            _ => false,
        };
    if !waiting && !inject {
        return None;
    }
    if inject {
        st.retry_after_until.insert(channel, now + RETRY_AFTER);
    }
    st.injected_429 += 1;
    let left = st.retry_after_until[&channel]
        .saturating_duration_since(now)
        .as_secs_f64();
    Some(Reply {
        status: 429,
        body: Some(
            json!({"message": "You are being rate limited.", "retry_after": (left * 1000.0).round() / 1000.0, "global": false}),
        ),
        headers: vec![
            ("retry-after", format!("{}", left.ceil().max(1.0) as u64)),
            ("x-ratelimit-scope", "user".into()),
        ],
    })
}

fn channel_message(shared: &Arc<Shared>, method: Method, channel: u64, id: u64, payload: Option<Payload>) -> R {
    let mut st = shared.state.lock().unwrap();
    let guild = st.config.guild_id;
    let bot = st.config.bot_user_id;
    let exists = st.messages.get(&id).map(|m| m.channel_id == channel).unwrap_or(false);
    if !exists {
        return Err(ApiError::new(404, 10008, "Unknown Message"));
    }
    match method {
        Method::GET => Ok(Reply::json(st.messages[&id].to_json(guild))),
        Method::DELETE => {
            st.messages.remove(&id);
            Ok(Reply::empty())
        }
        _ => {
            if st.messages[&id].author_id != bot || st.messages[&id].is_ephemeral() {
                return Err(ApiError::new(
                    403,
                    50005,
                    "Cannot edit a message authored by another user",
                ));
            }
            if st.rate_limit_edits > 0 {
                st.rate_limit_edits -= 1;
                st.injected_429 += 1;
                return Ok(Reply {
                    status: 429,
                    body: Some(json!({"message": "You are being rate limited.", "retry_after": 1.0, "global": false})),
                    headers: vec![("retry-after", "1".into()), ("x-ratelimit-scope", "user".into())],
                });
            }
            let headers = match bucket(&mut st, &format!("PATCH /channels/messages:{channel}")) {
                Ok(h) => h,
                Err(reply) => return Ok(reply),
            };
            let payload = payload.expect("patch has a body");
            check_message(&payload.json, payload.files.len(), false)?;
            let msg = st.messages.get_mut(&id).unwrap();
            apply_edit(msg, &payload.json, payload.files);
            Ok(Reply {
                status: 200,
                body: Some(msg.to_json(guild)),
                headers,
            })
        }
    }
}

fn check_thread_body(body: &Value) -> Result<(String, u64), ApiError> {
    let name = body["name"].as_str().unwrap_or("").to_string();
    let n = name.chars().count();
    if n == 0 || n > MAX_THREAD_NAME {
        return Err(ApiError::form(
            "name",
            format!("Must be between 1 and {MAX_THREAD_NAME} in length."),
        ));
    }
    let archive = body["auto_archive_duration"].as_u64().unwrap_or(4320);
    if !ARCHIVE_DURATIONS.contains(&archive) {
        return Err(ApiError::form(
            "auto_archive_duration",
            format!("Value must be one of {ARCHIVE_DURATIONS:?}."),
        ));
    }
    Ok((name, archive))
}

fn thread_from_message(shared: &Arc<Shared>, channel: u64, message: u64, body: Value) -> R {
    let mut st = shared.state.lock().unwrap();
    let guild = st.config.guild_id;
    match st.channels.get(&channel) {
        Some(c) if c.kind == ChannelKind::Text => {}
        Some(_) => return Err(ApiError::new(400, 50024, "Cannot execute action on this channel type")),
        None => return Err(ApiError::new(404, 10003, "Unknown Channel")),
    }
    let ok = st
        .messages
        .get(&message)
        .map(|m| m.channel_id == channel && !m.is_ephemeral())
        .unwrap_or(false);
    if !ok {
        return Err(ApiError::new(404, 10008, "Unknown Message"));
    }
    if st.channels.contains_key(&message) {
        return Err(ApiError::new(
            400,
            160004,
            "A thread has already been created for this message",
        ));
    }
    let (name, archive) = check_thread_body(&body)?;
    let ch = StoredChannel {
        id: message,
        kind: ChannelKind::PublicThread,
        parent_id: Some(channel),
        name,
        auto_archive_duration: archive,
    };
    let v = ch.to_json(guild);
    st.channels.insert(message, ch);
    Ok(Reply {
        status: 201,
        body: Some(v),
        headers: vec![],
    })
}

fn thread_without_message(shared: &Arc<Shared>, channel: u64, body: Value) -> R {
    let mut st = shared.state.lock().unwrap();
    let guild = st.config.guild_id;
    if !st
        .channels
        .get(&channel)
        .map(|c| c.kind == ChannelKind::Text)
        .unwrap_or(false)
    {
        return Err(ApiError::new(404, 10003, "Unknown Channel"));
    }
    let (name, archive) = check_thread_body(&body)?;
    let kind = match body["type"].as_u64() {
        Some(11) => ChannelKind::PublicThread,
        Some(12) | None => ChannelKind::PrivateThread,
        Some(other) => return Err(ApiError::form("type", format!("Value {other} is not a thread type"))),
    };
    let id = st.snowflake();
    let ch = StoredChannel {
        id,
        kind,
        parent_id: Some(channel),
        name,
        auto_archive_duration: archive,
    };
    let v = ch.to_json(guild);
    st.channels.insert(id, ch);
    Ok(Reply {
        status: 201,
        body: Some(v),
        headers: vec![],
    })
}
