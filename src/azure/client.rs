//! The ARM client: bearer tokens refreshed before they expire, ARM's error body decoded, transient
//! answers retried within bounds, and long-running operations polled to their end.

use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, IF_MATCH};
use reqwest::{Method, Url};
use serde_json::Value;

use super::credential::TokenSource;
use super::error::{ArmError, AzureError, error_chain};
use crate::inputs::Secret;

/// The Microsoft.ApiManagement api-version every call uses unless `arm-api-version` names
/// another.
pub const API_VERSION: &str = "2024-05-01";

/// Time a clean-up (deleting what a failed run staged) may still take after the run's
/// `timeout` ran out: leaving a half-made revision behind is worse than overrunning a little.
pub const CLEANUP_GRACE: Duration = Duration::from_secs(120);

/// The longest wait between two polls of a long-running operation that names no `Retry-After`.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Attempts when the endpoint cannot be reached at all.
const NETWORK_ATTEMPTS: u32 = 3;
/// Attempts while APIM says the API is busy with an import, when a deadline bounds them too.
const BUSY_ATTEMPTS: u32 = 60;

/// How hard to try before giving up. Every bound is finite: a dead endpoint fails in seconds.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per request, the first included, for 429, 5xx, 409 "in progress" and dropped
    /// connections.
    pub max_attempts: u32,
    /// Upper bound of one wait, whatever `Retry-After` asks.
    pub max_wait: Duration,
    /// First wait when the answer names none; doubles on each attempt.
    pub base_delay: Duration,
    /// Longest a long-running operation may take.
    pub lro_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_wait: Duration::from_secs(60),
            base_delay: Duration::from_secs(1),
            lro_timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// A request that is about to wait and try again, for progress output.
#[derive(Clone, Debug)]
pub struct Retry {
    /// `PUT /apis/x;rev=2`
    pub what: String,
    /// `429 SubscriptionRequestsThrottled`, `connection refused`, ...
    pub reason: String,
    pub wait: Duration,
    /// The attempt that failed, from 1.
    pub attempt: u32,
}

/// Where progress of a request goes; `&|_| {}` ignores it.
pub type OnRetry<'a> = &'a (dyn Fn(Retry) + Send + Sync);

/// One ARM request. `url` is a path under the ARM endpoint (`/subscriptions/...`, api-version
/// added when missing) or an absolute URL on it (a `Location` or `nextLink`).
#[derive(Clone, Debug)]
pub struct ArmRequest {
    pub method: Method,
    pub url: String,
    pub body: Option<Value>,
    pub if_match: Option<String>,
    /// Part of cleaning up after a failure: allowed [`CLEANUP_GRACE`] past the run's deadline.
    pub cleanup: bool,
}

impl ArmRequest {
    pub fn new(method: Method, url: impl Into<String>) -> ArmRequest {
        ArmRequest {
            method,
            url: url.into(),
            body: None,
            if_match: None,
            cleanup: false,
        }
    }

    pub fn get(url: impl Into<String>) -> ArmRequest {
        ArmRequest::new(Method::GET, url)
    }

    pub fn put(url: impl Into<String>, body: Value) -> ArmRequest {
        ArmRequest::new(Method::PUT, url).body(body)
    }

    /// A PATCH always carries `If-Match`: the entity's ETag, or `*` when none is known. APIM's
    /// update operations declare it required (IfMatchRequiredParameter, Api_Update in
    /// Microsoft.ApiManagement 2024-05-01: "or it should be * for unconditional update").
    pub fn patch(url: impl Into<String>, body: Value, etag: Option<String>) -> ArmRequest {
        ArmRequest::new(Method::PATCH, url)
            .body(body)
            .if_match(etag.unwrap_or_else(|| "*".to_string()))
    }

    pub fn delete(url: impl Into<String>) -> ArmRequest {
        ArmRequest::new(Method::DELETE, url)
    }

    pub fn body(mut self, body: Value) -> ArmRequest {
        self.body = Some(body);
        self
    }

    pub fn if_match(mut self, etag: impl Into<String>) -> ArmRequest {
        self.if_match = Some(etag.into());
        self
    }

    /// Marks a clean-up request (see [`ArmRequest::cleanup`]).
    pub fn for_cleanup(mut self) -> ArmRequest {
        self.cleanup = true;
        self
    }
}

/// A successful ARM answer.
#[derive(Clone, Debug)]
pub struct ArmResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ArmResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn etag(&self) -> Option<String> {
        self.header("etag").map(str::to_string)
    }

    /// The body as JSON; `Null` when empty or not JSON.
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `Retry-After` in seconds (ARM never sends the HTTP-date form for these).
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(&self.headers)
    }

    /// The long-running operation is not finished: 202, or `provisioningState` still moving,
    /// under `properties` or at the top level (APIOps reads both, tools/code/common/Http.cs
    /// IsProvisioningInProgress).
    pub fn in_progress(&self) -> bool {
        if self.status == 202 {
            return true;
        }
        let body = self.json();
        let state = body
            .pointer("/properties/provisioningState")
            .or_else(|| body.get("provisioningState"))
            .or_else(|| body.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("");
        matches!(
            state.to_ascii_lowercase().as_str(),
            "inprogress" | "accepted" | "creating" | "updating" | "running" | "deleting"
        )
    }
}

/// The answer a request was waiting out, for the timeout's message. A `422
/// ManagementApiRequestFailed` that never clears usually means APIM cannot reach its own
/// management endpoint (an APIM in a VNet whose NSG blocks port 3443, Learn "Virtual network
/// configuration reference: API Management"; Azure/apiops#689), or a very large import.
fn last_answer(error: &ArmError) -> String {
    let mut last = format!("{} {}", error.status, error.code);
    if error.status == 422
        && error
            .code
            .eq_ignore_ascii_case("ManagementApiRequestFailed")
    {
        last.push_str(": APIM could not reach its management endpoint (VNet/NSG, port 3443), or the import is still running");
    }
    last
}

/// `10m`, `90s`, as the `timeout` input is written.
fn shown(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else if secs == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{secs}s")
    }
}

/// The wait before the next poll: the answer's `Retry-After` (never 0, see [`retry_after`]),
/// else 1 s doubling with each poll made so far, up to [`MAX_POLL_INTERVAL`].
fn poll_interval(retry_after: Option<Duration>, polls: u32) -> Duration {
    retry_after
        .unwrap_or_else(|| (Duration::from_secs(1) * (1u32 << polls.min(5))).min(MAX_POLL_INTERVAL))
}

/// `Retry-After` in seconds; `0` counts as absent, as the Azure SDKs for Go and .NET treat it
/// (a zero wait would poll or retry in a tight loop), so the caller's own back-off applies.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
}

struct Cached {
    token: Secret,
    obtained: SystemTime,
    expires: Option<SystemTime>,
}

impl Cached {
    /// Fresh until less than half its life, or five minutes, is left.
    fn fresh(&self, now: SystemTime) -> bool {
        let Some(expires) = self.expires else {
            return true;
        };
        let lifetime = expires
            .duration_since(self.obtained)
            .unwrap_or(Duration::ZERO);
        let margin = (lifetime / 2).min(Duration::from_secs(300));
        match expires.duration_since(now) {
            Ok(left) => left > margin,
            Err(_) => false,
        }
    }
}

/// A signed-in client of Azure Resource Manager.
pub struct ArmClient {
    http: reqwest::Client,
    base: Url,
    source: TokenSource,
    method: String,
    cache: tokio::sync::Mutex<Option<Cached>>,
    policy: RetryPolicy,
    portal: String,
    /// ARM throttles per subscription and identity, not per request: after a 429 every request of
    /// this client (all the services of a run) waits until then, so one shared back-off slows the
    /// run down instead of each service hammering ARM and failing on its own.
    throttled_until: std::sync::Mutex<Option<tokio::time::Instant>>,
    api_version: String,
    /// The end of the run's `timeout`, and the timeout itself for messages.
    deadline: Option<(tokio::time::Instant, Duration)>,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("base", &self.base.as_str())
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl ArmClient {
    pub(crate) fn new(
        http: reqwest::Client,
        base: Url,
        source: TokenSource,
        method: String,
    ) -> ArmClient {
        ArmClient {
            http,
            base,
            source,
            method,
            cache: tokio::sync::Mutex::new(None),
            policy: RetryPolicy::default(),
            portal: "https://portal.azure.com".into(),
            throttled_until: std::sync::Mutex::new(None),
            api_version: API_VERSION.to_string(),
            deadline: None,
        }
    }

    /// A client that sends `token` as is (no refresh), for tools and tests that already hold one.
    pub fn with_token(
        http: reqwest::Client,
        arm_endpoint: &str,
        token: Secret,
    ) -> Result<ArmClient, AzureError> {
        let base = Url::parse(arm_endpoint).map_err(|e| AzureError::Input {
            mode: "token".into(),
            message: format!("the ARM endpoint {arm_endpoint} is not a URL: {e}"),
        })?;
        Ok(ArmClient::new(
            http,
            base,
            TokenSource::Static(token),
            "the given access token".into(),
        ))
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> ArmClient {
        self.policy = policy;
        self
    }

    /// The Azure portal of this cloud, for links in the report.
    pub fn with_portal(mut self, portal: impl Into<String>) -> ArmClient {
        self.portal = portal.into();
        self
    }

    /// The `arm-api-version` input: the api-version added to every request that has none.
    pub fn with_api_version(mut self, version: impl Into<String>) -> ArmClient {
        self.api_version = version.into();
        self
    }

    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The `timeout` input: no wait (retry or poll) goes past `deadline`; the error then names
    /// the input. `timeout` is the input's value, for that message.
    pub fn with_deadline(mut self, deadline: tokio::time::Instant, timeout: Duration) -> ArmClient {
        self.deadline = Some((deadline, timeout));
        self
    }

    /// Errs, naming the `timeout` input, when waiting `wait` more would pass the run's deadline
    /// (a clean-up has [`CLEANUP_GRACE`] more).
    fn check_deadline(
        &self,
        what: &str,
        wait: Duration,
        cleanup: bool,
        last: &str,
    ) -> Result<(), AzureError> {
        let Some((deadline, timeout)) = self.deadline else {
            return Ok(());
        };
        let deadline = if cleanup {
            deadline + CLEANUP_GRACE
        } else {
            deadline
        };
        if tokio::time::Instant::now() + wait > deadline {
            return Err(AzureError::RunTimeout {
                what: what.to_string(),
                timeout: shown(timeout),
                last: last.to_string(),
            });
        }
        Ok(())
    }

    pub fn portal(&self) -> &str {
        &self.portal
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The ARM endpoint, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// How this client signed in, for messages and the report.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The HTTP client (with the extra CA roots), for calls that are not ARM's (export links).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A bearer token for ARM, refreshed when close to expiry or when `force`d.
    pub(crate) async fn token(&self, force: bool) -> Result<Secret, AzureError> {
        let mut cache = self.cache.lock().await;
        if !force
            && let Some(c) = cache.as_ref()
            && c.fresh(SystemTime::now())
        {
            return Ok(c.token.clone());
        }
        let obtained = SystemTime::now();
        let (token, expires) = self.source.fetch(&self.method).await?;
        *cache = Some(Cached {
            token: token.clone(),
            obtained,
            expires,
        });
        Ok(token)
    }

    /// Signs in now, so a refusal shows before any work starts.
    pub async fn check_sign_in(&self) -> Result<(), AzureError> {
        self.token(false).await.map(|_| ())
    }

    fn resolve(&self, url: &str) -> Result<Url, AzureError> {
        // A `.` or `..` segment (also as `%2E`) would be resolved away by the URL parser and
        // address another resource than the one named (`…/apis/..` is the APIM service):
        // refused before parsing, whatever built the path.
        let path = url.split(['?', '#']).next().unwrap_or("");
        if path.split('/').any(|s| {
            let s = s.to_ascii_lowercase().replace("%2e", ".");
            s == "." || s == ".."
        }) {
            return Err(AzureError::DotSegment {
                path: path.to_string(),
            });
        }
        let mut parsed = if url.starts_with('/') {
            let joined = format!("{}{url}", self.base_url());
            Url::parse(&joined).map_err(|e| AzureError::Input {
                mode: "arm-endpoint".into(),
                message: format!("{joined} is not a valid URL: {e}"),
            })?
        } else {
            let parsed = Url::parse(url).map_err(|_| AzureError::ForeignLink {
                url: url.to_string(),
                base: self.base_url().to_string(),
            })?;
            // Links come from ARM's answers; the bearer token goes to ARM's own origin only.
            if parsed.origin() != self.base.origin() {
                return Err(AzureError::ForeignLink {
                    url: url.to_string(),
                    base: self.base_url().to_string(),
                });
            }
            parsed
        };
        if !parsed.query_pairs().any(|(k, _)| k == "api-version") {
            parsed
                .query_pairs_mut()
                .append_pair("api-version", &self.api_version);
        }
        Ok(parsed)
    }

    /// Sends one request, retrying 429/5xx (honouring `Retry-After`), 409 "in progress", dropped
    /// connections, and one 401 with a fresh token. Any other non-2xx answer is an error.
    pub async fn send(
        &self,
        req: ArmRequest,
        on_retry: OnRetry<'_>,
    ) -> Result<ArmResponse, AzureError> {
        let url = self.resolve(&req.url)?;
        let what = format!("{} {}", req.method, url.path());
        let body = match &req.body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| AzureError::BadResponse {
                what: what.clone(),
                snippet: e.to_string(),
            })?),
            None => None,
        };
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            self.wait_out_throttling().await;
            let token = self.token(false).await?;
            let mut rb = self
                .http
                .request(req.method.clone(), url.clone())
                .bearer_auth(token.expose())
                .header("accept", "application/json");
            if let Some(b) = &body {
                rb = rb.header(CONTENT_TYPE, "application/json").body(b.clone());
            }
            if let Some(m) = &req.if_match {
                rb = rb.header(IF_MATCH, m);
            }
            let sent = rb.send().await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    // A dead endpoint rarely comes back within seconds: few tries, then say so.
                    if attempt < self.policy.max_attempts.min(NETWORK_ATTEMPTS)
                        && (e.is_connect() || e.is_timeout() || e.is_request())
                    {
                        let wait = self.backoff(attempt);
                        self.check_deadline(&what, wait, req.cleanup, &error_chain(&e))?;
                        on_retry(Retry {
                            what: what.clone(),
                            reason: error_chain(&e),
                            wait,
                            attempt,
                        });
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(AzureError::Unreachable {
                        what: "Azure Resource Manager".into(),
                        url: self.base_url().to_string(),
                        message: error_chain(&e),
                    });
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.map_err(|e| AzureError::Unreachable {
                what: "Azure Resource Manager".into(),
                url: self.base_url().to_string(),
                message: error_chain(&e),
            })?;
            if (200..300).contains(&status) {
                return Ok(ArmResponse {
                    status,
                    headers,
                    body: bytes.to_vec(),
                });
            }
            let request_id = headers
                .get("x-ms-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let error = ArmError::from_response(
                req.method.as_str(),
                url.path(),
                status,
                &bytes,
                request_id,
            );
            // APIM answers 409 PessimisticConcurrencyConflict, and 422 ManagementApiRequestFailed,
            // while an import of the same API still runs (Azure/apiops#141, #379, #497, #689):
            // those are waited out until the run's deadline, not counted as attempts.
            let busy = error.is_busy();
            let transient = matches!(status, 429 | 500 | 502 | 503 | 504) || busy;
            match status {
                401 if !refreshed && self.source.can_refresh() => {
                    refreshed = true;
                    self.token(true).await?;
                    continue;
                }
                401 => {
                    return Err(AzureError::Unauthorized {
                        method: self.method.clone(),
                        hint: if self.source.can_refresh() {
                            "The identity signed in, but ARM does not accept its token: check azure-cloud/arm-endpoint match the tenant's cloud.".into()
                        } else {
                            "The access-token input is expired or not a token for Azure Resource Manager; get a fresh one (`az account get-access-token`).".into()
                        },
                        error: Box::new(error),
                    });
                }
                403 => {
                    return Err(AzureError::Forbidden {
                        method: self.method.clone(),
                        error: Box::new(error),
                    });
                }
                _ if transient
                    && (attempt < self.policy.max_attempts
                        || (busy && self.deadline.is_some() && attempt < BUSY_ATTEMPTS)) =>
                {
                    let wait = retry_after(&headers)
                        .unwrap_or_else(|| self.backoff(attempt))
                        .min(self.policy.max_wait);
                    self.check_deadline(&what, wait, req.cleanup, &last_answer(&error))?;
                    on_retry(Retry {
                        what: what.clone(),
                        reason: format!("{} {}: {}", error.status, error.code, error.message),
                        wait,
                        attempt,
                    });
                    if status == 429 {
                        // The loop's next turn waits with every other request of this client.
                        self.throttle_for(wait);
                    } else {
                        tokio::time::sleep(wait).await;
                    }
                }
                _ => return Err(AzureError::Arm(Box::new(error))),
            }
        }
    }

    fn throttled(&self) -> std::sync::MutexGuard<'_, Option<tokio::time::Instant>> {
        // Only an instant is stored; a panic elsewhere cannot leave it half-written.
        self.throttled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes the shared back-off to at least `wait` from now.
    fn throttle_for(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut t = self.throttled();
        if t.is_none_or(|t| t < until) {
            *t = Some(until);
        }
    }

    /// Waits while ARM has asked this client to back off (it may ask again meanwhile).
    async fn wait_out_throttling(&self) {
        loop {
            let until = *self.throttled();
            match until {
                Some(until) if until > tokio::time::Instant::now() => {
                    tokio::time::sleep_until(until).await
                }
                _ => return,
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(10);
        (self.policy.base_delay * factor).min(self.policy.max_wait)
    }

    /// Follows a long-running operation the `accepted` answer started: polls its `Location`
    /// (or `Azure-AsyncOperation`) honouring `Retry-After` until it ends. The poll's own error
    /// (a failed import) is the one returned. `on_poll` hears each poll's number.
    ///
    /// A poll's `Retry-After` is honoured; without one the interval doubles from 1 s up to
    /// 30 s, so a long import is not polled once a second for ever. The run's deadline bounds
    /// it all (`cleanup`: with [`CLEANUP_GRACE`] more).
    pub async fn wait(
        &self,
        accepted: ArmResponse,
        what: &str,
        cleanup: bool,
        on_retry: OnRetry<'_>,
        on_poll: &(dyn Fn(u32) + Send + Sync),
    ) -> Result<ArmResponse, AzureError> {
        if !accepted.in_progress() {
            return Ok(accepted);
        }
        let location = accepted.header("location").map(str::to_string);
        let async_op = accepted.header("azure-asyncoperation").map(str::to_string);
        if location.is_none() && async_op.is_none() {
            return Ok(accepted);
        }
        let started = std::time::Instant::now();
        let mut polls = 0u32;
        let mut wait = poll_interval(accepted.retry_after(), polls);
        let poll = |url: &String| {
            let get = ArmRequest::get(url.clone());
            if cleanup { get.for_cleanup() } else { get }
        };
        loop {
            if started.elapsed() + wait > self.policy.lro_timeout {
                return Err(AzureError::Timeout {
                    what: what.to_string(),
                    secs: self.policy.lro_timeout.as_secs(),
                });
            }
            let wait_now = wait.min(self.policy.max_wait);
            self.check_deadline(what, wait_now, cleanup, "still running")?;
            tokio::time::sleep(wait_now).await;
            polls += 1;
            on_poll(polls);
            if let Some(loc) = &location {
                let r = self.send(poll(loc), on_retry).await?;
                // On APIM's `?asyncId=` poll only 200 is done: 201 (like 202) is still running,
                // and the answer carries no provisioningState (terraform-provider-azurerm,
                // custompollers/api_management_api_poller.go).
                if r.status == 201 || r.in_progress() {
                    wait = poll_interval(r.retry_after(), polls);
                    continue;
                }
                return Ok(r);
            }
            if let Some(op) = &async_op {
                let r = self.send(poll(op), on_retry).await?;
                let body = r.json();
                let status = body.get("status").and_then(Value::as_str).unwrap_or("");
                match status.to_ascii_lowercase().as_str() {
                    "succeeded" => return Ok(r),
                    "failed" | "canceled" | "cancelled" => {
                        let url = Url::parse(op)
                            .map(|u| u.path().to_string())
                            .unwrap_or_default();
                        return Err(AzureError::Arm(Box::new(ArmError::from_response(
                            "GET",
                            &url,
                            r.status,
                            &r.body,
                            r.header("x-ms-request-id").map(str::to_string),
                        ))));
                    }
                    _ => {
                        wait = poll_interval(r.retry_after(), polls);
                    }
                }
            }
        }
    }

    /// GETs a list and every further page. APIM's list answers carry `count`, the total across
    /// all pages, and a `nextLink` that continues with `$skip` (Microsoft.ApiManagement
    /// 2024-05-01: every `*Collection` has `value`, `count`, `nextLink`; the list operations take
    /// `$skip`). When the first page says how many items there are and how far it went, the
    /// remaining pages are the same link with other `$skip` values, and are read together: one
    /// wait instead of one per page, and no more requests than following `nextLink`. Should the
    /// pages not add up (the list changed between them, or a server pages differently), the list
    /// is read again page after page through `nextLink`.
    pub async fn get_all(
        &self,
        url: &str,
        on_retry: OnRetry<'_>,
    ) -> Result<Vec<Value>, AzureError> {
        let r = self
            .send(ArmRequest::get(url.to_string()), on_retry)
            .await?;
        let first = r.json();
        let mut out = page_items(&first);
        let Some(next) = next_link(&first) else {
            return Ok(out);
        };
        if let Some(links) = remaining_pages(&first, out.len(), &next) {
            let pages = futures_util::future::try_join_all(links.into_iter().map(|link| async {
                let r = self.send(ArmRequest::get(link), on_retry).await?;
                Ok::<_, AzureError>(r.json())
            }))
            .await?;
            let last_ends = pages.last().is_some_and(|p| next_link(p).is_none());
            let total = first.get("count").and_then(Value::as_u64);
            for page in &pages {
                out.extend(page_items(page));
            }
            if last_ends && total == Some(out.len() as u64) {
                return Ok(out);
            }
            out = page_items(&first);
        }
        self.follow(out, next, on_retry).await
    }

    /// Follows `nextLink` page after page from `next`, after the items already read.
    async fn follow(
        &self,
        mut out: Vec<Value>,
        next: String,
        on_retry: OnRetry<'_>,
    ) -> Result<Vec<Value>, AzureError> {
        let mut next = Some(next);
        let mut pages = 1;
        while let Some(u) = next.take() {
            pages += 1;
            let r = self.send(ArmRequest::get(u), on_retry).await?;
            let body = r.json();
            out.extend(page_items(&body));
            next = next_link(&body);
            if pages > 1000 {
                break;
            }
        }
        Ok(out)
    }
}

fn page_items(body: &Value) -> Vec<Value> {
    body.get("value")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// APIM spells "no further page" as a missing, null or empty nextLink.
fn next_link(body: &Value) -> Option<String> {
    body.get("nextLink")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The links of every page after the first, when the first page tells them: its `count`, its
/// size, and a `nextLink` whose `$skip` is that size (the link's other parameters are kept as the
/// server wrote them). `None` when any of that is missing, or the list is too long to read at once.
fn remaining_pages(first: &Value, shown: usize, next: &str) -> Option<Vec<String>> {
    const MAX_PAGES_AT_ONCE: usize = 16;
    let count = usize::try_from(first.get("count")?.as_u64()?).ok()?;
    let (_, query) = next.split_once('?')?;
    // The value's place in the link as the server wrote it, `$` encoded or not.
    let (at, name) = ["$skip=", "%24skip="].iter().find_map(|name| {
        let at = query
            .split('&')
            .scan(0usize, |pos, pair| {
                let here = *pos;
                *pos += pair.len() + 1;
                Some((here, pair))
            })
            .find(|(_, pair)| pair.starts_with(name))?
            .0;
        Some((next.len() - query.len() + at, *name))
    })?;
    let digits = next[at + name.len()..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    let skip: usize = next[at + name.len()..at + name.len() + digits]
        .parse()
        .ok()?;
    if shown == 0 || skip != shown || count <= skip {
        return None;
    }
    let skips: Vec<usize> = (skip..count).step_by(shown).collect();
    if skips.len() > MAX_PAGES_AT_ONCE {
        return None;
    }
    let (head, tail) = (&next[..at + name.len()], &next[at + name.len() + digits..]);
    Some(
        skips
            .into_iter()
            .map(|s| format!("{head}{s}{tail}"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remaining_pages_keep_the_servers_link_but_its_skip() {
        let first = serde_json::json!({"value": [1, 2, 3], "count": 8});
        let next = "https://arm.test/apis/a/operations?api-version=2024-05-01&$skip=3";
        assert_eq!(
            remaining_pages(&first, 3, next),
            Some(vec![
                "https://arm.test/apis/a/operations?api-version=2024-05-01&$skip=3".to_string(),
                "https://arm.test/apis/a/operations?api-version=2024-05-01&$skip=6".to_string(),
            ])
        );
        let encoded = "https://arm.test/x?%24skip=3&api-version=2024-05-01";
        assert_eq!(
            remaining_pages(&first, 3, encoded).map(|l| l[1].clone()),
            Some("https://arm.test/x?%24skip=6&api-version=2024-05-01".to_string())
        );
        // Without a count, with a skip that is not the page's size, or with a token instead of
        // a skip, the pages are followed one by one.
        let uncounted = serde_json::json!({"value": [1, 2, 3]});
        assert_eq!(remaining_pages(&uncounted, 3, next), None);
        assert_eq!(remaining_pages(&first, 2, next), None);
        assert_eq!(
            remaining_pages(&first, 3, "https://arm.test/x?$skiptoken=abc"),
            None
        );
    }

    #[test]
    fn provisioning_state_is_read_at_both_levels() {
        let answer = |status: u16, body: &str| ArmResponse {
            status,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        };
        assert!(answer(201, r#"{"properties":{"provisioningState":"InProgress"}}"#).in_progress());
        assert!(answer(200, r#"{"provisioningState":"Updating"}"#).in_progress());
        assert!(!answer(200, r#"{"provisioningState":"Succeeded"}"#).in_progress());
        assert!(answer(202, "").in_progress());
        assert!(!answer(200, r#"{"properties":{}}"#).in_progress());
    }

    #[test]
    fn a_timeout_on_422_says_what_it_usually_means() {
        let e = ArmError::from_response(
            "PUT",
            "/p",
            422,
            br#"{"error":{"code":"ManagementApiRequestFailed","message":"x"}}"#,
            None,
        );
        let text = AzureError::RunTimeout {
            what: "PUT /p".into(),
            timeout: "10m".into(),
            last: last_answer(&e),
        }
        .to_string();
        assert!(text.contains("port 3443"), "{text}");
        assert!(text.contains("timeout input is 10m"), "{text}");
        let other = ArmError::from_response("PUT", "/p", 503, b"", None);
        assert_eq!(last_answer(&other), "503 HttpStatus503");
    }

    #[test]
    fn dot_segments_never_leave() {
        let arm = ArmClient::with_token(
            crate::azure::http_client(None).unwrap(),
            "https://management.azure.com",
            Secret::new("t".to_string()),
        )
        .unwrap();
        for path in [
            "/s/service/a/apis/..",
            "/s/service/a/apis/%2E%2e",
            "/s/service/a/products/./apis/x",
            "/s/service/a/apis/%2E?format=x",
        ] {
            let e = arm.resolve(path).unwrap_err();
            assert!(matches!(e, AzureError::DotSegment { .. }), "{path}: {e}");
            assert_eq!(e.exit(), crate::exit::Exit::Input);
        }
        assert!(arm.resolve("/s/service/a/apis/v1.2").is_ok());
        assert!(arm.resolve("/s/service/a/apis/a..b").is_ok());
    }

    #[test]
    fn polls_honour_retry_after_else_back_off_to_a_bound() {
        assert_eq!(
            poll_interval(Some(Duration::from_secs(7)), 9),
            Duration::from_secs(7)
        );
        let mut zero = HeaderMap::new();
        zero.insert("retry-after", "0".parse().unwrap());
        assert_eq!(retry_after(&zero), None, "0 is no wait at all: back off");
        assert_eq!(poll_interval(retry_after(&zero), 0), Duration::from_secs(1));
        zero.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&zero), Some(Duration::from_secs(3)));
        let waits: Vec<u64> = (0..8).map(|p| poll_interval(None, p).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn tokens_refresh_before_expiry() {
        let now = SystemTime::now();
        let c = Cached {
            token: Secret::new("t"),
            obtained: now,
            expires: Some(now + Duration::from_secs(3600)),
        };
        assert!(c.fresh(now));
        assert!(!c.fresh(now + Duration::from_secs(3400)));
        let short = Cached {
            token: Secret::new("t"),
            obtained: now,
            expires: Some(now + Duration::from_secs(2)),
        };
        assert!(short.fresh(now));
        assert!(!short.fresh(now + Duration::from_millis(1100)));
        let fixed = Cached {
            token: Secret::new("t"),
            obtained: now,
            expires: None,
        };
        assert!(fixed.fresh(now + Duration::from_secs(86_400)));
    }
}
