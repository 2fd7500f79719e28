//! Swashbuckle-like pods: plain-HTTP servers on 127.0.0.1, one per declared container port, serving
//! the owning service's current document at `/swagger/v1/swagger.json` (or the pod's
//! `document_path`), canned [`PodRoute`](crate::cluster::PodRoute)s, and Kestrel's empty 404 elsewhere.
//!
//! They are reached only through port-forward ([`crate::kube_api`]), which maps a container port to
//! the listener started here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tokio::sync::watch;

use crate::cluster::Pod;
use crate::{Error, Shared};

/// Swashbuckle's exact header value (no space after the semicolon).
pub const DOCUMENT_CONTENT_TYPE: &str = "application/json;charset=utf-8";

#[derive(Clone)]
struct PodApp {
    pod: Arc<Pod>,
    /// Whose document this pod serves (the first selecting service that has one).
    service: Option<String>,
    shared: Arc<Shared>,
}

/// Starts `pod`'s listeners; returns container port → local address.
pub async fn start(
    pod: &Pod,
    service: Option<String>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<HashMap<u16, SocketAddr>, Error> {
    let app = PodApp {
        pod: Arc::new(pod.clone()),
        service,
        shared: shared.clone(),
    };
    let router = crate::log::logged(
        Router::new().fallback(answer).with_state(app),
        "pod",
        shared,
    );
    let mut listeners = HashMap::new();
    for port in &pod.ports {
        if listeners.contains_key(&port.port) {
            continue;
        }
        let (listener, addr) = crate::tls::bind_loopback().await?;
        tokio::spawn(crate::tls::serve(
            listener,
            None,
            router.clone(),
            shutdown.clone(),
        ));
        listeners.insert(port.port, addr);
    }
    Ok(listeners)
}

async fn answer(State(app): State<PodApp>, request: Request) -> Response {
    if let Some(ms) = app.shared.faults.value("pod-latency") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let path = request.uri().path();
    let head = request.method() == Method::HEAD;
    let readable = request.method() == Method::GET || head;
    if let Some(route) = app.pod.routes.iter().find(|r| r.path == path) {
        let status =
            StatusCode::from_u16(route.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = kestrel(status, if head { Vec::new() } else { route.body.clone() });
        if let Some(ct) = route
            .content_type
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return response;
    }
    // Swashbuckle's middleware only answers GET; anything else falls through to routing's 404.
    if readable && path == app.pod.document_path {
        let document = app.service.as_deref().and_then(|s| app.shared.document(s));
        if let Some(document) = document {
            let len = document.len();
            let mut response = kestrel(StatusCode::OK, if head { Vec::new() } else { document });
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(DOCUMENT_CONTENT_TYPE),
            );
            if head {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            return response;
        }
    }
    kestrel(StatusCode::NOT_FOUND, Vec::new())
}

fn kestrel(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("Kestrel"));
    response
}
