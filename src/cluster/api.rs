//! Reads from the Kubernetes API with bounded retries on 5xx, 429 (honouring the wait the API
//! server asks for, up to a limit) and dropped connections, and errors that name what was being
//! read; a 403 is never retried and names the permission missing.

// kube's errors go through the one conversion every error takes (URLs lose query and user).
pub use crate::redact::error_chain;
use std::future::Future;
use std::time::Duration;

use kube::Api;
use kube::api::ListParams;
use serde::de::DeserializeOwned;

use super::{ClusterError, Connection};

/// Attempts per request: enough to ride out an etcd leader change or a burst of throttling.
const ATTEMPTS: u32 = 5;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Kube<'a> {
    pub conn: &'a Connection,
}

impl<'a> Kube<'a> {
    pub fn new(conn: &'a Connection) -> Kube<'a> {
        Kube { conn }
    }

    pub fn namespaced<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.conn.client.clone(), namespace)
    }

    pub fn all<K>(&self) -> Api<K>
    where
        K: kube::Resource,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::all(self.conn.client.clone())
    }

    /// GET one object; `Ok(None)` for 404.
    pub async fn get_opt<K>(
        &self,
        api: &Api<K>,
        name: &str,
        what: &str,
    ) -> Result<Option<K>, ClusterError>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug,
    {
        self.retry(what, || api.get_opt(name)).await
    }

    pub async fn list<K>(
        &self,
        api: &Api<K>,
        params: &ListParams,
        what: &str,
    ) -> Result<Vec<K>, ClusterError>
    where
        K: Clone + DeserializeOwned + std::fmt::Debug,
    {
        self.retry(what, || api.list(params)).await.map(|l| l.items)
    }

    async fn retry<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut backoff = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(REQUEST_TIMEOUT, call()).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(ClusterError::Timeout {
                        what: what.to_string(),
                        secs: REQUEST_TIMEOUT.as_secs(),
                    });
                }
            };
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let Some(wait) = retry_wait(&error, backoff) else {
                return Err(self.explain(error, what, attempt));
            };
            if attempt >= ATTEMPTS || wait > MAX_WAIT {
                return Err(self.explain(error, what, attempt));
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_WAIT);
            attempt += 1;
        }
    }

    pub fn explain(&self, e: kube::Error, what: &str, attempts: u32) -> ClusterError {
        let url = self.conn.url.clone();
        match e {
            kube::Error::Api(status) if status.code == 401 => ClusterError::Unauthorized {
                url,
                user: self.conn.user.clone(),
            },
            kube::Error::Api(status) if status.code == 403 => forbidden(url, what, &status.message),
            kube::Error::Api(status) => ClusterError::Api {
                url,
                what: what.to_string(),
                message: format!(
                    "HTTP {} {}: {}{}",
                    status.code,
                    reason_phrase(status.code),
                    status.message,
                    retried(attempts)
                ),
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) => ClusterError::Unreachable {
                url,
                what: what.to_string(),
                message: format!("{}{}", error_chain(&e), retried(attempts)),
            },
            other => ClusterError::Api {
                url,
                what: what.to_string(),
                message: error_chain(&other),
            },
        }
    }
}

/// Longest wait a `Retry-After` may ask for before the gate stops instead: a pipeline step should
/// fail with the reason rather than sit silent.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// How long to wait before trying again, or `None` when the error is not worth a retry (4xx other
/// than 429: a 403 stays a 403).
fn retry_wait(e: &kube::Error, backoff: Duration) -> Option<Duration> {
    match e {
        kube::Error::Api(status) => match status.code {
            // The API server sends `details.retryAfterSeconds` with the Retry-After header when it
            // answers with a Status; its in-flight limiter answers 429 in plain text with
            // `Retry-After: 1` (maxinflight.go), which kube turns into a Status without details.
            429 | 503 | 504 => {
                let asked = status
                    .details
                    .as_ref()
                    .map(|d| d.retry_after_seconds)
                    .filter(|s| *s > 0)
                    .map(|s| Duration::from_secs(u64::from(s)));
                Some(match (asked, status.code) {
                    (Some(asked), _) => asked,
                    (None, 429) => backoff.max(Duration::from_secs(1)),
                    (None, _) => backoff,
                })
            }
            code if code >= 500 => Some(backoff),
            _ => None,
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => Some(backoff),
        _ => None,
    }
}

fn reason_phrase(code: u16) -> &'static str {
    hyper::StatusCode::from_u16(code)
        .ok()
        .and_then(|c| c.canonical_reason())
        .unwrap_or("")
}

/// A 403 with the verb and resource the API server named (`cannot list resource "nodes" in API
/// group "" at the cluster scope`), and what to grant.
pub fn forbidden(url: String, what: &str, message: &str) -> ClusterError {
    forbidden_for(url, what, message, Missing::parse(message))
}

/// A 403 on opening a port-forward. The `get` check (the authorisation filter) names verb and
/// resource; the `create` check Kubernetes 1.35 adds runs later, in the subresource's `Connect`
/// (kubernetes pkg/registry/core/pod/rest/subresources.go, `ensureAuthorizedForVerb`), and
/// refuses with `pods "web-1" is forbidden: ` and the authorizer's reason, usually empty. A
/// port-forward 403 that names no verb is therefore the missing `create`.
pub fn port_forward_forbidden(
    url: String,
    what: &str,
    namespace: &str,
    message: &str,
) -> ClusterError {
    let missing = Missing::parse(message).unwrap_or_else(|| Missing {
        verb: "create".to_string(),
        resource: "pods/portforward".to_string(),
        group: String::new(),
        scope: format!("in the namespace \"{namespace}\""),
        namespace: Some(namespace.to_string()),
        // `errors.New(reason)` after `is forbidden: `: empty for a plain RBAC denial.
        reason: message
            .split_once(" is forbidden: ")
            .map(|(_, r)| r.trim().to_string())
            .filter(|r| !r.is_empty()),
    });
    forbidden_for(url, what, message, Some(missing))
}

fn forbidden_for(url: String, what: &str, message: &str, missing: Option<Missing>) -> ClusterError {
    let grant = match &missing {
        Some(m) => m.grant(),
        None => "Give it the rules in the README's Permissions section.".to_string(),
    };
    ClusterError::Forbidden {
        url,
        what: what.to_string(),
        missing: missing.map(|m| m.sentence()).unwrap_or_default(),
        message: message.to_string(),
        grant,
    }
}

/// The permission a Forbidden Status names.
struct Missing {
    verb: String,
    resource: String,
    group: String,
    /// `in the namespace "x"` or `at the cluster scope`.
    scope: String,
    namespace: Option<String>,
    /// What the authorizer added after the scope, e.g. a ClusterRole a binding names but that
    /// does not exist.
    reason: Option<String>,
}

impl Missing {
    fn parse(message: &str) -> Option<Missing> {
        let after = message.split(" cannot ").nth(1)?;
        let (verb, rest) = after.split_once(" resource \"")?;
        let (resource, rest) = rest.split_once('"')?;
        let rest = rest.strip_prefix(" in API group \"")?;
        let (group, rest) = rest.split_once('"')?;
        let rest = rest.trim_start();
        // The authorizer's reason follows the scope after `: ` when it gave one
        // (kubernetes/apiserver responsewriters/errors.go `Forbidden`: `"%s: %s", msg, reason`;
        // RBAC: `RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`, AKS adds its own).
        let (scope, namespace, rest) = if let Some(after) = rest.strip_prefix("in the namespace \"")
        {
            let (ns, rest) = after.split_once('"')?;
            (
                format!("in the namespace \"{ns}\""),
                Some(ns.to_string()),
                rest,
            )
        } else {
            let rest = rest.strip_prefix("at the cluster scope")?;
            ("at the cluster scope".to_string(), None, rest)
        };
        let reason = rest
            .trim_start()
            .strip_prefix(':')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        Some(Missing {
            verb: verb.trim().to_string(),
            resource: resource.to_string(),
            group: group.to_string(),
            scope,
            namespace,
            reason,
        })
    }

    /// `it may not list nodes (at the cluster scope). `, with the authorizer's reason if any.
    fn sentence(&self) -> String {
        let reason = match &self.reason {
            Some(r) => format!("; the authorizer's reason: {r}"),
            None => String::new(),
        };
        format!(
            "it may not {} {} ({}{reason}). ",
            self.verb, self.resource, self.scope
        )
    }

    fn grant(&self) -> String {
        let verbs = if self.resource == "pods/portforward" {
            "\"get\", \"create\"".to_string()
        } else {
            format!("\"{}\"", self.verb)
        };
        let rule = format!(
            "apiGroups: [\"{}\"], resources: [\"{}\"], verbs: [{verbs}]",
            self.group, self.resource
        );
        let can_i = match self.resource.split_once('/') {
            Some((resource, sub)) => format!("{} {resource} --subresource={sub}", self.verb),
            None => format!("{} {}", self.verb, self.resource),
        };
        let portforward = if self.resource == "pods/portforward" {
            " A WebSocket port-forward needs `get` on pods/portforward, and from Kubernetes 1.35 `create` too: grant both."
        } else {
            ""
        };
        match &self.namespace {
            Some(ns) => format!(
                "Grant it with a Role in namespace {ns} (rule {rule}) and a RoleBinding to the pipeline's identity; check with `kubectl auth can-i {can_i} -n {ns}`.{portforward} See the README's Permissions section."
            ),
            None => format!(
                "The resource {} is cluster-scoped: grant it with a ClusterRole (rule {rule}) and a ClusterRoleBinding to the pipeline's identity{}. See the README's Permissions section.",
                self.resource,
                if self.resource == "nodes" {
                    ", or avoid it: nodes are read only to find a NodePort address, so the agent-ip input or address: load-balancer needs none"
                } else {
                    ""
                }
            ),
        }
    }
}

fn retried(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespaced_refusal_with_an_rbac_reason_keeps_its_namespace() {
        let m = Missing::parse(
            r#"pods is forbidden: User "ci" cannot list resource "pods" in API group "" in the namespace "apps": RBAC: clusterrole.rbac.authorization.k8s.io "reader" not found"#,
        )
        .unwrap();
        assert_eq!(m.verb, "list");
        assert_eq!(m.namespace.as_deref(), Some("apps"));
        assert_eq!(m.scope, r#"in the namespace "apps""#);
        assert_eq!(
            m.reason.as_deref(),
            Some(r#"RBAC: clusterrole.rbac.authorization.k8s.io "reader" not found"#)
        );
        assert!(
            m.grant().contains("Role in namespace apps"),
            "{}",
            m.grant()
        );
        assert!(m.sentence().contains("\"reader\" not found"));
    }

    #[test]
    fn a_cluster_scope_refusal_with_a_webhook_reason() {
        let m = Missing::parse(
            r#"nodes is forbidden: User "ci" cannot list resource "nodes" in API group "" at the cluster scope: User does not have access to the resource in Azure. Update role assignment to allow access."#,
        )
        .unwrap();
        assert_eq!(m.namespace, None);
        assert_eq!(m.scope, "at the cluster scope");
        assert!(m.reason.as_deref().unwrap().contains("role assignment"));
        assert!(m.grant().contains("ClusterRole"));
    }

    #[test]
    fn a_port_forward_refusal_without_a_verb_is_the_create_check() {
        let e = port_forward_forbidden(
            "https://k".into(),
            "the port-forward",
            "apps",
            r#"pods "web-1" is forbidden: RBAC: clusterrole.rbac.authorization.k8s.io "x" not found"#,
        )
        .to_string();
        assert!(
            e.contains(r#"it may not create pods/portforward (in the namespace "apps"; the authorizer's reason: RBAC: clusterrole"#),
            "{e}"
        );
        assert!(e.contains(r#"verbs: ["get", "create"]"#), "{e}");
    }

    #[test]
    fn a_refusal_without_reason_has_none() {
        let m = Missing::parse(
            r#"services "web" is forbidden: User "ci" cannot get resource "services" in API group "" in the namespace "default""#,
        )
        .unwrap();
        assert_eq!(m.namespace.as_deref(), Some("default"));
        assert_eq!(m.reason, None);
        assert_eq!(
            m.sentence(),
            r#"it may not get services (in the namespace "default"). "#
        );
    }
}
