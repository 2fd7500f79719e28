//! Backends (`backends/{id}`): `Single` backends with a URL (and optionally a circuit breaker,
//! TLS, proxy and credentials), and `Pool` backends that balance over Single ones.
//!
//! Sources: `apimbackends.json` (2024-05-01): PUT answers 201/200 with an ETag, not long-running;
//! DELETE requires `If-Match`. definitions.json BackendBaseParameters/BackendContractProperties:
//! `type` is `Single` (default) or `Pool`; a Single backend needs `url` (1 to 2000 characters)
//! and `protocol` (`http` or `soap`); `pool.services[]` items need `id` (a backend's resource
//! id) and take `priority` and `weight`; `circuitBreaker.rules[]` take `name`,
//! `failureCondition` (`count`, `percentage`, `interval`, `statusCodeRanges`, `errorReasons`),
//! `tripDuration` and `acceptRetryAfter`. The answers' shapes are the examples
//! ApiManagementCreateBackendProxyBackend, ...WithSimpleLoadBalancer and
//! ...WithPriorityBasedLoadBalancer (a pool shows `title`, `url` and `protocol` as null). Learn,
//! "Backends in API Management": a pool's members are existing Single backends (a pool cannot
//! contain a pool), at most 30 of them; priority 0-100 and weight 0-100; a circuit breaker has
//! exactly one rule.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::errors::validation;
use super::paging::page;
use super::resource::{
    delete_precondition, get_answer, put_answer, put_precondition, read_properties,
};
use super::state::{Apim, Entity};
use super::{Ctx, Req};

const KEPT: &[&str] = &[
    "title",
    "description",
    "resourceId",
    "properties",
    "credentials",
    "proxy",
    "tls",
    "url",
    "protocol",
    "type",
    "pool",
    "circuitBreaker",
];

/// At most this many backends in a pool (Learn, "Backends in API Management", limits).
pub const POOL_MAX: usize = 30;

pub fn contract(req: &Req, id: &str, e: &Entity) -> Value {
    let mut p: Map<String, Value> = e.props.clone();
    let pool = p.get("type").and_then(Value::as_str) == Some("Pool");
    if pool {
        for k in ["title", "url", "protocol"] {
            p.entry(k).or_insert(Value::Null);
        }
    } else {
        p.entry("type").or_insert(json!("Single"));
    }
    json!({
        "id": format!("{}/backends/{id}", req.service_id),
        "type": "Microsoft.ApiManagement/service/backends",
        "name": id,
        "properties": p,
    })
}

pub fn list(ctx: &Ctx, req: &Req) -> Response {
    let apim = ctx.lock();
    let items = apim
        .backends
        .iter()
        .map(|(id, e)| contract(req, id, e))
        .collect();
    page(req, items, "/backends")
}

pub fn get(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let apim = ctx.lock();
    get_answer(req, apim.backends.get(id), "Backend", |e| {
        contract(req, id, e)
    })
}

fn iso_duration(v: Option<&Value>) -> bool {
    v.and_then(Value::as_str).is_some_and(|s| {
        s.starts_with('P')
            && s.len() > 1
            && s[1..]
                .chars()
                .all(|c| c.is_ascii_digit() || "YMWDTHS.".contains(c))
    })
}

fn int_in(v: Option<&Value>, lo: i64, hi: i64) -> bool {
    v.is_none_or(|v| v.as_i64().is_some_and(|n| (lo..=hi).contains(&n)))
}

/// The checks APIM makes on a backend's properties, against the backends that exist.
fn check(apim: &Apim, req: &Req, id: &str, p: &Map<String, Value>) -> Result<(), Response> {
    match p.get("type").and_then(Value::as_str).unwrap_or("Single") {
        "Single" => {
            match p.get("url").and_then(Value::as_str) {
                Some(u) if !u.is_empty() && u.len() <= 2000 => {}
                Some(_) => return Err(validation("url", "'url' must be 1 to 2000 characters.")),
                None => {
                    return Err(validation(
                        "url",
                        "'url' is required for a backend of type 'Single': the runtime URL of the backend.",
                    ));
                }
            }
            match p.get("protocol").and_then(Value::as_str) {
                Some("http" | "soap") => {}
                Some(other) => {
                    return Err(validation(
                        "protocol",
                        &format!("Protocol '{other}' is not supported: use 'http' or 'soap'."),
                    ));
                }
                None => {
                    return Err(validation(
                        "protocol",
                        "'protocol' is required for a backend of type 'Single' ('http' or 'soap').",
                    ));
                }
            }
            if p.contains_key("pool") {
                return Err(validation(
                    "pool",
                    "Only a backend of type 'Pool' has 'pool'; set 'type': 'Pool' or leave 'pool' out.",
                ));
            }
        }
        "Pool" => check_pool(apim, req, id, p)?,
        other => {
            return Err(validation(
                "type",
                &format!("Backend type '{other}' is not supported: use 'Single' or 'Pool'."),
            ));
        }
    }
    if let Some(cb) = p.get("circuitBreaker") {
        check_circuit_breaker(cb)?;
    }
    Ok(())
}

fn check_pool(apim: &Apim, req: &Req, id: &str, p: &Map<String, Value>) -> Result<(), Response> {
    let services = p
        .get("pool")
        .and_then(|pool| pool.get("services"))
        .and_then(Value::as_array);
    let Some(services) = services.filter(|s| !s.is_empty()) else {
        return Err(validation(
            "pool.services",
            "A backend of type 'Pool' needs 'pool.services': at least one backend.",
        ));
    };
    if services.len() > POOL_MAX {
        return Err(validation(
            "pool.services",
            &format!(
                "A pool has at most {POOL_MAX} backends; this one lists {}.",
                services.len()
            ),
        ));
    }
    let prefix = format!("{}/backends/", req.service_id);
    for (i, s) in services.iter().enumerate() {
        let target = format!("pool.services[{i}]");
        let Some(member) = s.get("id").and_then(Value::as_str) else {
            return Err(validation(
                &target,
                "Each pool service needs 'id', a backend's resource id.",
            ));
        };
        let name = member
            .get(..prefix.len())
            .filter(|h| h.eq_ignore_ascii_case(&prefix))
            .map(|_| &member[prefix.len()..])
            .filter(|n| !n.is_empty() && !n.contains('/'));
        let Some(name) = name else {
            return Err(validation(
                &target,
                &format!(
                    "'{member}' is not the resource id of a backend of this service ('{prefix}{{backendId}}')."
                ),
            ));
        };
        if name == id {
            return Err(validation(&target, "A pool cannot contain itself."));
        }
        match apim.backends.get(name) {
            None => {
                return Err(validation(
                    &target,
                    &format!(
                        "Backend with id '{name}' could not be found: create the pool's backends first."
                    ),
                ));
            }
            Some(b) if b.props.get("type").and_then(Value::as_str) == Some("Pool") => {
                return Err(validation(
                    &target,
                    &format!(
                        "Backend '{name}' is a pool; a pool's members must be backends of type 'Single'."
                    ),
                ));
            }
            Some(_) => {}
        }
        if !int_in(s.get("priority"), 0, 100) || !int_in(s.get("weight"), 0, 100) {
            return Err(validation(
                &target,
                "'priority' and 'weight' are integers from 0 to 100.",
            ));
        }
    }
    Ok(())
}

fn check_circuit_breaker(cb: &Value) -> Result<(), Response> {
    let rules = cb.get("rules").and_then(Value::as_array);
    let Some(rules) = rules else {
        return Err(validation(
            "circuitBreaker.rules",
            "'circuitBreaker.rules' is required.",
        ));
    };
    if rules.len() != 1 {
        return Err(validation(
            "circuitBreaker.rules",
            &format!(
                "A circuit breaker has exactly one rule; this one has {}.",
                rules.len()
            ),
        ));
    }
    let rule = &rules[0];
    if rule
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(validation(
            "circuitBreaker.rules[0].name",
            "The rule needs a 'name'.",
        ));
    }
    let Some(fc) = rule.get("failureCondition") else {
        return Err(validation(
            "circuitBreaker.rules[0].failureCondition",
            "The rule needs a 'failureCondition' (count or percentage, interval, statusCodeRanges or errorReasons).",
        ));
    };
    if fc.get("count").is_none() && fc.get("percentage").is_none() {
        return Err(validation(
            "circuitBreaker.rules[0].failureCondition",
            "The failure condition needs 'count' or 'percentage'.",
        ));
    }
    if !iso_duration(fc.get("interval")) {
        return Err(validation(
            "circuitBreaker.rules[0].failureCondition.interval",
            "'interval' must be an ISO 8601 duration such as 'PT1M'.",
        ));
    }
    if let Some(ranges) = fc.get("statusCodeRanges").and_then(Value::as_array) {
        for r in ranges {
            let (min, max) = (
                r.get("min").and_then(Value::as_i64),
                r.get("max").and_then(Value::as_i64),
            );
            if !matches!((min, max), (Some(a), Some(b)) if (200..=599).contains(&a) && (200..=599).contains(&b) && a <= b)
            {
                return Err(validation(
                    "circuitBreaker.rules[0].failureCondition.statusCodeRanges",
                    "Each status code range needs 'min' and 'max', from 200 to 599, min <= max.",
                ));
            }
        }
    }
    if !iso_duration(rule.get("tripDuration")) {
        return Err(validation(
            "circuitBreaker.rules[0].tripDuration",
            "'tripDuration' must be an ISO 8601 duration such as 'PT30S'.",
        ));
    }
    Ok(())
}

/// A backend id as Azure names it: 1 to 80 characters, alphanumerics and hyphens, starting with
/// a letter and ending with an alphanumeric (Learn, "Naming rules and restrictions for Azure
/// resources", Microsoft.ApiManagement `service/backends`; apimanagement.json
/// BackendIdParameter, maxLength 80).
fn check_id(id: &str) -> Result<(), Response> {
    let ok = (1..=80).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.ends_with(|c: char| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(validation(
            "backendId",
            &format!(
                "'{id}' is not a valid backend id: 1 to 80 letters, digits and hyphens, starting with a letter and ending with a letter or digit."
            ),
        ))
    }
}

pub fn put(ctx: &Ctx, req: &Req, id: &str) -> Response {
    if let Err(r) = check_id(id) {
        return r;
    }
    let sent = match read_properties(req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut apim = ctx.lock();
    let existing = apim.backends.get(id).map(|e| e.etag);
    if let Err(r) = put_precondition(req, existing) {
        return r;
    }
    let props: Map<String, Value> = sent
        .into_iter()
        .filter(|(k, _)| KEPT.contains(&k.as_str()))
        .collect();
    if let Err(r) = check(&apim, req, id, &props) {
        return r;
    }
    if props.get("type").and_then(Value::as_str) == Some("Pool")
        && let Some(pool) = pools_containing(&apim, req, id).first()
    {
        return validation(
            "type",
            &format!(
                "Backend '{id}' is a member of pool '{pool}'; a pool's members must stay of type 'Single'."
            ),
        );
    }
    let etag = apim.next_etag();
    let entity = Entity { props, etag };
    apim.backends.insert(id.to_string(), entity.clone());
    put_answer(existing.is_some(), contract(req, id, &entity), etag)
}

/// The pools that list backend `id`.
fn pools_containing(apim: &Apim, req: &Req, id: &str) -> Vec<String> {
    let member = format!("{}/backends/{id}", req.service_id);
    apim.backends
        .iter()
        .filter(|(_, b)| {
            b.props
                .get("pool")
                .and_then(|p| p.get("services"))
                .and_then(Value::as_array)
                .is_some_and(|s| {
                    s.iter().any(|s| {
                        s.get("id")
                            .and_then(Value::as_str)
                            .is_some_and(|i| i.eq_ignore_ascii_case(&member))
                    })
                })
        })
        .map(|(k, _)| k.clone())
        .collect()
}

pub fn delete(ctx: &Ctx, req: &Req, id: &str) -> Response {
    let mut apim = ctx.lock();
    if let Err(r) = delete_precondition(req, apim.backends.get(id).map(|e| e.etag)) {
        return r;
    }
    // The sandbox is as strict as a pool needs: its members must exist.
    if let Some(pool) = pools_containing(&apim, req, id).first() {
        return validation(
            "backendId",
            &format!("Backend '{id}' is a member of pool '{pool}': remove it from the pool first."),
        );
    }
    apim.backends.remove(id);
    StatusCode::OK.into_response()
}
