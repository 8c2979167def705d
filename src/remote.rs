//! The CLI against a `cloud serve --api` server: `cloud login <url>` keeps the server's URL and
//! the API token in a file only its owner can read (mode 0600), and `status`, `list`, `deploy`,
//! `approve`, `cancel` and `logs` then talk to `/api/v1` instead of opening a local store.
//! `cloud logout` removes the file.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::error::ErrorBody;
use crate::api::model::WhoAmI;
use cloud_domain::error::UserError;

/// What `cloud login` saved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    /// The server's base URL, e.g. `https://cloud.example.com` (without `/api/v1`).
    pub url: String,
    pub token: String,
    /// Who the token is, as the server said at login.
    pub principal: String,
}

/// Where the login is kept: `CLOUD_LOGIN_FILE`, else `$XDG_CONFIG_HOME/cloud/login.json`, else
/// `~/.config/cloud/login.json`.
pub fn login_file() -> PathBuf {
    if let Some(path) = std::env::var_os("CLOUD_LOGIN_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
                .join(".config")
        });
    config.join("cloud").join("login.json")
}

impl Login {
    /// The saved login, if any. A file other users can read is refused (the token is a
    /// password), as is one that does not parse.
    pub fn load() -> Result<Option<Login>, UserError> {
        let path = login_file();
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(None);
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(UserError::invalid(format!(
                "the login file {} is readable by other users (mode {mode:04o}); run `chmod 600 {}` or `cloud logout`",
                path.display(),
                path.display()
            )));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| UserError::invalid(format!("cannot read the login file {}: {e}", path.display())))?;
        let login = serde_json::from_str(&text).map_err(|e| {
            UserError::invalid(format!(
                "the login file {} is not a cloud login ({e}); run `cloud logout`, then `cloud login <url>`",
                path.display()
            ))
        })?;
        Ok(Some(login))
    }

    /// Writes the login, mode 0600 (its directory 0700), replacing any earlier one.
    pub fn save(&self) -> Result<PathBuf, UserError> {
        let path = login_file();
        let fail = |e: std::io::Error| UserError::invalid(format!("cannot save the login in {}: {e}", path.display()));
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(fail)?;
        }
        let tmp = path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        let text = serde_json::to_string_pretty(self).expect("a login serialises");
        file.write_all(text.as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)?;
        Ok(path)
    }

    /// Removes the saved login; whether there was one.
    pub fn remove() -> Result<bool, UserError> {
        let path = login_file();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(UserError::invalid(format!("cannot remove {}: {e}", path.display()))),
        }
    }
}

/// A client of one server's `/api/v1`, as one token.
pub struct Remote {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Remote {
    pub fn new(url: &str, token: &str) -> Result<Remote, UserError> {
        let base = url.trim().trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base).map_err(|e| {
            UserError::invalid(format!(
                "`{base}` is not a URL ({e}); write it like https://cloud.example.com"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(UserError::invalid(format!(
                "`{base}` is not an http(s) URL; write it like https://cloud.example.com"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| UserError::failed(format!("cannot build the HTTP client: {e}")))?;
        Ok(Remote {
            base,
            token: token.trim().to_string(),
            http,
        })
    }

    pub fn from_login(login: &Login) -> Result<Remote, UserError> {
        Remote::new(&login.url, &login.token)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, UserError> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| UserError::failed(format!("cannot reach the server {}: {e}", self.base)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<ErrorBody>(&text)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| format!("the server {} answered {status}", self.base));
        Err(match status.as_u16() {
            401 => UserError::denied(format!(
                "{message} (the server refused the token; `cloud login {}` with a new one)",
                self.base
            )),
            403 => UserError::denied(message),
            404 | 422 | 400 => UserError::invalid(message),
            _ => UserError::failed(message),
        })
    }

    async fn json<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T, UserError> {
        self.send(request).await?.json().await.map_err(|e| {
            UserError::failed(format!(
                "the server {} answered something that is not the API's JSON: {e}",
                self.base
            ))
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, UserError> {
        self.json(self.http.get(self.url(path)).query(query)).await
    }

    pub async fn post<T: DeserializeOwned, B: Serialize>(&self, path: &str, body: &B) -> Result<T, UserError> {
        self.json(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn whoami(&self) -> Result<WhoAmI, UserError> {
        self.get("/whoami", &[]).await
    }

    /// The streamed response of `path` (NDJSON), line by line to `each` until the stream ends
    /// or `each` says stop.
    pub async fn stream_lines(
        &self,
        path: &str,
        query: &[(&str, String)],
        mut each: impl FnMut(&str) -> bool,
    ) -> Result<(), UserError> {
        let mut response = self.send(self.http.get(self.url(path)).query(query)).await?;
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| UserError::failed(format!("the stream from {} broke: {e}", self.base)))?;
            let Some(chunk) = chunk else { break };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line[..line.len() - 1]).to_string();
                if !text.trim().is_empty() && !each(&text) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
