//! `cloud serve --api` in the background for the API tests: on a free port, over the same data
//! directory as the [`Cli`] that set it up (tokens and grants are created through the CLI), with
//! a small JSON client. The server's address comes from its own log ("serving the HTTP API"),
//! never from a guess or a retry loop.
#![allow(dead_code)]

use std::process::Stdio;

use serde_json::Value;

use crate::cli::{Cli, LogLines};

pub struct ApiServer {
    child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    pub log: LogLines,
    http: reqwest::Client,
}

/// An answer: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The `error.message` of an error answer.
    pub fn message(&self) -> String {
        self.body["error"]["message"].as_str().unwrap_or_default().to_string()
    }
}

fn find_url(event: &Value) -> Option<String> {
    let fields = &event["fields"];
    if fields["message"].as_str() != Some("serving the HTTP API") {
        return None;
    }
    fields["url"]
        .as_str()
        .map(|u| u.trim_end_matches("/api/v1").to_string())
}

impl ApiServer {
    /// Starts `cloud serve --api` with the environment of `cli`.
    pub async fn start(cli: &Cli) -> ApiServer {
        let mut cmd = tokio::process::Command::from(cli.command(
            &["serve", "--api"],
            &[
                ("CLOUD_SERVE_LISTEN", "127.0.0.1:0"),
                ("CLOUD_LOG_FORMAT", "json"),
                ("CLOUD_LOG", "info"),
            ],
        ));
        cmd.stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn().expect("cloud serve starts");
        let mut log = LogLines::new(child.stderr.take().unwrap());
        let event = log.wait_for("the API listening", |e| find_url(e).is_some()).await;
        ApiServer {
            child,
            base: find_url(&event).unwrap(),
            log,
            http: reqwest::Client::new(),
        }
    }

    /// `method /api/v1<path>` with `token` (if any) and a JSON `body` (if any).
    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("the server answers");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Opens `GET /sessions/{id}/logs?follow=true` and sends each NDJSON event as it arrives.
    pub async fn follow_logs(&self, id: &str, token: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
        let url = format!("{}/api/v1/sessions/{id}/logs?follow=true", self.base);
        let mut res = self.http.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "application/x-ndjson");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut pending = Vec::new();
            while let Ok(Some(chunk)) = res.chunk().await {
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let event: Value = serde_json::from_slice(&line).expect("each line is JSON");
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            }
        });
        rx
    }

    /// Stops the server with SIGTERM and waits for it (a graceful shutdown).
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: the child is ours and has not been waited for, so the pid is its own.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        let status = tokio::time::timeout(cloud_testkit::wait::SAFETY_NET, self.child.wait())
            .await
            .expect("cloud serve stops on SIGTERM (an open log stream must not hold it up)")
            .expect("cloud serve was waited for");
        assert!(status.success(), "cloud serve exited with {status} on SIGTERM");
    }
}

/// Waits for the next event of a followed log stream that satisfies `check`; fails with what
/// came before if the stream ends first.
pub async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>,
    seen: &mut Vec<Value>,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        match tokio::time::timeout(cloud_testkit::wait::SAFETY_NET, rx.recv()).await {
            Ok(Some(event)) => {
                seen.push(event.clone());
                if check(&event) {
                    return event;
                }
            }
            Ok(None) => panic!("the log stream ended before {what}: {seen:#?}"),
            Err(_) => panic!("waited for {what}: {seen:#?}"),
        }
    }
}
