//! The cluster's state as Kubernetes API objects, in the JSON shapes kube-apiserver 1.33 returns.
//!
//! Objects are rendered on every request, so readiness seen through Pods, Endpoints and EndpointSlices
//! always agrees. `resourceVersion`s derive from when an object last changed, so they only grow and a
//! watch can tell what changed after a list.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::selectors::LabelSelector;

use crate::cluster::{
    Cluster, PodPhase, Readiness, Service, ServiceKind, ServiceState, TargetPort, k8s_name_hash,
    object_uid,
};

/// The control plane's address as the `kubernetes` Service's endpoints show it (AKS: a public IP).
pub const APISERVER_IP: &str = "20.62.145.10";
pub const KUBERNETES_VERSION: &str = "v1.33.5";

/// Kubernetes' API resources served here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Services,
    Pods,
    Nodes,
    Endpoints,
    EndpointSlices,
    Namespaces,
}

impl Resource {
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Services => "services",
            Resource::Pods => "pods",
            Resource::Nodes => "nodes",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslices",
            Resource::Namespaces => "namespaces",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Services => "Service",
            Resource::Pods => "Pod",
            Resource::Nodes => "Node",
            Resource::Endpoints => "Endpoints",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::Namespaces => "Namespace",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Resource::EndpointSlices => "discovery.k8s.io/v1",
            _ => "v1",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Resource::Nodes | Resource::Namespaces)
    }

    /// The core (`/api/v1`) resource named `plural`.
    pub fn core(plural: &str) -> Option<Resource> {
        [
            Resource::Services,
            Resource::Pods,
            Resource::Nodes,
            Resource::Endpoints,
            Resource::Namespaces,
        ]
        .into_iter()
        .find(|r| r.plural() == plural)
    }
}

/// RFC 3339 in UTC, as Kubernetes writes `metav1.Time`.
pub fn timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Renders objects against one cluster at one instant.
/// What a request narrows a list to: its namespace, a name (a GET of one object) and a label
/// selector, all known before any object is rendered.
#[derive(Default)]
pub struct Scope<'a> {
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    pub labels: Option<&'a LabelSelector>,
}

impl Scope<'_> {
    fn in_namespace(&self, namespace: &str) -> bool {
        self.namespace.is_none_or(|n| n == namespace)
    }

    fn named(&self, name: &str) -> bool {
        self.name.is_none_or(|n| n == name)
    }

    fn labelled(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.is_none_or(|l| l.matches_labels(labels))
    }

    fn holds(&self, namespace: &str, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.in_namespace(namespace) && self.named(name) && self.labelled(labels)
    }
}

/// The labels the EndpointSlice controller (or the mirroring one, for a service without a
/// selector) puts on a service's slices.
fn slice_labels(s: &Service) -> BTreeMap<String, String> {
    let mut labels = s.labels.clone();
    labels.insert("kubernetes.io/service-name".into(), s.name.clone());
    let manager = if s.selector.is_empty() {
        "endpointslicemirroring-controller.k8s.io"
    } else {
        "endpointslice-controller.k8s.io"
    };
    labels.insert(
        "endpointslice.kubernetes.io/managed-by".into(),
        manager.into(),
    );
    if s.headless {
        labels.insert("service.kubernetes.io/headless".into(), String::new());
    }
    labels
}

pub struct View<'a> {
    pub cluster: &'a Cluster,
}

impl<'a> View<'a> {
    pub fn new(cluster: &'a Cluster) -> View<'a> {
        View { cluster }
    }

    /// The objects of `resource` in `scope`, with `kind`/`apiVersion` set, sorted as etcd returns
    /// them (namespace, then name). The scope is applied before an object is rendered: rendering
    /// every pod for each request made a list's cost grow with the whole cluster. Callers still
    /// apply their selectors to what comes back; the scope only skips objects they would drop.
    pub fn objects(&self, resource: Resource, scope: &Scope<'_>) -> Vec<Value> {
        let mut out: Vec<Value> = match resource {
            Resource::Nodes => (0..self.cluster.nodes.len())
                .filter(|i| scope.named(&self.cluster.nodes[*i].name))
                .map(|i| self.node(i))
                .collect(),
            Resource::Namespaces => self
                .cluster
                .namespaces
                .iter()
                .filter(|n| scope.named(n))
                .map(|n| self.namespace(n))
                .collect(),
            Resource::Services => self
                .cluster
                .services
                .iter()
                .enumerate()
                .filter(|(_, s)| scope.holds(&s.spec.namespace, &s.spec.name, &s.spec.labels))
                .map(|(i, s)| self.service(i, s))
                .collect(),
            Resource::Pods => self
                .cluster
                .pods
                .iter()
                .enumerate()
                .filter(|(_, p)| scope.holds(&p.spec.namespace, &p.spec.name, &p.spec.labels))
                .map(|(i, _)| self.pod(i))
                .collect(),
            Resource::Endpoints => self
                .cluster
                .services
                .iter()
                .enumerate()
                .filter(|(_, s)| scope.holds(&s.spec.namespace, &s.spec.name, &s.spec.labels))
                .filter_map(|(i, s)| self.endpoints(i, s))
                .collect(),
            // A slice's name is not the service's: only the namespace and labels narrow here.
            Resource::EndpointSlices => self
                .cluster
                .services
                .iter()
                .enumerate()
                .filter(|(_, s)| {
                    scope.in_namespace(&s.spec.namespace) && scope.labelled(&slice_labels(&s.spec))
                })
                .flat_map(|(i, s)| self.endpoint_slices(i, s))
                .collect(),
        };
        out.sort_by(|a, b| {
            let key = |v: &Value| {
                (
                    v["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    v["metadata"]["name"].as_str().unwrap_or("").to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
        out
    }

    /// The resourceVersion a list taken now reports: newer than every object's.
    pub fn list_version(&self) -> String {
        version(self.cluster.elapsed(), 1023).to_string()
    }

    /// Creation time of the `ordinal`-th object of a kind: the cluster "was created" an hour before
    /// the sandbox started, nodes first, then services, then pods.
    fn created(&self, offset_secs: u64) -> u64 {
        self.cluster.started_unix.saturating_sub(3600) + offset_secs
    }

    /// Wall-clock time of an instant since the sandbox started.
    fn at(&self, since: Duration) -> u64 {
        self.cluster.started_unix + since.as_secs()
    }

    fn node(&self, index: usize) -> Value {
        let node = &self.cluster.nodes[index];
        let created = timestamp(self.created(index as u64));
        let ordinal = node
            .name
            .rsplit("vmss")
            .next()
            .and_then(|s| u64::from_str_radix(s, 36).ok())
            .unwrap_or(index as u64);
        let scale_set = node
            .name
            .rsplit_once("vmss")
            .map(|(prefix, _)| format!("{prefix}vmss"))
            .unwrap_or_else(|| node.name.clone());
        let mut taints = Vec::new();
        if node.unschedulable {
            taints.push(json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "timeAdded": created}));
        }
        if !node.ready {
            taints.push(json!({"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": created}));
            taints.push(json!({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": created}));
        }
        for (key, value, effect) in &node.taints {
            // `value` is `omitempty` in core/v1 Taint: a taint without one has no field.
            if value.is_empty() {
                taints.push(json!({"key": key, "effect": effect}));
            } else {
                taints.push(json!({"key": key, "value": value, "effect": effect}));
            }
        }
        let mut spec = json!({
            "podCIDR": format!("10.244.{}.0/24", index % 256),
            "podCIDRs": [format!("10.244.{}.0/24", index % 256)],
            "providerID": format!(
                "azure:///subscriptions/{}/resourceGroups/mc_{}_aks-sandbox_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/{scale_set}/virtualMachines/{ordinal}",
                self.cluster.shared.identity.subscription_id,
                self.cluster.shared.identity.resource_group,
            ),
        });
        if node.unschedulable {
            spec["unschedulable"] = json!(true);
        }
        if !taints.is_empty() {
            spec["taints"] = Value::Array(taints);
        }
        let heartbeat = timestamp(crate::tokens::now_secs());
        let condition = |kind: &str, status: &str, reason: &str, message: &str| {
            json!({
                "type": kind, "status": status, "reason": reason, "message": message,
                "lastHeartbeatTime": heartbeat, "lastTransitionTime": created,
            })
        };
        let ready = if node.ready {
            condition(
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status",
            )
        } else {
            condition(
                "Ready",
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            )
        };
        json!({
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {
                "name": node.name,
                "uid": object_uid(&format!("node/{}", node.name)),
                "resourceVersion": version(node.changed, index).to_string(),
                "creationTimestamp": created,
                "labels": node_labels(node, json!({
                    "agentpool": "nodepool1",
                    "beta.kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/instance-type": "Standard_D4ds_v5",
                    "beta.kubernetes.io/os": "linux",
                    "failure-domain.beta.kubernetes.io/region": "eastus",
                    "failure-domain.beta.kubernetes.io/zone": "0",
                    "kubernetes.azure.com/agentpool": "nodepool1",
                    "kubernetes.azure.com/cluster": format!("MC_{}_aks-sandbox_eastus", self.cluster.shared.identity.resource_group),
                    "kubernetes.azure.com/mode": "system",
                    "kubernetes.azure.com/role": "agent",
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/hostname": node.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/role": "agent",
                    "node-role.kubernetes.io/agent": "",
                    "node.kubernetes.io/instance-type": "Standard_D4ds_v5",
                    "topology.kubernetes.io/region": "eastus",
                    "topology.kubernetes.io/zone": "0",
                })),
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": spec,
            "status": {
                "capacity": {"cpu": "4", "ephemeral-storage": "129886128Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "16373292Ki", "pods": "250"},
                "allocatable": {"cpu": "3860m", "ephemeral-storage": "119703055367", "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "12794924Ki", "pods": "250"},
                "conditions": [
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    ready,
                ],
                "addresses": node_addresses(node),
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": &object_uid(&format!("machine/{}", node.name)).replace('-', ""),
                    "systemUUID": object_uid(&format!("system/{}", node.name)),
                    "bootID": object_uid(&format!("boot/{}", node.name)),
                    "kernelVersion": "5.15.0-1089-azure",
                    "osImage": "Ubuntu 22.04.5 LTS",
                    "containerRuntimeVersion": "containerd://1.7.27-1",
                    "kubeletVersion": self.cluster.kubernetes_version,
                    "kubeProxyVersion": self.cluster.kubernetes_version,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        })
    }

    fn namespace(&self, name: &str) -> Value {
        json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "uid": object_uid(&format!("namespace/{name}")),
                "resourceVersion": version(Duration::ZERO, 100).to_string(),
                "creationTimestamp": timestamp(self.created(0)),
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })
    }

    fn service(&self, index: usize, state: &ServiceState) -> Value {
        let s = &state.spec;
        let mut ports = Vec::new();
        for (i, p) in s.ports.iter().enumerate() {
            let mut port = Map::new();
            if let Some(name) = &p.name {
                port.insert("name".into(), json!(name));
            }
            port.insert("protocol".into(), json!("TCP"));
            if let Some(app) = &p.app_protocol {
                port.insert("appProtocol".into(), json!(app));
            }
            port.insert("port".into(), json!(p.port));
            if !matches!(s.kind, ServiceKind::ExternalName(_)) {
                port.insert(
                    "targetPort".into(),
                    match &p.target_port {
                        TargetPort::Number(n) => json!(n),
                        TargetPort::Name(n) => json!(n),
                    },
                );
            }
            if let Some(Some(np)) = state.node_ports.get(i) {
                port.insert("nodePort".into(), json!(np));
            }
            ports.push(Value::Object(port));
        }
        let mut spec = Map::new();
        if !ports.is_empty() {
            spec.insert("ports".into(), Value::Array(ports));
        }
        if !s.selector.is_empty() && !matches!(s.kind, ServiceKind::ExternalName(_)) {
            spec.insert("selector".into(), json!(s.selector));
        }
        if let Some(ip) = &state.cluster_ip {
            spec.insert("clusterIP".into(), json!(ip));
            spec.insert("clusterIPs".into(), json!([ip]));
        }
        spec.insert("type".into(), json!(s.kind.as_str()));
        spec.insert("sessionAffinity".into(), json!("None"));
        if let ServiceKind::ExternalName(name) = &s.kind {
            spec.insert("externalName".into(), json!(name));
        } else {
            spec.insert("ipFamilies".into(), json!(["IPv4"]));
            spec.insert("ipFamilyPolicy".into(), json!("SingleStack"));
            spec.insert("internalTrafficPolicy".into(), json!("Cluster"));
        }
        if s.kind.has_node_ports() {
            spec.insert(
                "externalTrafficPolicy".into(),
                json!(s.external_traffic_policy.as_str()),
            );
        }
        if let Some(hc) = state.health_check_node_port {
            spec.insert("healthCheckNodePort".into(), json!(hc));
        }
        if s.kind == ServiceKind::LoadBalancer {
            spec.insert("allocateLoadBalancerNodePorts".into(), json!(true));
        }
        if s.publish_not_ready_addresses {
            spec.insert("publishNotReadyAddresses".into(), json!(true));
        }
        let assigned = self.cluster.elapsed() >= s.load_balancer_ip_after;
        let load_balancer = match (&s.kind, &s.load_balancer_ip) {
            (ServiceKind::LoadBalancer, Some(ip)) if assigned => {
                json!({"ingress": [{"ip": ip, "ipMode": "VIP"}]})
            }
            _ => json!({}),
        };
        let mut annotations = s.annotations.clone();
        if s.kind == ServiceKind::LoadBalancer && s.internal_load_balancer {
            annotations.insert(
                "service.beta.kubernetes.io/azure-load-balancer-internal".into(),
                "true".into(),
            );
        }
        let mut metadata = self.metadata(
            "service",
            &s.namespace,
            &s.name,
            self.created(60 + index as u64),
            version(
                if assigned && s.kind == ServiceKind::LoadBalancer {
                    s.load_balancer_ip_after.max(state.changed)
                } else {
                    state.changed
                },
                200 + index,
            ),
        );
        if !s.labels.is_empty() {
            metadata.insert("labels".into(), json!(s.labels));
        }
        if !annotations.is_empty() {
            metadata.insert("annotations".into(), json!(annotations));
        }
        json!({
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": metadata,
            "spec": spec,
            "status": {"loadBalancer": load_balancer},
        })
    }

    fn metadata(
        &self,
        kind: &str,
        ns: &str,
        name: &str,
        created: u64,
        rv: u64,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), json!(name));
        m.insert("namespace".into(), json!(ns));
        m.insert(
            "uid".into(),
            json!(object_uid(&format!("{kind}/{ns}/{name}"))),
        );
        m.insert("resourceVersion".into(), json!(rv.to_string()));
        m.insert("creationTimestamp".into(), json!(timestamp(created)));
        m
    }

    fn pod(&self, index: usize) -> Value {
        let state = &self.cluster.pods[index];
        let pod = &state.spec;
        let readiness = self.cluster.readiness(index);
        let created = self.created(120 + index as u64);
        let started = timestamp(created + 2);
        let ready_time = if readiness.since.is_zero() {
            timestamp(created + 5)
        } else {
            timestamp(self.at(readiness.since))
        };
        let mut metadata = self.metadata(
            "pod",
            &pod.namespace,
            &pod.name,
            created,
            version(readiness.since, 300 + index),
        );
        if let Some(rs) = &pod.owner {
            metadata.insert("generateName".into(), json!(format!("{rs}-")));
            metadata.insert(
                "ownerReferences".into(),
                json!([{
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": rs,
                    "uid": object_uid(&format!("replicaset/{}/{rs}", pod.namespace)),
                    "controller": true,
                    "blockOwnerDeletion": true,
                }]),
            );
        }
        if !pod.labels.is_empty() {
            metadata.insert("labels".into(), json!(pod.labels));
        }
        if pod.terminating {
            // Deleted with the default 30 s grace period, a moment ago.
            metadata.insert(
                "deletionTimestamp".into(),
                json!(timestamp(crate::tokens::now_secs() + 30)),
            );
            metadata.insert("deletionGracePeriodSeconds".into(), json!(30));
        }
        let ports: Vec<Value> = pod
            .ports
            .iter()
            .map(|p| {
                let mut port = Map::new();
                if let Some(name) = &p.name {
                    port.insert("name".into(), json!(name));
                }
                port.insert("containerPort".into(), json!(p.port));
                port.insert("protocol".into(), json!("TCP"));
                Value::Object(port)
            })
            .collect();
        let mut container = json!({
            "name": pod.container,
            "image": pod.image,
            "env": [{"name": "ASPNETCORE_ENVIRONMENT", "value": "Production"}],
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
        });
        if !ports.is_empty() {
            container["ports"] = Value::Array(ports);
        }
        if let Some(p) = pod.ports.first() {
            container["readinessProbe"] = json!({
                "tcpSocket": {"port": p.port},
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3,
            });
        }
        let mut spec = json!({
            "containers": [container],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
        });
        if let Some(node) = &pod.node {
            spec["nodeName"] = json!(node);
        }

        let condition = |kind: &str, ok: bool, time: &str| json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": time});
        let created_ts = timestamp(created);
        let mut status = Map::new();
        status.insert("phase".into(), json!(pod.phase.as_str()));
        let scheduled = pod.node.is_some();
        if !scheduled {
            let nodes = self.cluster.nodes.len();
            let mut c = condition("PodScheduled", false, &created_ts);
            c["reason"] = json!("Unschedulable");
            c["message"] = json!(format!(
                "0/{nodes} nodes are available: {nodes} Insufficient cpu. preemption: 0/{nodes} nodes are available: {nodes} No preemption victims found for incoming pod."
            ));
            status.insert("conditions".into(), json!([c]));
            status.insert("qosClass".into(), json!("BestEffort"));
            return json!({"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": spec, "status": status});
        }
        let running = pod.phase == PodPhase::Running;
        let mut ready_c = condition("Ready", readiness.ready, &ready_time);
        let mut containers_ready_c = condition("ContainersReady", readiness.ready, &ready_time);
        if !readiness.ready {
            let message = format!("containers with unready status: [{}]", pod.container);
            let reason = if pod.phase == PodPhase::Succeeded {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            };
            for c in [&mut ready_c, &mut containers_ready_c] {
                c["reason"] = json!(reason);
                c["message"] = json!(message);
            }
        }
        status.insert(
            "conditions".into(),
            json!([
                condition(
                    "PodReadyToStartContainers",
                    pod.phase != PodPhase::Pending,
                    &started
                ),
                condition("Initialized", true, &created_ts),
                ready_c,
                containers_ready_c,
                condition("PodScheduled", true, &created_ts),
            ]),
        );
        if let Some(host) = &state.host_ip {
            status.insert("hostIP".into(), json!(host));
            status.insert("hostIPs".into(), json!([{"ip": host}]));
        }
        if let Some(ip) = &state.ip {
            status.insert("podIP".into(), json!(ip));
            status.insert("podIPs".into(), json!([{"ip": ip}]));
        }
        status.insert("startTime".into(), json!(created_ts));
        let container_id = format!(
            "containerd://{}",
            &crate::cluster::object_uid(&state.sandbox_id)
                .replace('-', "")
                .repeat(2)
        );
        let image_id = format!(
            "{}@sha256:{}",
            pod.image.split(':').next().unwrap_or(&pod.image),
            object_uid(&pod.image).replace('-', "").repeat(2)
        );
        let finished = timestamp(created + 60);
        let (container_state, started_flag) = match pod.phase {
            PodPhase::Running => (json!({"running": {"startedAt": started}}), true),
            PodPhase::Pending => (json!({"waiting": {"reason": "ContainerCreating"}}), false),
            PodPhase::Succeeded => (
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": finished, "containerID": container_id}}),
                false,
            ),
            PodPhase::Failed => (
                json!({"terminated": {"exitCode": 139, "reason": "Error", "startedAt": started, "finishedAt": finished, "containerID": container_id}}),
                false,
            ),
        };
        let mut cs = json!({
            "name": pod.container,
            "state": container_state,
            "lastState": {},
            "ready": readiness.ready,
            "restartCount": pod.restart_count,
            "image": pod.image,
            "imageID": if pod.phase == PodPhase::Pending { String::new() } else { image_id },
            "started": started_flag && running,
        });
        if pod.phase != PodPhase::Pending {
            cs["containerID"] = json!(container_id);
        }
        status.insert("containerStatuses".into(), json!([cs]));
        status.insert("qosClass".into(), json!("BestEffort"));
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": spec, "status": status})
    }

    /// The endpoints of a service: one entry per pod that has an IP, grouped by resolved ports as the
    /// EndpointSlice controller groups them. Each entry is (pod index or None for the API server,
    /// ip, ready, node, ports as (name, port)).
    fn endpoint_groups(&self, state: &ServiceState) -> Option<Vec<PortGroup>> {
        let s = &state.spec;
        if matches!(s.kind, ServiceKind::ExternalName(_)) {
            return None;
        }
        if s.selector.is_empty() {
            // Only the `kubernetes` service has endpoints without a selector here.
            if s.name == "kubernetes" && s.namespace == "default" {
                return Some(vec![(
                    vec![("https".to_string(), 443)],
                    vec![Endpoint {
                        pod: None,
                        ip: APISERVER_IP.to_string(),
                        readiness: Readiness {
                            ready: true,
                            since: Duration::ZERO,
                        },
                        publish_not_ready: false,
                    }],
                )]);
            }
            return None;
        }
        let mut groups: Vec<PortGroup> = Vec::new();
        for index in self.cluster.pods_of(s) {
            let pod = &self.cluster.pods[index];
            let Some(ip) = &pod.ip else { continue };
            if matches!(pod.spec.phase, PodPhase::Succeeded | PodPhase::Failed) {
                continue;
            }
            let ports: Vec<(String, u16)> = s
                .ports
                .iter()
                .filter_map(|p| {
                    let number = match &p.target_port {
                        TargetPort::Number(n) => Some(*n),
                        TargetPort::Name(name) => pod
                            .spec
                            .ports
                            .iter()
                            .find(|c| c.name.as_deref() == Some(name))
                            .map(|c| c.port),
                    };
                    number.map(|n| (p.name.clone().unwrap_or_default(), n))
                })
                .collect();
            let endpoint = Endpoint {
                pod: Some(index),
                ip: ip.clone(),
                readiness: self.cluster.readiness(index),
                publish_not_ready: s.publish_not_ready_addresses,
            };
            match groups.iter_mut().find(|(p, _)| *p == ports) {
                Some((_, eps)) => eps.push(endpoint),
                None => groups.push((ports, vec![endpoint])),
            }
        }
        Some(groups)
    }

    fn endpoints_version(&self, index: usize, groups: &[PortGroup]) -> u64 {
        let since = groups
            .iter()
            .flat_map(|(_, eps)| eps.iter().map(|e| e.readiness.since))
            .max()
            .unwrap_or(Duration::ZERO);
        version(since, 600 + index)
    }

    fn endpoints(&self, index: usize, state: &ServiceState) -> Option<Value> {
        let groups = self.endpoint_groups(state)?;
        let s = &state.spec;
        let mut metadata = self.metadata(
            "endpoints",
            &s.namespace,
            &s.name,
            self.created(60 + index as u64),
            self.endpoints_version(index, &groups),
        );
        if !s.labels.is_empty() {
            metadata.insert("labels".into(), json!(s.labels));
        }
        let subsets: Vec<Value> = groups
            .iter()
            .filter(|(_, eps)| !eps.is_empty())
            .map(|(ports, eps)| {
                let address = |e: &Endpoint| self.address(e, false);
                let mut subset = Map::new();
                // The Endpoints controller leaves terminating pods out, and lists every pod as
                // ready with publishNotReadyAddresses (pkg/controller/endpoint, syncService).
                let terminating =
                    |e: &Endpoint| e.pod.is_some_and(|i| self.cluster.pods[i].spec.terminating);
                let listed = |e: &&Endpoint| e.publish_not_ready || !terminating(e);
                let counts_ready = |e: &Endpoint| e.publish_not_ready || e.readiness.ready;
                let ready: Vec<Value> = eps
                    .iter()
                    .filter(listed)
                    .filter(|e| counts_ready(e))
                    .map(address)
                    .collect();
                let not_ready: Vec<Value> = eps
                    .iter()
                    .filter(listed)
                    .filter(|e| !counts_ready(e))
                    .map(address)
                    .collect();
                if !ready.is_empty() {
                    subset.insert("addresses".into(), Value::Array(ready));
                }
                if !not_ready.is_empty() {
                    subset.insert("notReadyAddresses".into(), Value::Array(not_ready));
                }
                subset.insert(
                    "ports".into(),
                    Value::Array(ports.iter().map(port_json).collect()),
                );
                Value::Object(subset)
            })
            .collect();
        let mut out = json!({"kind": "Endpoints", "apiVersion": "v1", "metadata": metadata});
        if !subsets.is_empty() {
            out["subsets"] = Value::Array(subsets);
        }
        Some(out)
    }

    fn address(&self, e: &Endpoint, slice: bool) -> Value {
        let mut a = Map::new();
        if slice {
            // As the EndpointSlice controller writes them (kubernetes/endpointslice, utils.go
            // podToEndpoint): `serving` is the pod's readiness, `terminating` its deletion, and
            // `ready` is `serving && !terminating`, forced true by publishNotReadyAddresses.
            let terminating = e.pod.is_some_and(|i| self.cluster.pods[i].spec.terminating);
            let serving = e.readiness.ready;
            let ready = e.publish_not_ready || (serving && !terminating);
            a.insert("addresses".into(), json!([e.ip]));
            a.insert(
                "conditions".into(),
                json!({"ready": ready, "serving": serving, "terminating": terminating}),
            );
        } else {
            a.insert("ip".into(), json!(e.ip));
        }
        if let Some(index) = e.pod {
            let pod = &self.cluster.pods[index];
            if let Some(node) = &pod.spec.node {
                a.insert("nodeName".into(), json!(node));
            }
            a.insert(
                "targetRef".into(),
                json!({
                    "kind": "Pod",
                    "namespace": pod.spec.namespace,
                    "name": pod.spec.name,
                    "uid": object_uid(&format!("pod/{}/{}", pod.spec.namespace, pod.spec.name)),
                }),
            );
            if slice {
                a.insert("zone".into(), json!("0"));
            }
        }
        Value::Object(a)
    }

    fn endpoint_slices(&self, index: usize, state: &ServiceState) -> Vec<Value> {
        let Some(mut groups) = self.endpoint_groups(state) else {
            return Vec::new();
        };
        let s = &state.spec;
        if groups.is_empty() {
            // The controller keeps one empty slice (with the service's ports unresolved) per service.
            groups.push((Vec::new(), Vec::new()));
        }
        let apiserver = s.selector.is_empty();
        groups
            .iter()
            .enumerate()
            .map(|(g, (ports, eps))| {
                let name = if apiserver {
                    s.name.clone()
                } else {
                    format!(
                        "{}-{}",
                        s.name,
                        k8s_name_hash(&format!("slice/{}/{}/{g}", s.namespace, s.name), 5)
                    )
                };
                let since = eps
                    .iter()
                    .map(|e| e.readiness.since)
                    .max()
                    .unwrap_or(Duration::ZERO);
                let mut metadata = self.metadata(
                    "endpointslice",
                    &s.namespace,
                    &name,
                    self.created(60 + index as u64),
                    version(since, 700 + index * 8 + g % 8),
                );
                metadata.insert("labels".into(), json!(slice_labels(s)));
                if !apiserver {
                    metadata.insert("generateName".into(), json!(format!("{}-", s.name)));
                    metadata.insert(
                        "ownerReferences".into(),
                        json!([{
                            "apiVersion": "v1",
                            "kind": "Service",
                            "name": s.name,
                            "uid": object_uid(&format!("service/{}/{}", s.namespace, s.name)),
                            "controller": true,
                            "blockOwnerDeletion": true,
                        }]),
                    );
                }
                let endpoints: Vec<Value> = eps.iter().map(|e| self.address(e, true)).collect();
                json!({
                    "kind": "EndpointSlice",
                    "apiVersion": "discovery.k8s.io/v1",
                    "metadata": metadata,
                    "addressType": "IPv4",
                    "endpoints": endpoints,
                    "ports": ports.iter().map(port_json).collect::<Vec<_>>(),
                })
            })
            .collect()
    }
}

/// Endpoints sharing one resolved port list (name, number), as one EndpointSlice holds them.
type PortGroup = (Vec<(String, u16)>, Vec<Endpoint>);

struct Endpoint {
    pod: Option<usize>,
    ip: String,
    readiness: Readiness,
    /// The Service's `publishNotReadyAddresses`.
    publish_not_ready: bool,
}

/// The AKS agent-pool labels, then the node's own (a virtual node's `type: virtual-kubelet`).
fn node_labels(node: &crate::cluster::Node, base: Value) -> Value {
    let mut labels = base;
    if let Some(map) = labels.as_object_mut() {
        for (k, v) in &node.labels {
            map.insert(k.clone(), json!(v));
        }
    }
    labels
}

/// InternalIP(s) then Hostname; a dual-stack node lists its IPv6 InternalIP first (see
/// [`crate::cluster::Node::internal_ipv6`]).
fn node_addresses(node: &crate::cluster::Node) -> Value {
    let mut out = Vec::new();
    if let Some(v6) = &node.internal_ipv6 {
        out.push(json!({"type": "InternalIP", "address": v6}));
    }
    out.push(json!({"type": "InternalIP", "address": node.internal_ip}));
    out.push(json!({"type": "Hostname", "address": node.name}));
    Value::Array(out)
}

fn port_json((name, port): &(String, u16)) -> Value {
    json!({"name": name, "port": port, "protocol": "TCP"})
}

/// A resourceVersion: grows with the time of the object's last change; `slot` keeps objects that
/// changed at the same instant distinct.
fn version(since: Duration, slot: usize) -> u64 {
    100_000 + (since.as_millis() as u64) * 1024 + (slot % 1024) as u64
}

/// Unix seconds of a timestamp written by [`timestamp`].
pub fn parse_timestamp(text: &str) -> Option<u64> {
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_579_148_284), "2020-01-16T04:18:04Z");
        assert_eq!(timestamp(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 951_782_400, 1_579_148_284, 1_900_000_000] {
            assert_eq!(parse_timestamp(&timestamp(t)), Some(t));
        }
    }
}
