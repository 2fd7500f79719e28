//! The request log: every request any emulator receives, readable at `GET /_sandbox/requests`.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct LoggedRequest {
    /// Order of arrival, from 1.
    pub seq: u64,
    /// Which emulator answered: `kube`, `entra`, `arm`, `github`, `pod`.
    pub emulator: &'static str,
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub status: u16,
    /// Milliseconds since the sandbox started.
    pub at_ms: u64,
}

pub struct RequestLog {
    started: Instant,
    entries: Mutex<Vec<LoggedRequest>>,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            started: Instant::now(),
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl RequestLog {
    pub fn record(&self, emulator: &'static str, method: &str, path: &str, status: u16) {
        let at_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut entries = self.lock();
        let seq = entries.len() as u64 + 1;
        entries.push(LoggedRequest {
            seq,
            emulator,
            method: method.to_string(),
            path: path.to_string(),
            status,
            at_ms,
        });
    }

    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LoggedRequest>> {
        // Entries are pushed whole; a poisoned lock cannot leave a half-written one.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Axum middleware state: which emulator, and the shared log.
#[derive(Clone)]
pub struct LogLayer {
    pub emulator: &'static str,
    pub shared: std::sync::Arc<crate::Shared>,
}

pub async fn record(State(layer): State<LogLayer>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    // Every exchange is one round trip, the pod's too: its bytes cross the port-forward tunnel.
    if !layer.shared.latency.is_zero() {
        tokio::time::sleep(layer.shared.latency).await;
    }
    let response = next.run(request).await;
    layer
        .shared
        .log
        .record(layer.emulator, &method, &path, response.status().as_u16());
    response
}

/// Wraps `router` so every request it answers is logged under `emulator`.
pub fn logged(
    router: axum::Router,
    emulator: &'static str,
    shared: std::sync::Arc<crate::Shared>,
) -> axum::Router {
    router.layer(axum::middleware::from_fn_with_state(
        LogLayer { emulator, shared },
        record,
    ))
}
