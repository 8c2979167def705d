//! The fake gateway: HELLO → IDENTIFY (a wrong token closes with 4004) → READY, heartbeats
//! acknowledged, then dispatches (`INTERACTION_CREATE`) as plain JSON text frames.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::Shared;

/// Heartbeat interval announced in HELLO (Discord's usual value).
const HEARTBEAT_MS: u64 = 41_250;

pub(crate) async fn run(shared: Arc<Shared>, socket: WebSocket) {
    let (mut tx, mut rx) = socket.split();
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}, "s": null, "t": null});
    if tx.send(Message::Text(hello.to_string().into())).await.is_err() {
        return;
    }
    let (dispatch_tx, mut dispatch_rx) = mpsc::unbounded_channel::<Value>();
    let mut identified = false;
    loop {
        tokio::select! {
            incoming = rx.next() => {
                let Some(Ok(msg)) = incoming else { break };
                let text = match msg {
                    Message::Text(t) => t.to_string(),
                    Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                    Message::Close(frame) => {
                        // Answer the close handshake, as Discord does.
                        let _ = tx.send(Message::Close(frame)).await;
                        break;
                    }
                    _ => continue,
                };
                let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                match v["op"].as_u64() {
                    Some(1) => {
                        let ack = json!({"op": 11, "d": null, "s": null, "t": null});
                        if tx.send(Message::Text(ack.to_string().into())).await.is_err() { break; }
                    }
                    Some(2) => {
                        let (ok, ready) = {
                            let mut st = shared.state.lock().expect("fake state");
                            let given = v["d"]["token"].as_str().unwrap_or("");
                            let given = given.strip_prefix("Bot ").unwrap_or(given);
                            if given != st.config.token {
                                st.rejected_identify += 1;
                                (false, Value::Null)
                            } else {
                                st.identified += 1;
                                st.seq += 1;
                                let ready = json!({"op": 0, "t": "READY", "s": st.seq, "d": {
                                    "v": 10,
                                    "user": {"id": st.config.bot_user_id.to_string(), "username": "cloud", "discriminator": "0000",
                                             "global_name": null, "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0},
                                    "guilds": [{"id": st.config.guild_id.to_string(), "unavailable": true}],
                                    "session_id": format!("fake-session-{}", st.identified),
                                    "resume_gateway_url": format!("ws://{}/gateway", shared.addr),
                                    "shard": [0, 1],
                                    "application": {"id": st.config.application_id.to_string(), "flags": 0},
                                }});
                                st.gateways.push(dispatch_tx.clone());
                                (true, ready)
                            }
                        };
                        shared.touch();
                        if !ok {
                            let _ = tx.send(Message::Close(Some(CloseFrame { code: 4004, reason: "Authentication failed.".into() }))).await;
                            break;
                        }
                        identified = true;
                        if tx.send(Message::Text(ready.to_string().into())).await.is_err() { break; }
                    }
                    Some(6) => {
                        // Resume is not modelled: invalid session, the client identifies again.
                        let invalid = json!({"op": 9, "d": false, "s": null, "t": null});
                        if tx.send(Message::Text(invalid.to_string().into())).await.is_err() { break; }
                    }
                    _ => {}
                }
            }
            out = dispatch_rx.recv(), if identified => {
                let Some(payload) = out else { break };
                if tx.send(Message::Text(payload.to_string().into())).await.is_err() { break; }
            }
        }
    }
    shared.touch();
}
