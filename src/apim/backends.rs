//! The APIM backends `backend: pool` keeps: one `Single` backend per eligible Ready node (with a
//! circuit breaker) and one `Pool` backend over them, or one `Single` backend for an internal
//! load balancer; written, read back and compared before the revision is staged, and those of
//! nodes that have left removed only after the release.
//!
//! Backends are service-wide, not per revision (Microsoft.ApiManagement 2024-05-01,
//! `apimbackends.json`: `/service/{serviceName}/backends/{backendId}`), so the order is what keeps
//! the live API working:
//!
//! 1. node backends and the pool are created or updated before the revision is staged: the
//!    staged policy's `set-backend-service backend-id` must name an existing backend (APIM
//!    refuses the policy otherwise, Azure/apiops#56), and a pool's members must exist before the
//!    pool (Learn, "Backends in API Management": a pool lists existing single backends);
//! 2. the live API is not harmed by step 1: a live policy that already routes to the pool now
//!    reaches the nodes that are Ready (a node that left is out of the pool, a new one in), and
//!    a live API that does not route to the pool yet does not see it. A changed nodePort changes
//!    the node backends' URLs here too, before the release: that is safe because the Service in
//!    the cluster already has the new nodePort and kube-proxy no longer answers on the old one
//!    (Kubernetes, "Service": a nodePort is the Service's, allocated and released with it), so the
//!    old URLs already fail; the new ones are the only ones that answer;
//! 3. backends this gate made for this API that are no longer wanted (nodes that left, or the
//!    other routing after a switch between pool and load balancer) are deleted only after the
//!    release, pool before members (a pool's member cannot go while the pool lists it), and only
//!    when their description still carries the marker [`MANAGED`] for this API: a backend
//!    someone else made is never touched, nor overwritten.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::ctx::Ctx;
use super::target::encode;
use super::{ApiTarget, ApimError, Cleanup, Event, Observer};
use crate::azure::{ArmClient, ArmRequest, AzureError};

/// Written into the description of every backend the gate manages, followed by the API id and
/// `;`: `apim-gate managed api=petstore; ...`. An API id has no `;` (APIM's ApiIdParameter
/// forbids it, see [`crate::inputs::check_apim_id`]), so the id ends there.
pub const MANAGED: &str = "apim-gate managed api=";

/// The circuit breaker every node backend carries: 3 failures (a 5xx answer, or a connection
/// APIM could not make) within one minute take the node out of the pool for 30 seconds.
///
/// Field names: definitions.json (2024-05-01) BackendCircuitBreaker / CircuitBreakerRule /
/// CircuitBreakerFailureCondition (`count`, `interval`, `statusCodeRanges` of `min`/`max`,
/// `errorReasons`), `tripDuration` and `acceptRetryAfter`; the shape is Learn's ("Backends in
/// API Management", circuit breaker, ARM tab). `BackendConnectionFailure` is the error reason
/// APIM's gateway gives a request whose backend connection failed (GatewayLogs `errorReason`,
/// Learn "Troubleshooting 5xx errors with Azure APIM services", the Tech Community article on
/// "BackendConnectionFailure: The underlying connection was closed").
pub fn circuit_breaker() -> Value {
    json!({"rules": [{
        "name": "apim-gate-node-down",
        "failureCondition": {
            "count": 3,
            "interval": "PT1M",
            "statusCodeRanges": [{"min": 500, "max": 599}],
            "errorReasons": ["BackendConnectionFailure"],
        },
        "tripDuration": "PT30S",
        "acceptRetryAfter": false,
    }]})
}

/// A node's backend, as wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBackend {
    pub node: String,
    /// `http://<InternalIP>:<nodePort>` with the document's base path.
    pub url: String,
}

/// How APIM reaches the service with `backend: pool`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// One backend per eligible Ready node, and a pool over them.
    Nodes(Vec<NodeBackend>),
    /// One address that outlives nodes (an internal load balancer, or the `agent-ip` input):
    /// one backend, no pool. It has no circuit breaker: with nothing to fail over to, an open
    /// circuit would only turn a slow moment into 30 seconds of 503s.
    Single { url: String, kind: SingleKind },
}

/// What the single address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SingleKind {
    /// The Service's internal load balancer (survives node replacement by itself).
    LoadBalancer,
    /// The `agent-ip` input: a host the user chose.
    AgentIp,
}

impl SingleKind {
    /// The backend id's suffix: `{api-id}-lb`, `{api-id}-agent-ip`.
    pub fn suffix(self) -> &'static str {
        match self {
            SingleKind::LoadBalancer => "lb",
            SingleKind::AgentIp => "agent-ip",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            SingleKind::LoadBalancer => "internal load balancer",
            SingleKind::AgentIp => "agent-ip host",
        }
    }
}

/// The backends the run wants for one API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendPlan {
    pub api_id: String,
    pub routing: Routing,
}

/// What [`ensure`] did, and what is left to remove after the release.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendsOutcome {
    /// The backend the API's policy routes to (`set-backend-service backend-id`).
    pub routing_id: String,
    /// Sentences: each backend created or updated (or, in a dry run, that would be).
    pub written: Vec<String>,
    /// Backends of this API the gate made that are no longer wanted: pools first.
    pub stale: Vec<String>,
    /// Sentences: what was removed after the release.
    pub removed: Vec<String>,
}

/// `{api-id}-{suffix}` as APIM takes a backend id: 1 to 80 characters, alphanumerics and
/// hyphens, starting with a letter and ending with an alphanumeric (Learn, "Naming rules and
/// restrictions for Azure resources", Microsoft.ApiManagement `service/backends`;
/// apimanagement.json BackendIdParameter, maxLength 80). Anything else becomes `-`; a name that
/// had to change, or is too long, ends with 8 hex digits of its SHA-256, so two node names that
/// differ only in a `.` or `_` keep apart.
pub fn backend_id(api_id: &str, suffix: &str) -> String {
    const MAX: usize = 80;
    let raw = format!("{api_id}-{suffix}");
    let mut id = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && id.ends_with('-')) {
            id.push(c);
        }
    }
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.insert_str(0, "b-");
    }
    let id = id.trim_end_matches('-').to_string();
    if id == raw && id.len() <= MAX {
        return id;
    }
    let hash: String = Sha256::digest(raw.as_bytes())
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let keep = MAX - hash.len() - 1;
    let head = id.get(..keep.min(id.len())).unwrap_or(&id);
    format!("{}-{hash}", head.trim_end_matches('-'))
}

impl BackendPlan {
    /// The backend the API's policy routes to.
    pub fn routing_id(&self) -> String {
        match &self.routing {
            Routing::Nodes(_) => backend_id(&self.api_id, "nodes"),
            Routing::Single { kind, .. } => backend_id(&self.api_id, kind.suffix()),
        }
    }

    fn description(&self, rest: &str) -> String {
        format!("{MANAGED}{}; {rest}", self.api_id)
    }

    /// `(id, properties)` of each wanted backend, members before the pool that lists them.
    fn wanted(&self, target: &ApiTarget) -> Vec<(String, Value)> {
        match &self.routing {
            Routing::Single { url, kind } => vec![(
                self.routing_id(),
                json!({
                    "description": self.description(&format!("the {} APIM calls; kept by apim-gate", kind.describe())),
                    "url": url,
                    "protocol": "http",
                }),
            )],
            Routing::Nodes(nodes) => {
                let mut out: Vec<(String, Value)> = nodes
                    .iter()
                    .map(|n| {
                        (
                            backend_id(&self.api_id, &n.node),
                            json!({
                                "description": self.description(&format!("node {}; removed by apim-gate when the node leaves", n.node)),
                                "url": n.url,
                                "protocol": "http",
                                "circuitBreaker": circuit_breaker(),
                            }),
                        )
                    })
                    .collect();
                let services: Vec<Value> = out
                    .iter()
                    .map(|(id, _)| json!({"id": backend_resource_id(target, id)}))
                    .collect();
                out.push((
                    self.routing_id(),
                    json!({
                        "description": self.description("pool of the Ready nodes; kept by apim-gate"),
                        "type": "Pool",
                        "pool": {"services": services},
                    }),
                ));
                out
            }
        }
    }
}

/// The ARM resource id of a backend, literal, as a pool's `services[].id` carries it (spec
/// example ApiManagementCreateBackendWithSimpleLoadBalancer; ids in bodies are not URL paths).
fn backend_resource_id(target: &ApiTarget, id: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/backends/{id}",
        target.subscription_id, target.resource_group, target.apim_service
    )
}

fn backend_url(target: &ApiTarget, id: &str) -> String {
    format!("{}/backends/{}", target.service_path(), encode(id))
}

/// Whether a backend's description says the gate manages it for API `api_id`.
fn managed_for(props: &Value, api_id: &str) -> bool {
    props
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| d.contains(&format!("{MANAGED}{api_id};")))
}

/// What differs between a backend as wanted and as APIM holds it, as sentences; empty when it
/// is as wanted. Only what the gate sets is compared (APIM adds `title`, `tls` and nulls).
fn differences(id: &str, want: &Value, have: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    for key in ["url", "protocol", "description"] {
        let (w, h) = (text(want, key), text(have, key));
        if w.trim_end_matches('/') != h.trim_end_matches('/') && !(w.is_empty() && h.is_empty()) {
            out.push(format!("backend '{id}' has {key} '{h}', not '{w}'"));
        }
    }
    let kind = |v: &Value| text(v, "type").to_ascii_lowercase();
    let (wk, hk) = (kind(want), kind(have));
    if wk == "pool" && hk != "pool" {
        out.push(format!("backend '{id}' is not of type Pool"));
    }
    if want.get("circuitBreaker") != have.get("circuitBreaker")
        && !rules_match(want.get("circuitBreaker"), have.get("circuitBreaker"))
    {
        out.push(format!(
            "backend '{id}' has circuit breaker {}, not {}",
            have.get("circuitBreaker").unwrap_or(&Value::Null),
            want.get("circuitBreaker").unwrap_or(&Value::Null)
        ));
    }
    let members = |v: &Value| {
        let mut m: Vec<String> = v
            .pointer("/pool/services")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("id").and_then(Value::as_str))
            .map(|s| s.rsplit('/').next().unwrap_or(s).to_ascii_lowercase())
            .collect();
        m.sort();
        m
    };
    if wk == "pool" && members(want) != members(have) {
        out.push(format!(
            "pool '{id}' lists [{}], not [{}]",
            members(have).join(", "),
            members(want).join(", ")
        ));
    }
    out
}

/// Circuit breakers compare by what decides tripping, whatever order or absent defaults APIM
/// answers with (a `null` versus absent `acceptRetryAfter`, numbers as numbers).
fn rules_match(want: Option<&Value>, have: Option<&Value>) -> bool {
    let key = |v: Option<&Value>| {
        let rule = v.and_then(|v| v.pointer("/rules/0"))?;
        let fc = rule.get("failureCondition")?;
        let mut reasons: Vec<String> = fc
            .get("errorReasons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        reasons.sort();
        Some((
            fc.get("count").and_then(Value::as_i64),
            fc.get("interval")
                .and_then(Value::as_str)
                .map(str::to_string),
            fc.get("statusCodeRanges").cloned(),
            reasons,
            rule.get("tripDuration")
                .and_then(Value::as_str)
                .map(str::to_string),
            v.and_then(|v| v.get("rules"))
                .and_then(Value::as_array)
                .map(Vec::len),
        ))
    };
    key(want).is_some() && key(want) == key(have)
}

/// The backends of the APIM instance, by id (lower case: ids compare without case).
async fn list(ctx: &Ctx<'_>) -> Result<BTreeMap<String, (String, Value)>, AzureError> {
    let items = ctx
        .arm
        .get_all(
            &format!("{}/backends", ctx.target.service_path()),
            &ctx.on_retry(),
        )
        .await?;
    Ok(items
        .into_iter()
        .filter_map(|b| {
            let name = b.get("name").and_then(Value::as_str)?.to_string();
            let props = b.get("properties").cloned().unwrap_or(Value::Null);
            Some((name.to_ascii_lowercase(), (name, props)))
        })
        .collect())
}

fn step_error(ctx: &Ctx<'_>, step: String, error: AzureError) -> ApimError {
    ApimError::Step {
        api: ctx.target.api_id.clone(),
        step,
        error: Box::new(error),
        hint: " Nothing was staged, so the live API and its routing are as they were.".into(),
        cleanup: Cleanup::Nothing,
    }
}

/// Creates or updates the wanted backends (members, then the pool), reads them back and
/// compares; names what is stale. A dry run only compares. Nothing else is written.
pub async fn ensure(
    arm: &ArmClient,
    target: &ApiTarget,
    plan: &BackendPlan,
    dry_run: bool,
    observer: &dyn Observer,
) -> Result<BackendsOutcome, ApimError> {
    let ctx = Ctx {
        observer,
        ..Ctx::reading(arm, target)
    };
    let existing = list(&ctx)
        .await
        .map_err(|e| step_error(&ctx, "Listing the backends of the APIM instance".into(), e))?;
    let wanted = plan.wanted(target);
    let mut outcome = BackendsOutcome {
        routing_id: plan.routing_id(),
        ..BackendsOutcome::default()
    };
    let mut writes = Vec::new();
    for (id, props) in &wanted {
        match existing.get(&id.to_ascii_lowercase()) {
            Some((name, have)) if !managed_for(have, &plan.api_id) => {
                return Err(ApimError::Target(format!(
                    "backend '{name}' exists in the APIM instance but was not made by apim-gate for API '{}' (its description lacks '{MANAGED}{};'), so the gate neither overwrites nor uses it. Rename or delete that backend, or publish under another api-id.",
                    plan.api_id, plan.api_id
                )));
            }
            Some((_, have)) if differences(id, props, have).is_empty() => {}
            Some(_) => writes.push((id, props, "update")),
            None => writes.push((id, props, "create")),
        }
    }
    let wanted_ids: Vec<String> = wanted
        .iter()
        .map(|(id, _)| id.to_ascii_lowercase())
        .collect();
    let mut stale: Vec<(bool, String)> = existing
        .iter()
        .filter(|(key, (_, props))| !wanted_ids.contains(key) && managed_for(props, &plan.api_id))
        .map(|(_, (name, props))| {
            let pool = props
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("pool"));
            (!pool, name.clone())
        })
        .collect();
    stale.sort();
    outcome.stale = stale.into_iter().map(|(_, name)| name).collect();
    for (id, props, verb) in &writes {
        let what = match props.get("url").and_then(Value::as_str) {
            Some(url) => format!("{verb} backend '{id}' ({url})"),
            None => format!(
                "{verb} pool '{id}' over {} backend(s)",
                props
                    .pointer("/pool/services")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            ),
        };
        if !dry_run {
            ctx.observer.event(Event::Writing { what: what.clone() });
            // IfMatchOptionalParameter: "required when updating an entity"; the marker was
            // checked on the list just read, so any ETag of it will do.
            let mut put = ArmRequest::put(backend_url(target, id), json!({"properties": props}));
            if *verb == "update" {
                put = put.if_match("*");
            }
            ctx.send(put)
                .await
                .map_err(|e| step_error(&ctx, format!("Writing backend '{id}'"), e))?;
        }
        outcome.written.push(what);
    }
    if dry_run || writes.is_empty() {
        return Ok(outcome);
    }
    // Read back, as a revision is: what APIM holds, not what was sent, decides.
    let now = list(&ctx)
        .await
        .map_err(|e| step_error(&ctx, "Reading the backends back".into(), e))?;
    let mut found = Vec::new();
    for (id, props) in &wanted {
        match now.get(&id.to_ascii_lowercase()) {
            Some((_, have)) => found.extend(differences(id, props, have)),
            None => found.push(format!("backend '{id}' is missing after it was written")),
        }
    }
    if !found.is_empty() {
        return Err(ApimError::Verification {
            api: plan.api_id.clone(),
            what: format!("the backends of API '{}'", plan.api_id),
            differences: found,
            cleanup: Cleanup::Nothing,
        });
    }
    ctx.observer.event(Event::Found {
        what: format!(
            "backends of API '{}' verified: {} routes to {}",
            plan.api_id,
            outcome.routing_id,
            match &plan.routing {
                Routing::Nodes(n) => format!("{} node(s)", n.len()),
                Routing::Single { kind, .. } => format!("the {}", kind.describe()),
            }
        ),
    });
    Ok(outcome)
}

/// After the release: deletes the stale backends (pools first), each only if it still carries
/// this API's marker, with its own ETag. A failure here does not undo a release: it is said, and
/// the next run tries again.
pub async fn remove_stale(
    arm: &ArmClient,
    target: &ApiTarget,
    outcome: &mut BackendsOutcome,
    observer: &dyn Observer,
) -> Vec<String> {
    let ctx = Ctx {
        observer,
        ..Ctx::reading(arm, target)
    };
    let mut problems = Vec::new();
    for id in std::mem::take(&mut outcome.stale) {
        let url = backend_url(target, &id);
        let r = match ctx.send(ArmRequest::get(url.clone())).await {
            Ok(r) => r,
            Err(e) if e.status() == Some(404) => continue,
            Err(e) => {
                problems.push(format!("backend '{id}' was not removed: reading it failed ({e}); the next run tries again"));
                continue;
            }
        };
        let props = r.json().get("properties").cloned().unwrap_or(Value::Null);
        if !managed_for(&props, &target.api_id) {
            continue;
        }
        ctx.observer.event(Event::Writing {
            what: format!("DELETE backend '{id}', no longer wanted"),
        });
        let mut delete = ArmRequest::new(Method::DELETE, url);
        delete = match r.etag() {
            Some(etag) => delete.if_match(etag),
            None => delete.if_match("*"),
        };
        match ctx.send(delete).await {
            Ok(_) => {
                ctx.observer.event(Event::CleanedUp {
                    what: format!("backend '{id}' removed"),
                });
                outcome.removed.push(format!("removed backend '{id}' (no longer wanted)"));
            }
            Err(e) if e.status() == Some(404) => {}
            Err(e) => problems.push(format!(
                "backend '{id}' was not removed ({e}); the release stands and the next run tries again"
            )),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_apims_backend_id_rules() {
        let valid = |id: &str| {
            id.len() <= 80
                && id.starts_with(|c: char| c.is_ascii_alphabetic())
                && id.ends_with(|c: char| c.is_ascii_alphanumeric())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        assert_eq!(
            backend_id("petstore", "aks-nodepool1-12345678-vmss000000"),
            "petstore-aks-nodepool1-12345678-vmss000000"
        );
        assert_eq!(backend_id("petstore", "nodes"), "petstore-nodes");
        for (api, suffix) in [
            ("orders.v2", "node-1"),
            ("2fa_api", "ip-10-0-0-1.ec2.internal"),
            (&"a".repeat(80) as &str, "aks-nodepool1-12345678-vmss000000"),
            ("api", "node-"),
        ] {
            let id = backend_id(api, suffix);
            assert!(valid(&id), "{id}");
        }
        // Names differing only where sanitising folds them keep apart.
        assert_ne!(backend_id("api", "node.1"), backend_id("api", "node_1"));
        // Long names stay unique by their hash, and stable.
        let long = "n".repeat(90);
        assert_eq!(backend_id("api", &long), backend_id("api", &long));
        assert_ne!(
            backend_id("api", &long),
            backend_id("api", &format!("{long}x"))
        );
    }

    #[test]
    fn a_backend_as_wanted_has_no_differences_and_a_changed_one_has() {
        let target = ApiTarget {
            subscription_id: "s".into(),
            resource_group: "rg".into(),
            apim_service: "apim".into(),
            api_id: "api".into(),
            api_path: "api".into(),
            display_name: None,
            protocols: Vec::new(),
            subscription_required: true,
            products: Vec::new(),
        };
        let plan = BackendPlan {
            api_id: "api".into(),
            routing: Routing::Nodes(vec![NodeBackend {
                node: "n1".into(),
                url: "http://10.0.0.4:30080".into(),
            }]),
        };
        let wanted = plan.wanted(&target);
        assert_eq!(wanted.len(), 2);
        let (id, node) = &wanted[0];
        assert!(differences(id, node, node).is_empty());
        assert!(managed_for(node, "api"));
        assert!(!managed_for(node, "ap"));
        let mut moved = node.clone();
        moved["url"] = json!("http://10.0.0.9:30080");
        moved["circuitBreaker"]["rules"][0]["failureCondition"]["count"] = json!(5);
        let d = differences(id, node, &moved);
        assert_eq!(d.len(), 2, "{d:?}");
        let (pool_id, pool) = &wanted[1];
        assert_eq!(pool_id, "api-nodes");
        let mut fewer = pool.clone();
        fewer["pool"]["services"] = json!([]);
        assert!(differences(pool_id, pool, &fewer)[0].contains("lists []"));
    }
}
