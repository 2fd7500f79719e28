//! Fetching the document: a WebSocket port-forward to the pod (no kubectl), one HTTP/1.1 GET over
//! it, a size cap, and bounded retries when a stream is cut or the pod answers 5xx.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use super::api::{self, Kube, error_chain};
use super::{Backend, ClusterError, Connection, Event, Observer, Target};
use crate::spec::{Document, snippet};

/// Where ASP.NET Core serves its document: Swashbuckle's default, then .NET 9+'s built-in one.
pub const DEFAULT_PATHS: &[&str] = &["/swagger/v1/swagger.json", "/openapi/v1.json"];
/// 32 MB: far above APIM's 4 MB inline limit, low enough to keep memory bounded.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

const ATTEMPTS: u32 = 3;
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// The document as the pod served it.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub path: String,
    pub pod: String,
    /// Every path tried, with what it answered.
    pub tried: Vec<String>,
}

pub(super) enum Attempt {
    Body {
        status: u16,
        content_type: String,
        bytes: Vec<u8>,
    },
    TooLarge,
}

pub async fn fetch(
    conn: &Connection,
    backend: &Backend,
    target: &Target,
    observer: &dyn Observer,
) -> Result<Fetched, ClusterError> {
    let paths: Vec<String> = match &target.swagger_path {
        Some(p) => vec![if p.starts_with('/') {
            p.clone()
        } else {
            format!("/{p}")
        }],
        None => DEFAULT_PATHS.iter().map(|p| p.to_string()).collect(),
    };
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), &target.namespace);
    let mut tried = Vec::new();
    for path in &paths {
        let attempt = get_with_retries(conn, &pods, backend, path, target, observer).await?;
        let (status, content_type, bytes) = match attempt {
            Attempt::TooLarge => {
                return Err(ClusterError::TooLarge {
                    namespace: target.namespace.clone(),
                    pod: backend.pod.clone(),
                    path: path.clone(),
                    limit_mb: (target.max_body / (1024 * 1024)) as u64,
                });
            }
            Attempt::Body {
                status,
                content_type,
                bytes,
            } => (status, content_type, bytes),
        };
        if status == 404 {
            tried.push(format!("{path} (404)"));
            continue;
        }
        if !(200..300).contains(&status) {
            return Err(ClusterError::BadResponse {
                namespace: target.namespace.clone(),
                pod: backend.pod.clone(),
                path: path.clone(),
                status,
                content_type: if content_type.is_empty() {
                    String::new()
                } else {
                    format!(" ({content_type})")
                },
                snippet: snippet(&String::from_utf8_lossy(&bytes[..bytes.len().min(512)])),
            });
        }
        let parsed = Document::parse(&bytes);
        if let Err(e @ crate::spec::SpecError::OpenApi32 { .. }) = &parsed {
            return Err(ClusterError::UnsupportedVersion {
                namespace: target.namespace.clone(),
                pod: backend.pod.clone(),
                path: path.clone(),
                detail: e.to_string(),
            });
        }
        if let Err(e) = parsed {
            return Err(ClusterError::NotOpenApi {
                namespace: target.namespace.clone(),
                pod: backend.pod.clone(),
                path: path.clone(),
                detail: format!("HTTP {status} ({content_type}): {e}"),
            });
        }
        tried.push(format!("{path} (200)"));
        return Ok(Fetched {
            bytes,
            path: path.clone(),
            pod: backend.pod.clone(),
            tried,
        });
    }
    Err(ClusterError::DocumentNotFound {
        namespace: target.namespace.clone(),
        pod: backend.pod.clone(),
        port: backend.port,
        tried: tried.join(", "),
    })
}

pub(super) async fn get_with_retries(
    conn: &Connection,
    pods: &Api<Pod>,
    backend: &Backend,
    path: &str,
    target: &Target,
    observer: &dyn Observer,
) -> Result<Attempt, ClusterError> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        let result =
            tokio::time::timeout(STEP_TIMEOUT, get_once(pods, backend, path, target.max_body))
                .await;
        let error = match result {
            Ok(Ok(Attempt::Body { status, .. })) if status >= 500 && attempt < ATTEMPTS => {
                format!("HTTP {status}")
            }
            Ok(Ok(done)) => return Ok(done),
            Ok(Err(Failure::Refused(e))) => {
                let what = format!(
                    "the port-forward to pod {}/{} port {}",
                    target.namespace, backend.pod, backend.port
                );
                return Err(match e {
                    kube::Error::Api(status) if status.code == 403 => api::port_forward_forbidden(
                        conn.url.clone(),
                        &what,
                        &target.namespace,
                        &status.message,
                    ),
                    e => Kube::new(conn).explain(e, &what, attempt),
                });
            }
            Ok(Err(Failure::Retry(message))) => message,
            Err(_) => format!("no complete answer within {}s", STEP_TIMEOUT.as_secs()),
        };
        if attempt >= ATTEMPTS {
            return Err(ClusterError::PortForward {
                namespace: target.namespace.clone(),
                pod: backend.pod.clone(),
                port: backend.port,
                message: format!("GET {path}: {error} (after {attempt} attempts)"),
            });
        }
        observer.event(Event::Retrying {
            what: format!("GET {path} from pod {}", backend.pod),
            error,
            attempt,
        });
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    }
}

/// Why one attempt failed.
enum Failure {
    /// A sentence for the retry loop.
    Retry(String),
    /// The API server refused the port-forward (401, 403): trying again changes nothing.
    Refused(kube::Error),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Retry(message)
    }
}

/// One port-forward, one request.
async fn get_once(
    pods: &Api<Pod>,
    backend: &Backend,
    path: &str,
    max_body: usize,
) -> Result<Attempt, Failure> {
    let mut forwarder = match pods.portforward(&backend.pod, &[backend.port]).await {
        Ok(f) => f,
        Err(kube::Error::Api(status)) if matches!(status.code, 401 | 403) => {
            return Err(Failure::Refused(kube::Error::Api(status)));
        }
        Err(e) => {
            return Err(Failure::Retry(format!(
                "cannot open the port-forward: {}",
                error_chain(&e)
            )));
        }
    };
    let stream = forwarder
        .take_stream(backend.port)
        .ok_or_else(|| "the port-forward has no stream for the port".to_string())?;
    let error_rx = forwarder.take_error(backend.port);
    let result = request(stream, path, max_body).await;
    let outcome = match result {
        Ok(a) => Ok(a),
        Err(e) => {
            // The kubelet explains refused connections on the error channel: prefer its words.
            let channel_error = match error_rx {
                Some(rx) => tokio::time::timeout(Duration::from_millis(500), rx)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            Err(Failure::Retry(channel_error.unwrap_or(e)))
        }
    };
    // Closing must never hang the run: give the forwarder a moment, then abort it.
    forwarder.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), forwarder.join()).await;
    outcome
}

async fn request(
    stream: tokio::io::DuplexStream,
    path: &str,
    max_body: usize,
) -> Result<Attempt, String> {
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(connection);
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, "localhost")
        .header(
            hyper::header::ACCEPT,
            "application/json, application/yaml;q=0.9, */*;q=0.1",
        )
        .header(
            hyper::header::USER_AGENT,
            concat!("apim-gate/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| format!("the pod closed the stream before answering: {e}"))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if let Some(len) = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > max_body
    {
        driver.abort();
        return Ok(Attempt::TooLarge);
    }
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            format!(
                "the stream was cut mid-body after {} bytes: {e}",
                bytes.len()
            )
        })?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > max_body {
                driver.abort();
                return Ok(Attempt::TooLarge);
            }
            bytes.extend_from_slice(data);
        }
    }
    drop(sender);
    driver.abort();
    Ok(Attempt::Body {
        status,
        content_type,
        bytes,
    })
}
