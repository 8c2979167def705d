//! The Pulumi state backend (reachable?) and the passphrase that encrypts its secrets.

use std::path::PathBuf;

use cloud_core::config::{mask_url, PassphraseSource};

use super::check::{Check, Status, CONNECT_TIMEOUT};
use super::data_dir::{dir_status, DirState};

pub(super) async fn check_backend(url: &str) -> Check {
    const NAME: &str = "backend";
    let shown = mask_url(url);
    if let Some(rest) = url.strip_prefix("file://") {
        let dir = PathBuf::from(if rest.is_empty() { "/" } else { rest });
        let fix = "set `pulumi.backend_url` (or CLOUD_PULUMI_BACKEND_URL) to file://<a writable directory>";
        return match dir_status(&dir) {
            Ok(DirState::Writable) => Check::ok(NAME, format!("{shown} (writable)")),
            Ok(DirState::WillCreate(parent)) => Check::ok(
                NAME,
                format!("{shown} (created on first use; {} is writable)", parent.display()),
            ),
            Err(why) => Check::with(NAME, Status::Fail, format!("{shown}: {why}"), fix),
        };
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        let Some((host, port)) = host_port(url) else {
            return Check::with(
                NAME,
                Status::Fail,
                format!("{shown}: no host in the URL"),
                "fix `pulumi.backend_url`",
            );
        };
        let addr = format!("{host}:{port}");
        return match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => Check::ok(NAME, format!("{shown} (reachable: connected to {addr})")),
            Ok(Err(e)) => Check::with(
                NAME,
                Status::Fail,
                format!("{shown}: cannot connect to {addr}: {e}"),
                "check the URL, the network and any proxy between this machine and the backend",
            ),
            Err(_) => Check::with(
                NAME,
                Status::Fail,
                format!("{shown}: no answer from {addr} within {CONNECT_TIMEOUT:?}"),
                "check the URL, the network and any proxy between this machine and the backend",
            ),
        };
    }
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or(url);
    Check::with(
        NAME,
        Status::Skipped,
        format!("{shown}: not checked (the doctor checks file:// and http(s) backends, not {scheme}://)"),
        format!("check access with `PULUMI_BACKEND_URL={shown} pulumi whoami` where pulumi is installed"),
    )
}

/// Host and port of an `http(s)://[user[:pass]@]host[:port]/…` URL.
pub(super) fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let default = if scheme == "https" { 443 } else { 80 };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (
            format!("[{h}]"),
            after.strip_prefix(':').map(str::parse).transpose().ok()?,
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port.unwrap_or(default)))
}

pub(super) fn check_passphrase(source: &PassphraseSource) -> Check {
    const NAME: &str = "passphrase";
    match source {
        PassphraseSource::Env(value) => {
            if secrecy::ExposeSecret::expose_secret(value).is_empty() {
                Check::with(
                    NAME,
                    Status::Warn,
                    "PULUMI_CONFIG_PASSPHRASE is set but empty (valid, but it protects nothing)",
                    "set a non-empty PULUMI_CONFIG_PASSPHRASE, or unset it to use a generated passphrase file",
                )
            } else {
                Check::ok(
                    NAME,
                    "from the environment: PULUMI_CONFIG_PASSPHRASE is set (value not shown)",
                )
            }
        }
        PassphraseSource::File(path) => {
            let fix = "point `pulumi.passphrase_file` (or CLOUD_PULUMI_PASSPHRASE_FILE / PULUMI_CONFIG_PASSPHRASE_FILE) at a readable file holding the passphrase";
            match std::fs::File::open(path).and_then(|f| f.metadata()) {
                Ok(m) if m.is_file() && m.len() > 0 => Check::ok(
                    NAME,
                    format!("from file {} (readable; contents not shown)", path.display()),
                ),
                Ok(m) if m.is_file() => {
                    Check::with(NAME, Status::Warn, format!("file {} is empty", path.display()), fix)
                }
                Ok(_) => Check::with(NAME, Status::Fail, format!("{} is not a file", path.display()), fix),
                Err(e) => Check::with(
                    NAME,
                    Status::Fail,
                    format!("cannot read the passphrase file {}: {e}", path.display()),
                    fix,
                ),
            }
        }
        PassphraseSource::Generated(path) => {
            if path.is_file() {
                Check::ok(NAME, format!("generated file {} (contents not shown)", path.display()))
            } else {
                Check::ok(
                    NAME,
                    format!("none configured: one is generated on first use in {}", path.display()),
                )
            }
        }
    }
}
