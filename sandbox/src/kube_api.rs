//! The Kubernetes API server emulator: bearer-token authentication, discovery (`/version`, `/api`,
//! `/apis`, …), GET/LIST/WATCH of Services, Pods, Nodes, Namespaces, Endpoints and EndpointSlices
//! with label and field selectors, `Status` objects for every error, RBAC denials ([`rbac`]), the
//! `kube-5xx`, `kube-503` and `kube-429` faults, and pod port-forward ([`portforward`]).
//!
//! Only reads are served: apim-gate and the clients it is checked against never write to the
//! cluster, so writes answer 405 rather than pretending to succeed.

mod objects;
mod portforward;
mod rbac;
mod selectors;
mod table;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Shared;
use crate::cluster::{Cluster, ClusterHandle};
pub use objects::{KUBERNETES_VERSION, Resource, timestamp};
use selectors::{FieldSelector, LabelSelector};

#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
    /// The cluster as it is now: `/_sandbox/nodes` and `/_sandbox/services/{svc}/nodeport`
    /// replace it, so each request reads one snapshot ([`Api::cluster`]).
    cluster: Arc<ClusterHandle>,
    /// How many `kube-5xx` faults have fired, to alternate 503 and 500.
    faults_fired: Arc<AtomicU64>,
}

pub fn router(shared: Arc<Shared>, cluster: Arc<ClusterHandle>) -> Router {
    Router::new().fallback(dispatch).with_state(Api {
        shared,
        cluster,
        faults_fired: Arc::new(AtomicU64::new(0)),
    })
}

impl Api {
    /// The cluster now; a request keeps this one snapshot from start to end.
    fn cluster(&self) -> Arc<Cluster> {
        self.cluster.get()
    }
}

/// A `Status` object, the body of every API error.
fn status(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    });
    if let Some(details) = details {
        body["details"] = details;
    }
    body["code"] = json!(code.as_u16());
    json_response(code, &body)
}

fn not_found(plural: &str, name: &str) -> Response {
    let kind = plural.split('.').next().unwrap_or(plural);
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{kind} \"{name}\" not found"),
        Some(json!({"name": name, "kind": kind})),
    )
}

fn no_such_path() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn bad_request(message: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut response = (code, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    if let Ok(id) = HeaderValue::from_str(&crate::tokens::guid()) {
        headers.insert("audit-id", id);
    }
    response
}

fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// Endpoints kube-apiserver's `system:public-info-viewer` role opens to anonymous callers.
fn public(path: &str) -> bool {
    matches!(path, "/version" | "/healthz" | "/livez" | "/readyz")
}

async fn dispatch(
    State(api): State<Api>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    request: Request,
) -> Response {
    let path = request.uri().path().to_string();
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let authorized = match authorization {
        Some(value) => value
            .strip_prefix("Bearer ")
            .is_some_and(|t| t.trim() == api.shared.identity.kube_token),
        None => public(&path),
    };
    if !authorized {
        return status(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            None,
        );
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let is_portforward = segments.len() == 7
        && segments[..3] == ["api", "v1", "namespaces"]
        && segments[4] == "pods"
        && segments[6] == "portforward";
    if let Some(denied) = rbac::check(&api.cluster(), &segments, request.method(), request.uri()) {
        return denied;
    }
    // Long-running requests (port-forward, exec) bypass the API server's in-flight limits
    // (apiserver/pkg/server/filters/maxinflight.go, longRunningRequestCheck), so no fault hits them.
    if !is_portforward {
        if api.shared.faults.take("kube-5xx") {
            return injected_failure(&api);
        }
        if api.shared.faults.take("kube-503") {
            return unavailable();
        }
        if api.shared.faults.take("kube-429") {
            return too_many_requests();
        }
    }
    let query: Vec<(String, String)> = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    if is_portforward {
        return portforward::handle(&api, segments[3], segments[5], ws, &query);
    }
    let method = request.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return route_kind(&segments).map_or_else(no_such_path, |_| {
            status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Some(json!({})),
            )
        });
    }
    match segments.as_slice() {
        ["version"] => ok(&version(&api.cluster().kubernetes_version)),
        ["healthz"] | ["livez"] | ["readyz"] => (StatusCode::OK, "ok").into_response(),
        ["api"] => ok(&json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("{}:443", objects::APISERVER_IP)}],
        })),
        ["api", "v1"] => ok(&core_resources()),
        ["apis"] => ok(&json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [discovery_group()],
        })),
        ["apis", "discovery.k8s.io"] => {
            let mut group = discovery_group();
            group["kind"] = json!("APIGroup");
            group["apiVersion"] = json!("v1");
            ok(&group)
        }
        ["apis", "discovery.k8s.io", "v1"] => ok(&discovery_resources()),
        _ => match route_kind(&segments) {
            Some(route) => {
                let accept = request
                    .headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                serve(&api, route, &query, table::wanted(accept))
            }
            None => no_such_path(),
        },
    }
}

/// What a resource path asks for.
struct Route<'a> {
    resource: Resource,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

fn route_kind<'a>(segments: &[&'a str]) -> Option<Route<'a>> {
    let route = |resource, namespace, name| {
        Some(Route {
            resource,
            namespace,
            name,
        })
    };
    match segments {
        ["api", "v1", "namespaces", ns, plural] => {
            let r = Resource::core(plural)?;
            r.namespaced().then_some(())?;
            route(r, Some(*ns), None)
        }
        ["api", "v1", "namespaces", ns, plural, name] => {
            let r = Resource::core(plural)?;
            r.namespaced().then_some(())?;
            route(r, Some(*ns), Some(*name))
        }
        ["api", "v1", "namespaces", name] => route(Resource::Namespaces, None, Some(*name)),
        ["api", "v1", plural] => route(Resource::core(plural)?, None, None),
        ["api", "v1", plural, name] => {
            let r = Resource::core(plural)?;
            (!r.namespaced()).then_some(())?;
            route(r, None, Some(*name))
        }
        ["apis", "discovery.k8s.io", "v1", "endpointslices"] => {
            route(Resource::EndpointSlices, None, None)
        }
        [
            "apis",
            "discovery.k8s.io",
            "v1",
            "namespaces",
            ns,
            "endpointslices",
        ] => route(Resource::EndpointSlices, Some(*ns), None),
        [
            "apis",
            "discovery.k8s.io",
            "v1",
            "namespaces",
            ns,
            "endpointslices",
            name,
        ] => route(Resource::EndpointSlices, Some(*ns), Some(*name)),
        _ => None,
    }
}

fn query_value<'q>(query: &'q [(String, String)], key: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn serve(api: &Api, route: Route<'_>, query: &[(String, String)], as_table: bool) -> Response {
    let cluster = api.cluster();
    let view = objects::View::new(&cluster);
    let deprecation = (route.resource == Resource::Endpoints).then_some(
        "299 - \"v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice\"",
    );
    let mut response = if let Some(name) = route.name {
        let scope = objects::Scope {
            namespace: route.namespace,
            name: Some(name),
            ..Default::default()
        };
        let objects = view.objects(route.resource, &scope);
        match objects.into_iter().find(|o| o["metadata"]["name"] == name) {
            Some(object) if as_table => ok(&table_of(route.resource, &[object], &view)),
            Some(object) => ok(&object),
            None => not_found(route.resource.plural(), name),
        }
    } else {
        let labels = match LabelSelector::parse(query_value(query, "labelSelector").unwrap_or("")) {
            Ok(s) => s,
            Err(message) => return bad_request(&message),
        };
        let fields = match FieldSelector::parse(
            query_value(query, "fieldSelector").unwrap_or(""),
            route.resource,
        ) {
            Ok(s) => s,
            Err(message) => return bad_request(&message),
        };
        if matches!(query_value(query, "watch"), Some("true" | "1")) {
            return watch(api, route.resource, route.namespace, labels, fields, query);
        }
        let scope = objects::Scope {
            namespace: route.namespace,
            labels: Some(&labels),
            ..Default::default()
        };
        let items: Vec<Value> = view
            .objects(route.resource, &scope)
            .into_iter()
            .filter(|o| labels.matches(o) && fields.matches(o))
            .collect();
        if as_table {
            ok(&table_of(route.resource, &items, &view))
        } else {
            list(route.resource, items, &view.list_version(), query)
        }
    };
    if let Some(warning) = deprecation
        && let Ok(value) = HeaderValue::from_str(warning)
    {
        response.headers_mut().insert(header::WARNING, value);
    }
    response
}

fn table_of(resource: Resource, objects: &[Value], view: &objects::View<'_>) -> Value {
    let now = crate::tokens::now_secs();
    table::render(resource, objects, &view.list_version(), |created| {
        objects::parse_timestamp(created).map_or(0, |t| now.saturating_sub(t))
    })
}

/// A `…List`, honouring `limit` and `continue` (an opaque offset here).
fn list(
    resource: Resource,
    items: Vec<Value>,
    version: &str,
    query: &[(String, String)],
) -> Response {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let start = match query_value(query, "continue").filter(|c| !c.is_empty()) {
        None => 0,
        Some(token) => match STANDARD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix("offset:")
                    .and_then(|n| n.parse::<usize>().ok())
            }) {
            Some(n) => n,
            None => {
                return bad_request(
                    "continue key is not valid: illegal base64 data at input byte 0",
                );
            }
        },
    };
    let limit = query_value(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let total = items.len();
    let mut page: Vec<Value> = items.into_iter().skip(start).collect();
    let mut metadata = json!({"resourceVersion": version});
    if let Some(limit) = limit
        && page.len() > limit
    {
        page.truncate(limit);
        let next = start + limit;
        metadata["continue"] = json!(STANDARD.encode(format!("offset:{next}")));
        metadata["remainingItemCount"] = json!(total - next);
    }
    // Items of a list carry no kind/apiVersion, as kube-apiserver sends them.
    for item in &mut page {
        if let Some(map) = item.as_object_mut() {
            map.remove("kind");
            map.remove("apiVersion");
        }
    }
    ok(&json!({
        "kind": format!("{}List", resource.kind()),
        "apiVersion": resource.api_version(),
        "metadata": metadata,
        "items": page,
    }))
}

/// `?watch=true`: ADDED for what exists (or only what changed after `resourceVersion`), then
/// MODIFIED as readiness changes, until `timeoutSeconds` or shutdown.
fn watch(
    api: &Api,
    resource: Resource,
    namespace: Option<&str>,
    labels: LabelSelector,
    fields: FieldSelector,
    query: &[(String, String)],
) -> Response {
    let since = query_value(query, "resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0);
    let timeout = query_value(query, "timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1800);
    struct WatchState {
        cluster: Arc<ClusterHandle>,
        resource: Resource,
        namespace: Option<String>,
        labels: LabelSelector,
        fields: FieldSelector,
        known: HashMap<String, u64>,
        since: Option<u64>,
        queue: VecDeque<Bytes>,
        deadline: Instant,
        shutdown: tokio::sync::watch::Receiver<bool>,
    }
    let state = WatchState {
        cluster: api.cluster.clone(),
        resource,
        namespace: namespace.map(str::to_string),
        labels,
        fields,
        known: HashMap::new(),
        since,
        queue: VecDeque::new(),
        deadline: Instant::now() + Duration::from_secs(timeout),
        shutdown: api.cluster().shutdown.clone(),
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(event) = st.queue.pop_front() {
                return Some((Ok::<Bytes, Infallible>(event), st));
            }
            if Instant::now() >= st.deadline || *st.shutdown.borrow() {
                return None;
            }
            // Each poll sees the cluster as it is now: a node deleted meanwhile is gone.
            let cluster = st.cluster.get();
            let view = objects::View::new(&cluster);
            let scope = objects::Scope {
                namespace: st.namespace.as_deref(),
                labels: Some(&st.labels),
                ..Default::default()
            };
            for object in view.objects(st.resource, &scope) {
                if !(st.labels.matches(&object) && st.fields.matches(&object)) {
                    continue;
                }
                let uid = object["metadata"]["uid"].as_str().unwrap_or("").to_string();
                let rv = object["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                let kind = match st.known.get(&uid) {
                    None if st.since.is_some_and(|s| rv <= s) => None,
                    None => Some("ADDED"),
                    Some(old) if *old != rv => Some("MODIFIED"),
                    Some(_) => None,
                };
                st.known.insert(uid, rv);
                if let Some(kind) = kind {
                    let mut line = json!({"type": kind, "object": object}).to_string();
                    line.push('\n');
                    st.queue.push_back(Bytes::from(line));
                }
            }
            if st.queue.is_empty() {
                let mut shutdown = st.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = shutdown.changed() => return None,
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    response
}

fn injected_failure(api: &Api) -> Response {
    let fired = api.faults_fired.fetch_add(1, Ordering::Relaxed);
    if fired.is_multiple_of(2) {
        status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            Some(
                json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "etcdserver: leader changed"}]}),
            ),
        )
    } else {
        status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
            Some(json!({"causes": [{"message": "etcdserver: request timed out"}]})),
        )
    }
}

/// `kube-503`: a Status with `details.retryAfterSeconds`, which the API server also writes as a
/// `Retry-After` header (apiserver/pkg/endpoints/handlers/responsewriters/errors.go, ErrorNegotiated).
fn unavailable() -> Response {
    let mut response = status(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the server is currently unable to handle the request",
        Some(json!({"retryAfterSeconds": 1})),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// `kube-429`: the in-flight limit's answer is plain text, not a Status, with `Retry-After: 1`
/// (apiserver/pkg/server/filters/maxinflight.go, tooManyRequests, written with Go's http.Error).
fn too_many_requests() -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests, please try again later.\n",
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn version(kubernetes_version: &str) -> Value {
    let (major, minor) = kubernetes_version
        .trim_start_matches('v')
        .split_once('.')
        .map(|(a, b)| (a.to_string(), b.split('.').next().unwrap_or("").to_string()))
        .unwrap_or_default();
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": (minor.parse::<u32>().unwrap_or(1).saturating_sub(1)).to_string(),
        "gitVersion": kubernetes_version,
        "gitCommit": "0e8f1ad4a33b03b4b9e5bf6fdc7e54d3e4d6a5a1",
        "gitTreeState": "clean",
        "buildDate": "2025-09-10T04:12:28Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn discovery_group() -> Value {
    let gv = json!({"groupVersion": "discovery.k8s.io/v1", "version": "v1"});
    json!({"name": "discovery.k8s.io", "versions": [gv], "preferredVersion": gv})
}

/// One `APIResource`; the verbs are the ones served here.
fn api_resource(name: &str, singular: &str, namespaced: bool, kind: &str, short: &[&str]) -> Value {
    let mut r = json!({
        "name": name,
        "singularName": singular,
        "namespaced": namespaced,
        "kind": kind,
        "verbs": ["get", "list", "watch"],
    });
    if !short.is_empty() {
        r["shortNames"] = json!(short);
    }
    r
}

fn core_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            api_resource("endpoints", "endpoints", true, "Endpoints", &["ep"]),
            api_resource("namespaces", "namespace", false, "Namespace", &["ns"]),
            api_resource("nodes", "node", false, "Node", &["no"]),
            api_resource("pods", "pod", true, "Pod", &["po"]),
            {"name": "pods/portforward", "singularName": "", "namespaced": true, "kind": "PodPortForwardOptions", "verbs": ["create", "get"]},
            api_resource("services", "service", true, "Service", &["svc"]),
        ],
    })
}

fn discovery_resources() -> Value {
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": "discovery.k8s.io/v1",
        "resources": [api_resource("endpointslices", "endpointslice", true, "EndpointSlice", &[])],
    })
}
