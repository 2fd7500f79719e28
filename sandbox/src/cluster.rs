//! The emulated AKS cluster: the topology tests describe (nodes, services, pods) and, once started,
//! the running pods and the clock that decides when each pod is Ready.
//!
//! [`Topology`] is plain data with builder helpers, so a test can start from
//! [`Topology::default_for`] and tweak fields, or build one from scratch. [`Cluster::start`] checks it,
//! allocates what Kubernetes would allocate (cluster IPs, node ports, pod IPs) and starts one plain-HTTP
//! server per declared container port of every Running pod ([`crate::pods`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::{Error, ServiceType, Shared};

/// Where Swashbuckle serves its document unless told otherwise.
pub const SWAGGER_PATH: &str = "/swagger/v1/swagger.json";
pub const DEFAULT_NAMESPACE: &str = "default";
/// The two nodes of the default topology, named as AKS names VM scale set instances.
pub const DEFAULT_NODES: [(&str, &str); 2] = [
    ("aks-nodepool1-12345678-vmss000000", "10.224.0.4"),
    ("aks-nodepool1-12345678-vmss000001", "10.224.0.5"),
];
/// The container port the default pods listen on (ASP.NET Core's default in containers).
pub const DEFAULT_CONTAINER_PORT: u16 = 8080;
/// Node port of `svc-1` in the default topology; `svc-i` gets `DEFAULT_NODE_PORT + i - 1`.
pub const DEFAULT_NODE_PORT: u16 = 30080;

/// A node of the agent pool.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub internal_ip: String,
    /// The `Ready` condition; a NotReady node also carries the `node.kubernetes.io/unreachable` taint.
    pub ready: bool,
    /// Cordoned (`kubectl cordon`): `spec.unschedulable` and the matching taint.
    pub unschedulable: bool,
    /// Extra labels (on top of the AKS agent-pool labels every node carries).
    pub labels: BTreeMap<String, String>,
    /// Extra taints, `(key, value, effect)`.
    pub taints: Vec<(String, String, String)>,
    /// Dual-stack: the node's IPv6 InternalIP. Listed before the IPv4 one, as the kubelet lists
    /// its addresses in `--node-ip` order and an IPv6-primary node has `--node-ip=<v6>,<v4>`
    /// (Kubernetes docs, "IPv4/IPv6 dual-stack", "Configure IPv4/IPv6 dual-stack"): the stricter case
    /// for a client that takes the first InternalIP.
    pub internal_ipv6: Option<String>,
    /// When the node last changed, since the sandbox started (`PUT /_sandbox/nodes/{name}`):
    /// its resourceVersion grows with it, as etcd's does with every write.
    pub changed: Duration,
}

impl Node {
    pub fn new(name: &str, internal_ip: &str) -> Node {
        Node {
            name: name.to_string(),
            internal_ip: internal_ip.to_string(),
            ready: true,
            unschedulable: false,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            internal_ipv6: None,
            changed: Duration::ZERO,
        }
    }

    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Node {
        self.taints
            .push((key.to_string(), value.to_string(), effect.to_string()));
        self
    }

    pub fn label(mut self, key: &str, value: &str) -> Node {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// Being removed by the cluster autoscaler: it taints the node `ToBeDeletedByClusterAutoscaler`
    /// (value: Unix seconds, effect NoSchedule) while draining it, before the VM goes away
    /// (kubernetes/autoscaler, cluster-autoscaler/utils/taints/taints.go; FAQ "How does scale-down
    /// work?"). The node stays Ready and schedulable in `spec` until it is gone.
    pub fn to_be_deleted(self) -> Node {
        self.taint("ToBeDeletedByClusterAutoscaler", "1767225600", "NoSchedule")
    }

    /// Being removed by Karpenter (AKS node auto-provisioning): its disruption and termination
    /// controllers taint the node `karpenter.sh/disrupted:NoSchedule`, without a value, before
    /// draining it (kubernetes-sigs/karpenter pkg/apis/v1/taints.go, `DisruptedNoScheduleTaint`).
    /// Karpenter before v1 used `karpenter.sh/disruption=disrupting:NoSchedule` (v1beta1).
    pub fn karpenter_disrupted(self, v1beta1: bool) -> Node {
        if v1beta1 {
            self.taint("karpenter.sh/disruption", "disrupting", "NoSchedule")
        } else {
            self.taint("karpenter.sh/disrupted", "", "NoSchedule")
        }
    }

    /// Chosen by the cluster autoscaler as a scale-down candidate: `DeletionCandidateOfClusterAutoscaler`
    /// with effect PreferNoSchedule (same source as [`Node::to_be_deleted`]).
    pub fn deletion_candidate(self) -> Node {
        self.taint(
            "DeletionCandidateOfClusterAutoscaler",
            "1767225600",
            "PreferNoSchedule",
        )
    }

    /// An AKS virtual node (virtual-kubelet on Azure Container Instances): label
    /// `type: virtual-kubelet` and taint `virtual-kubelet.io/provider=azure:NoSchedule`, which pods
    /// select and tolerate to run there (Microsoft Learn, "Create and configure an AKS cluster to use
    /// virtual nodes"). Its InternalIP is the connector's, and no kube-proxy answers nodePorts on it.
    pub fn virtual_kubelet(name: &str, internal_ip: &str) -> Node {
        Node::new(name, internal_ip)
            .label("type", "virtual-kubelet")
            .label("kubernetes.io/role", "agent")
            .label(
                "alpha.service-controller.kubernetes.io/exclude-balancer",
                "true",
            )
            .taint("virtual-kubelet.io/provider", "azure", "NoSchedule")
    }

    /// Dual-stack, IPv6 primary (see [`Node::internal_ipv6`]).
    pub fn dual_stack(mut self, ipv6: &str) -> Node {
        self.internal_ipv6 = Some(ipv6.to_string());
        self
    }

    pub fn not_ready(mut self) -> Node {
        self.ready = false;
        self
    }

    pub fn cordoned(mut self) -> Node {
        self.unschedulable = true;
        self
    }
}

/// `spec.type` of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    ClusterIP,
    NodePort,
    LoadBalancer,
    /// `spec.externalName`: a DNS alias, with no cluster IP, selector or endpoints.
    ExternalName(String),
}

impl ServiceKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceKind::ClusterIP => "ClusterIP",
            ServiceKind::NodePort => "NodePort",
            ServiceKind::LoadBalancer => "LoadBalancer",
            ServiceKind::ExternalName(_) => "ExternalName",
        }
    }

    /// NodePort and LoadBalancer services get a node port per service port.
    pub fn has_node_ports(&self) -> bool {
        matches!(self, ServiceKind::NodePort | ServiceKind::LoadBalancer)
    }
}

impl From<ServiceType> for ServiceKind {
    fn from(t: ServiceType) -> ServiceKind {
        match t {
            ServiceType::NodePort => ServiceKind::NodePort,
            ServiceType::ClusterIP => ServiceKind::ClusterIP,
            ServiceType::LoadBalancer => ServiceKind::LoadBalancer,
        }
    }
}

/// `spec.externalTrafficPolicy` (NodePort and LoadBalancer only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrafficPolicy {
    #[default]
    Cluster,
    Local,
}

impl TrafficPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficPolicy::Cluster => "Cluster",
            TrafficPolicy::Local => "Local",
        }
    }
}

/// `targetPort`: a number, or the name of a container port resolved per pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

impl From<u16> for TargetPort {
    fn from(n: u16) -> TargetPort {
        TargetPort::Number(n)
    }
}

impl From<&str> for TargetPort {
    fn from(name: &str) -> TargetPort {
        TargetPort::Name(name.to_string())
    }
}

/// One entry of `spec.ports`.
#[derive(Clone, Debug)]
pub struct ServicePort {
    /// Required by Kubernetes when a service has more than one port.
    pub name: Option<String>,
    pub port: u16,
    pub target_port: TargetPort,
    /// `None`: allocated (30000–32767) when the service type needs one.
    pub node_port: Option<u16>,
    pub app_protocol: Option<String>,
}

impl ServicePort {
    pub fn new(name: &str, port: u16, target_port: impl Into<TargetPort>) -> ServicePort {
        ServicePort {
            name: (!name.is_empty()).then(|| name.to_string()),
            port,
            target_port: target_port.into(),
            node_port: None,
            app_protocol: None,
        }
    }

    pub fn node_port(mut self, node_port: u16) -> ServicePort {
        self.node_port = Some(node_port);
        self
    }
}

#[derive(Clone, Debug)]
pub struct Service {
    pub name: String,
    pub namespace: String,
    pub kind: ServiceKind,
    pub ports: Vec<ServicePort>,
    /// Empty: a service without selector (no EndpointSlices are managed for it).
    pub selector: BTreeMap<String, String>,
    pub external_traffic_policy: TrafficPolicy,
    /// `clusterIP: None`.
    pub headless: bool,
    /// `None`: allocated from AKS's default service CIDR 10.0.0.0/16.
    pub cluster_ip: Option<String>,
    /// LoadBalancer only: `status.loadBalancer.ingress[0].ip`; `None` leaves the LB pending.
    pub load_balancer_ip: Option<String>,
    /// LoadBalancer only: how long after the sandbox started the cloud provider writes the IP into
    /// `status.loadBalancer.ingress`. cloud-provider-azure creates the frontend IP configuration and
    /// the rules first, then patches the status, which takes from seconds to minutes
    /// (kubernetes-sigs/cloud-provider-azure, "Azure LoadBalancer"; `kubectl get svc -w` shows
    /// EXTERNAL-IP `<pending>` meanwhile).
    pub load_balancer_ip_after: Duration,
    /// LoadBalancer only: adds `service.beta.kubernetes.io/azure-load-balancer-internal: "true"`.
    /// Without it cloud-provider-azure gives the Service a public frontend IP (Microsoft Learn, "Use
    /// an internal load balancer with AKS").
    pub internal_load_balancer: bool,
    /// `spec.publishNotReadyAddresses`: the EndpointSlice controller then marks every endpoint
    /// `ready: true`, whatever the pod's readiness (`serving` still tells it).
    pub publish_not_ready_addresses: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The document this service's pods serve; `None` takes the next `--spec` in order
    /// (see [`Topology::documents`]).
    pub document: Option<Vec<u8>>,
}

impl Service {
    /// A service selecting `app: {name}`, in `default`, without ports yet.
    pub fn new(name: &str, kind: ServiceKind) -> Service {
        Service {
            name: name.to_string(),
            namespace: DEFAULT_NAMESPACE.to_string(),
            kind,
            ports: Vec::new(),
            selector: BTreeMap::from([("app".to_string(), name.to_string())]),
            external_traffic_policy: TrafficPolicy::Cluster,
            headless: false,
            cluster_ip: None,
            load_balancer_ip: None,
            load_balancer_ip_after: Duration::ZERO,
            internal_load_balancer: false,
            publish_not_ready_addresses: false,
            labels: BTreeMap::from([("app".to_string(), name.to_string())]),
            annotations: BTreeMap::new(),
            document: None,
        }
    }

    pub fn namespace(mut self, namespace: &str) -> Service {
        self.namespace = namespace.to_string();
        self
    }

    pub fn port(mut self, port: ServicePort) -> Service {
        self.ports.push(port);
        self
    }

    /// Replaces the selector.
    pub fn selector(mut self, labels: &[(&str, &str)]) -> Service {
        self.selector = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }

    pub fn traffic_policy(mut self, policy: TrafficPolicy) -> Service {
        self.external_traffic_policy = policy;
        self
    }

    pub fn headless(mut self) -> Service {
        self.headless = true;
        self
    }

    /// An internal Azure load balancer with this frontend IP.
    pub fn internal_lb(mut self, ip: &str) -> Service {
        self.load_balancer_ip = Some(ip.to_string());
        self.internal_load_balancer = true;
        self
    }

    /// A public Azure load balancer (no internal annotation) with this frontend IP.
    pub fn public_lb(mut self, ip: &str) -> Service {
        self.load_balancer_ip = Some(ip.to_string());
        self.internal_load_balancer = false;
        self
    }

    /// A LoadBalancer whose internal annotation has this exact value. cloud-provider-azure's
    /// `requiresInternalLoadBalancer` (pkg/provider/azure_loadbalancer.go) returns `l == "true"`:
    /// any other value, `"True"` included, gets a public frontend IP, `ip` here.
    pub fn internal_annotation(mut self, value: &str, ip: &str) -> Service {
        self.load_balancer_ip = Some(ip.to_string());
        self.internal_load_balancer = value == "true";
        self.annotations.insert(
            "service.beta.kubernetes.io/azure-load-balancer-internal".into(),
            value.to_string(),
        );
        self
    }

    /// The load balancer's IP appears in the status only `delay` after start.
    pub fn lb_ip_after(mut self, delay: Duration) -> Service {
        self.load_balancer_ip_after = delay;
        self
    }

    pub fn publish_not_ready_addresses(mut self) -> Service {
        self.publish_not_ready_addresses = true;
        self
    }

    pub fn document(mut self, document: Vec<u8>) -> Service {
        self.document = Some(document);
        self
    }

    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.selector.is_empty()
            && !matches!(self.kind, ServiceKind::ExternalName(_))
            && self
                .selector
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|l| l == v))
    }
}

/// A port the pod's container declares (`containerPort`, optionally named).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
}

/// A canned answer a pod gives at one path (an HTML error page, an oversized body, …), served
/// before the document.
#[derive(Clone, Debug)]
pub struct PodRoute {
    pub path: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// `status.phase`. Only Running pods have containers to forward to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodPhase {
    Pending,
    #[default]
    Running,
    Succeeded,
    Failed,
}

impl PodPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
        }
    }
}

/// A pod with one container (the ASP.NET Core app).
#[derive(Clone, Debug)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.nodeName`; `None` is an unscheduled (Pending) pod.
    pub node: Option<String>,
    pub container: String,
    pub image: String,
    /// Each declared port gets its own listener; forwarding to any other port is refused.
    pub ports: Vec<ContainerPort>,
    pub phase: PodPhase,
    /// Ready this long after the sandbox started (the readiness probe passing).
    pub ready_after: Duration,
    pub never_ready: bool,
    pub restart_count: u32,
    /// Where the document is served.
    pub document_path: String,
    pub routes: Vec<PodRoute>,
    /// The owning ReplicaSet's name (`{service}-{pod-template-hash}`), if any.
    pub owner: Option<String>,
    /// Deleted and in its grace period (`metadata.deletionTimestamp` set): a rollout's old pod.
    pub terminating: bool,
}

impl Pod {
    /// A bare Running pod with no ports on no node; see [`Pod::for_service`] for the usual case.
    pub fn new(name: &str) -> Pod {
        Pod {
            name: name.to_string(),
            namespace: DEFAULT_NAMESPACE.to_string(),
            labels: BTreeMap::new(),
            node: None,
            container: "app".to_string(),
            image: "mcr.microsoft.com/dotnet/samples:aspnetapp".to_string(),
            ports: Vec::new(),
            phase: PodPhase::Running,
            ready_after: Duration::ZERO,
            never_ready: false,
            restart_count: 0,
            document_path: SWAGGER_PATH.to_string(),
            routes: Vec::new(),
            owner: None,
            terminating: false,
        }
    }

    /// Pod number `ordinal` (from 0) of the Deployment behind `service`: named
    /// `{service}-{hash}-{suffix}` as a ReplicaSet names them, labelled to match the selector, with one
    /// container port per service port (named ones under their name; numbered ones named like the
    /// service port).
    pub fn for_service(service: &Service, ordinal: usize, node: &str) -> Pod {
        let hash = k8s_name_hash(&format!("rs/{}/{}", service.namespace, service.name), 10);
        let replica_set = format!("{}-{hash}", service.name);
        let suffix = k8s_name_hash(&format!("pod/{replica_set}/{ordinal}"), 5);
        let mut labels = service.selector.clone();
        labels.insert("pod-template-hash".to_string(), hash);
        let mut ports: Vec<ContainerPort> = Vec::new();
        for (i, sp) in service.ports.iter().enumerate() {
            let port = match &sp.target_port {
                TargetPort::Number(n) => ContainerPort {
                    name: sp.name.clone(),
                    port: *n,
                },
                TargetPort::Name(name) => ContainerPort {
                    name: Some(name.clone()),
                    port: DEFAULT_CONTAINER_PORT + i as u16,
                },
            };
            if !ports.iter().any(|p| p.port == port.port) {
                ports.push(port);
            }
        }
        Pod {
            namespace: service.namespace.clone(),
            labels,
            node: Some(node.to_string()),
            container: service.name.clone(),
            image: format!("apimgatesample.azurecr.io/{}:1.0.0", service.name),
            ports,
            owner: Some(replica_set.clone()),
            ..Pod::new(&format!("{replica_set}-{suffix}"))
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Pod {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub fn on_node(mut self, node: &str) -> Pod {
        self.node = Some(node.to_string());
        self
    }

    /// Not scheduled anywhere: Pending, no IP.
    pub fn unscheduled(mut self) -> Pod {
        self.node = None;
        self.phase = PodPhase::Pending;
        self
    }

    pub fn phase(mut self, phase: PodPhase) -> Pod {
        self.phase = phase;
        self
    }

    pub fn port(mut self, name: Option<&str>, port: u16) -> Pod {
        self.ports.push(ContainerPort {
            name: name.map(str::to_string),
            port,
        });
        self
    }

    pub fn ready_after(mut self, delay: Duration) -> Pod {
        self.ready_after = delay;
        self
    }

    pub fn terminating(mut self) -> Pod {
        self.terminating = true;
        self
    }

    pub fn never_ready(mut self) -> Pod {
        self.never_ready = true;
        self
    }

    pub fn document_path(mut self, path: &str) -> Pod {
        self.document_path = path.to_string();
        self
    }

    /// Answers `path` with this status, content type and body instead of anything else.
    pub fn route(
        mut self,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Pod {
        self.routes.push(PodRoute {
            path: path.to_string(),
            status,
            content_type: content_type.map(str::to_string),
            body,
        });
        self
    }
}

/// Nodes, services and pods of the emulated cluster.
#[derive(Clone, Debug)]
pub struct Topology {
    pub nodes: Vec<Node>,
    pub services: Vec<Service>,
    pub pods: Vec<Pod>,
    /// The `kubernetes` Service in `default` every cluster has (ClusterIP 10.0.0.1:443).
    pub kubernetes_service: bool,
    /// What `/version` and the nodes report; decides version-dependent behaviour (the
    /// port-forward's authorisation).
    pub kubernetes_version: String,
    /// What RBAC does not grant the kubeconfig's user (see [`Permission`]).
    pub denied: Vec<Permission>,
    /// The authorizer's reason for a denial, if it gives one (see [`Topology::deny_reason`]).
    pub deny_reason: Option<String>,
}

/// A verb on a resource (`list` `nodes`, `get` `pods/portforward`), as RBAC rules name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    pub verb: String,
    /// The plural, with its subresource (`pods/portforward`).
    pub resource: String,
}

impl std::str::FromStr for Permission {
    type Err = Error;
    /// `VERB:RESOURCE`, e.g. `list:nodes`, `create:pods/portforward`.
    fn from_str(text: &str) -> Result<Permission, Error> {
        const VERBS: [&str; 4] = ["get", "list", "watch", "create"];
        const RESOURCES: [&str; 7] = [
            "services",
            "pods",
            "pods/portforward",
            "nodes",
            "endpoints",
            "endpointslices",
            "namespaces",
        ];
        let (verb, resource) = text.split_once(':').ok_or_else(|| {
            Error::Config(format!(
                "--kube-deny '{text}' is not VERB:RESOURCE (e.g. list:nodes)"
            ))
        })?;
        let resource = resource.trim().trim_end_matches(".discovery.k8s.io");
        if !VERBS.contains(&verb.trim()) || !RESOURCES.contains(&resource) {
            return Err(Error::Config(format!(
                "--kube-deny '{text}': verbs are {}, resources {}",
                VERBS.join(", "),
                RESOURCES.join(", ")
            )));
        }
        Ok(Permission {
            verb: verb.trim().to_string(),
            resource: resource.to_string(),
        })
    }
}

/// Cluster settings the `serve` command line can change on any topology.
#[derive(Clone, Debug, Default)]
pub struct KubeSettings {
    /// `--kube-deny VERB:RESOURCE`, repeatable.
    pub deny: Vec<String>,
    /// `--kube-version v1.35.0`.
    pub version: Option<String>,
    /// `--lb-ip-after SECS`: every LoadBalancer Service gets its IP that late.
    pub lb_ip_after: Option<u64>,
}

impl Default for Topology {
    fn default() -> Topology {
        Topology::new()
    }
}

impl Topology {
    /// The two default nodes and nothing else.
    pub fn new() -> Topology {
        Topology {
            nodes: DEFAULT_NODES
                .iter()
                .map(|(name, ip)| Node::new(name, ip))
                .collect(),
            services: Vec::new(),
            pods: Vec::new(),
            kubernetes_service: true,
            kubernetes_version: crate::kube_api::KUBERNETES_VERSION.to_string(),
            denied: Vec::new(),
            deny_reason: None,
        }
    }

    /// Applies what the command line set.
    pub fn with_settings(mut self, settings: &KubeSettings) -> Result<Topology, Error> {
        for d in &settings.deny {
            self.denied.push(d.parse()?);
        }
        if let Some(v) = &settings.version {
            if minor_version(v).is_none() {
                return Err(Error::Config(format!(
                    "--kube-version '{v}' is not a version like v1.35.0"
                )));
            }
            self.kubernetes_version = v.clone();
        }
        if let Some(secs) = settings.lb_ip_after {
            for s in &mut self.services {
                s.load_balancer_ip_after = Duration::from_secs(secs);
            }
        }
        Ok(self)
    }

    /// RBAC denies this verb on this resource.
    pub fn deny(mut self, verb: &str, resource: &str) -> Topology {
        self.denied.push(Permission {
            verb: verb.to_string(),
            resource: resource.to_string(),
        });
        self
    }

    /// The reason the authorizer gives with a denial. RBAC gives none for a plain denial but
    /// `RBAC: clusterrole.rbac.authorization.k8s.io "x" not found` when a binding names a missing
    /// role (plugin/pkg/auth/authorizer/rbac/rbac.go, `ruleCheckingVisitor.errors`); an AKS
    /// Azure RBAC webhook gives its own. The API server appends it after `: `
    /// (kubernetes/apiserver responsewriters/errors.go `Forbidden`).
    pub fn deny_reason(mut self, reason: &str) -> Topology {
        self.deny_reason = Some(reason.to_string());
        self
    }

    pub fn version(mut self, version: &str) -> Topology {
        self.kubernetes_version = version.to_string();
        self
    }

    /// One service per document, named `svc-1`, `svc-2`, … of type `service_type`, each with port 80
    /// (`http`) to container port 8080, node port 30080, 30081, … (NodePort and LoadBalancer), an
    /// internal LB at 10.224.0.101, .102, … (LoadBalancer), and one Ready pod, alternating nodes.
    pub fn default_for(services: usize, service_type: ServiceType) -> Topology {
        let mut topology = Topology::new();
        for i in 1..=services {
            let kind = ServiceKind::from(service_type);
            let mut port = ServicePort::new("http", 80, DEFAULT_CONTAINER_PORT);
            if kind.has_node_ports() {
                port = port.node_port(DEFAULT_NODE_PORT.saturating_add(i as u16 - 1));
            }
            let mut service = Service::new(&format!("svc-{i}"), kind.clone()).port(port);
            if kind == ServiceKind::LoadBalancer {
                service = service.internal_lb(&format!("10.224.0.{}", 100 + i % 150));
            }
            let node = DEFAULT_NODES[(i - 1) % DEFAULT_NODES.len()].0;
            topology = topology.pod(Pod::for_service(&service, 0, node));
            topology = topology.service(service);
        }
        topology
    }

    pub fn node(mut self, node: Node) -> Topology {
        self.nodes.push(node);
        self
    }

    pub fn service(mut self, service: Service) -> Topology {
        self.services.push(service);
        self
    }

    pub fn pod(mut self, pod: Pod) -> Topology {
        self.pods.push(pod);
        self
    }

    pub fn service_mut(&mut self, name: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.name == name)
    }

    /// The pods `service` selects.
    pub fn pods_of_mut(&mut self, service: &str) -> Vec<&mut Pod> {
        let Some(svc) = self.services.iter().find(|s| s.name == service).cloned() else {
            return Vec::new();
        };
        self.pods
            .iter_mut()
            .filter(|p| p.namespace == svc.namespace && svc.selects(&p.labels))
            .collect()
    }

    /// The document each service serves, by service name: its own [`Service::document`], else the
    /// next of `specs` in order. Services left without one (and ExternalName ones) serve none.
    pub fn documents(&self, specs: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
        let mut specs = specs.iter();
        let mut out = Vec::new();
        for service in &self.services {
            if matches!(service.kind, ServiceKind::ExternalName(_)) {
                continue;
            }
            let doc = match &service.document {
                Some(d) => Some(d.clone()),
                None => specs.next().cloned(),
            };
            if let Some(doc) = doc {
                out.push((service.name.clone(), doc));
            }
        }
        out
    }

    /// What Kubernetes would refuse to create.
    fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        let mut seen = BTreeSet::new();
        for n in &self.nodes {
            if !seen.insert(n.name.as_str()) {
                return bad(format!("node {} is declared twice", n.name));
            }
        }
        let mut seen = BTreeSet::new();
        for s in &self.services {
            if !seen.insert((s.namespace.as_str(), s.name.as_str())) {
                return bad(format!(
                    "service {}/{} is declared twice",
                    s.namespace, s.name
                ));
            }
            if s.ports.len() > 1 && s.ports.iter().any(|p| p.name.is_none()) {
                return bad(format!(
                    "service {}: spec.ports[].name is required when there is more than one port",
                    s.name
                ));
            }
            if s.ports.is_empty() && !matches!(s.kind, ServiceKind::ExternalName(_)) && !s.headless
            {
                return bad(format!("service {}: spec.ports is required", s.name));
            }
        }
        let mut seen = BTreeSet::new();
        for p in &self.pods {
            if !seen.insert((p.namespace.as_str(), p.name.as_str())) {
                return bad(format!("pod {}/{} is declared twice", p.namespace, p.name));
            }
            match &p.node {
                Some(node) if !self.nodes.iter().any(|n| &n.name == node) => {
                    return bad(format!("pod {} is on unknown node {node}", p.name));
                }
                None if p.phase != PodPhase::Pending => {
                    return bad(format!(
                        "pod {} is {} but on no node; give it a node or make it unscheduled()",
                        p.name,
                        p.phase.as_str()
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The minor of `v1.35.2` (35), when it is a Kubernetes 1.x version.
pub fn minor_version(version: &str) -> Option<u32> {
    let rest = version.trim_start_matches('v').strip_prefix("1.")?;
    rest.split(['.', '-', '+']).next()?.parse().ok()
}

/// Sort key putting `svc-2` before `svc-10`.
pub fn service_order(name: &str) -> (usize, String) {
    let n = name
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    (n, name.to_string())
}

/// A deterministic lower-case name fragment from the alphabet Kubernetes uses for generated names
/// (no vowels, no look-alike digits).
pub fn k8s_name_hash(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    Sha256::digest(seed.as_bytes())
        .iter()
        .cycle()
        .take(len)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A deterministic version-4-shaped UUID for an object.
pub fn object_uid(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A service with what the control plane allocated for it.
#[derive(Clone, Debug)]
pub struct ServiceState {
    pub spec: Service,
    /// `None` for ExternalName; `"None"` for headless.
    pub cluster_ip: Option<String>,
    /// Per `spec.ports` entry.
    pub node_ports: Vec<Option<u16>>,
    /// LoadBalancer + Local only.
    pub health_check_node_port: Option<u16>,
    /// When the Service last changed, since the sandbox started (its nodePort, through
    /// `PUT /_sandbox/services/{svc}/nodeport`).
    pub changed: Duration,
}

/// A pod with its allocated IP and, when Running, its listeners.
#[derive(Clone, Debug)]
pub struct PodState {
    pub spec: Pod,
    pub ip: Option<String>,
    pub host_ip: Option<String>,
    /// The containerd sandbox id kubelet names in port-forward errors.
    pub sandbox_id: String,
    /// Container port → the real 127.0.0.1 listener.
    pub listeners: HashMap<u16, SocketAddr>,
}

/// Readiness of a pod at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Time since start of the last Ready transition (or of creation).
    pub since: Duration,
}

/// The running cluster: topology plus the pods' HTTP servers.
pub struct Cluster {
    pub kubernetes_version: String,
    pub denied: Vec<Permission>,
    pub deny_reason: Option<String>,
    pub nodes: Vec<Node>,
    pub services: Vec<ServiceState>,
    pub pods: Vec<PodState>,
    pub namespaces: Vec<String>,
    /// When the cluster started, as Unix seconds (every creationTimestamp derives from it).
    pub started_unix: u64,
    started: Instant,
    /// `pod-ready-after` as last seen, and when it was seen to change: arming it at runtime is a new
    /// rollout, so pods are unready again until that many seconds have passed.
    ready_fault: Mutex<(u64, Duration)>,
    pub shared: Arc<Shared>,
    pub shutdown: watch::Receiver<bool>,
}

impl Cluster {
    pub async fn start(
        topology: Topology,
        shared: Arc<Shared>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Cluster>, Error> {
        topology.validate()?;
        let services = allocate_services(&topology)?;
        let documents = shared
            .documents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>();

        let mut pods = Vec::with_capacity(topology.pods.len());
        let mut per_node: HashMap<String, u32> = HashMap::new();
        for pod in &topology.pods {
            let node = pod
                .node
                .as_ref()
                .and_then(|n| topology.nodes.iter().position(|x| &x.name == n));
            let runs = pod.phase == PodPhase::Running && node.is_some();
            let ip = match node {
                Some(index) if pod.phase != PodPhase::Pending => {
                    let slot = per_node
                        .entry(topology.nodes[index].name.clone())
                        .or_default();
                    *slot += 1;
                    Some(format!("10.244.{}.{}", index % 256, 10 + *slot % 240))
                }
                _ => None,
            };
            // The document comes from the first selecting service that has one.
            let service = topology
                .services
                .iter()
                .filter(|s| s.namespace == pod.namespace && s.selects(&pod.labels))
                .map(|s| s.name.clone())
                .find(|name| documents.contains(name));
            let listeners = if runs {
                crate::pods::start(pod, service, shared.clone(), shutdown.clone()).await?
            } else {
                HashMap::new()
            };
            pods.push(PodState {
                host_ip: node.map(|i| topology.nodes[i].internal_ip.clone()),
                ip,
                sandbox_id: hex_id(&format!("sandbox/{}/{}", pod.namespace, pod.name)),
                listeners,
                spec: pod.clone(),
            });
        }

        let mut namespaces: BTreeSet<String> =
            ["default", "kube-node-lease", "kube-public", "kube-system"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        namespaces.extend(topology.services.iter().map(|s| s.namespace.clone()));
        namespaces.extend(topology.pods.iter().map(|p| p.namespace.clone()));

        let initial_fault = shared.faults.value("pod-ready-after").unwrap_or(0);
        Ok(Arc::new(Cluster {
            kubernetes_version: topology.kubernetes_version,
            denied: topology.denied,
            deny_reason: topology.deny_reason,
            nodes: topology.nodes,
            services,
            pods,
            namespaces: namespaces.into_iter().collect(),
            started_unix: crate::tokens::now_secs(),
            started: Instant::now(),
            ready_fault: Mutex::new((initial_fault, Duration::ZERO)),
            shared,
            shutdown,
        }))
    }

    /// Time since the cluster started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether pod `index` is Ready now, and since when its readiness last changed.
    pub fn readiness(&self, index: usize) -> Readiness {
        let now = self.elapsed();
        let Some(pod) = self.pods.get(index) else {
            return Readiness {
                ready: false,
                since: Duration::ZERO,
            };
        };
        let spec = &pod.spec;
        if spec.never_ready || spec.phase != PodPhase::Running {
            return Readiness {
                ready: false,
                since: Duration::ZERO,
            };
        }
        let (fault_secs, fault_since) = self.ready_fault_now(now);
        let rollout_ready_at = if fault_secs > 0 {
            fault_since + Duration::from_secs(fault_secs)
        } else {
            Duration::ZERO
        };
        let ready_at = spec.ready_after.max(rollout_ready_at);
        if now >= ready_at {
            Readiness {
                ready: true,
                since: ready_at,
            }
        } else {
            Readiness {
                ready: false,
                since: fault_since,
            }
        }
    }

    fn ready_fault_now(&self, now: Duration) -> (u64, Duration) {
        let value = self.shared.faults.value("pod-ready-after").unwrap_or(0);
        // A poisoned lock only means a reader panicked; the pair is always written whole.
        let mut seen = self.ready_fault.lock().unwrap_or_else(|e| e.into_inner());
        if seen.0 != value {
            *seen = (value, now);
        }
        *seen
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<(usize, &PodState)> {
        self.pods
            .iter()
            .enumerate()
            .find(|(_, p)| p.spec.namespace == namespace && p.spec.name == name)
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceState> {
        self.services
            .iter()
            .find(|s| s.spec.namespace == namespace && s.spec.name == name)
    }

    /// Indexes of the pods a service selects.
    pub fn pods_of(&self, service: &Service) -> Vec<usize> {
        self.pods
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.spec.namespace == service.namespace && service.selects(&p.spec.labels)
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// The running cluster as the API server serves it now. Each change builds a new [`Cluster`]
/// from the current one and swaps it in, so a request that already took a snapshot
/// ([`ClusterHandle::get`]) answers from one consistent state, as a read from one etcd revision
/// does.
pub struct ClusterHandle {
    current: std::sync::RwLock<Arc<Cluster>>,
}

/// `PUT /_sandbox/nodes/{name}`: what a node is now. Absent fields keep the node's value (a
/// new node needs `internalIP`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeChange {
    #[serde(rename = "internalIP")]
    pub internal_ip: Option<String>,
    pub ready: Option<bool>,
    pub unschedulable: Option<bool>,
    /// Replaces the node's extra taints (the node controller's own `unreachable` and
    /// `unschedulable` taints follow `ready` and `unschedulable`).
    pub taints: Option<Vec<TaintChange>>,
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintChange {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: String,
}

/// A pod an eviction replaced: the old name and the new one (`None`: nothing could take it).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Moved {
    pub old: String,
    pub new: String,
    /// Where the replacement runs; `None` leaves it Pending (no node can take it).
    pub node: Option<String>,
    pub ip: Option<String>,
}

impl ClusterHandle {
    pub fn new(cluster: Arc<Cluster>) -> ClusterHandle {
        ClusterHandle {
            current: std::sync::RwLock::new(cluster),
        }
    }

    /// The cluster now.
    pub fn get(&self) -> Arc<Cluster> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Builds the next state from the current one under the write lock, so two changes never
    /// lose each other.
    fn change<T>(&self, f: impl FnOnce(&mut Cluster) -> Result<T, String>) -> Result<T, String> {
        let mut slot = self.current.write().unwrap_or_else(|e| e.into_inner());
        let mut next = slot.copy();
        let out = f(&mut next)?;
        *slot = Arc::new(next);
        Ok(out)
    }

    /// Adds or changes a node; `true` when it was added. Effects as the node controller and
    /// kubelet show them: a NotReady node gets the `node.kubernetes.io/unreachable` taints, a
    /// cordoned one `spec.unschedulable` and `node.kubernetes.io/unschedulable` (Kubernetes docs,
    /// "Taints and Tolerations", taint-based evictions; "Nodes", manual node administration).
    pub fn put_node(&self, name: &str, change: NodeChange) -> Result<bool, String> {
        if let Some(ip) = &change.internal_ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(format!("internalIP '{ip}' is not an IP address"));
        }
        self.change(|c| {
            let now = c.elapsed();
            if let Some(ip) = &change.internal_ip
                && let Some(other) = c
                    .nodes
                    .iter()
                    .find(|n| n.name != name && &n.internal_ip == ip)
            {
                return Err(format!("node {} already has InternalIP {ip}", other.name));
            }
            let added = !c.nodes.iter().any(|n| n.name == name);
            if added {
                let Some(ip) = &change.internal_ip else {
                    return Err(format!(
                        "node {name} does not exist: a new node needs \"internalIP\""
                    ));
                };
                c.nodes.push(Node::new(name, ip));
            }
            let node = c
                .nodes
                .iter_mut()
                .find(|n| n.name == name)
                .ok_or_else(|| format!("node {name} vanished"))?;
            if let Some(ip) = change.internal_ip {
                node.internal_ip = ip;
            }
            if let Some(ready) = change.ready {
                node.ready = ready;
            }
            if let Some(unschedulable) = change.unschedulable {
                node.unschedulable = unschedulable;
            }
            if let Some(taints) = change.taints {
                node.taints = taints
                    .into_iter()
                    .map(|t| (t.key, t.value, t.effect))
                    .collect();
            }
            node.changed = now;
            let ip = node.internal_ip.clone();
            for pod in c.pods.iter_mut() {
                if pod.spec.node.as_deref() == Some(name) {
                    pod.host_ip = Some(ip.clone());
                }
            }
            Ok(added)
        })
    }

    /// Removes a node as a scale-down or a node-image upgrade does: the node is drained, so each
    /// pod on it is evicted and its ReplicaSet creates a replacement, with a new name and a new
    /// IP, on a Ready, schedulable node without a NoSchedule taint; the EndpointSlices follow the
    /// pods (Kubernetes docs, "Safely Drain a Node" and "API-initiated Eviction"; cluster-
    /// autoscaler FAQ, "How does scale-down work?"; Microsoft Learn, "Upgrade Azure Kubernetes
    /// Service (AKS) node images": cordon and drain, then the VM is removed). A pod without an
    /// owner is not replaced. `None` when there is no such node.
    pub fn delete_node(&self, name: &str) -> Result<Option<Vec<Moved>>, String> {
        self.change(|c| {
            let Some(index) = c.nodes.iter().position(|n| n.name == name) else {
                return Ok(None);
            };
            c.nodes.remove(index);
            let now = c.elapsed();
            let target = c
                .nodes
                .iter()
                .filter(|n| n.ready && !n.unschedulable)
                .filter(|n| {
                    !n.taints
                        .iter()
                        .any(|(_, _, e)| e == "NoSchedule" || e == "NoExecute")
                })
                .map(|n| (n.name.clone(), n.internal_ip.clone()))
                .next();
            let mut moved = Vec::new();
            let evicted: Vec<PodState> = c
                .pods
                .iter()
                .filter(|p| p.spec.node.as_deref() == Some(name))
                .cloned()
                .collect();
            c.pods.retain(|p| p.spec.node.as_deref() != Some(name));
            for old in evicted {
                let Some(rs) = old.spec.owner.clone() else {
                    continue;
                };
                let mut spec = old.spec.clone();
                // A fresh name from the ReplicaSet, never one a pod had before.
                let mut n = c.pods.len();
                let new_name = loop {
                    let suffix = k8s_name_hash(&format!("pod/{rs}/{n}/{}", now.as_nanos()), 5);
                    let candidate = format!("{rs}-{suffix}");
                    if candidate != old.spec.name && c.pod(&spec.namespace, &candidate).is_none() {
                        break candidate;
                    }
                    n += 1;
                };
                spec.name = new_name.clone();
                spec.terminating = false;
                spec.restart_count = 0;
                // Ready once created: the probe of the new container passes at once here.
                spec.ready_after = now;
                let (node, host_ip, ip) = match &target {
                    Some((node, host)) => {
                        let node_index = c.nodes.iter().position(|n| &n.name == node).unwrap_or(0);
                        let taken: BTreeSet<String> =
                            c.pods.iter().filter_map(|p| p.ip.clone()).collect();
                        let ip = (10..250)
                            .map(|i| format!("10.244.{}.{i}", node_index % 256))
                            .find(|ip| !taken.contains(ip));
                        (Some(node.clone()), Some(host.clone()), ip)
                    }
                    None => (None, None, None),
                };
                spec.node = node.clone();
                if node.is_none() {
                    spec.phase = PodPhase::Pending;
                }
                moved.push(Moved {
                    old: old.spec.name.clone(),
                    new: new_name.clone(),
                    node,
                    ip: ip.clone(),
                });
                c.pods.push(PodState {
                    sandbox_id: hex_id(&format!("sandbox/{}/{}", spec.namespace, new_name)),
                    // The replacement runs the same image and serves the same document; its
                    // listeners are this sandbox's stand-in for the new container.
                    listeners: if spec.phase == PodPhase::Running {
                        old.listeners.clone()
                    } else {
                        HashMap::new()
                    },
                    spec,
                    ip,
                    host_ip,
                });
            }
            Ok(Some(moved))
        })
    }

    /// Changes a Service's nodePort (`port`: the Service port's name or number, needed when it
    /// has several), as deleting and re-creating the Service does: the API server allocates
    /// from 30000-32767 and refuses a port another Service holds, as a nodePort or as the
    /// healthCheckNodePort of a LoadBalancer with policy Local (both come from the same
    /// allocator), and a nodePort another port of the same Service has (Kubernetes docs,
    /// "Service", type NodePort and "Create an External Load Balancer"; kube-apiserver's
    /// portallocator messages, and validation's `field.Duplicate` for ports of one Service).
    /// Refusals read as the API server's 422 Status: `Service "NAME" is invalid: FIELD: ...`,
    /// FIELD naming the port's own index.
    pub fn set_node_port(
        &self,
        service: &str,
        port: Option<&str>,
        node_port: u16,
    ) -> Result<Option<u16>, String> {
        self.change(|c| {
            let now = c.elapsed();
            let Some(at) = c.services.iter().position(|s| s.spec.name == service) else {
                return Ok(None);
            };
            let state = &c.services[at];
            if !state.spec.kind.has_node_ports() {
                return Err(format!(
                    "service {service} is {}: only NodePort and LoadBalancer Services have node ports",
                    state.spec.kind.as_str()
                ));
            }
            let index = match port {
                Some(p) => state
                    .spec
                    .ports
                    .iter()
                    .position(|sp| sp.name.as_deref() == Some(p) || sp.port.to_string() == p)
                    .ok_or_else(|| format!("service {service} has no port '{p}'"))?,
                None if state.spec.ports.len() == 1 => 0,
                None => {
                    return Err(format!(
                        "service {service} has several ports: say which with \"port\""
                    ));
                }
            };
            let invalid = |what: String| {
                format!("Service \"{service}\" is invalid: spec.ports[{index}].nodePort: {what}")
            };
            if !(30000..=32767).contains(&node_port) {
                return Err(invalid(format!(
                    "Invalid value: {node_port}: provided port is not in the valid range. The range of valid ports is 30000-32767"
                )));
            }
            let duplicate = state
                .node_ports
                .iter()
                .enumerate()
                .any(|(i, p)| i != index && *p == Some(node_port));
            if duplicate {
                return Err(invalid(format!("Duplicate value: {node_port}")));
            }
            let taken = c.services.iter().enumerate().any(|(i, s)| {
                i != at
                    && (s.node_ports.contains(&Some(node_port))
                        || s.health_check_node_port == Some(node_port))
            }) || state.health_check_node_port == Some(node_port);
            if taken {
                return Err(invalid(format!(
                    "Invalid value: {node_port}: provided port is already allocated"
                )));
            }
            let state = &mut c.services[at];
            let old = state.node_ports.get(index).copied().flatten();
            if let Some(slot) = state.node_ports.get_mut(index) {
                *slot = Some(node_port);
            }
            state.changed = now;
            Ok(Some(old.unwrap_or(node_port)))
        })
    }
}

impl Cluster {
    /// The same cluster as a new value, for [`ClusterHandle`] to change.
    fn copy(&self) -> Cluster {
        let fault = *self.ready_fault.lock().unwrap_or_else(|e| e.into_inner());
        Cluster {
            kubernetes_version: self.kubernetes_version.clone(),
            denied: self.denied.clone(),
            deny_reason: self.deny_reason.clone(),
            nodes: self.nodes.clone(),
            services: self.services.clone(),
            pods: self.pods.clone(),
            namespaces: self.namespaces.clone(),
            started_unix: self.started_unix,
            started: self.started,
            ready_fault: Mutex::new(fault),
            shared: self.shared.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

fn allocate_services(topology: &Topology) -> Result<Vec<ServiceState>, Error> {
    let mut used_node_ports: BTreeSet<u16> = topology
        .services
        .iter()
        .flat_map(|s| s.ports.iter().filter_map(|p| p.node_port))
        .collect();
    let mut next_node_port = 31000u16;
    let mut allocate = |used: &mut BTreeSet<u16>| -> Result<u16, Error> {
        while used.contains(&next_node_port) {
            next_node_port += 1;
        }
        if next_node_port > 32767 {
            return Err(Error::Config(
                "the node port range 30000-32767 is exhausted".into(),
            ));
        }
        used.insert(next_node_port);
        Ok(next_node_port)
    };
    let mut out = Vec::new();
    let has_kubernetes = topology
        .services
        .iter()
        .any(|s| s.name == "kubernetes" && s.namespace == DEFAULT_NAMESPACE);
    if topology.kubernetes_service && !has_kubernetes {
        let mut spec = Service::new("kubernetes", ServiceKind::ClusterIP)
            .port(ServicePort::new("https", 443, 443))
            .selector(&[]);
        spec.labels = BTreeMap::from([
            ("component".to_string(), "apiserver".to_string()),
            ("provider".to_string(), "kubernetes".to_string()),
        ]);
        out.push(ServiceState {
            spec,
            cluster_ip: Some("10.0.0.1".to_string()),
            node_ports: vec![None],
            health_check_node_port: None,
            changed: Duration::ZERO,
        });
    }
    for (i, s) in topology.services.iter().enumerate() {
        let cluster_ip = match (&s.kind, s.headless) {
            (ServiceKind::ExternalName(_), _) => None,
            (_, true) => Some("None".to_string()),
            _ => Some(
                s.cluster_ip
                    .clone()
                    .unwrap_or_else(|| format!("10.0.{}.{}", 100 + i / 200, 10 + i % 200)),
            ),
        };
        let mut node_ports = Vec::new();
        for p in &s.ports {
            node_ports.push(match (s.kind.has_node_ports(), p.node_port) {
                (false, _) => None,
                (true, Some(n)) => Some(n),
                (true, None) => Some(allocate(&mut used_node_ports)?),
            });
        }
        let health_check_node_port = (s.kind == ServiceKind::LoadBalancer
            && s.external_traffic_policy == TrafficPolicy::Local)
            .then(|| allocate(&mut used_node_ports))
            .transpose()?;
        out.push(ServiceState {
            spec: s.clone(),
            cluster_ip,
            node_ports,
            health_check_node_port,
            changed: Duration::ZERO,
        });
    }
    Ok(out)
}

fn hex_id(seed: &str) -> String {
    let a = Sha256::digest(seed.as_bytes());
    a.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_topology_matches_documents() {
        let t = Topology::default_for(3, ServiceType::LoadBalancer);
        let docs = t.documents(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let names: Vec<_> = docs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["svc-1", "svc-2", "svc-3"]);
        assert_eq!(t.pods.len(), 3);
        assert!(t.pods[0].name.starts_with("svc-1-"));
        assert_eq!(t.pods[0].name.len(), "svc-1-".len() + 10 + 1 + 5);
        assert!(t.services[1].selects(&t.pods[1].labels));
        assert!(!t.services[1].selects(&t.pods[0].labels));
        assert_eq!(t.services[2].ports[0].node_port, Some(30082));
        assert_eq!(
            t.services[0].load_balancer_ip.as_deref(),
            Some("10.224.0.101")
        );
    }

    #[test]
    fn kube_settings_parse_and_refuse_what_rbac_does_not_name() {
        let t = Topology::new()
            .with_settings(&KubeSettings {
                deny: vec![
                    "list:nodes".into(),
                    "list:endpointslices.discovery.k8s.io".into(),
                ],
                version: Some("v1.35.0".into()),
                lb_ip_after: Some(3),
            })
            .unwrap();
        assert_eq!(t.denied[0].verb, "list");
        assert_eq!(t.denied[1].resource, "endpointslices");
        assert_eq!(minor_version(&t.kubernetes_version), Some(35));
        for bad in ["nodes", "delete:nodes", "list:secrets"] {
            let settings = KubeSettings {
                deny: vec![bad.into()],
                ..KubeSettings::default()
            };
            assert!(Topology::new().with_settings(&settings).is_err(), "{bad}");
        }
        let settings = KubeSettings {
            version: Some("latest".into()),
            ..KubeSettings::default()
        };
        assert!(Topology::new().with_settings(&settings).is_err());
    }

    #[test]
    fn invalid_topologies_are_refused() {
        let mut t = Topology::default_for(1, ServiceType::NodePort);
        t.pods[0].node = Some("nope".into());
        assert!(t.validate().is_err());
        let t = Topology::new().service(
            Service::new("a", ServiceKind::ClusterIP)
                .port(ServicePort::new("", 80, 80))
                .port(ServicePort::new("b", 81, 81)),
        );
        assert!(t.validate().is_err());
    }
}
