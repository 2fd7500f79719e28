//! The properties the fuzz targets check, shared with `tests/hostile.rs`, which replays every
//! input kept in `fuzz/regressions/<target>/` through the same functions. A violated property
//! panics, which libFuzzer reports as a crash.

#![allow(dead_code)] // each target uses only its own checks

use std::time::Duration;

use apim_gate::address::{AddressError, HostPort};
use apim_gate::inputs::{self, Env, INPUTS, Inputs, Need};
use apim_gate::spec::diff::diff;
use apim_gate::spec::finding::{render_markdown, render_text};
use apim_gate::spec::lint::{lint, lint_report};
use apim_gate::spec::rewrite::Scheme;
use apim_gate::spec::{Document, Finding, Level, RewriteOptions, SpecVersion, rewrite};
use serde_json::Value;

const ADDRESSES: &[&str] = &["10.224.0.4:30080", "[fd00::4]:8080", "api.internal", "h:1"];

/// Arbitrary bytes as a document: parsing and rewriting never panic, and a rewrite keeps every
/// member but the address ones. The last byte picks the options, so real documents seed it as is.
pub fn parse_rewrite(data: &[u8]) {
    let Some(&pick) = data.last() else { return };
    let parsed = Document::parse(data);
    if let Ok(doc) = &parsed {
        let _ = doc.operations();
        let _ = doc.title();
        let _ = doc.sha256();
    }
    let options = RewriteOptions {
        address: ADDRESSES[usize::from(pick) % ADDRESSES.len()]
            .parse()
            .expect("the fixed addresses are valid"),
        schemes: match (pick >> 2) % 3 {
            0 => vec![Scheme::Http],
            1 => vec![Scheme::Https],
            _ => vec![Scheme::Https, Scheme::Http],
        },
        compact: pick & 0x80 != 0,
    };
    let Ok(out) = rewrite(data, &options) else {
        return;
    };
    let reparsed = Document::parse(out.text.as_bytes());
    // The JSON rewrite copies members as raw text, so it also carries what `Document::parse`
    // refuses inside a member (a number beyond f64, nesting past the parser's limit): then the
    // output is refused the same way, later, with the same clear error.
    let Ok(input) = parsed else { return };
    let output = match reparsed {
        Ok(d) => d,
        Err(e) => panic!(
            "the input parses but its rewrite does not: {e}\n{}",
            out.text
        ),
    };
    assert_eq!(
        input.version(),
        output.version(),
        "the rewrite changed the version"
    );
    assert_eq!(&out.version, input.version());
    let address: &[&str] = if input.version().is_swagger2() {
        &["host", "schemes"]
    } else {
        &["servers"]
    };
    let (Value::Object(before), Value::Object(after)) = (input.value(), output.value()) else {
        panic!("documents are objects");
    };
    for (k, v) in before {
        if address.contains(&k.as_str()) {
            continue;
        }
        assert_eq!(after.get(k), Some(v), "member {k:?} changed");
    }
    for k in after.keys() {
        assert!(
            before.contains_key(k) || address.contains(&k.as_str()),
            "member {k:?} appeared"
        );
    }
    let host = options.address.to_string();
    if input.version().is_swagger2() {
        assert_eq!(after.get("host"), Some(&Value::String(host.clone())));
        let schemes: Vec<Value> = options
            .schemes
            .iter()
            .map(|s| Value::String(s.as_str().into()))
            .collect();
        assert_eq!(after.get("schemes"), Some(&Value::Array(schemes)));
    } else {
        let servers = after
            .get("servers")
            .and_then(Value::as_array)
            .expect("servers is written");
        assert_eq!(servers.len(), options.schemes.len());
        for (server, scheme) in servers.iter().zip(&options.schemes) {
            let url = server["url"].as_str().expect("server url is a string");
            assert!(
                url.starts_with(&format!("{}://{host}", scheme.as_str())),
                "{url}"
            );
        }
    }
    assert!(
        out.service_url.contains(&format!("://{host}")),
        "{}",
        out.service_url
    );
}

/// Two documents split at the first NUL byte (one document alone is diffed against itself).
pub fn diff_pair(data: &[u8]) {
    let (a, b) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let Ok(base) = Document::parse(a) else { return };
    let Ok(new) = Document::parse(b) else { return };
    let findings = diff(&base, &new);
    check_rendering(&findings);
    let same = diff(&new, &new);
    assert!(
        same.iter().all(|f| f.level != Level::Error),
        "a document breaks itself: {same:#?}"
    );
}

/// Arbitrary bytes as a document to lint.
pub fn lint_doc(data: &[u8]) {
    let Ok(doc) = Document::parse(data) else {
        return;
    };
    let findings = lint(&doc);
    check_rendering(&findings);
    lint_report(&doc)
        .to_json()
        .expect("a report always serialises");
    // A Swagger 2.0 document whose only problem is its scheme is fixed by the rewrite; the lint
    // must not keep asking for one afterwards.
    if doc.version() == &SpecVersion::Swagger2 {
        let fixed = rewrite(
            doc.to_compact_json().as_bytes(),
            &RewriteOptions {
                address: "h:1".parse().expect("valid"),
                schemes: vec![Scheme::Http],
                compact: true,
            },
        )
        .and_then(|r| r.document());
        if let Ok(fixed) = fixed {
            assert!(
                lint(&fixed)
                    .iter()
                    .all(|f| f.id != "apim-swagger2-no-scheme"),
                "the rewritten document still lacks a scheme"
            );
        }
    }
}

/// The renderers go to terminals and CI logs: no control character but the line breaks they add.
pub fn check_rendering(findings: &[Finding]) {
    for text in [render_text(findings), render_markdown(findings)] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a renderer let a control character through: {text:?}"
        );
    }
}

/// Arbitrary bytes as environment pairs, one `NAME=VALUE` per line. A NAME that is a number picks
/// an input from the table (and which of its spellings), so the fuzzer reaches every checker.
pub fn env_inputs(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut pairs = Vec::new();
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = match name.parse::<usize>() {
            Ok(n) => {
                let spec = &INPUTS[n % INPUTS.len()];
                match (n / INPUTS.len()) % 4 {
                    0 => spec.local_var(),
                    1 => spec.github_var(),
                    2 => spec.ado_var(),
                    _ => spec
                        .fallbacks
                        .first()
                        .map_or_else(|| spec.local_var(), |f| f.to_string()),
                }
            }
            Err(_) => name.to_string(),
        };
        // Secrets may hold `\n`: the escape lets one line carry one.
        pairs.push((name, value.replace("\\n", "\n")));
    }
    let env = Env::from_pairs(pairs.clone());
    let need = match first % 3 {
        0 => Need::Nothing,
        1 => Need::Cluster,
        _ => Need::Run,
    };
    let shown = match Inputs::load(&env, need) {
        Ok(inputs) => {
            let _ = inputs.secrets();
            inputs.to_config_json().to_string()
        }
        Err(e) => e.to_string(),
    };
    // A secret long and odd enough not to occur by chance in other text never shows.
    for (name, value) in &pairs {
        let is_secret = INPUTS.iter().any(|s| {
            s.is_secret() && [s.local_var(), s.github_var(), s.ado_var()].contains(name)
                || s.is_secret() && s.fallbacks.contains(&name.as_str())
        });
        let value = value.trim();
        if !is_secret || value.len() < 12 || !value.contains(['%', '$', '!']) {
            continue;
        }
        let elsewhere = pairs
            .iter()
            .any(|(n, v)| n.contains(value) || (n != name && v.contains(value)));
        assert!(
            elsewhere || !shown.contains(value),
            "secret {name} shown: {shown}"
        );
    }
}

/// Arbitrary text as `HOST[:PORT]`, a duration, a list and a boolean.
pub fn scalars(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match text.parse::<HostPort>() {
        Ok(hp) => {
            let shown = hp.to_string();
            assert!(
                !shown.contains(['/', '@', '?', '#']) && !shown.chars().any(char::is_whitespace),
                "{shown:?}"
            );
            assert_eq!(shown.parse::<HostPort>().as_ref(), Ok(&hp), "{shown:?}");
        }
        Err(e) => {
            let message = e.to_string();
            // The variant's text, not the message: the message's own words ("user@") could match.
            if let AddressError::HasCredentials(shown) = &e
                && let Some((credentials, after)) = text.trim().rsplit_once('@')
                && !credentials.is_empty()
                && !credentials.contains(|c: char| c.is_control() || c == '…')
            {
                assert!(
                    after.contains(credentials) || !unescaped(shown).contains(credentials),
                    "credentials echoed: {message}"
                );
            }
            assert!(
                !message.chars().any(char::is_control),
                "the error carries a control character: {message:?}"
            );
        }
    }
    if let Some(d) = inputs::parse_duration(&text) {
        let millis = u64::try_from(d.as_millis()).ok();
        if let Some(ms) = millis {
            assert_eq!(
                inputs::parse_duration(&format!("{ms}ms")),
                Some(Duration::from_millis(ms))
            );
        }
    }
    for item in inputs::parse_list(&text) {
        assert!(!item.is_empty() && item.trim() == item && !item.contains([',', '\n']));
    }
    let _ = inputs::parse_bool(&text);
}

/// An error's text with each `\u{..}` escape (which brings its own hex digits) as one NUL.
fn unescaped(shown: &str) -> String {
    let mut out = String::new();
    let mut rest = shown;
    while let Some(i) = rest.find("\\u{") {
        out.push_str(&rest[..i]);
        out.push('\0');
        rest = match rest[i..].find('}') {
            Some(j) => &rest[i + j + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Arbitrary bytes as a `basePath` and as an OpenAPI 3 server URL (the first byte picks the
/// address and schemes): a rewrite either refuses the document or gives a service URL and servers
/// that are `scheme://address` followed by nothing or a path, never with a user part, a query, a
/// fragment or a `..` segment, so APIM calls the discovered address and no other (issue 13).
pub fn backend_url(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let path = String::from_utf8_lossy(rest);
    let address: apim_gate::address::HostPort = ADDRESSES[usize::from(pick) % ADDRESSES.len()]
        .parse()
        .expect("the fixed addresses are valid");
    let schemes = match (pick >> 2) % 3 {
        0 => vec![Scheme::Http],
        1 => vec![Scheme::Https],
        _ => vec![Scheme::Https, Scheme::Http],
    };
    let options = RewriteOptions {
        address: address.clone(),
        schemes: schemes.clone(),
        compact: true,
    };
    let documents = [
        serde_json::json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
            "basePath": path, "paths": {}}),
        serde_json::json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "servers": [{"url": path}], "paths": {}}),
    ];
    for doc in documents {
        let Ok(out) = rewrite(doc.to_string().as_bytes(), &options) else {
            continue;
        };
        let mut urls = vec![out.service_url.clone()];
        let written: Value = serde_json::from_str(&out.text).expect("a rewrite is JSON");
        for server in written["servers"].as_array().into_iter().flatten() {
            urls.push(
                server["url"]
                    .as_str()
                    .expect("server urls are strings")
                    .to_string(),
            );
        }
        for url in urls {
            let after = schemes
                .iter()
                .find_map(|s| url.strip_prefix(&format!("{}://{address}", s.as_str())))
                .unwrap_or_else(|| panic!("{url:?} does not start with a scheme and {address}"));
            assert!(after.is_empty() || after.starts_with('/'), "{url:?}");
            assert!(!after.contains(['@', '\\', '?', '#']), "{url:?}");
            assert!(
                !after.chars().any(|c| c.is_control() || c.is_whitespace()),
                "{url:?}"
            );
            assert!(!after.split('/').any(|s| s == ".."), "{url:?}");
        }
    }
}
