//! What a message may say about a URL: its scheme, host, port and path, never its query string
//! (a storage SAS `sig=`, an OAuth `code=`, a token) nor its user part (a proxy password).
//!
//! reqwest's errors end with `for url (…)`, the full URL; an export link is a SAS URL whose query
//! is the credential. [`error_chain`] is how every layer turns an error into a message, so no
//! error carries a query; the report's cleaner applies [`urls`] to all it prints as well.

/// What takes the place of a removed query or user part.
const REDACTED: &str = "***";

/// An error and its causes on one line (the innermost cause usually says what really happened:
/// connection refused, certificate unknown), with every URL's query and user part removed.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    urls(&parts.join(": "))
}

/// `text` with the query of every `scheme://` URL in it replaced by `***` (the `?` stays, so a
/// reader sees there was one) and the user part too (`https://***@proxy:3128`). The fragment
/// stays: Azure portal links keep their `#@tenant/resource/…` path there, and it never reaches
/// a server.
pub fn urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let scheme_start = rest[..found]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let scheme = &rest[scheme_start..found];
        if !scheme.starts_with(|c: char| c.is_ascii_alphabetic()) {
            out.push_str(&rest[..found + 3]);
            rest = &rest[found + 3..];
            continue;
        }
        out.push_str(&rest[..found + 3]);
        let after = &rest[found + 3..];
        let end = after.find(ends_url).unwrap_or(after.len());
        out.push_str(&clean_url(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Where a URL written in a sentence stops: white space, quotes, brackets that close around it
/// (`for url (…)`), and the backslash of an escaped quote in JSON text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | '\\')
}

/// One URL after its `scheme://`: user part and query replaced, the rest as it was.
fn clean_url(url: &str) -> String {
    let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    let (authority, tail) = url.split_at(authority_end);
    let mut out = String::with_capacity(url.len());
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(REDACTED);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    // A `?` after the `#` belongs to the fragment.
    let (before_fragment, fragment) = tail.split_at(tail.find('#').unwrap_or(tail.len()));
    match before_fragment.find('?') {
        Some(q) => {
            out.push_str(&before_fragment[..=q]);
            out.push_str(REDACTED);
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_user_parts_go_hosts_and_paths_stay() {
        let text = "error sending request for url (https://acct.blob.core.windows.net/c/api.json?sv=2021-08-06&sr=b&sig=SECRET%2Bsig%3D) and again: https://acct.blob.core.windows.net/x?sig=SECRET.";
        let cleaned = urls(text);
        assert!(!cleaned.contains("SECRET"), "{cleaned}");
        assert!(
            cleaned.contains("for url (https://acct.blob.core.windows.net/c/api.json?***)"),
            "{cleaned}"
        );
        assert_eq!(
            urls("proxy http://user:p4ss@proxy.corp:3128/ refused"),
            "proxy http://***@proxy.corp:3128/ refused"
        );
        assert_eq!(
            urls("https://portal.azure.com/#@contoso/resource/x?y"),
            "https://portal.azure.com/#@contoso/resource/x?y",
            "a fragment never reaches a server, and the portal needs it"
        );
        assert_eq!(urls("https://h/p?a=1#frag"), "https://h/p?***#frag");
        assert_eq!(
            urls("no url: a::b, ://x, 9://y?z"),
            "no url: a::b, ://x, 9://y?z"
        );
        assert_eq!(urls("é https://h/é?sig=ü é"), "é https://h/é?*** é");
    }

    /// A real reqwest error, as a failed export-link download gives it: the URL with its SAS
    /// signature is in the error's text, and not in what [`error_chain`] makes of it.
    #[tokio::test]
    async fn reqwest_errors_lose_the_signature() {
        crate::install_crypto_provider();
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let link = format!(
            "http://127.0.0.1:{port}/exports/api.json?sv=2021-08-06&sr=b&sp=r&sig=SECRETsignature"
        );
        let e = reqwest::Client::builder()
            .build()
            .expect("client")
            .get(&link)
            .send()
            .await
            .expect_err("nothing listens there");
        assert!(
            e.to_string().contains("SECRETsignature"),
            "reqwest shows the URL: {e}"
        );
        let message = error_chain(&e);
        assert!(!message.contains("SECRETsignature"), "{message}");
        assert!(
            message.contains(&format!("127.0.0.1:{port}/exports/api.json?***")),
            "{message}"
        );
    }
}
