//! RBAC as the API server applies it: every resource request is authorised as a verb on a
//! resource before anything else happens (a denied GET of a missing object is 403, not 404), and a
//! denial is a `Forbidden` Status worded as the API server words it.
//!
//! Sources: the verb comes from the HTTP method and path (get for one object, list for a
//! collection, watch with `?watch=true`; Kubernetes docs, "Authorization", "Determine the Request
//! Verb"); the message is `responsewriters.forbiddenMessage` wrapped by `apierrors.NewForbidden`
//! (kubernetes/apiserver, pkg/endpoints/handlers/responsewriters/errors.go): `nodes is forbidden:
//! User "u" cannot list resource "nodes" in API group "" at the cluster scope`. A WebSocket
//! port-forward is a GET, so it is authorised as `get` on `pods/portforward`; from Kubernetes 1.35
//! the API server also checks `create` on it (worded differently, see [`create_forbidden`]) (feature gate AuthorizePodWebsocketUpgradeCreatePermission,
//! beta and on by default, kubernetes/kubernetes#134577).

use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::status;
use crate::cluster::{Cluster, minor_version};

/// The user the sandbox's bearer token authenticates as (the kubeconfig's user).
pub const USER: &str = "sandbox-admin";

/// What a request asks for, in RBAC's terms.
struct Attributes<'a> {
    verb: &'static str,
    group: &'static str,
    /// The plural, without its subresource.
    resource: &'a str,
    subresource: Option<&'a str>,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

fn attributes<'a>(segments: &[&'a str], method: &Method, uri: &Uri) -> Option<Attributes<'a>> {
    if method != Method::GET && method != Method::HEAD {
        // Writes are refused (405) further on; nothing here is granted write access anyway.
        return None;
    }
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let (group, rest): (&'static str, &[&'a str]) = match segments {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", "discovery.k8s.io", "v1", rest @ ..] => ("discovery.k8s.io", rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(*ns), tail),
        other => (None, other),
    };
    let (resource, name, subresource) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some(*name), None),
        [resource, name, sub] => (*resource, Some(*name), Some(*sub)),
        _ => return None,
    };
    let verb = match (name, watch) {
        (_, true) => "watch",
        (Some(_), false) => "get",
        (None, false) => "list",
    };
    Some(Attributes {
        verb,
        group,
        resource,
        subresource,
        namespace,
        name,
    })
}

/// `Some(403)` when RBAC does not allow the request.
pub(super) fn check(
    cluster: &Cluster,
    segments: &[&str],
    method: &Method,
    uri: &Uri,
) -> Option<Response> {
    if cluster.denied.is_empty() {
        return None;
    }
    let attrs = attributes(segments, method, uri)?;
    let full = match attrs.subresource {
        Some(sub) => format!("{}/{sub}", attrs.resource),
        None => attrs.resource.to_string(),
    };
    let denied = |verb: &str| {
        cluster
            .denied
            .iter()
            .any(|p| p.verb == verb && p.resource == full)
    };
    let reason = cluster.deny_reason.as_deref();
    if denied(attrs.verb) {
        return Some(forbidden(&attrs, attrs.verb, &full, reason));
    }
    let streaming = matches!(attrs.subresource, Some("portforward" | "exec" | "attach"));
    let from_1_35 = minor_version(&cluster.kubernetes_version).is_some_and(|m| m >= 35);
    if streaming && from_1_35 && denied("create") {
        return Some(create_forbidden(&attrs, reason));
    }
    None
}

/// The 1.35 `create` check is not made by the authorisation filter but by the subresource's
/// `Connect` (kubernetes/kubernetes pkg/registry/core/pod/rest/subresources.go,
/// `ensureAuthorizedForVerb`), after `get` passed. It refuses with
/// `apierrors.NewForbidden(GroupResource{requestInfo.APIGroup, requestInfo.Resource},
/// requestInfo.Name, errors.New(reason))`, not with `forbiddenMessage`, and RBAC's reason for a
/// plain denial is empty (plugin/pkg/auth/authorizer/rbac/rbac.go). So the message names neither
/// the verb nor the subresource: `pods "web-1" is forbidden: `, details `{name, kind: pods}`.
fn create_forbidden(attrs: &Attributes<'_>, reason: Option<&str>) -> Response {
    let qualified = if attrs.group.is_empty() {
        attrs.resource.to_string()
    } else {
        format!("{}.{}", attrs.resource, attrs.group)
    };
    let name = attrs.name.unwrap_or_default();
    let message = format!(
        "{qualified} \"{name}\" is forbidden: {}",
        reason.unwrap_or_default()
    );
    let mut details = Map::new();
    details.insert("name".into(), json!(name));
    if !attrs.group.is_empty() {
        details.insert("group".into(), json!(attrs.group));
    }
    details.insert("kind".into(), json!(attrs.resource));
    status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &message,
        Some(Value::Object(details)),
    )
}

fn forbidden(attrs: &Attributes<'_>, verb: &str, full: &str, reason: Option<&str>) -> Response {
    let qualified = if attrs.group.is_empty() {
        attrs.resource.to_string()
    } else {
        format!("{}.{}", attrs.resource, attrs.group)
    };
    let scope = match attrs.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    // responsewriters.Forbidden: `"%s: %s", forbiddenMessage, reason` when the authorizer gave one.
    let reason = match reason {
        Some(r) if !r.is_empty() => format!(
            "User \"{USER}\" cannot {verb} resource \"{full}\" in API group \"{}\" {scope}: {r}",
            attrs.group
        ),
        _ => format!(
            "User \"{USER}\" cannot {verb} resource \"{full}\" in API group \"{}\" {scope}",
            attrs.group
        ),
    };
    let message = match attrs.name {
        Some(name) => format!("{qualified} \"{name}\" is forbidden: {reason}"),
        None => format!("{qualified} is forbidden: {reason}"),
    };
    // NewForbidden's details: name and group only when set, kind the plural.
    let mut details = Map::new();
    if let Some(name) = attrs.name {
        details.insert("name".into(), json!(name));
    }
    if !attrs.group.is_empty() {
        details.insert("group".into(), json!(attrs.group));
    }
    details.insert("kind".into(), json!(attrs.resource));
    status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &message,
        Some(Value::Object(details)),
    )
}
