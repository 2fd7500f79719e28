//! `backend: pool` in the gate: the backends a run wants, from what the cluster side found (every
//! node with its eligibility, or the internal load balancer), and the pool as the report shows
//! it: which nodes, and why each was taken or skipped.

use serde::Serialize;

use crate::apim::backends::{BackendPlan, BackendsOutcome, NodeBackend, Routing, SingleKind};
use crate::cluster::{AddressChoice, PoolNode, Via};

/// One node as the report shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolNodeReport {
    pub name: String,
    /// In the pool (a backend of its own).
    pub eligible: bool,
    pub why: String,
}

/// The backend pool of a run, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PoolReport {
    /// The backend the API's policy routes to, once known.
    pub backend: Option<String>,
    /// Every node, taken or skipped; empty when APIM calls one address (a load balancer).
    pub nodes: Vec<PoolNodeReport>,
    /// What the run did to the backends (or, in a dry run, would do).
    pub changes: Vec<String>,
}

impl PoolReport {
    /// The nodes the cluster side saw, before anything is written.
    pub fn of(address: &AddressChoice) -> PoolReport {
        PoolReport {
            backend: None,
            nodes: address
                .nodes
                .iter()
                .map(|n: &PoolNode| PoolNodeReport {
                    name: n.name.clone(),
                    eligible: n.eligible,
                    why: n.why.clone(),
                })
                .collect(),
            changes: Vec::new(),
        }
    }

    /// What [`crate::apim::backends::ensure`] and the removal after the release did (in a dry
    /// run: would do).
    pub fn record(&mut self, outcome: &BackendsOutcome, dry_run: bool) {
        self.backend = Some(outcome.routing_id.clone());
        if dry_run {
            self.changes
                .extend(outcome.written.iter().map(|w| format!("would {w}")));
            self.changes.extend(
                outcome
                    .stale
                    .iter()
                    .map(|id| format!("would remove backend '{id}' after the release")),
            );
            return;
        }
        self.changes.extend(outcome.written.iter().cloned());
        self.changes.extend(outcome.removed.iter().cloned());
    }
}

/// The backends wanted for API `api_id`: one per eligible node at `service_url`'s scheme, port
/// and path on the node's InternalIP, or one for a load balancer or `agent-ip`.
pub fn plan(
    address: &AddressChoice,
    service_url: &str,
    api_id: &str,
) -> Result<BackendPlan, String> {
    let routing = match &address.via {
        Via::NodePort { .. } => {
            let base = reqwest::Url::parse(service_url)
                .map_err(|e| format!("the service URL '{service_url}' does not parse: {e}"))?;
            let mut nodes = Vec::new();
            for n in address.nodes.iter().filter(|n| n.eligible) {
                let Some(ip) = n.ip.as_deref().and_then(|ip| ip.parse().ok()) else {
                    continue;
                };
                let mut url = base.clone();
                url.set_ip_host(ip)
                    .map_err(|()| format!("'{service_url}' cannot take node {}'s IP", n.name))?;
                nodes.push(NodeBackend {
                    node: n.name.clone(),
                    url: url.as_str().trim_end_matches('/').to_string(),
                });
            }
            if nodes.is_empty() {
                return Err("no node is eligible for the backend pool".into());
            }
            Routing::Nodes(nodes)
        }
        Via::LoadBalancer { .. } => Routing::Single {
            url: service_url.trim_end_matches('/').to_string(),
            kind: SingleKind::LoadBalancer,
        },
        Via::AgentIp { .. } => Routing::Single {
            url: service_url.trim_end_matches('/').to_string(),
            kind: SingleKind::AgentIp,
        },
    };
    Ok(BackendPlan {
        api_id: api_id.to_string(),
        routing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{Host, HostPort};

    fn node(name: &str, ip: &str, eligible: bool) -> PoolNode {
        PoolNode {
            name: name.into(),
            ip: Some(ip.into()),
            eligible,
            why: String::new(),
        }
    }

    #[test]
    fn each_eligible_node_gets_the_service_urls_scheme_port_and_path() {
        let address = AddressChoice {
            address: HostPort::new("10.224.0.4".parse::<Host>().unwrap(), Some(30080)),
            via: Via::NodePort {
                node: "a".into(),
                node_port: 30080,
            },
            why: String::new(),
            pod: None,
            warning: None,
            nodes: vec![
                node("a", "10.224.0.4", true),
                node("b", "10.224.0.5", false),
                node("c", "fd00::6", true),
            ],
        };
        let plan = plan(&address, "http://10.224.0.4:30080/api", "petstore").unwrap();
        let Routing::Nodes(nodes) = &plan.routing else {
            panic!("{plan:?}")
        };
        let urls: Vec<&str> = nodes.iter().map(|n| n.url.as_str()).collect();
        assert_eq!(
            urls,
            ["http://10.224.0.4:30080/api", "http://[fd00::6]:30080/api"]
        );
        assert_eq!(plan.routing_id(), "petstore-nodes");
    }
}
