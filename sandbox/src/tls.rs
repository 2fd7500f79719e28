//! The sandbox's certificate authority and its HTTPS/HTTP accept loop.
//!
//! Every emulator listens on 127.0.0.1 with a leaf certificate issued by one CA generated at start-up,
//! so clients must trust `SANDBOX_CA_FILE` exactly as they would trust a corporate or cluster CA.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::Error;

/// A certificate authority that lives as long as the sandbox.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and key issued by [`Ca`], as PEM.
pub struct IssuedPem {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn generate() -> Result<Ca, Error> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "apim-sandbox CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(tls_err)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(tls_err)?;
        Ok(Ca { issuer })
    }

    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `localhost` and 127.0.0.1, the names every sandbox URL uses.
    pub fn server_cert(&self) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), Error> {
        self.server_cert_for(&[])
    }

    /// [`Ca::server_cert`] that also names `extra` (the host name of [`crate::Sandbox::start_with_host`]).
    pub fn server_cert_for(
        &self,
        extra: &[String],
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), Error> {
        let mut names = vec!["localhost".to_string()];
        names.extend(extra.iter().cloned());
        let mut params = CertificateParams::new(names).map_err(tls_err)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(DnType::CommonName, "apim-sandbox");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_err)?;
        Ok((
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        ))
    }

    /// A client certificate (for kubeconfig `client-certificate-data` authentication).
    pub fn client_cert(&self, common_name: &str) -> Result<IssuedPem, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_err)?;
        Ok(IssuedPem {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The rustls server configuration shared by every HTTPS listener (HTTP/1.1 only: the
    /// Kubernetes port-forward upgrade and every client here speak it).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        self.server_config_for(&[])
    }

    /// [`Ca::server_config`] with a certificate that also names `extra`.
    pub fn server_config_for(&self, extra: &[String]) -> Result<Arc<rustls::ServerConfig>, Error> {
        let (cert, key) = self.server_cert_for(extra)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_no_client_auth()
            .with_single_cert(vec![cert, self.issuer.der().clone()], key)
            .map_err(tls_err)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Tls(e.to_string())
}

/// Binds an ephemeral port on 127.0.0.1.
pub async fn bind_loopback() -> Result<(TcpListener, SocketAddr), Error> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(Error::Bind)?;
    let addr = listener.local_addr().map_err(Error::Bind)?;
    Ok((listener, addr))
}

/// Serves `router` on `listener` until `shutdown` turns true: HTTPS when `tls` is given, plain
/// HTTP otherwise. Connections keep HTTP upgrades enabled (WebSocket port-forward).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => continue,
            },
            _ = shutdown.changed() => return,
        };
        // The services emulated here answer with Nagle's algorithm off (Go's net package, which
        // the kube-apiserver and kubelet use, sets TCP_NODELAY on every connection). With it on,
        // a response's last small write waits for the client's delayed ACK: 40 ms on Linux.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let mut conn_shutdown = shutdown.clone();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(
                router.layer(axum::Extension(axum::extract::ConnectInfo(peer))),
            );
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls_stream) = acceptor.accept(stream).await {
                        serve_connection(tls_stream, service, &mut conn_shutdown).await;
                    }
                }
                None => serve_connection(stream, service, &mut conn_shutdown).await,
            }
        });
    }
}

async fn serve_connection<IO, S>(io: IO, service: S, shutdown: &mut watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
