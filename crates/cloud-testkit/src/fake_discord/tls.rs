//! The fake's HTTPS endpoint, for tests that keep serenity's own rate limiter on: serenity then
//! ignores its proxy setting and calls `https://discord.com`, so the test gives it a reqwest
//! client that resolves `discord.com` to this endpoint and trusts its self-signed certificate.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::{rest, FakeDiscord};

/// A running HTTPS endpoint of the fake.
pub struct TlsEndpoint {
    pub addr: SocketAddr,
    /// The self-signed certificate for `discord.com`, PEM.
    pub cert_pem: String,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsEndpoint {
    /// TLS connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A reqwest client that sends `discord.com` to this endpoint and trusts its certificate.
    pub fn client(&self) -> reqwest::Client {
        let cert = reqwest::Certificate::from_pem(self.cert_pem.as_bytes()).expect("rcgen writes valid PEM");
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(cert)
            .resolve("discord.com", self.addr)
            .build()
            .expect("a reqwest client builds")
    }
}

impl FakeDiscord {
    /// Serves the same API over HTTPS on another loopback port, as `discord.com`.
    pub async fn start_tls(&self) -> std::io::Result<TlsEndpoint> {
        let generated =
            rcgen::generate_simple_self_signed(vec!["discord.com".to_string()]).map_err(std::io::Error::other)?;
        let cert_pem = generated.cert.pem();
        let cert = CertificateDer::from(generated.cert.der().to_vec());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der()));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(std::io::Error::other)?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = rest::router(self.shared.clone());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { break };
                let acceptor = acceptor.clone();
                let router = router.clone();
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let service = TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Ok(TlsEndpoint {
            addr,
            cert_pem,
            accepted,
            task,
        })
    }
}
