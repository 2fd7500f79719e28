//! Which Service port APIM calls and at which address: the agent-ip input, an internal (annotated)
//! load balancer's IP, or a node's InternalIP with the nodePort (the node from [`super::nodes`]).
//! The choice is explained in a sentence.

use k8s_openapi::api::core::v1::{Node, Service, ServicePort};
use kube::api::ListParams;

use super::api::Kube;
use super::nodes::{NodeView, PoolNode, no_node, pick_node, pool_members, wants_ipv6};
use super::{Backend, ClusterError, Target};
use crate::address::{Host, HostPort};
use crate::inputs::AddressMode;

/// The Service port chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortInfo {
    pub name: Option<String>,
    pub port: u16,
    /// `targetPort`: a number, or a container port name.
    pub target: Option<String>,
    pub node_port: Option<u16>,
}

impl ServicePortInfo {
    pub fn describe(&self) -> String {
        let name = self
            .name
            .as_ref()
            .map(|n| format!("{n} "))
            .unwrap_or_default();
        let target = self
            .target
            .as_ref()
            .map(|t| format!(" → targetPort {t}"))
            .unwrap_or_default();
        format!("port {name}{}{target}", self.port)
    }
}

/// How the address was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    NodePort { node: String, node_port: u16 },
    LoadBalancer { ip: String, port: u16 },
    AgentIp { host: String, port: u16 },
}

/// The address APIM will call, and why it was chosen.
#[derive(Clone, Debug)]
pub struct AddressChoice {
    pub address: HostPort,
    pub via: Via,
    /// One sentence a person can check against the cluster.
    pub why: String,
    /// The backing pod on the chosen node, when there is one (preferred for the fetch).
    pub pod: Option<String>,
    /// Something the user should know about the choice (a public load balancer passed over).
    pub warning: Option<String>,
    /// On a nodePort: every node, eligible for `backend: pool` or skipped, and why.
    pub nodes: Vec<PoolNode>,
}

pub async fn read_service(api: &Kube<'_>, target: &Target) -> Result<Service, ClusterError> {
    let services = api.namespaced::<Service>(&target.namespace);
    let what = format!("reading Service {}/{}", target.namespace, target.service);
    match api.get_opt(&services, &target.service, &what).await? {
        Some(s) => Ok(s),
        None => {
            let listing = format!("listing Services in namespace {}", target.namespace);
            let names: Vec<String> = api
                .list(&services, &ListParams::default(), &listing)
                .await
                .map(|items| items.into_iter().filter_map(|s| s.metadata.name).collect())
                .unwrap_or_default();
            let others = if names.is_empty() {
                " (the namespace has no Services)".to_string()
            } else {
                format!(" (it has: {})", names.join(", "))
            };
            Err(ClusterError::ServiceNotFound {
                namespace: target.namespace.clone(),
                name: target.service.clone(),
                others,
            })
        }
    }
}

/// The Service read again when it is a LoadBalancer still waiting for its IP (cloud-provider-azure
/// writes `status.loadBalancer.ingress` once the frontend exists, often while the pods start).
pub async fn refresh_pending_lb(
    api: &Kube<'_>,
    service: Service,
    target: &Target,
) -> Result<Service, ClusterError> {
    if service_type(&service) != "LoadBalancer"
        || lb_ingress_ip(&service).is_some()
        || target.address == AddressMode::NodePort
        || target.agent_ip.is_some()
    {
        return Ok(service);
    }
    read_service(api, target).await
}

fn port_info(p: &ServicePort) -> ServicePortInfo {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    ServicePortInfo {
        name: p.name.clone().filter(|n| !n.is_empty()),
        port: u16::try_from(p.port).unwrap_or(0),
        target: p.target_port.as_ref().map(|t| match t {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::String(s) => s.clone(),
        }),
        node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
    }
}

pub fn pick_port(service: &Service, target: &Target) -> Result<ServicePortInfo, ClusterError> {
    let ports: Vec<ServicePortInfo> = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|ps| ps.iter().map(port_info).collect())
        .unwrap_or_default();
    let listing = || {
        ports
            .iter()
            .map(|p| match &p.name {
                Some(n) => format!("{n} ({})", p.port),
                None => p.port.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &target.service_port {
        Some(wanted) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(wanted.as_str()) || p.port.to_string() == *wanted)
            .cloned()
            .ok_or_else(|| ClusterError::UnknownPort {
                namespace: target.namespace.clone(),
                name: target.service.clone(),
                wanted: wanted.clone(),
                ports: listing(),
            }),
        None => match ports.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ClusterError::NoPorts {
                namespace: target.namespace.clone(),
                name: target.service.clone(),
            }),
            _ => Err(ClusterError::AmbiguousPort {
                namespace: target.namespace.clone(),
                name: target.service.clone(),
                ports: listing(),
            }),
        },
    }
}

fn service_type(service: &Service) -> String {
    service
        .spec
        .as_ref()
        .and_then(|s| s.type_.clone())
        .unwrap_or_else(|| "ClusterIP".to_string())
}

/// ClusterIP, headless and ExternalName Services are refused before any wait: no address outside
/// the cluster reaches them.
pub fn check_reachable(service: &Service, target: &Target) -> Result<(), ClusterError> {
    let kind = service_type(service);
    let headless = service
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .is_some_and(|ip| ip == "None");
    let err = |detail: &'static str| ClusterError::NotReachable {
        namespace: target.namespace.clone(),
        name: target.service.clone(),
        kind: kind.clone(),
        detail,
    };
    match kind.as_str() {
        "ClusterIP" if headless => Err(err(" (headless)")),
        "ClusterIP" | "ExternalName" => Err(err("")),
        _ => Ok(()),
    }
}

fn lb_ingress_ip(service: &Service) -> Option<String> {
    service
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .iter()
        .find_map(|i| i.ip.clone().or_else(|| i.hostname.clone()))
}

/// Where APIM calls: the agent-ip input when given, else the internal load balancer when the mode
/// allows it and it has an IP, else a node's InternalIP with the nodePort.
pub async fn choose_address(
    api: &Kube<'_>,
    service: &Service,
    port: &ServicePortInfo,
    backends: &[Backend],
    nodes: Option<Vec<Node>>,
    target: &Target,
) -> Result<AddressChoice, ClusterError> {
    if let Some(agent) = &target.agent_ip {
        return agent_ip_address(agent, port, backends, target);
    }
    let warning = match load_balancer_address(service, port, backends, target)? {
        LoadBalancer::Use(choice) => return Ok(choice),
        LoadBalancer::Skip { warning } => warning,
    };
    let mut choice = node_port_address(api, service, port, backends, nodes, target).await?;
    choice.warning = warning;
    Ok(choice)
}

/// The annotation that makes cloud-provider-azure give a LoadBalancer Service a private frontend
/// IP in the cluster's subnet; without it the IP is public (Microsoft Learn, "Use an internal load
/// balancer with Azure Kubernetes Service").
pub const INTERNAL_LB_ANNOTATION: &str = "service.beta.kubernetes.io/azure-load-balancer-internal";

/// Exactly `"true"`: cloud-provider-azure's `requiresInternalLoadBalancer` compares
/// `l == "true"`, so `"True"` or `"TRUE"` leave the load balancer public.
fn internal_lb(service: &Service) -> bool {
    internal_lb_value(service) == Some("true")
}

fn internal_lb_value(service: &Service) -> Option<&str> {
    service
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INTERNAL_LB_ANNOTATION))
        .map(String::as_str)
}

/// ` (it has "True": …)` when the annotation means "true" to a human but not to Azure.
fn miscased_internal_lb(service: &Service) -> String {
    match internal_lb_value(service) {
        Some(v) if v != "true" && v.trim().eq_ignore_ascii_case("true") => format!(
            " (it has \"{v}\": cloud-provider-azure accepts only \"true\", in lower case, and makes the load balancer public otherwise)"
        ),
        _ => String::new(),
    }
}

/// Whether the internal load balancer is APIM's address, or why not.
enum LoadBalancer {
    Use(AddressChoice),
    Skip { warning: Option<String> },
}

fn service_label(target: &Target) -> String {
    format!("{}/{}", target.namespace, target.service)
}

fn node_port_of(port: &ServicePortInfo, target: &Target) -> Result<u16, ClusterError> {
    port.node_port.ok_or_else(|| ClusterError::NoNodePort {
        namespace: target.namespace.clone(),
        name: target.service.clone(),
        port: port.port.to_string(),
    })
}

fn agent_ip_address(
    agent: &str,
    port: &ServicePortInfo,
    backends: &[Backend],
    target: &Target,
) -> Result<AddressChoice, ClusterError> {
    let host: Host = agent
        .parse()
        .map_err(|e: crate::address::AddressError| ClusterError::BadAgentIp(e.to_string()))?;
    let node_port = node_port_of(port, target)?;
    Ok(AddressChoice {
        address: HostPort::new(host.clone(), Some(node_port)),
        via: Via::AgentIp {
            host: host.to_string(),
            port: node_port,
        },
        why: format!(
            "agent-ip {host} given; nodePort {node_port} of Service {} {}",
            service_label(target),
            port.describe()
        ),
        pod: backends.first().map(|b| b.pod.clone()),
        warning: None,
        nodes: Vec::new(),
    })
}

/// The internal load balancer's address when the mode takes it; `Skip` falls through to a node.
fn load_balancer_address(
    service: &Service,
    port: &ServicePortInfo,
    backends: &[Backend],
    target: &Target,
) -> Result<LoadBalancer, ClusterError> {
    let kind = service_type(service);
    let lb_ip = (kind == "LoadBalancer")
        .then(|| lb_ingress_ip(service))
        .flatten();
    match target.address {
        AddressMode::LoadBalancer if kind != "LoadBalancer" => {
            return Err(ClusterError::NotLoadBalancer {
                namespace: target.namespace.clone(),
                name: target.service.clone(),
                kind,
            });
        }
        AddressMode::LoadBalancer if !internal_lb(service) => {
            return Err(ClusterError::PublicLoadBalancer {
                namespace: target.namespace.clone(),
                name: target.service.clone(),
                ip: lb_ip.unwrap_or_else(|| "not assigned yet".into()),
                miscased: miscased_internal_lb(service),
            });
        }
        AddressMode::LoadBalancer if lb_ip.is_none() => {
            return Err(ClusterError::NoLoadBalancerIp {
                namespace: target.namespace.clone(),
                name: target.service.clone(),
            });
        }
        AddressMode::NodePort => return Ok(LoadBalancer::Skip { warning: None }),
        _ => {}
    }
    let Some(ip) = lb_ip else {
        return Ok(LoadBalancer::Skip { warning: None });
    };
    if !internal_lb(service) {
        return Ok(LoadBalancer::Skip {
            warning: Some(format!(
                "Service {} is a LoadBalancer without {INTERNAL_LB_ANNOTATION}: \"true\"{}, so its IP {ip} is public; \
                 APIM will call a node's nodePort instead. Annotate the Service to use an internal load balancer.",
                service_label(target),
                miscased_internal_lb(service)
            )),
        });
    }
    let host: Host = ip
        .parse()
        .map_err(|_| ClusterError::Config(format!("load balancer address '{ip}' is not a host")))?;
    Ok(LoadBalancer::Use(AddressChoice {
        address: HostPort::new(host, Some(port.port)),
        via: Via::LoadBalancer {
            ip: ip.clone(),
            port: port.port,
        },
        why: format!(
            "internal load balancer {ip} of Service {}, {} (survives node replacement)",
            service_label(target),
            port.describe()
        ),
        pod: backends.first().map(|b| b.pod.clone()),
        warning: None,
        nodes: Vec::new(),
    }))
}

pub fn traffic_policy_local(service: &Service) -> bool {
    service
        .spec
        .as_ref()
        .and_then(|s| s.external_traffic_policy.as_deref())
        == Some("Local")
}

/// Whether [`choose_address`] will list the nodes, as far as the Service read now tells: no
/// agent-ip, a load balancer that will not be used (or none), and no pending load balancer
/// whose IP could still arrive and change the choice.
pub fn needs_nodes(service: &Service, port: &ServicePortInfo, target: &Target) -> bool {
    let pending_lb = service_type(service) == "LoadBalancer"
        && lb_ingress_ip(service).is_none()
        && target.address != AddressMode::NodePort;
    target.agent_ip.is_none()
        && !pending_lb
        && port.node_port.is_some()
        && matches!(
            load_balancer_address(service, port, &[], target),
            Ok(LoadBalancer::Skip { .. })
        )
}

pub async fn list_nodes(api: &Kube<'_>) -> Result<Vec<Node>, ClusterError> {
    api.list(&api.all::<Node>(), &ListParams::default(), "listing nodes")
        .await
}

async fn node_port_address(
    api: &Kube<'_>,
    service: &Service,
    port: &ServicePortInfo,
    backends: &[Backend],
    nodes: Option<Vec<Node>>,
    target: &Target,
) -> Result<AddressChoice, ClusterError> {
    let node_port = node_port_of(port, target)?;
    let local = traffic_policy_local(service);
    let nodes = match nodes {
        Some(nodes) => nodes,
        None => list_nodes(api).await?,
    };
    let ipv6 = wants_ipv6(service);
    let views: Vec<NodeView> = nodes
        .iter()
        .map(|n| NodeView::of(n, backends, ipv6))
        .collect();
    let chosen =
        pick_node(&views, local).ok_or_else(|| no_node(&views, local, &service_label(target)))?;
    let (node, ip, pod) = (
        chosen.name.clone(),
        chosen.ip.clone().unwrap_or_default(),
        chosen.pod.clone(),
    );
    let host: Host = ip
        .parse()
        .map_err(|_| ClusterError::Config(format!("node {node} InternalIP '{ip}' is not an IP")))?;
    let policy = if local {
        "externalTrafficPolicy Local: only nodes hosting a ready pod answer"
    } else {
        "externalTrafficPolicy Cluster: any Ready node answers, so the lowest name keeps the host stable across rollouts"
    };
    let hosting = pod
        .as_ref()
        .map(|p| format!(", hosts ready pod {p}"))
        .unwrap_or_default();
    Ok(AddressChoice {
        address: HostPort::new(host, Some(node_port)),
        via: Via::NodePort {
            node: node.clone(),
            node_port,
        },
        why: format!(
            "nodePort {node_port} of Service {} ({}) on node {node} (InternalIP {ip}: Ready, schedulable{hosting}; {policy})",
            service_label(target),
            port.describe()
        ),
        pod,
        warning: None,
        nodes: pool_members(&views, local),
    })
}
