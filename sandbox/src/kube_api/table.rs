//! Server-side printing (`meta.k8s.io/v1` `Table`), which kubectl asks for with
//! `Accept: application/json;as=Table;…` to show its usual columns (TYPE, CLUSTER-IP, PORT(S), READY…).

use serde_json::{Value, json};

use super::objects::Resource;

/// Whether the client asked for a Table.
pub fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',')
            .next()
            .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
    })
}

/// Kubernetes' `duration.HumanDuration`, as the AGE column shows it.
pub fn human_duration(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 && s % 60 != 0 => format!("{m}m{}s", s % 60),
        s if s < 3 * 3600 => format!("{m}m"),
        s if s < 8 * 3600 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        s if s < 48 * 3600 => format!("{h}h"),
        s if s < 8 * 86_400 && h % 24 != 0 => format!("{d}d{}h", h % 24),
        _ => format!("{d}d"),
    }
}

fn column(name: &str, kind: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": kind, "format": format, "description": "", "priority": priority})
}

fn columns(resource: Resource) -> Vec<Value> {
    let c = |spec: &[(&str, &str, u8)]| spec.iter().map(|(n, t, p)| column(n, t, *p)).collect();
    match resource {
        Resource::Services => c(&[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ]),
        Resource::Pods => c(&[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
        ]),
        Resource::Nodes => c(&[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ]),
        Resource::Endpoints => c(&[
            ("Name", "string", 0),
            ("Endpoints", "string", 0),
            ("Age", "string", 0),
        ]),
        Resource::EndpointSlices => c(&[
            ("Name", "string", 0),
            ("AddressType", "string", 0),
            ("Ports", "string", 0),
            ("Endpoints", "string", 0),
            ("Age", "string", 0),
        ]),
        Resource::Namespaces => c(&[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Age", "string", 0),
        ]),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn or_none(list: Vec<String>) -> String {
    if list.is_empty() {
        "<none>".to_string()
    } else {
        list.join(",")
    }
}

fn cells(resource: Resource, o: &Value, age: String) -> Vec<Value> {
    let name = s(&o["metadata"]["name"]);
    let empty = Vec::new();
    let arr = |v: &Value| v.as_array().cloned().unwrap_or_default();
    match resource {
        Resource::Services => {
            let spec = &o["spec"];
            let external = match spec["type"].as_str() {
                Some("ExternalName") => s(&spec["externalName"]),
                Some("LoadBalancer") => {
                    let ips: Vec<String> = arr(&o["status"]["loadBalancer"]["ingress"])
                        .iter()
                        .map(|i| s(&i["ip"]))
                        .collect();
                    if ips.is_empty() {
                        "<pending>".into()
                    } else {
                        ips.join(",")
                    }
                }
                _ => "<none>".into(),
            };
            let ports: Vec<String> = arr(&spec["ports"])
                .iter()
                .map(|p| match p.get("nodePort") {
                    Some(np) => format!("{}:{}/{}", s(&p["port"]), s(np), s(&p["protocol"])),
                    None => format!("{}/{}", s(&p["port"]), s(&p["protocol"])),
                })
                .collect();
            let selector: Vec<String> = spec["selector"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect())
                .unwrap_or_default();
            let cluster_ip = spec
                .get("clusterIP")
                .map(s)
                .unwrap_or_else(|| "<none>".into());
            [
                name,
                s(&spec["type"]),
                cluster_ip,
                external,
                or_none(ports),
                age,
                or_none(selector),
            ]
            .into_iter()
            .map(Value::from)
            .collect()
        }
        Resource::Pods => {
            let statuses = arr(&o["status"]["containerStatuses"]);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let total = arr(&o["spec"]["containers"]).len();
            let restarts: u64 = statuses
                .iter()
                .filter_map(|c| c["restartCount"].as_u64())
                .sum();
            let reason = statuses
                .iter()
                .find_map(|c| {
                    c["state"]["waiting"]["reason"]
                        .as_str()
                        .or(c["state"]["terminated"]["reason"].as_str())
                })
                .map(str::to_string)
                .unwrap_or_else(|| s(&o["status"]["phase"]));
            let ip = o["status"]
                .get("podIP")
                .map(s)
                .unwrap_or_else(|| "<none>".into());
            let node = o["spec"]
                .get("nodeName")
                .map(s)
                .unwrap_or_else(|| "<none>".into());
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(reason),
                json!(restarts),
                json!(age),
                json!(ip),
                json!(node),
            ]
        }
        Resource::Nodes => {
            let status = &o["status"];
            let ready = arr(&status["conditions"])
                .iter()
                .find(|c| c["type"] == "Ready")
                .map(|c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                })
                .unwrap_or("Unknown")
                .to_string();
            let ready = if o["spec"]["unschedulable"] == true {
                format!("{ready},SchedulingDisabled")
            } else {
                ready
            };
            let internal = arr(&status["addresses"])
                .iter()
                .find(|a| a["type"] == "InternalIP")
                .map(|a| s(&a["address"]))
                .unwrap_or_else(|| "<none>".into());
            let info = &status["nodeInfo"];
            let mut roles: Vec<String> = o["metadata"]["labels"]
                .as_object()
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
                            Some(role) => Some(role.to_string()),
                            None => (k == "kubernetes.io/role").then(|| s(v)),
                        })
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            roles.dedup();
            [
                name,
                ready,
                or_none(roles),
                age,
                s(&info["kubeletVersion"]),
                internal,
                s(&info["osImage"]),
                s(&info["kernelVersion"]),
                s(&info["containerRuntimeVersion"]),
            ]
            .into_iter()
            .map(Value::from)
            .collect()
        }
        Resource::Endpoints => {
            let mut eps = Vec::new();
            for subset in arr(&o["subsets"]) {
                for a in arr(&subset["addresses"]) {
                    for p in arr(&subset["ports"]) {
                        eps.push(format!("{}:{}", s(&a["ip"]), s(&p["port"])));
                    }
                }
            }
            vec![json!(name), json!(or_none(eps)), json!(age)]
        }
        Resource::EndpointSlices => {
            let ports: Vec<String> = arr(&o["ports"]).iter().map(|p| s(&p["port"])).collect();
            let addresses: Vec<String> = arr(&o["endpoints"])
                .iter()
                .flat_map(|e| {
                    e["addresses"]
                        .as_array()
                        .unwrap_or(&empty)
                        .iter()
                        .map(s)
                        .collect::<Vec<_>>()
                })
                .collect();
            vec![
                json!(name),
                o["addressType"].clone(),
                json!(or_none(ports)),
                json!(or_none(addresses)),
                json!(age),
            ]
        }
        Resource::Namespaces => vec![json!(name), o["status"]["phase"].clone(), json!(age)],
    }
}

/// `objects` as a Table; `age_of` turns a creationTimestamp into seconds.
pub fn render(
    resource: Resource,
    objects: &[Value],
    version: &str,
    age_of: impl Fn(&str) -> u64,
) -> Value {
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let age = human_duration(age_of(
                o["metadata"]["creationTimestamp"].as_str().unwrap_or(""),
            ));
            json!({
                "cells": cells(resource, o, age),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": version},
        "columnDefinitions": columns(resource),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(303), "5m3s");
        assert_eq!(human_duration(3599), "59m");
        assert_eq!(human_duration(4 * 3600 + 120), "4h2m");
        assert_eq!(human_duration(3 * 86_400), "3d");
        assert!(wanted(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        )));
        assert!(!wanted(Some("application/json")));
    }
}
