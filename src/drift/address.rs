//! Address drift: does the serviceUrl APIM calls still reach the cluster? Rules
//! `drift-node-gone` (no node has that IP any more), `drift-node-not-ready` (the node cannot take
//! the calls), `drift-node-port-changed` (the Service's nodePort, or its internal load
//! balancer's IP, is not the one APIM calls) and `drift-service-url` (the right host and port,
//! but another scheme, path or query than a release would publish). A serviceUrl is only ever
//! shown without its user part and query ([`shown`]). The nodes' health is the
//! cluster side's own ([`crate::cluster::NodeHealth`]): the same reasons the gate passes a node
//! over for, externalTrafficPolicy Local included.

use crate::address::{Host, HostPort};
use crate::cluster::{NodeHealth, Via};
use crate::spec::{Finding, Level};

/// The address in the live API's serviceUrl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveAddress {
    /// The serviceUrl as a report may show it ([`shown`]).
    pub url: String,
    /// Names in lower case.
    pub host: Host,
    /// The URL's port, or its scheme's default.
    pub port: u16,
}

/// A serviceUrl as output may show it: without a user part or a query, which can carry a
/// password or a key (the project treats `user@` as a secret, see `address.rs`'s
/// `HasCredentials`); anything else as APIM holds it.
pub fn shown(service_url: &str) -> String {
    let trimmed = service_url.trim();
    match url::Url::parse(trimmed) {
        Ok(mut url)
            if !url.username().is_empty() || url.password().is_some() || url.query().is_some() =>
        {
            // Only fails on URLs that cannot have a user part, which then have none to remove.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.as_str().trim_end_matches('/').to_string()
        }
        Ok(_) => trimmed.to_string(),
        // Unparsed: the redactor's rule for URLs in text still removes both parts.
        Err(_) => crate::redact::urls(trimmed),
    }
}

impl LiveAddress {
    /// `None` when the serviceUrl is empty or not an http(s) URL with a host.
    pub fn parse(service_url: &str) -> Option<LiveAddress> {
        let url = url::Url::parse(service_url.trim()).ok()?;
        let host = match url.host()? {
            url::Host::Ipv4(ip) => Host::Ipv4(ip),
            url::Host::Ipv6(ip) => Host::Ipv6(ip),
            url::Host::Domain(d) => Host::Name(d.to_ascii_lowercase()),
        };
        Some(LiveAddress {
            url: shown(service_url),
            host,
            port: url.port_or_known_default()?,
        })
    }

    /// `host:port` as the rewrite takes it (IPv6 in brackets).
    pub fn host_port(&self) -> HostPort {
        HostPort::new(self.host.clone(), Some(self.port))
    }

    /// Whether `other` (an IP or name as the cluster or the inputs write it, IPv6 with or
    /// without brackets) is this host: compared parsed, so `[fd00::4]`, `fd00::4` and
    /// `fd00:0::4` are one.
    fn is(&self, other: &str) -> bool {
        match (other.parse::<Host>(), &self.host) {
            (Ok(Host::Name(a)), Host::Name(b)) => a.eq_ignore_ascii_case(b),
            (Ok(h), _) => h == self.host,
            (Err(_), _) => false,
        }
    }

    fn on(&self, node: &NodeHealth) -> bool {
        node.ips.iter().any(|ip| match (&self.host, ip) {
            (Host::Ipv4(a), std::net::IpAddr::V4(b)) => a == b,
            (Host::Ipv6(a), std::net::IpAddr::V6(b)) => a == b,
            _ => false,
        })
    }
}

/// Whether APIM calling `live` is calling `wanted`: scheme, host (parsed), port (or the scheme's
/// default), path (a trailing `/` aside, as APIM keeps it either way) and query the same, and no
/// user part in either.
pub fn same_url(live: &str, wanted: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(live.trim()), url::Url::parse(wanted.trim())) else {
        return live.trim().trim_end_matches('/') == wanted.trim().trim_end_matches('/');
    };
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
        && a.query() == b.query()
        && a.username() == b.username()
        && a.password() == b.password()
}

/// `drift-service-url`: APIM calls `live`, a release would publish `wanted` (the document served
/// now, pointed at the same host and port), and they differ in scheme, path or query (edited in
/// the portal: http to https, /v1 to /v2): every call goes elsewhere than the service expects.
pub fn service_url_edited(live: &str, wanted: &str) -> Option<Finding> {
    (!same_url(live, wanted)).then(|| {
        finding(
            "drift-service-url",
            format!(
                "APIM calls {}, but the document served now is published as {} (the serviceUrl's scheme, path or query was edited in APIM); calls go elsewhere than the service expects. Run apim-gate check --repair (or repair: true) to set it back.",
                shown(live),
                shown(wanted)
            ),
        )
    })
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
pub fn findings(
    live: &LiveAddress,
    via: &Via,
    nodes: &[NodeHealth],
    service: &str,
) -> Vec<Finding> {
    let mut out = Vec::new();
    match via {
        Via::LoadBalancer { ip, port } => {
            if !live.is(ip) || live.port != *port {
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
            if !live.is(host) {
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
            match nodes.iter().find(|n| live.on(n)) {
                None => out.push(finding(
                    "drift-node-gone",
                    format!(
                        "APIM calls {} but no node has the IP {} any more (the node was removed: scale-down, node-image upgrade or replacement); its callers get errors. Run apim-gate check --repair (or repair: true) to point the API at a Ready node.",
                        live.url, live.host
                    ),
                )),
                Some(NodeHealth {
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

    fn node(name: &str, ip: &str, trouble: Option<&str>) -> NodeHealth {
        NodeHealth {
            name: name.into(),
            ips: vec![ip.parse().unwrap()],
            trouble: trouble.map(str::to_string),
        }
    }

    #[test]
    fn live_address_takes_the_scheme_default_port() {
        let a = LiveAddress::parse("http://10.224.0.4/api").unwrap();
        assert_eq!((a.host.to_string().as_str(), a.port), ("10.224.0.4", 80));
        let a = LiveAddress::parse("http://[fd00::4]:30080").unwrap();
        assert_eq!(a.host_port().to_string(), "[fd00::4]:30080");
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

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn an_ipv6_agent_ip_matches_the_url_apim_calls() {
        // Via::AgentIp carries the host as the rewrite writes it, in brackets.
        let live = LiveAddress::parse("http://[fd00::4]:30080").unwrap();
        let via = Via::AgentIp {
            host: "[fd00::4]".into(),
            port: 30080,
        };
        assert_eq!(findings(&live, &via, &[], "default/s"), Vec::new());
        let other = Via::AgentIp {
            host: "[fd00::5]".into(),
            port: 30080,
        };
        assert_eq!(
            findings(&live, &other, &[], "default/s")[0].id,
            "drift-node-port-changed"
        );
        let node = NodeHealth {
            name: "n0".into(),
            ips: vec!["10.0.0.4".parse().unwrap(), "fd00:0::4".parse().unwrap()],
            trouble: None,
        };
        let nodeport = Via::NodePort {
            node: "n0".into(),
            node_port: 30080,
        };
        assert_eq!(findings(&live, &nodeport, &[node], "default/s"), Vec::new());
    }

    #[test]
    fn a_scheme_path_or_query_edit_is_another_url_a_trailing_slash_is_not() {
        let want = "http://10.0.0.4:30080/v1";
        assert!(same_url("http://10.0.0.4:30080/v1/", want));
        assert!(same_url("HTTP://10.0.0.4:30080/v1", want));
        assert!(same_url("http://[fd00::4]:80", "http://[fd00:0::4]/"));
        assert!(!same_url("https://10.0.0.4:30080/v1", want));
        assert!(!same_url("http://10.0.0.4:30080/v2", want));
        assert!(!same_url("http://10.0.0.4:30080/v1?x=1", want));
        assert!(!same_url("http://u:p@10.0.0.4:30080/v1", want));
    }

    #[test]
    fn output_never_shows_a_user_part_or_a_query() {
        assert_eq!(
            shown("https://user:s3cret@10.0.0.4:30080/v1?code=k3y"),
            "https://10.0.0.4:30080/v1"
        );
        assert_eq!(shown("http://10.0.0.4:30080"), "http://10.0.0.4:30080");
        let live = LiveAddress::parse("http://u:s3cret@10.0.0.4:30080/?k=k3y").unwrap();
        let gone = findings(
            &live,
            &Via::NodePort {
                node: "n".into(),
                node_port: 30080,
            },
            &[],
            "default/s",
        );
        assert!(!gone[0].message.contains("s3cret"), "{}", gone[0].message);
        assert!(!gone[0].message.contains("k3y"), "{}", gone[0].message);
    }
}
