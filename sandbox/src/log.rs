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
    /// Milliseconds since the sandbox started, when the answer was ready.
    pub at_ms: u64,
    /// Microseconds since the sandbox started: when the request arrived (before the configured
    /// latency) and when its answer was ready. A client that waits for one answer before sending
    /// the next request makes intervals that do not overlap; the bench counts such chains.
    pub start_us: u64,
    pub end_us: u64,
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
        self.record_from(Instant::now(), emulator, method, path, status);
    }

    /// Records a request that arrived at `arrived`.
    pub fn record_from(
        &self,
        arrived: Instant,
        emulator: &'static str,
        method: &str,
        path: &str,
        status: u16,
    ) {
        let elapsed = self.started.elapsed();
        let at_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let end_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let start_us = u64::try_from(arrived.saturating_duration_since(self.started).as_micros())
            .unwrap_or(u64::MAX);
        let mut entries = self.lock();
        let seq = entries.len() as u64 + 1;
        entries.push(LoggedRequest {
            seq,
            emulator,
            method: method.to_string(),
            path: path.to_string(),
            status,
            at_ms,
            start_us,
            end_us,
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
    let arrived = Instant::now();
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
    layer.shared.log.record_from(
        arrived,
        layer.emulator,
        &method,
        &path,
        response.status().as_u16(),
    );
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
