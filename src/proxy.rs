//! The corporate proxy: which calls go through `HTTPS_PROXY` (or `HTTP_PROXY`), which stay direct
//! under `NO_PROXY`, how the proxy is named in messages (never with its credentials), and the
//! connector wrapper that says "through the proxy …" when the proxy is what failed.
//!
//! Every client (kube, ARM, Entra ID, GitHub) asks [`ProxyEnv::for_url`], so one answer holds for
//! all of them. The rules are Go's `golang.org/x/net/http/httpproxy` (`FromEnvironment`,
//! `ProxyFunc`), which kubectl/client-go use through `http.ProxyFromEnvironment` and the GitHub CLI
//! too; azure-cli (python-requests) reads the same variables:
//! - `HTTPS_PROXY`, else `https_proxy`, for `https://` URLs; `HTTP_PROXY`, else `http_proxy`, for
//!   `http://` URLs (upper case first, as Go's `getEnvAny`). An empty value is unset.
//! - A value without a scheme is `http://`; `https://` proxies are spoken to over TLS; `socks5`
//!   is not supported here (kube would need its `socks5` feature, reqwest its `socks` one).
//! - `localhost` and loopback addresses are never proxied (httpproxy `useProxy`), so a cluster
//!   on 127.0.0.1 (kind) works as it does with kubectl.
//! - `NO_PROXY`, else `no_proxy`: comma-separated; `*` alone turns the proxy off; an IP or CIDR
//!   (`10.0.0.0/8`, `fd00::/8`) matches addresses; `[v6]:port` and `ip:port` match that port;
//!   `example.com` matches it and its subdomains, `.example.com` and `*.example.com` only its
//!   subdomains; `host:port` only that port. Empty entries are skipped.
//!
//! reqwest 0.13 with `default-features = false` would still read these variables on its own
//! (its `ClientBuilder` installs `Matcher::from_system`, curl's rules: no loopback exemption,
//! `.example.com` matching `example.com`, `host:port` never matching); every client here is built
//! with that turned off and this module's answer installed instead.

use std::fmt;
use std::net::IpAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};

use ipnet::IpNet;

use crate::inputs::Env;

/// A proxy from the environment. `Display` and `Debug` never show its user or password.
#[derive(Clone)]
pub struct ProxyUrl {
    /// The URL to connect through, credentials included (never printed).
    url: reqwest::Url,
    /// `http://***@proxy.corp:8080`: what messages show.
    shown: String,
    /// The variable it came from (`HTTPS_PROXY`, `https_proxy`, …).
    pub var: &'static str,
}

impl ProxyUrl {
    /// The full URL, credentials included: for the client that connects through it, never for text.
    pub fn expose(&self) -> &str {
        self.url.as_str()
    }

    pub fn has_credentials(&self) -> bool {
        !self.url.username().is_empty() || self.url.password().is_some()
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.shown, self.var)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A proxy variable that cannot be used, said without its credentials.
#[derive(Clone, Debug, thiserror::Error)]
#[error(
    "{var} is set to {shown}, which is not a usable proxy URL: {reason}. Set it to http://[user:password@]host:port (the same value kubectl and az accept), or unset it."
)]
pub struct ProxyError {
    pub var: &'static str,
    pub shown: String,
    pub reason: String,
}

/// The proxy settings of a run.
#[derive(Clone, Debug, Default)]
pub struct ProxyEnv {
    https: Option<ProxyUrl>,
    http: Option<ProxyUrl>,
    no_proxy: NoProxy,
    /// The `NO_PROXY` text and its variable, for `config` and messages.
    no_proxy_text: Option<(&'static str, String)>,
}

impl ProxyEnv {
    /// Reads `HTTPS_PROXY`/`https_proxy`, `HTTP_PROXY`/`http_proxy` and `NO_PROXY`/`no_proxy`.
    pub fn from_env(env: &Env) -> Result<ProxyEnv, ProxyError> {
        let https = first(env, &["HTTPS_PROXY", "https_proxy"])
            .map(|(var, v)| parse_proxy(var, v))
            .transpose()?;
        let http = first(env, &["HTTP_PROXY", "http_proxy"])
            .map(|(var, v)| parse_proxy(var, v))
            .transpose()?;
        let no_proxy_text =
            first(env, &["NO_PROXY", "no_proxy"]).map(|(var, v)| (var, v.to_string()));
        let no_proxy = no_proxy_text
            .as_ref()
            .map(|(_, v)| NoProxy::parse(v))
            .unwrap_or_default();
        Ok(ProxyEnv {
            https,
            http,
            no_proxy,
            no_proxy_text,
        })
    }

    /// No proxy at all.
    pub fn none() -> ProxyEnv {
        ProxyEnv::default()
    }

    pub fn is_empty(&self) -> bool {
        self.https.is_none() && self.http.is_none()
    }

    /// The proxy a request to `url` goes through, or `None` for a direct connection.
    pub fn for_url(&self, url: &reqwest::Url) -> Option<&ProxyUrl> {
        let host = url.host_str()?;
        self.for_target(url.scheme(), host, url.port_or_known_default())
    }

    /// [`ProxyEnv::for_url`] from the parts of a URL (`host` may carry IPv6 brackets).
    pub fn for_target(&self, scheme: &str, host: &str, port: Option<u16>) -> Option<&ProxyUrl> {
        let proxy = match scheme {
            "https" | "wss" => self.https.as_ref(),
            "http" | "ws" => self.http.as_ref(),
            _ => None,
        }?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip = IpAddr::from_str(&host).ok();
        if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return None;
        }
        let port = port.or(match scheme {
            "https" | "wss" => Some(443),
            "http" | "ws" => Some(80),
            _ => None,
        });
        if self.no_proxy.matches(&host, ip, port) {
            return None;
        }
        Some(proxy)
    }

    /// What `apim-gate config` shows: the proxies without credentials, and `NO_PROXY` as given.
    pub fn to_config_json(&self) -> serde_json::Value {
        let show = |p: &Option<ProxyUrl>| match p {
            Some(p) => serde_json::json!({ "value": p.shown, "source": p.var }),
            None => serde_json::json!({ "value": null, "source": null }),
        };
        serde_json::json!({
            "https": show(&self.https),
            "http": show(&self.http),
            "no-proxy": match &self.no_proxy_text {
                Some((var, text)) => serde_json::json!({ "value": text, "source": var }),
                None => serde_json::json!({ "value": null, "source": null }),
            },
        })
    }
}

/// The credentials in the proxy variables, in every form they could be printed in (as written,
/// percent-decoded, `user:password`), for the CI log masks and the renderers' redaction. Read
/// even when the URL is otherwise unusable.
pub fn credentials(env: &Env) -> Vec<String> {
    let mut out = Vec::new();
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        let Some(value) = env.get(var) else { continue };
        let Some(userinfo) = userinfo(value) else {
            continue;
        };
        out.push(userinfo.to_string());
        out.push(percent_decode(userinfo));
        if let Some((_, password)) = userinfo.split_once(':') {
            out.push(password.to_string());
            out.push(percent_decode(password));
        }
    }
    out.retain(|s| !s.is_empty());
    out.sort();
    out.dedup();
    out
}

/// `scheme://user:password@host` → `scheme://***@host` wherever a URL with credentials appears in
/// `text` (error messages of the clients may quote one).
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || "/?#\"'<>()[]{}".contains(c))
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// The process's proxy variables rewritten to what Go's httpproxy means by them, in a form
/// kube-client accepts: `(variable, new value)` for each one that changes.
///
/// kube-client 5 reads `HTTPS_PROXY`/`https_proxy` and `NO_PROXY`/`no_proxy` from the process
/// itself while building its `Config` (config/file_loader.rs `proxy_url`, config/no_proxy.rs),
/// before the gate can install its own answer, and fails where Go does not: an empty entry (a
/// trailing comma) is `EmptyValue`, `*` inside a list is `NoHost`, and a proxy value `http::Uri`
/// cannot parse (no scheme, characters the URL standard percent-encodes) is `ParseProxyUrl`. Go
/// skips empty entries, reads `*` anywhere as "no proxy at all" and parses values as URLs, so
/// rewriting them to that reading changes nothing the gate or a child process decides.
pub fn kube_safe_process_vars(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for var in ["NO_PROXY", "no_proxy"] {
        let Some(value) = lookup(var) else { continue };
        let entries: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let go = if entries.contains(&"*") {
            "*".to_string()
        } else {
            entries.join(",")
        };
        if go != value {
            out.push((var, go));
        }
    }
    for var in ["HTTPS_PROXY", "https_proxy"] {
        let Some(value) = lookup(var) else { continue };
        if value.trim().is_empty() {
            continue;
        }
        // A value the gate cannot use either is left alone: ProxyEnv names it in its error.
        if let Ok(proxy) = parse_proxy(var, value.trim())
            && proxy.expose() != value
        {
            out.push((var, proxy.expose().to_string()));
        }
    }
    out
}

fn first<'e>(env: &'e Env, names: &[&'static str]) -> Option<(&'static str, &'e str)> {
    names.iter().find_map(|name| {
        env.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| (*name, v))
    })
}

/// The `user:password` of a proxy value, if it has one.
fn userinfo(value: &str) -> Option<&str> {
    let value = value.trim();
    let after_scheme = value.split_once("://").map_or(value, |(_, r)| r);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rfind('@')
        .map(|at| &authority[..at])
        .filter(|u| !u.is_empty())
}

/// What a message may show of a proxy value: its scheme, host and port, the user and password
/// replaced by `***`.
fn shown(value: &str) -> String {
    let value = value.trim();
    let (scheme, rest) = match value.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), value),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    match authority.rfind('@') {
        Some(at) => format!("{scheme}***@{}", &authority[at + 1..]),
        None => format!("{scheme}{authority}"),
    }
}

fn parse_proxy(var: &'static str, value: &str) -> Result<ProxyUrl, ProxyError> {
    let error = |reason: &str| ProxyError {
        var,
        shown: shown(value),
        reason: reason.to_string(),
    };
    // Go's httpproxy: a value that does not parse with a scheme is tried again as `http://…`.
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| error(&e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        "socks5" | "socks5h" | "socks4" | "socks4a" => {
            return Err(error(
                "SOCKS proxies are not supported; give the HTTP(S) proxy of the network",
            ));
        }
        other => return Err(error(&format!("the scheme {other} is not http or https"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(error("it names no host"));
    }
    Ok(ProxyUrl {
        shown: shown(&with_scheme),
        url,
        var,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `NO_PROXY` as Go's httpproxy reads it.
#[derive(Clone, Debug, Default)]
struct NoProxy {
    all: bool,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
enum Entry {
    Cidr(IpNet),
    Ip(IpAddr, Option<u16>),
    /// `.example.com`; `match_host` when written without the dot (then `example.com` matches too).
    Domain {
        suffix: String,
        port: Option<u16>,
        match_host: bool,
    },
}

impl NoProxy {
    fn parse(text: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for p in text.split(',') {
            let p = p.trim().to_ascii_lowercase();
            if p.is_empty() {
                continue;
            }
            if p == "*" {
                return NoProxy {
                    all: true,
                    entries: Vec::new(),
                };
            }
            if let Ok(net) = IpNet::from_str(&p) {
                out.entries.push(Entry::Cidr(net));
                continue;
            }
            let (host, port) = split_host_port(&p);
            if host.is_empty() {
                continue;
            }
            if let Ok(ip) = IpAddr::from_str(host) {
                out.entries.push(Entry::Ip(ip, port));
                continue;
            }
            let host = host.strip_prefix('*').unwrap_or(host);
            let (suffix, match_host) = match host.strip_prefix('.') {
                Some(_) => (host.to_string(), false),
                None => (format!(".{host}"), true),
            };
            out.entries.push(Entry::Domain {
                suffix,
                port,
                match_host,
            });
        }
        out
    }

    fn matches(&self, host: &str, ip: Option<IpAddr>, port: Option<u16>) -> bool {
        if self.all {
            return true;
        }
        let port_ok = |p: &Option<u16>| p.is_none() || *p == port;
        self.entries.iter().any(|e| match e {
            Entry::Cidr(net) => ip.is_some_and(|ip| net.contains(&ip)),
            Entry::Ip(want, p) => ip == Some(*want) && port_ok(p),
            Entry::Domain {
                suffix,
                port: p,
                match_host,
            } => {
                (host.ends_with(suffix.as_str()) || (*match_host && host == &suffix[1..]))
                    && port_ok(p)
            }
        })
    }
}

/// `host:port`, `[v6]:port`, `[v6]`, `host` → host and port (a bare IPv6 address has no port).
fn split_host_port(p: &str) -> (&str, Option<u16>) {
    if let Some(rest) = p.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':').and_then(|x| x.parse().ok())),
            None => (rest, None),
        };
    }
    match p.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') => match port.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (p, None),
        },
        _ => (p, None),
    }
}

/// A connector failure that happened at the proxy: says which proxy, never with its credentials.
#[derive(Debug)]
pub struct ThroughProxy {
    pub proxy: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for ThroughProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match tunnel_error(&*self.source).as_deref() {
            Some("tunnel error: proxy authorization required") => {
                "the proxy refused the credentials (407 Proxy Authentication Required): check the user and password in the proxy variable"
            }
            Some("tunnel error: failed to create underlying connection") => {
                "the proxy itself cannot be reached: check its host and port"
            }
            _ => "the proxy did not open a tunnel to the destination (CONNECT failed)",
        };
        write!(f, "through the proxy {}: {why}", self.proxy)
    }
}

impl std::error::Error for ThroughProxy {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// The text of hyper-util's tunnel error in the chain, if the connection failed at the proxy.
/// Every client here tunnels HTTPS with hyper-util's `Tunnel` (reqwest and kube use it too), whose
/// `TunnelError` is not exported: its `Display` (`tunnel error: …`) is what identifies it.
pub fn tunnel_error(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if text.starts_with("tunnel error: ") {
            return Some(text);
        }
        cur = err.source();
    }
    None
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector layer that names the proxy in the error when a connection failed at the proxy
/// (the chain holds hyper-util's tunnel error), so "407" or "connection refused" is never
/// mistaken for the destination's answer.
#[derive(Clone)]
pub struct NameProxy {
    proxy: Option<String>,
}

impl NameProxy {
    /// `proxy`: how to name the proxy HTTPS calls go through (tunnels are made only for those).
    pub fn new(proxies: &ProxyEnv) -> NameProxy {
        NameProxy {
            proxy: proxies.https.as_ref().map(ToString::to_string),
        }
    }
}

impl<S> tower_layer::Layer<S> for NameProxy {
    type Service = NamedProxyService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        NamedProxyService {
            inner,
            proxy: self.proxy.clone(),
        }
    }
}

#[derive(Clone)]
pub struct NamedProxyService<S> {
    inner: S,
    proxy: Option<String>,
}

impl<S, R> tower_service::Service<R> for NamedProxyService<S>
where
    S: tower_service::Service<R>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let fut = self.inner.call(req);
        let proxy = self.proxy.clone();
        Box::pin(async move {
            fut.await.map_err(|e| {
                let e: BoxError = e.into();
                match proxy {
                    Some(proxy) if tunnel_error(&*e).is_some() => {
                        Box::new(ThroughProxy { proxy, source: e }) as BoxError
                    }
                    _ => e,
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn via(p: &ProxyEnv, url: &str) -> bool {
        p.for_url(&reqwest::Url::parse(url).unwrap()).is_some()
    }

    #[test]
    fn process_vars_are_rewritten_to_what_go_reads_and_kube_accepts() {
        let vars = [
            ("NO_PROXY", "127.0.0.1, ,.corp.example,"),
            ("no_proxy", "example.com, *"),
            ("HTTPS_PROXY", "user:p{w@proxy.corp:3128"),
            ("https_proxy", "http://proxy.corp:3128/"),
        ];
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let out = kube_safe_process_vars(&lookup);
        assert_eq!(
            out,
            vec![
                ("NO_PROXY", "127.0.0.1,.corp.example".to_string()),
                ("no_proxy", "*".to_string()),
                (
                    "HTTPS_PROXY",
                    "http://user:p%7Bw@proxy.corp:3128/".to_string()
                ),
            ]
        );
        for (_, v) in &out {
            if v.contains("://") {
                assert!(v.parse::<hyper::Uri>().is_ok(), "{v}");
            }
        }
    }

    #[test]
    fn no_proxy_follows_go_httpproxy() {
        let p = ProxyEnv::from_env(&env(&[
            ("HTTPS_PROXY", "http://u:secret@proxy.corp:3128"),
            (
                "NO_PROXY",
                " 10.0.0.0/8, .svc ,internal.corp, *.azmk8s.io, 192.168.1.7, api.test:8443,,",
            ),
        ]))
        .unwrap();
        assert!(via(&p, "https://management.azure.com/x"));
        // CIDR and single IPs (kubectl reads CIDRs; curl-style readers do not).
        assert!(!via(&p, "https://10.1.2.3:443/"));
        assert!(via(&p, "https://11.1.2.3/"));
        assert!(!via(&p, "https://192.168.1.7/"));
        // `internal.corp` matches itself and subdomains; `.svc` only subdomains.
        assert!(!via(&p, "https://internal.corp/"));
        assert!(!via(&p, "https://a.internal.corp/"));
        assert!(via(&p, "https://notinternal.corp/"));
        assert!(!via(&p, "https://kubernetes.default.svc/"));
        assert!(via(&p, "https://svc/"));
        assert!(!via(&p, "https://x.hcp.westeurope.azmk8s.io:443/"));
        // A port in the entry matches only that port.
        assert!(!via(&p, "https://api.test:8443/"));
        assert!(via(&p, "https://api.test/"));
        // Loopback and localhost are never proxied.
        assert!(!via(&p, "https://127.0.0.1:6443/"));
        assert!(!via(&p, "https://localhost:6443/"));
        assert!(!via(&p, "https://[::1]:6443/"));
        // HTTPS_PROXY is for https URLs only.
        assert!(!via(&p, "http://169.254.169.254/metadata"));
    }

    #[test]
    fn upper_case_wins_and_star_turns_it_off() {
        let p = ProxyEnv::from_env(&env(&[
            ("HTTPS_PROXY", "http://upper:3128"),
            ("https_proxy", "http://lower:3128"),
            ("no_proxy", "*"),
        ]))
        .unwrap();
        assert!(!via(&p, "https://example.com/"));
        let p = ProxyEnv::from_env(&env(&[("HTTPS_PROXY", ""), ("https_proxy", "lower:3128")]))
            .unwrap();
        let chosen = p
            .for_url(&reqwest::Url::parse("https://example.com/").unwrap())
            .unwrap();
        assert_eq!(chosen.var, "https_proxy");
        assert_eq!(chosen.expose(), "http://lower:3128/");
    }

    #[test]
    fn credentials_are_never_shown() {
        let e = env(&[("HTTPS_PROXY", "http://svc%40corp:p%3Ass@proxy.corp:3128")]);
        let p = ProxyEnv::from_env(&e).unwrap();
        let chosen = p
            .for_url(&reqwest::Url::parse("https://example.com/").unwrap())
            .unwrap();
        let text = format!("{chosen} {chosen:?} {}", p.to_config_json());
        assert!(!text.contains("p%3Ass") && !text.contains("svc"), "{text}");
        assert!(text.contains("http://***@proxy.corp:3128"), "{text}");
        let creds = credentials(&e);
        assert!(creds.contains(&"p:ss".to_string()));
        assert!(creds.contains(&"p%3Ass".to_string()));
        assert!(creds.contains(&"svc%40corp:p%3Ass".to_string()));
    }

    #[test]
    fn bad_values_are_named_without_credentials() {
        let e =
            ProxyEnv::from_env(&env(&[("HTTPS_PROXY", "socks5://u:pw1@proxy:1080")])).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("HTTPS_PROXY") && text.contains("SOCKS"),
            "{text}"
        );
        assert!(!text.contains("pw1"), "{text}");
    }

    #[test]
    fn userinfo_in_text_is_redacted() {
        assert_eq!(
            redact_userinfo("connect to http://u:pw@proxy:3128/ failed; see https://x/y"),
            "connect to http://***@proxy:3128/ failed; see https://x/y"
        );
    }
}
