//! The pods behind a Service: ready endpoints from its EndpointSlices (which also resolve a named
//! targetPort), or, without slices, the pods its selector matches. Waits for one to be ready.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;

use super::api::Kube;
use super::{ClusterError, Event, Observer, ServicePortInfo, Target};

/// A ready pod that serves the Service port, and the container port to forward to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub pod: String,
    pub node: Option<String>,
    pub port: u16,
}

const POLL: Duration = Duration::from_millis(500);

/// The ready backends, and whether they had to be waited for (more than one look).
pub async fn wait_for_ready(
    api: &Kube<'_>,
    service: &Service,
    port: &ServicePortInfo,
    target: &Target,
    observer: &dyn Observer,
) -> Result<(Vec<Backend>, bool), ClusterError> {
    let started = Instant::now();
    let mut last_status = String::new();
    let mut waited = false;
    loop {
        let (backends, status) = ready_backends(api, service, port, target).await?;
        if !backends.is_empty() {
            return Ok((backends, waited));
        }
        waited = true;
        if started.elapsed() >= target.pod_ready_timeout {
            return Err(ClusterError::NoReadyPod {
                namespace: target.namespace.clone(),
                name: target.service.clone(),
                waited: target.pod_ready_timeout.as_secs(),
                selector: selector_text(service).unwrap_or_else(|| "<no selector>".into()),
                detail: status,
            });
        }
        if status != last_status {
            observer.event(Event::WaitingForPod {
                service: format!("{}/{}", target.namespace, target.service),
                status: status.clone(),
            });
            last_status = status;
        }
        let left = target.pod_ready_timeout.saturating_sub(started.elapsed());
        tokio::time::sleep(POLL.min(left.max(Duration::from_millis(10)))).await;
    }
}

fn selector_text(service: &Service) -> Option<String> {
    let sel = service.spec.as_ref()?.selector.as_ref()?;
    if sel.is_empty() {
        return None;
    }
    Some(
        sel.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Ready backends now, and a sentence describing the pods when there are none.
pub async fn ready_backends(
    api: &Kube<'_>,
    service: &Service,
    port: &ServicePortInfo,
    target: &Target,
) -> Result<(Vec<Backend>, String), ClusterError> {
    // The slices and the pods are independent reads: sent together, one wait instead of two.
    let slices = async {
        api.list(
            &api.namespaced::<EndpointSlice>(&target.namespace),
            &ListParams::default()
                .labels(&format!("kubernetes.io/service-name={}", target.service)),
            &format!(
                "listing EndpointSlices of Service {}/{}",
                target.namespace, target.service
            ),
        )
        .await
    };
    let selector = selector_text(service);
    let pods = async {
        match &selector {
            Some(sel) => {
                api.list(
                    &api.namespaced::<Pod>(&target.namespace),
                    &ListParams::default().labels(sel),
                    &format!(
                        "listing pods of Service {}/{} ({sel})",
                        target.namespace, target.service
                    ),
                )
                .await
            }
            None => Ok(Vec::new()),
        }
    };
    let (slices, pods) = tokio::join!(slices, pods);
    let (slices, pods) = (slices?, pods?);
    if slices.is_empty() && selector.is_none() {
        return Err(ClusterError::NoBackends {
            namespace: target.namespace.clone(),
            name: target.service.clone(),
        });
    }
    let mut backends = if slices.is_empty() {
        from_pods(&pods, port)
    } else {
        from_slices(&slices, port)
    };
    backends.sort_by(|a, b| a.pod.cmp(&b.pod));
    backends.dedup();
    let mut status = describe_pods(&pods);
    if let Some(missing) = port_missing(&slices, port) {
        status = format!("{missing} {status}");
    }
    Ok((backends, status))
}

/// When the slices have endpoints but none carries the Service port: its named targetPort is not
/// a port the pods declare.
fn port_missing(slices: &[EndpointSlice], port: &ServicePortInfo) -> Option<String> {
    let name = port.name.as_deref().unwrap_or("");
    let has_endpoints = slices.iter().any(|s| !s.endpoints.is_empty());
    let has_port = slices.iter().any(|s| {
        !s.endpoints.is_empty()
            && s.ports
                .as_ref()
                .is_some_and(|ps| ps.iter().any(|p| p.name.as_deref().unwrap_or("") == name))
    });
    (has_endpoints && !has_port).then(|| {
        format!(
            "The EndpointSlices list pods, but none with Service {}: the pods do not declare its targetPort{} (Kubernetes leaves such a port out of the endpoints).",
            port.describe(),
            port.target
                .as_ref()
                .map(|t| format!(" '{t}' as a containerPort name"))
                .unwrap_or_default()
        )
    })
}

fn from_slices(slices: &[EndpointSlice], port: &ServicePortInfo) -> Vec<Backend> {
    let mut out = Vec::new();
    for slice in slices {
        // The slice's port carries the Service port's name and the resolved container port. A pod
        // that does not declare a named targetPort gets a slice without that port (the controller
        // skips ports it cannot resolve, endpointslice utils.go getEndpointPorts), so only the
        // name decides: another port of the slice is another Service port.
        let Some(container_port) = slice.ports.as_ref().and_then(|ps| {
            ps.iter()
                .find(|p| p.name.as_deref().unwrap_or("") == port.name.as_deref().unwrap_or(""))
                .and_then(|p| p.port)
                .and_then(|p| u16::try_from(p).ok())
        }) else {
            continue;
        };
        for ep in &slice.endpoints {
            // `ready` is forced true by publishNotReadyAddresses, so `serving` is the pod's own
            // readiness (unset on old servers: fall back to `ready`, where unset means ready).
            let conditions = ep.conditions.as_ref();
            let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
            let serving = conditions.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
            let Some(pod) = ep
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| r.name.clone())
            else {
                continue;
            };
            if serving && !terminating {
                out.push(Backend {
                    pod,
                    node: ep.node_name.clone(),
                    port: container_port,
                });
            }
        }
    }
    out
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        && pod.metadata.deletion_timestamp.is_none()
}

fn from_pods(pods: &[Pod], port: &ServicePortInfo) -> Vec<Backend> {
    pods.iter()
        .filter(|p| pod_ready(p))
        .filter_map(|p| {
            let container_port = match &port.target {
                Some(t) => match t.parse::<u16>() {
                    Ok(n) => Some(n),
                    Err(_) => named_container_port(p, t),
                },
                None => Some(port.port),
            }?;
            Some(Backend {
                pod: p.metadata.name.clone()?,
                node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
                port: container_port,
            })
        })
        .collect()
}

fn named_container_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec.as_ref()?.containers.iter().find_map(|c| {
        c.ports
            .as_ref()?
            .iter()
            .find(|p| p.name.as_deref() == Some(name))
            .and_then(|p| u16::try_from(p.container_port).ok())
    })
}

/// `svc-1-abc: Running, Ready=False (ContainersNotReady: …)` for each pod, or why there are none.
fn describe_pods(pods: &[Pod]) -> String {
    if pods.is_empty() {
        return "No pod matches the Service's selector: is the Deployment scaled to zero, or does its label differ?".to_string();
    }
    let mut by_name = BTreeMap::new();
    for p in pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        let phase = p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into());
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map(|c| {
                let why = [c.reason.as_deref(), c.message.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(": ");
                if why.is_empty() {
                    format!("Ready={}", c.status)
                } else {
                    format!("Ready={} ({why})", c.status)
                }
            })
            .unwrap_or_else(|| "no Ready condition".into());
        by_name.insert(name, format!("{phase}, {ready}"));
    }
    format!(
        "Pods: {}.",
        by_name
            .iter()
            .map(|(n, s)| format!("{n}: {s}"))
            .collect::<Vec<_>>()
            .join("; ")
    )
}
