//! Which node APIM calls on a nodePort: Ready, schedulable, staying (not being removed by the
//! cluster autoscaler), not virtual, with an InternalIP of the Service's IP family; the lowest name
//! among them, so the host is stable across runs and rollouts. For `backend: pool`, every node
//! with its eligibility and the reason ([`pool_members`]).

use k8s_openapi::api::core::v1::{Node, Service};

use super::{Backend, ClusterError};

/// A node as the choice sees it.
pub struct NodeView {
    pub name: String,
    ready: bool,
    schedulable: bool,
    /// The InternalIP of the Service's IP family.
    pub ip: Option<String>,
    /// The ready backend pod it hosts, if any.
    pub pod: Option<String>,
    /// Why the node cannot take APIM's calls although Ready.
    excluded: Option<&'static str>,
    /// The cluster autoscaler may remove it soon: used only when no other node qualifies.
    scale_down_candidate: bool,
}

fn has_taint(node: &Node, key: &str) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|ts| ts.iter().any(|t| t.key == key))
}

/// Why a Ready node cannot serve a nodePort for long, or at all.
fn exclusion(node: &Node) -> Option<&'static str> {
    // A node being deleted: the API server sets metadata.deletionTimestamp at once and keeps the
    // object while finalizers run, which is how Karpenter drains and terminates a node
    // (kubernetes-sigs/karpenter, the termination finalizer `karpenter.sh/termination`; Kubernetes
    // docs "Finalizers").
    if node.metadata.deletion_timestamp.is_some() {
        return Some("being deleted (metadata.deletionTimestamp is set)");
    }
    // The cluster autoscaler taints a node it is draining before the VM is deleted
    // (cluster-autoscaler/utils/taints/taints.go).
    if has_taint(node, "ToBeDeletedByClusterAutoscaler") {
        return Some("being removed by the cluster autoscaler");
    }
    // Karpenter (AKS node auto-provisioning) taints a node it disrupts before draining it:
    // `karpenter.sh/disrupted` from v1, `karpenter.sh/disruption` before
    // (kubernetes-sigs/karpenter pkg/apis/v1/taints.go, DisruptedNoScheduleTaint).
    if has_taint(node, "karpenter.sh/disrupted") || has_taint(node, "karpenter.sh/disruption") {
        return Some("being removed by Karpenter (node auto-provisioning)");
    }
    // AKS virtual nodes (virtual-kubelet on ACI) run no kube-proxy, so no nodePort answers there
    // (Microsoft Learn, "Use virtual nodes"; label type=virtual-kubelet, taint virtual-kubelet.io/provider).
    let virtual_label = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("type"))
        .is_some_and(|t| t == "virtual-kubelet");
    if virtual_label || has_taint(node, "virtual-kubelet.io/provider") {
        return Some("a virtual node");
    }
    None
}

/// The Service's primary IP family (`spec.ipFamilies[0]`), IPv4 unless it says IPv6.
pub fn wants_ipv6(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
        .is_some_and(|f| f == "IPv6")
}

impl NodeView {
    pub fn of(node: &Node, backends: &[Backend], ipv6: bool) -> NodeView {
        let name = node.metadata.name.clone().unwrap_or_default();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let schedulable = !node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        let ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| {
                // A dual-stack node has one InternalIP per family, in --node-ip order.
                a.iter().find(|a| {
                    a.type_ == "InternalIP"
                        && a.address
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_ipv6() == ipv6)
                })
            })
            .map(|a| a.address.clone());
        let pod = backends
            .iter()
            .find(|b| b.node.as_deref() == Some(name.as_str()))
            .map(|b| b.pod.clone());
        NodeView {
            name,
            ready,
            schedulable,
            ip,
            pod,
            excluded: exclusion(node),
            scale_down_candidate: has_taint(node, "DeletionCandidateOfClusterAutoscaler"),
        }
    }

    /// `name (Ready, 10.224.0.4, hosts a ready pod)`, for the error listing every node.
    fn describe(&self) -> String {
        format!(
            "{} ({}{}{}{}{})",
            self.name,
            if self.ready { "Ready" } else { "NotReady" },
            self.excluded.map(|e| format!(", {e}")).unwrap_or_default(),
            if self.schedulable {
                ""
            } else {
                ", unschedulable"
            },
            self.ip
                .as_ref()
                .map(|i| format!(", {i}"))
                .unwrap_or_else(|| ", no InternalIP of the Service's IP family".into()),
            if self.pod.is_some() {
                ", hosts a ready pod"
            } else {
                ""
            }
        )
    }
}

/// The lowest name among the nodes that can answer, so repeated runs and rollouts publish the same
/// host (with policy Local only nodes hosting a ready pod answer, so the host follows the pods).
/// Scale-down candidates come last: the autoscaler may remove them soon.
pub fn pick_node(views: &[NodeView], local: bool) -> Option<&NodeView> {
    let mut candidates: Vec<&NodeView> = views
        .iter()
        .filter(|v| trouble(v, local).is_none() && v.ip.is_some())
        .collect();
    candidates.sort_by(|a, b| {
        a.scale_down_candidate
            .cmp(&b.scale_down_candidate)
            .then(a.name.cmp(&b.name))
    });
    candidates.into_iter().next()
}

pub fn no_node(views: &[NodeView], local: bool, service: &str) -> ClusterError {
    ClusterError::NoNode {
        reason: if local {
            format!(
                "Service {} has externalTrafficPolicy Local, so only a Ready, schedulable node hosting a ready pod can answer on its nodePort, and none does",
                service
            )
        } else {
            "none is Ready, schedulable, staying (not removed by the cluster autoscaler, not virtual) and has an InternalIP of the Service's IP family".to_string()
        },
        nodes: if views.is_empty() {
            "none".into()
        } else {
            views
                .iter()
                .map(NodeView::describe)
                .collect::<Vec<_>>()
                .join("; ")
        },
    }
}

/// At most this many backends in a pool (Learn, "Backends in API Management", "Load-balanced
/// pool": "You can include up to 30 backends in a pool").
pub const POOL_MAX: usize = 30;

/// One node as the pool sees it: eligible (its InternalIP) or skipped, and why, in words a
/// person can check against `kubectl get nodes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolNode {
    pub name: String,
    /// The InternalIP of the Service's IP family, when the node has one.
    pub ip: Option<String>,
    pub eligible: bool,
    pub why: String,
}

/// Why APIM's calls to this node on a nodePort fail, or will soon: the reasons [`pick_node`] and
/// [`pool_members`] pass a node over for, in the words the pool's report and the drift check use.
/// `None` when it answers (the IP family is not asked: APIM calls one IP already).
fn trouble(v: &NodeView, local: bool) -> Option<String> {
    if !v.ready {
        Some("NotReady".to_string())
    } else if !v.schedulable {
        Some("cordoned (unschedulable)".to_string())
    } else if let Some(e) = v.excluded {
        Some(e.to_string())
    } else if local && v.pod.is_none() {
        Some(
            "hosts no ready pod, and externalTrafficPolicy Local answers only on nodes that do"
                .to_string(),
        )
    } else {
        None
    }
}

/// A node as the drift check sees it: every InternalIP it has, and why APIM's calls to its
/// nodePort fail or will soon (the same reasons as the node choice, one source).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeHealth {
    pub name: String,
    /// Every InternalIP (both families on a dual-stack node).
    pub ips: Vec<std::net::IpAddr>,
    pub trouble: Option<String>,
}

/// Every node's health for a Service with (`local`) or without externalTrafficPolicy Local,
/// given its ready backends.
pub fn health(nodes: &[Node], backends: &[Backend], local: bool) -> Vec<NodeHealth> {
    nodes
        .iter()
        .map(|n| {
            let v = NodeView::of(n, backends, false);
            let ips = n
                .status
                .as_ref()
                .and_then(|s| s.addresses.as_ref())
                .into_iter()
                .flatten()
                .filter(|a| a.type_ == "InternalIP")
                .filter_map(|a| a.address.parse().ok())
                .collect();
            NodeHealth {
                trouble: trouble(&v, local),
                name: v.name,
                ips,
            }
        })
        .collect()
}

/// Every node, eligible or not, by name: the same rule as [`pick_node`] (Ready, schedulable, not
/// being removed, not virtual, an InternalIP of the Service's family; with policy Local only
/// nodes hosting a ready pod), every qualifying node rather than the first. Scale-down
/// candidates join only when no other node qualifies, and at most [`POOL_MAX`] nodes are taken
/// (the lowest names, so the pool, like the single host, is stable across runs).
pub fn pool_members(views: &[NodeView], local: bool) -> Vec<PoolNode> {
    let qualifies = |v: &NodeView| trouble(v, local).is_none() && v.ip.is_some();
    let staying = views
        .iter()
        .any(|v| qualifies(v) && !v.scale_down_candidate);
    let mut sorted: Vec<&NodeView> = views.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut taken = 0;
    sorted
        .into_iter()
        .map(|v| {
            let skipped = if let Some(why) = trouble(v, local) {
                Some(why)
            } else if v.ip.is_none() {
                Some("no InternalIP of the Service's IP family".to_string())
            } else if v.scale_down_candidate && staying {
                Some("a scale-down candidate of the cluster autoscaler (DeletionCandidateOfClusterAutoscaler), while other nodes qualify".to_string())
            } else if taken >= POOL_MAX {
                Some(format!("a pool holds at most {POOL_MAX} backends; the lowest names are taken"))
            } else {
                None
            };
            let eligible = skipped.is_none();
            if eligible {
                taken += 1;
            }
            let why = match skipped {
                Some(reason) => reason,
                None => format!(
                    "Ready, schedulable, InternalIP {}{}{}",
                    v.ip.as_deref().unwrap_or_default(),
                    v.pod
                        .as_ref()
                        .map(|p| format!(", hosts ready pod {p}"))
                        .unwrap_or_default(),
                    if v.scale_down_candidate {
                        ", a scale-down candidate taken because no other node qualifies"
                    } else {
                        ""
                    }
                ),
            };
            PoolNode {
                name: v.name.clone(),
                ip: v.ip.clone(),
                eligible,
                why,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, ip: &str, ready: bool, unschedulable: bool, taints: &[&str]) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {
                "unschedulable": unschedulable,
                "taints": taints.iter().map(|k| json!({"key": k, "effect": "NoSchedule"})).collect::<Vec<_>>(),
            },
            "status": {
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "addresses": [{"type": "InternalIP", "address": ip}],
            },
        }))
        .unwrap()
    }

    fn views(nodes: &[Node]) -> Vec<NodeView> {
        nodes.iter().map(|n| NodeView::of(n, &[], false)).collect()
    }

    #[test]
    fn the_pool_takes_every_qualifying_node_and_says_why_the_others_are_skipped() {
        let nodes = [
            node(
                "d",
                "10.0.0.7",
                true,
                false,
                &["ToBeDeletedByClusterAutoscaler"],
            ),
            node("a", "10.0.0.4", true, false, &[]),
            node("c", "10.0.0.6", true, true, &[]),
            node("b", "10.0.0.5", false, false, &[]),
            node(
                "e",
                "10.0.0.8",
                true,
                false,
                &["DeletionCandidateOfClusterAutoscaler"],
            ),
            node("f", "10.0.0.9", true, false, &[]),
        ];
        let pool = pool_members(&views(&nodes), false);
        let names: Vec<(&str, bool)> = pool.iter().map(|n| (n.name.as_str(), n.eligible)).collect();
        assert_eq!(
            names,
            [
                ("a", true),
                ("b", false),
                ("c", false),
                ("d", false),
                ("e", false),
                ("f", true)
            ]
        );
        assert_eq!(pool[1].why, "NotReady");
        assert!(pool[2].why.contains("cordoned"), "{}", pool[2].why);
        assert!(
            pool[3].why.contains("cluster autoscaler"),
            "{}",
            pool[3].why
        );
        assert!(
            pool[4].why.contains("scale-down candidate"),
            "{}",
            pool[4].why
        );
        assert!(pool[0].why.contains("10.0.0.4"), "{}", pool[0].why);
    }

    #[test]
    fn with_policy_local_only_nodes_hosting_a_ready_pod_join() {
        let nodes = [
            node("a", "10.0.0.4", true, false, &[]),
            node("b", "10.0.0.5", true, false, &[]),
        ];
        let backends = [Backend {
            pod: "web-1".into(),
            node: Some("b".into()),
            port: 8080,
        }];
        let views: Vec<NodeView> = nodes
            .iter()
            .map(|n| NodeView::of(n, &backends, false))
            .collect();
        let pool = pool_members(&views, true);
        assert!(
            !pool[0].eligible && pool[0].why.contains("hosts no ready pod"),
            "{pool:?}"
        );
        assert!(
            pool[1].eligible && pool[1].why.contains("hosts ready pod web-1"),
            "{pool:?}"
        );
    }

    #[test]
    fn a_scale_down_candidate_joins_only_when_nothing_else_qualifies_and_the_pool_stops_at_30() {
        let nodes = [
            node("a", "10.0.0.4", false, false, &[]),
            node(
                "e",
                "10.0.0.8",
                true,
                false,
                &["DeletionCandidateOfClusterAutoscaler"],
            ),
        ];
        let pool = pool_members(&views(&nodes), false);
        assert!(pool[1].eligible, "{pool:?}");
        let many: Vec<Node> = (0..35)
            .map(|i| {
                node(
                    &format!("n{i:02}"),
                    &format!("10.0.1.{i}"),
                    true,
                    false,
                    &[],
                )
            })
            .collect();
        let pool = pool_members(&views(&many), false);
        assert_eq!(pool.iter().filter(|n| n.eligible).count(), POOL_MAX);
        assert!(pool[34].why.contains("at most 30"), "{}", pool[34].why);
    }

    #[test]
    fn health_has_the_choice_s_reasons_local_and_deletion_included() {
        let mut deleting = node("g", "10.0.0.10", true, false, &[]);
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-01-01T00:00:00Z".parse().unwrap(),
            ));
        let nodes = [
            node("a", "10.0.0.4", true, false, &[]),
            node("b", "10.0.0.5", true, false, &[]),
            node("k", "10.0.0.6", true, false, &["karpenter.sh/disrupted"]),
            node(
                "v",
                "10.0.0.7",
                true,
                false,
                &["virtual-kubelet.io/provider"],
            ),
            deleting,
        ];
        let pod_on_b = [Backend {
            pod: "p".into(),
            node: Some("b".into()),
            port: 8080,
        }];
        let cluster = health(&nodes, &pod_on_b, false);
        assert_eq!(cluster[0].trouble, None);
        assert_eq!(
            cluster[0].ips,
            ["10.0.0.4".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(cluster[2].trouble.as_deref().unwrap().contains("Karpenter"));
        assert!(cluster[3].trouble.as_deref().unwrap().contains("virtual"));
        assert!(
            cluster[4]
                .trouble
                .as_deref()
                .unwrap()
                .contains("deletionTimestamp"),
            "{cluster:?}"
        );
        // With externalTrafficPolicy Local only the node hosting the ready pod answers.
        let local = health(&nodes, &pod_on_b, true);
        assert!(
            local[0]
                .trouble
                .as_deref()
                .unwrap()
                .contains("hosts no ready pod"),
            "{local:?}"
        );
        assert_eq!(local[1].trouble, None);
        // The gate's own choice passes the deleting node over too.
        assert!(pick_node(&views(&nodes[4..]), false).is_none());
    }
}
