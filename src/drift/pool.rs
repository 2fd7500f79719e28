//! Pool drift, for `backend: pool`: rule `drift-pool-members` (the pool's members are not the
//! eligible Ready nodes; a warning when the only difference is a new node not in it yet, since
//! every member still answers), and the address rules for each member: a member whose node is
//! gone (`drift-node-gone`), NotReady, cordoned or being removed (`drift-node-not-ready`), or
//! whose URL is not the node's address and nodePort any more (`drift-node-port-changed`).
//!
//! What the pool should be is exactly what a release would write: the gate's own plan and
//! [`backends::ensure`] run as a dry run, which reads and compares and writes nothing. The
//! repair is the same call for real (written, read back, compared), then the removal of members
//! whose node left, pool first, each only if it still carries the gate's marker for this API.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::apim::backends::{self, BackendPlan, MANAGED};
use crate::apim::{self, ApiTarget, ApimError};
use crate::azure::ArmClient;
use crate::spec::{Finding, Level};

use crate::cluster::NodeHealth;

/// What the pool check found.
#[derive(Clone, Debug, Default)]
pub struct PoolCheck {
    pub findings: Vec<Finding>,
    /// A repair would write or remove backends.
    pub differs: bool,
}

/// One backend as APIM holds it.
struct Held {
    url: String,
    /// The node a node backend stands for (from the gate's description).
    node: Option<String>,
}

/// The node named in a node backend's description: `apim-gate managed api=X; node NAME; ...`
/// (written by [`backends`]).
fn node_of(description: &str) -> Option<String> {
    let rest = &description[description.find("; node ")? + "; node ".len()..];
    Some(rest.split(';').next()?.trim().to_string()).filter(|n| !n.is_empty())
}

async fn held(arm: &ArmClient, target: &ApiTarget) -> Result<BTreeMap<String, Held>, ApimError> {
    let items = arm
        .get_all(&format!("{}/backends", target.service_path()), &|_| {})
        .await
        .map_err(|error| ApimError::Read {
            api: target.api_id.clone(),
            error: Box::new(error),
        })?;
    let marker = format!("{MANAGED}{};", target.api_id);
    Ok(items
        .iter()
        .filter_map(|b| {
            let name = b.get("name").and_then(Value::as_str)?;
            let p = b.get("properties")?;
            let description = p.get("description").and_then(Value::as_str)?;
            description.contains(&marker).then(|| {
                (
                    name.to_ascii_lowercase(),
                    Held {
                        url: p
                            .get("url")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        node: node_of(description),
                    },
                )
            })
        })
        .collect())
}

/// `create backend 'ID' (URL)` and the like, as [`backends::ensure`] says what it writes.
fn quoted_id(sentence: &str) -> Option<String> {
    let start = sentence.find('\'')? + 1;
    let end = start + sentence[start..].find('\'')?;
    Some(sentence[start..end].to_string())
}

fn url_in(sentence: &str) -> &str {
    sentence
        .rsplit_once(" (")
        .map_or("", |(_, rest)| rest.trim_end_matches(')'))
}

fn finding(id: &str, level: Level, message: String) -> Finding {
    Finding {
        id: id.to_string(),
        level,
        operation: None,
        path: "backends".to_string(),
        message,
    }
}

/// The pool as APIM holds it against `plan`, the pool a release would write now.
pub async fn check(
    arm: &ArmClient,
    target: &ApiTarget,
    plan: &BackendPlan,
    nodes: &[NodeHealth],
) -> Result<PoolCheck, ApimError> {
    let outcome = backends::ensure(arm, target, plan, true, &apim::Quiet).await?;
    if outcome.written.is_empty() && outcome.stale.is_empty() {
        return Ok(PoolCheck::default());
    }
    let held = held(arm, target).await?;
    let repair =
        "Run apim-gate check --repair (or repair: true) to bring the pool to the Ready nodes.";
    let mut findings = Vec::new();
    let mut missing = Vec::new();
    let mut other = Vec::new();
    for sentence in &outcome.written {
        let Some(id) = quoted_id(sentence) else {
            continue;
        };
        if sentence.starts_with("create backend ") {
            missing.push(format!("{id} ({})", url_in(sentence)));
        } else if sentence.starts_with("update backend ") {
            let now = held
                .get(&id.to_ascii_lowercase())
                .map_or("", |h| h.url.as_str());
            findings.push(finding(
                "drift-node-port-changed",
                Level::Error,
                format!(
                    "pool member '{id}' calls {now}, but its node answers at {} now (the Service's nodePort or the node's IP changed). {repair}",
                    url_in(sentence)
                ),
            ));
            other.push(format!("{id} has another URL"));
        }
    }
    for id in &outcome.stale {
        let Some(h) = held.get(&id.to_ascii_lowercase()) else {
            continue;
        };
        let Some(node) = &h.node else {
            other.push(format!("{id} is no longer wanted"));
            continue;
        };
        match nodes.iter().find(|n| &n.name == node) {
            None => findings.push(finding(
                "drift-node-gone",
                Level::Error,
                format!(
                    "pool member '{id}' calls {} on node {node}, which no longer exists. {repair}",
                    h.url
                ),
            )),
            Some(NodeHealth {
                trouble: Some(why), ..
            }) => findings.push(finding(
                "drift-node-not-ready",
                Level::Error,
                format!(
                    "pool member '{id}' calls {} on node {node}, which is {why}. {repair}",
                    h.url
                ),
            )),
            Some(_) => {}
        }
        other.push(format!("{id} (node {node}) should not be a member"));
    }
    let only_new = other.is_empty() && !missing.is_empty();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "eligible Ready node(s) not in the pool: {}",
            missing.join(", ")
        ));
    }
    if !other.is_empty() {
        parts.push(other.join("; "));
    }
    findings.push(finding(
        "drift-pool-members",
        if only_new {
            Level::Warning
        } else {
            Level::Error
        },
        format!(
            "the members of pool '{}' are not the eligible Ready nodes: {}.{} {repair}",
            plan.routing_id(),
            parts.join("; "),
            if only_new {
                " Every member still answers; the new node only takes no load yet."
            } else {
                ""
            }
        ),
    ));
    Ok(PoolCheck {
        findings,
        differs: true,
    })
}

/// Brings the pool to `plan`: writes and verifies the backends, then removes those no longer
/// wanted. Gives back what was done, and what could not be removed.
pub async fn repair(
    arm: &ArmClient,
    target: &ApiTarget,
    plan: &BackendPlan,
) -> Result<(Vec<String>, Vec<String>), ApimError> {
    let mut outcome = backends::ensure(arm, target, plan, false, &apim::Quiet).await?;
    let problems = backends::remove_stale(arm, target, &mut outcome, &apim::Quiet).await;
    let mut done = outcome.written;
    done.extend(outcome.removed);
    Ok((done, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_and_descriptions_give_ids_urls_and_nodes() {
        let s = "create backend 'petstore-n1' (http://10.224.0.6:30080)";
        assert_eq!(quoted_id(s).as_deref(), Some("petstore-n1"));
        assert_eq!(url_in(s), "http://10.224.0.6:30080");
        assert_eq!(
            node_of("apim-gate managed api=petstore; node aks-1; removed by apim-gate when the node leaves")
                .as_deref(),
            Some("aks-1")
        );
        assert_eq!(
            node_of("apim-gate managed api=petstore; pool of the Ready nodes; kept by apim-gate"),
            None
        );
    }
}
