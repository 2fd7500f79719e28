//! The backend URL APIM calls: a scheme, the discovered address, and the document's `basePath`
//! (Swagger 2.0) or first server's path (OpenAPI 3). That path comes from the pod's document, so it
//! is checked before it is joined to the address: `basePath: "@evil.example"` would otherwise give
//! `http://10.224.0.4:30080@evil.example`, whose host is `evil.example` (issue 13). The joined URL
//! is then parsed with a URL type and its host and port must be the address's, with no user part.

use url::Url;

use crate::address::{Host, HostPort};

/// The lint rule that refuses such a path, named by the rewrite's error too.
pub const RULE: &str = "apim-base-path-invalid";

/// What is wrong with a `basePath` or server path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathProblem {
    #[error("does not start with `/`")]
    NotAbsolute,
    #[error("holds `{0}`")]
    Forbidden(char),
    #[error("holds whitespace")]
    Whitespace,
    #[error("holds a control character")]
    Control,
    #[error("has a `..` segment")]
    DotDot,
}

/// Checks a path to be appended to `scheme://host:port`: empty, or starting with `/` and holding
/// no `@`, `\`, `?`, `#`, whitespace, control characters or `..` segments (percent-encoded dots
/// included, which URL parsers treat as dots).
pub fn check_path(path: &str) -> Result<(), PathProblem> {
    if path.is_empty() {
        return Ok(());
    }
    if !path.starts_with('/') {
        return Err(PathProblem::NotAbsolute);
    }
    for c in path.chars() {
        match c {
            '@' | '\\' | '?' | '#' => return Err(PathProblem::Forbidden(c)),
            c if c.is_control() => return Err(PathProblem::Control),
            c if c.is_whitespace() => return Err(PathProblem::Whitespace),
            _ => {}
        }
    }
    let dot_dot = |segment: &str| {
        let lower = segment.to_ascii_lowercase();
        matches!(lower.as_str(), ".." | ".%2e" | "%2e." | "%2e%2e")
    };
    if path.split('/').any(dot_dot) {
        return Err(PathProblem::DotDot);
    }
    Ok(())
}

/// Why a backend URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendUrlError {
    #[error("the path {0}")]
    Path(PathProblem),
    /// The joined URL does not parse, or names another host, port or a user: cannot happen for a
    /// path [`check_path`] accepts, checked anyway since the URL leaves for APIM.
    #[error("`{url}` {why}")]
    Url { url: String, why: String },
}

/// `scheme://address` + `path`, checked: the path by [`check_path`], then the whole URL parsed, its
/// host and port the address's and no user part. Returns the URL as joined (the text APIM gets
/// and earlier runs recorded; a URL type would add a `/` to a bare address).
pub fn backend_url(
    scheme: Scheme,
    address: &HostPort,
    path: &str,
) -> Result<String, BackendUrlError> {
    check_path(path).map_err(BackendUrlError::Path)?;
    let text = format!("{}://{address}{path}", scheme.as_str());
    let refuse = |why: String| BackendUrlError::Url {
        url: text.clone(),
        why,
    };
    let url = Url::parse(&text).map_err(|e| refuse(format!("is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("has a user part".to_string()));
    }
    let host_matches = match (&address.host, url.host()) {
        (Host::Ipv4(a), Some(url::Host::Ipv4(b))) => *a == b,
        (Host::Ipv6(a), Some(url::Host::Ipv6(b))) => *a == b,
        (Host::Name(a), Some(url::Host::Domain(b))) => a.eq_ignore_ascii_case(b),
        _ => false,
    };
    if !host_matches {
        return Err(refuse(format!(
            "names the host {:?}, not {}",
            url.host_str().unwrap_or(""),
            address.host
        )));
    }
    let default_port = match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    let expected = address.port.unwrap_or(default_port);
    if url.port_or_known_default() != Some(expected) {
        return Err(refuse(format!("names a port other than {expected}")));
    }
    Ok(text)
}

/// A document's text quoted in an error: control characters escaped, at most 120 characters.
pub fn quoted(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(120)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().count() > 120 {
        out.push('…');
    }
    out
}

/// A URL scheme APIM can call a backend with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl std::str::FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Scheme, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http" => Ok(Scheme::Http),
            "https" => Ok(Scheme::Https),
            other => Err(format!("scheme '{other}' is not http or https")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(s: &str) -> HostPort {
        s.parse().unwrap()
    }

    #[test]
    fn paths_that_could_move_the_host_are_refused() {
        for bad in [
            "@evil.example",
            "/@evil.example",
            "/a\\b",
            "/a?x",
            "/a#x",
            "/a b",
            "/a\u{85}",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_path("/a/../b"), Err(PathProblem::DotDot));
        assert_eq!(check_path("/a/%2E%2e/b"), Err(PathProblem::DotDot));
        assert_eq!(check_path("v1"), Err(PathProblem::NotAbsolute));
        for good in ["", "/", "/v1", "/api/v1.2", "/a..b", "/%40"] {
            assert_eq!(check_path(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn urls_keep_the_address() {
        let a = address("10.224.0.4:30080");
        assert_eq!(
            backend_url(Scheme::Http, &a, "/v1").unwrap(),
            "http://10.224.0.4:30080/v1"
        );
        assert_eq!(
            backend_url(Scheme::Http, &a, "").unwrap(),
            "http://10.224.0.4:30080"
        );
        assert!(matches!(
            backend_url(Scheme::Http, &a, "@evil.example"),
            Err(BackendUrlError::Path(PathProblem::NotAbsolute))
        ));
        assert_eq!(
            backend_url(Scheme::Https, &address("[fd00::4]"), "/x").unwrap(),
            "https://[fd00::4]/x"
        );
        assert_eq!(
            backend_url(Scheme::Http, &address("api.internal:80"), "").unwrap(),
            "http://api.internal:80"
        );
    }
}
