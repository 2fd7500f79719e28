//! Network addresses as APIM will call them: `host[:port]`, validated.
//!
//! A host here is what goes into Swagger's `host` member or an OpenAPI server URL: an IPv4 or
//! IPv6 address or a DNS name, never a scheme, path, query or credentials.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Name(String),
}

/// `host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub host: Host,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("'{0}' is empty; give a host name or IP address, optionally with :PORT")]
    Empty(String),
    #[error("'{0}' has a scheme; give only HOST[:PORT] (the scheme is set separately)")]
    HasScheme(String),
    /// Holds only what follows the `@`: the credentials themselves are never repeated.
    #[error(
        "'…@{0}' has credentials (user@); APIM's backend address must not carry them, give only HOST[:PORT]"
    )]
    HasCredentials(String),
    #[error("'{0}' has a path, query or fragment; give only HOST[:PORT]")]
    HasPath(String),
    #[error("'{input}' has an invalid port '{port}': use a number from 1 to 65535")]
    BadPort { input: String, port: String },
    #[error(
        "'{0}' is not a valid host name or IP address (letters, digits, '-' and '.' only; IPv6 in brackets)"
    )]
    BadHost(String),
}

impl HostPort {
    pub fn new(host: Host, port: Option<u16>) -> HostPort {
        HostPort { host, port }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ipv4(ip) => write!(f, "{ip}"),
            Host::Ipv6(ip) => write!(f, "[{ip}]"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

impl FromStr for Host {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Host, AddressError> {
        let inner = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
        if let Some(v6) = inner {
            return v6
                .parse()
                .map(Host::Ipv6)
                .map_err(|_| AddressError::BadHost(shown(s)));
        }
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Host::Ipv4(v4));
        }
        if let Ok(v6) = s.parse::<Ipv6Addr>() {
            return Ok(Host::Ipv6(v6));
        }
        if is_dns_name(s) {
            Ok(Host::Name(s.to_ascii_lowercase()))
        } else {
            Err(AddressError::BadHost(shown(s)))
        }
    }
}

impl FromStr for HostPort {
    type Err = AddressError;
    fn from_str(input: &str) -> Result<HostPort, AddressError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AddressError::Empty(shown(input)));
        }
        if let Some((_, host)) = s.rsplit_once('@') {
            return Err(AddressError::HasCredentials(shown(host)));
        }
        if s.contains("://") {
            return Err(AddressError::HasScheme(shown(input)));
        }
        if s.contains(['/', '?', '#']) {
            return Err(AddressError::HasPath(shown(input)));
        }
        // A bare IPv6 address has colons but no port.
        if let Ok(v6) = s.parse::<Ipv6Addr>() {
            return Ok(HostPort::new(Host::Ipv6(v6), None));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            match rest.split_once(']') {
                Some((h, "")) => (format!("[{h}]"), None),
                Some((h, p)) => match p.strip_prefix(':') {
                    Some(p) => (format!("[{h}]"), Some(p)),
                    None => return Err(AddressError::BadHost(shown(input))),
                },
                None => return Err(AddressError::BadHost(shown(input))),
            }
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (s.to_string(), None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => Some(parse_port(p).ok_or_else(|| AddressError::BadPort {
                input: shown(input),
                port: shown(p),
            })?),
        };
        let host = host
            .parse::<Host>()
            .map_err(|_| AddressError::BadHost(shown(input)))?;
        Ok(HostPort { host, port })
    }
}

/// The input as an error message may repeat it: a query or fragment (where a pasted URL carries
/// its token) is cut, and control characters are escaped so the message cannot drive a terminal
/// or start a CI log command.
fn shown(input: &str) -> String {
    let (kept, cut) = match input.find(['?', '#']) {
        Some(i) => (&input[..i], &input[i..i + 1]),
        None => (input, ""),
    };
    let mut out = String::with_capacity(kept.len() + 4);
    for c in kept.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    if !cut.is_empty() {
        out.push_str(cut);
        out.push('…');
    }
    out
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|p| *p != 0)
}

/// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_and_ports() {
        let hp: HostPort = "10.224.0.4:30080".parse().unwrap();
        assert_eq!(hp.host, Host::Ipv4("10.224.0.4".parse().unwrap()));
        assert_eq!(hp.port, Some(30080));
        assert_eq!(hp.to_string(), "10.224.0.4:30080");
        assert_eq!(
            "[fd00::4]:8080".parse::<HostPort>().unwrap().to_string(),
            "[fd00::4]:8080"
        );
        assert_eq!(
            "fd00::4".parse::<HostPort>().unwrap().to_string(),
            "[fd00::4]"
        );
        assert_eq!(
            "Api.Internal".parse::<HostPort>().unwrap().to_string(),
            "api.internal"
        );
    }

    #[test]
    fn refuses_what_is_not_host_port() {
        use AddressError::*;
        assert!(matches!(
            "http://x:1".parse::<HostPort>(),
            Err(HasScheme(_))
        ));
        assert!(matches!(
            "user:pw@x:1".parse::<HostPort>(),
            Err(HasCredentials(_))
        ));
        assert!(matches!("x:1/api".parse::<HostPort>(), Err(HasPath(_))));
        assert!(matches!("x:0".parse::<HostPort>(), Err(BadPort { .. })));
        assert!(matches!("x:70000".parse::<HostPort>(), Err(BadPort { .. })));
        assert!(matches!("x:".parse::<HostPort>(), Err(BadPort { .. })));
        assert!(matches!("bad_host".parse::<HostPort>(), Err(BadHost(_))));
        assert!(matches!("-x".parse::<HostPort>(), Err(BadHost(_))));
        assert!(matches!(" ".parse::<HostPort>(), Err(Empty(_))));
    }
}
