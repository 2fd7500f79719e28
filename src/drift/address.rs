//! Address drift: does the serviceUrl APIM calls still reach the cluster? Rules
//! `drift-node-gone` (no node has that IP any more), `drift-node-not-ready` (the node is
//! NotReady, cordoned, or being removed) and `drift-node-port-changed` (the Service's nodePort,
//! or its internal load balancer's IP, is not the one APIM calls).

use k8s_openapi::api::core::v1::Node;

use crate::cluster::Via;
use crate::spec::{Finding, Level};

/// The address in the live API's serviceUrl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveAddress {
    pub url: String,
    /// Lower case; an IPv6 literal without brackets.
    pub host: String,
    /// The URL's port, or its scheme's default.
    pub port: u16,
}

impl LiveAddress {
    /// `None` when the serviceUrl is empty or not an http(s) URL with a host.
    pub fn parse(service_url: &str) -> Option<LiveAddress> {
        let url = url::Url::parse(service_url.trim()).ok()?;
        let host = match url.host()? {
            url::Host::Ipv6(ip) => ip.to_string(),
            other => other.to_string().to_ascii_lowercase(),
        };
        Some(LiveAddress {
            url: service_url.trim().to_string(),
            host,
            port: url.port_or_known_default()?,
        })
    }

    /// `host:port` as the rewrite takes it (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A node as the drift check sees it.
#[derive(Clone, Debug)]
pub struct NodeState {
    pub name: String,
    /// Every InternalIP (both families on a dual-stack node).
    pub ips: Vec<String>,
    /// Why APIM's calls to it fail or will soon, if they do.
    pub trouble: Option<String>,
}

fn has_taint(node: &Node, key: &str) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| ts.iter().any(|t| t.key == key))
}

impl NodeState {
    pub fn of(node: &Node) -> NodeState {
        let name = node.metadata.name.clone().unwrap_or_default();
        let ips = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP")
            .map(|a| a.address.to_ascii_lowercase())
            .collect();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let cordoned = node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        // The same signals the gate's node choice avoids (cluster/nodes.rs): the kubelet's Ready
        // condition, `kubectl cordon` (spec.unschedulable, which a drain starts with), the cluster
        // autoscaler's ToBeDeletedByClusterAutoscaler taint (cluster-autoscaler/utils/taints/
        // taints.go) and Karpenter's disruption taint (karpenter pkg/apis/v1/taints.go).
        let mut why = Vec::new();
        if !ready {
            why.push("NotReady".to_string());
        }
        if cordoned {
            why.push("cordoned (unschedulable: a drain or an upgrade starts so)".to_string());
        }
        if has_taint(node, "ToBeDeletedByClusterAutoscaler") {
            why.push(
                "being removed by the cluster autoscaler (ToBeDeletedByClusterAutoscaler)".into(),
            );
        }
        if has_taint(node, "karpenter.sh/disrupted") || has_taint(node, "karpenter.sh/disruption") {
            why.push("being removed by Karpenter (node auto-provisioning)".into());
        }
        NodeState {
            name,
            ips,
            trouble: (!why.is_empty()).then(|| why.join(", ")),
        }
    }
}

fn finding(id: &str, message: String) -> Finding {
    Finding {
        id: id.to_string(),
        level: Level::Error,
        operation: None,
        path: "serviceUrl".to_string(),
        message,
    }
}

/// What is wrong with the address APIM calls, given how the gate would reach the Service now
/// (`via`) and the nodes. Empty when APIM's address still works.
pub fn findings(live: &LiveAddress, via: &Via, nodes: &[NodeState], service: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    match via {
        Via::LoadBalancer { ip, port } => {
            if live.host != ip.to_ascii_lowercase() || live.port != *port {
                out.push(finding(
                    "drift-node-port-changed",
                    format!(
                        "APIM calls {} but Service {service}'s internal load balancer is {ip}:{port} now (the Service was re-created, or moved to a load balancer). Run apim-gate check --repair (or repair: true) to point the API at it.",
                        live.url
                    ),
                ));
            }
        }
        Via::AgentIp { host, port } => {
            if live.port != *port {
                out.push(port_changed(live, *port, service));
            }
            if live.host != host.to_ascii_lowercase() {
                out.push(finding(
                    "drift-node-port-changed",
                    format!(
                        "APIM calls host {} but the agent-ip input says {host}. Run apim-gate check --repair (or repair: true) to point the API at it.",
                        live.host
                    ),
                ));
            }
        }
        Via::NodePort { node_port, .. } => {
            if live.port != *node_port {
                out.push(port_changed(live, *node_port, service));
            }
            match nodes.iter().find(|n| n.ips.contains(&live.host)) {
                None => out.push(finding(
                    "drift-node-gone",
                    format!(
                        "APIM calls {} but no node has the IP {} any more (the node was removed: scale-down, node-image upgrade or replacement); its callers get errors. Run apim-gate check --repair (or repair: true) to point the API at a Ready node.",
                        live.url, live.host
                    ),
                )),
                Some(NodeState {
                    name,
                    trouble: Some(why),
                    ..
                }) => out.push(finding(
                    "drift-node-not-ready",
                    format!(
                        "APIM calls {} on node {name}, which is {why}; calls there fail or will soon. Run apim-gate check --repair (or repair: true) to point the API at a Ready node.",
                        live.url
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    out
}

fn port_changed(live: &LiveAddress, now: u16, service: &str) -> Finding {
    finding(
        "drift-node-port-changed",
        format!(
            "APIM calls port {} ({}) but Service {service}'s nodePort is {now} now (the Service was re-created or edited). Run apim-gate check --repair (or repair: true) to point the API at it.",
            live.port, live.url
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str, trouble: Option<&str>) -> NodeState {
        NodeState {
            name: name.into(),
            ips: vec![ip.into()],
            trouble: trouble.map(str::to_string),
        }
    }

    #[test]
    fn live_address_takes_the_scheme_default_port() {
        let a = LiveAddress::parse("http://10.224.0.4/api").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("10.224.0.4", 80));
        let a = LiveAddress::parse("http://[fd00::4]:30080").unwrap();
        assert_eq!(a.host_port(), "[fd00::4]:30080");
        assert!(LiveAddress::parse("").is_none());
    }

    #[test]
    fn each_address_rule_fires_on_its_own_cause() {
        let live = LiveAddress::parse("http://10.224.0.4:30080").unwrap();
        let via = Via::NodePort {
            node: "n1".into(),
            node_port: 30080,
        };
        let ok = [node("n0", "10.224.0.4", None)];
        assert!(findings(&live, &via, &ok, "default/s").is_empty());
        let gone = [node("n1", "10.224.0.5", None)];
        assert_eq!(
            findings(&live, &via, &gone, "default/s")[0].id,
            "drift-node-gone"
        );
        let sick = [node("n0", "10.224.0.4", Some("NotReady"))];
        let f = findings(&live, &via, &sick, "default/s");
        assert_eq!(f[0].id, "drift-node-not-ready");
        assert!(f[0].message.contains("n0"), "{}", f[0].message);
        let moved = Via::NodePort {
            node: "n0".into(),
            node_port: 31000,
        };
        let f = findings(&live, &moved, &ok, "default/s");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, "drift-node-port-changed");
        assert!(f[0].message.contains("31000"));
        let lb = Via::LoadBalancer {
            ip: "10.224.0.101".into(),
            port: 80,
        };
        assert_eq!(
            findings(&live, &lb, &ok, "default/s")[0].id,
            "drift-node-port-changed"
        );
    }
}
