//! Hostile input: what a compromised or broken pod, a careless pipeline author or an attacker with
//! a pull request can feed apim-gate. Nothing here may panic, overflow the stack, loop, grow
//! memory without bound, leak credentials or let a document drive the CI log.
//!
//! The crashing inputs the fuzz targets found are kept in `fuzz/regressions/<target>/` and replayed
//! here through the very checks the targets run (`fuzz/checks.rs`).

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use apim_gate::address::{AddressError, HostPort};
use apim_gate::spec::diff::diff;
use apim_gate::spec::finding::{render_markdown, render_text};
use apim_gate::spec::lint::lint;
use apim_gate::spec::rewrite::Scheme;
use apim_gate::spec::{Document, RewriteOptions, SpecError, rewrite};
use serde_json::Value;

fn options(compact: bool) -> RewriteOptions {
    RewriteOptions {
        address: "10.224.0.4:30080".parse().unwrap(),
        schemes: vec![Scheme::Http],
        compact,
    }
}

/// Runs `f` on its own thread and fails the test if it has not finished within `limit`: a loop
/// or an exponential walk fails instead of hanging the suite.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
        // The thread panicked: report its panic, not a timeout.
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread ended without sending"),
        },
    }
}

fn nested(open: &str, close: &str, levels: usize) -> String {
    let mut s = String::with_capacity(levels * (open.len() + close.len()));
    for _ in 0..levels {
        s.push_str(open);
    }
    for _ in 0..levels {
        s.push_str(close);
    }
    s
}

// ---------------------------------------------------------------- fuzz regressions

fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

fn replay(target: &str, check: fn(&[u8])) {
    for (path, bytes) in regressions(target) {
        let result = std::panic::catch_unwind(|| check(&bytes));
        assert!(result.is_ok(), "{} fails again", path.display());
    }
}

#[test]
fn fuzz_regressions_parse_rewrite() {
    replay("parse_rewrite", checks::parse_rewrite);
}

#[test]
fn fuzz_regressions_diff() {
    replay("diff", checks::diff_pair);
}

#[test]
fn fuzz_regressions_lint() {
    replay("lint", checks::lint_doc);
}

#[test]
fn fuzz_regressions_inputs() {
    replay("inputs", |data| {
        checks::env_inputs(data);
        checks::scalars(data);
    });
}

/// The fixtures pass every property, so the targets' checks themselves are sound.
#[test]
fn fuzz_regressions_backend_url() {
    replay("backend_url", checks::backend_url);
}

/// The URL-building property on the paths that matter: issue 13's `@evil.example` and its kin,
/// and paths real documents use.
#[test]
fn backend_url_check_holds_on_hostile_and_real_paths() {
    for path in [
        "@evil.example",
        "/@evil.example",
        "//evil.example",
        "\\\\evil.example",
        "http://user:pw@evil.example/x",
        "/a/../../b",
        "/a/%2e%2e/b",
        "/a?x#y",
        "/a\u{0}b",
        "",
        "/",
        "/api/v1/",
        "/resource-server",
        "http://localhost:5000/api",
        "{scheme}://{host}/v2",
    ] {
        for pick in 0..12u8 {
            let mut data = vec![pick];
            data.extend_from_slice(path.as_bytes());
            checks::backend_url(&data);
        }
    }
}

#[test]
fn fuzz_checks_hold_on_every_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    let mut docs = Vec::new();
    for dir in ["swashbuckle", "aspnetcore", "oasdiff"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                docs.push(std::fs::read(&path).unwrap());
            }
        }
    }
    assert!(docs.len() > 20);
    for doc in &docs {
        for last in [b'}', b'\n', 0x85, 0xFF] {
            let mut d = doc.clone();
            d.push(last);
            checks::parse_rewrite(&d);
        }
        checks::lint_doc(doc);
        checks::diff_pair(doc);
    }
}

// ---------------------------------------------------------------- deep nesting

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    within(Duration::from_secs(120), || {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let body = nested(open, close, 100_000);
            // As the whole document.
            let err = Document::parse(body.as_bytes()).unwrap_err();
            assert!(matches!(err, SpecError::Json { .. }), "{err}");
            assert!(err.to_string().contains("recursion limit"), "{err}");
            // Inside a member of a real document.
            let doc = format!(
                r#"{{"swagger":"2.0","info":{{"title":"t"}},"x-deep":{body},"paths":{{}}}}"#
            );
            let err = Document::parse(doc.as_bytes()).unwrap_err();
            assert!(matches!(err, SpecError::Json { .. }), "{err}");
            // The rewrite copies members as text: it may carry the member through untouched,
            // never recursing into it.
            if let Ok(out) = rewrite(doc.as_bytes(), &options(false)) {
                assert!(out.text.contains(&body));
                assert!(out.document().is_err());
            }
            // Compact output re-reads every member's text (to drop whitespace): same story.
            if let Ok(out) = rewrite(doc.as_bytes(), &options(true)) {
                assert!(out.text.contains(&body));
            }
        }
        // YAML: block and flow nesting.
        let mut yaml = String::from("openapi: 3.0.1\npaths:\n");
        for i in 0..10_000 {
            yaml.push_str(&" ".repeat(2 + i));
            yaml.push_str("a:\n");
        }
        assert!(Document::parse(yaml.as_bytes()).is_err());
        let flow = format!("openapi: 3.0.1\nx: {}\n", nested("[", "]", 100_000));
        assert!(Document::parse(flow.as_bytes()).is_err());
        let flow = format!("openapi: 3.0.1\nx: {}\n", nested("{a: ", "}", 100_000));
        assert!(Document::parse(flow.as_bytes()).is_err());
        assert!(rewrite(flow.as_bytes(), &options(false)).is_err());
    });
}

/// The deepest nesting the parser accepts, run through lint and diff on a test thread's stack.
#[test]
fn deepest_parsable_documents_lint_and_diff() {
    within(Duration::from_secs(120), || {
        // Schemas nested in properties as deep as JSON parsing allows.
        let mut schema = String::from(r#"{"type":"string"}"#);
        // Two levels of JSON per schema level, inside nine of document: just under serde_json's 128.
        for _ in 0..58 {
            schema = format!(r#"{{"type":"object","properties":{{"a":{schema}}}}}"#);
        }
        let doc = |leaf: &str| {
            format!(
                r#"{{"openapi":"3.0.1","paths":{{"/p":{{"post":{{"operationId":"P","requestBody":{{"content":{{"application/json":{{"schema":{}}}}}}},"responses":{{"200":{{"description":"ok"}}}}}}}}}}}}"#,
                schema.replace(r#"{"type":"string"}"#, leaf)
            )
        };
        let base = Document::parse(doc(r#"{"type":"string"}"#).as_bytes())
            .expect("nesting within the parser's limit");
        let new = Document::parse(doc(r#"{"type":"integer"}"#).as_bytes()).unwrap();
        let _ = lint(&base);
        let _ = diff(&base, &new);
        let _ = diff(&new, &base);
        // A level past the limit is refused, not truncated.
        let too_deep = nested("[", "]", 200);
        let refused = format!(r#"{{"openapi":"3.0.1","x":{too_deep},"paths":{{}}}}"#);
        assert!(Document::parse(refused.as_bytes()).is_err());
    });
}

/// Depth through `$ref` instead of nesting: a chain of 20,000 schemas, each a property (and an
/// `allOf`, and `items`) of the one before. Parsing sees a flat document; the walkers must bound.
#[test]
fn long_ref_chains_are_bounded() {
    for shape in ["property", "allOf", "items", "ref-to-ref"] {
        let n = 20_000;
        let mut schemas = serde_json::Map::new();
        for i in 0..n {
            let next = serde_json::json!({ "$ref": format!("#/components/schemas/S{}", i + 1) });
            let s = match shape {
                "property" => serde_json::json!({"type": "object", "properties": {"next": next}}),
                "allOf" => serde_json::json!({"allOf": [next, {"type": "object"}]}),
                "items" => serde_json::json!({"type": "array", "items": next}),
                _ => next,
            };
            schemas.insert(format!("S{i}"), s);
        }
        schemas.insert(format!("S{n}"), serde_json::json!({"type": "string"}));
        let doc = |leaf: &str| {
            let mut s = schemas.clone();
            s.insert(format!("S{n}"), serde_json::json!({ "type": leaf }));
            serde_json::json!({
                "openapi": "3.0.1",
                "paths": {"/p": {"post": {
                    "operationId": "P",
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}},
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}}
                }}},
                "components": {"schemas": s}
            })
            .to_string()
        };
        let base = Document::parse(doc("string").as_bytes()).unwrap();
        let new = Document::parse(doc("integer").as_bytes()).unwrap();
        within(Duration::from_secs(120), move || {
            let _ = lint(&base);
            let _ = diff(&base, &new);
        });
    }
}

// ---------------------------------------------------------------- $ref cycles

#[test]
fn ref_cycles_terminate() {
    let cases = [
        // A schema that is its own property, and its own allOf member, and a ref to itself.
        r##"{"Self":{"type":"object","properties":{"me":{"$ref":"#/components/schemas/Self"}}},
            "Loop":{"$ref":"#/components/schemas/Loop"},
            "A":{"$ref":"#/components/schemas/B"},"B":{"$ref":"#/components/schemas/A"},
            "All":{"allOf":[{"$ref":"#/components/schemas/All"},{"type":"object"}]},
            "Items":{"type":"array","items":{"$ref":"#/components/schemas/Items"}},
            "Map":{"type":"object","additionalProperties":{"$ref":"#/components/schemas/Map"}},
            "Root":{"$ref":"#"},
            "Up":{"$ref":"#/components"}}"##,
    ];
    for schemas in cases {
        let mut paths = String::new();
        for (i, name) in [
            "Self", "Loop", "A", "B", "All", "Items", "Map", "Root", "Up",
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                paths.push(',');
            }
            paths.push_str(&format!(
                r##""/{name}":{{"post":{{"operationId":"{name}","requestBody":{{"content":{{"application/json":{{"schema":{{"$ref":"#/components/schemas/{name}"}}}}}}}},"responses":{{"200":{{"description":"ok","content":{{"application/json":{{"schema":{{"$ref":"#/components/schemas/{name}"}}}}}}}}}}}}}}"##
            ));
        }
        let text = format!(
            r#"{{"openapi":"3.0.1","info":{{"title":"t","version":"1"}},"paths":{{{paths}}},"components":{{"schemas":{schemas}}}}}"#
        );
        let base = Document::parse(text.as_bytes()).unwrap();
        let new = Document::parse(text.replace("\"object\"", "\"string\"").as_bytes()).unwrap();
        let findings = within(Duration::from_secs(60), move || {
            let l = lint(&base);
            let d = diff(&base, &new);
            let d2 = diff(&new, &base);
            (l, d, d2)
        });
        assert!(
            findings.0.iter().any(|f| f.id == "apim-recursive-schema"),
            "{:#?}",
            findings.0
        );
    }
}

/// Diamonds: every schema refers to the next twice, so a walk that does not remember what it
/// compared takes 2^40 steps.
#[test]
fn ref_diamonds_are_not_exponential() {
    let n = 40;
    let mut schemas = serde_json::Map::new();
    for i in 0..n {
        let next = format!("#/components/schemas/D{}", i + 1);
        schemas.insert(
            format!("D{i}"),
            serde_json::json!({"type": "object", "properties": {
                "left": {"$ref": next}, "right": {"$ref": next},
                "both": {"allOf": [{"$ref": next}, {"$ref": next}]}}}),
        );
    }
    let make = |leaf: &str| {
        let mut s = schemas.clone();
        s.insert(format!("D{n}"), serde_json::json!({ "type": leaf }));
        serde_json::json!({"swagger": "2.0", "schemes": ["http"], "paths": {"/d": {"post": {
            "operationId": "D",
            "parameters": [{"in": "body", "name": "b", "schema": {"$ref": "#/definitions/D0"}}],
            "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/D0"}}}}}},
            "definitions": s})
        .to_string()
        .replace("#/components/schemas/", "#/definitions/")
    };
    let base = Document::parse(make("string").as_bytes()).unwrap();
    let new = Document::parse(make("integer").as_bytes()).unwrap();
    within(Duration::from_secs(60), move || {
        let _ = lint(&base);
        let _ = diff(&base, &new);
    });
}

// ---------------------------------------------------------------- escapes for terminals and CI logs

const HOSTILE_STRINGS: &[&str] = &[
    "\u{1b}[2J\u{1b}[H",
    "::error::forged",
    "\n::error file=a,line=1::forged",
    "##vso[task.complete result=Failed]forged",
    "\r\n##vso[task.setvariable variable=x]y",
    "\u{1b}]8;;https://evil.example\u{7}link\u{1b}]8;;\u{7}",
    "\u{9b}31m",
    "\u{0}nul",
    "\u{85}next-line",
];

/// The strings land where findings quote the document: operationIds (collisions, length),
/// paths (templates), parameter names and schema names.
fn hostile_document() -> String {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for (i, s) in HOSTILE_STRINGS.iter().enumerate() {
        let op = serde_json::json!({
            "operationId": format!("{s}{}", "x".repeat(80)),
            "summary": s, "description": s, "tags": [s],
            "parameters": [
                {"name": s, "in": "path", "required": true, "type": "string"},
                {"name": s, "in": "query", "required": true, "type": "string"},
                {"name": s, "in": "cookie", "type": "string"}
            ],
            "requestBody": {"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", s.replace('~', "~0").replace('/', "~1"))}}}},
            "responses": {s.to_string(): {"description": s}}
        });
        paths.insert(
            format!("/{i}/{{{s}}}/{s}"),
            serde_json::json!({ "get": op, "post": op, "servers": [{"url": s}] }),
        );
        schemas.insert(
            s.to_string(),
            serde_json::json!({"type": "object", "properties": {s.to_string(): {"$ref": format!("#/components/schemas/{s}")}}, "required": [s]}),
        );
    }
    serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": HOSTILE_STRINGS.concat(), "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
        "webhooks": {"\u{1b}[2J": {}}
    })
    .to_string()
}

#[test]
fn terminal_and_ci_escapes_stay_data() {
    let text = hostile_document();
    let doc = Document::parse(text.as_bytes()).unwrap();
    let findings = lint(&doc);
    assert!(
        findings.iter().any(|f| f.message.contains('\u{1b}')
            || f.operation.as_deref().is_some_and(|o| o.contains('\u{1b}'))),
        "the hostile strings should reach the findings: {findings:#?}"
    );
    let other = text.replace("\"string\"", "\"integer\"");
    let other = Document::parse(other.as_bytes()).unwrap();
    let mut all = findings;
    all.extend(diff(&doc, &other));
    all.extend(diff(&other, &doc));
    checks::check_rendering(&all);
    for rendered in [render_text(&all), render_markdown(&all)] {
        assert!(!rendered.contains('\u{1b}'));
        assert!(!rendered.contains('\u{9b}'));
        // A workflow command only works at the start of a line.
        for line in rendered.lines() {
            assert!(
                !line.starts_with("::") && !line.starts_with("##vso["),
                "{line}"
            );
        }
    }
    // The rewrite keeps them as data: escaped JSON text in, the same text out.
    let out = rewrite(text.as_bytes(), &options(false)).unwrap();
    assert!(!out.text.contains('\u{1b}'));
    assert!(out.text.contains(r"\u001b[2J"));
    let back = out.document().unwrap();
    assert_eq!(back.value()["info"], doc.value()["info"]);
}

// ---------------------------------------------------------------- hosts

#[test]
fn hosts_with_paths_or_credentials_are_refused_without_echoing_credentials() {
    let secret = "hunter2-Pa55";
    for input in [
        format!("user:{secret}@10.0.0.4:30080"),
        format!("https://user:{secret}@10.0.0.4:30080/api"),
        format!("{secret}@10.0.0.4"),
        format!("//user:{secret}@host"),
        format!("user:{secret}@[fd00::1]:8080"),
        format!("a@b:{secret}@host:1"),
    ] {
        let err = input.parse::<HostPort>().unwrap_err();
        assert!(
            matches!(err, AddressError::HasCredentials(_)),
            "{input}: {err:?}"
        );
        assert!(!err.to_string().contains(secret), "{err}");
        assert!(!format!("{err:?}").contains(secret), "{err:?}");
    }
    for input in [
        "10.0.0.4:30080/api",
        "host/",
        "host?x=1",
        "host#frag",
        "[fd00::1]:8080/x",
        "host:1\\path",
    ] {
        assert!(
            matches!(
                input.parse::<HostPort>(),
                Err(AddressError::HasPath(_)
                    | AddressError::BadHost(_)
                    | AddressError::BadPort { .. })
            ),
            "{input}"
        );
    }
    for input in ["host\u{1b}[2J", "host\n::error::x", "ho st", "host:80\u{0}"] {
        let err = input.parse::<HostPort>().unwrap_err();
        assert!(!err.to_string().chars().any(char::is_control), "{err:?}");
    }

    // Through the binary: exit 2, and neither stream carries the secret.
    let doc = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/swashbuckle/basic-swagger2.json");
    let out = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .args(["fix", "--host", &format!("user:{secret}@10.0.0.4:30080")])
        .arg(&doc)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(secret), "{stderr}");
    assert!(stderr.contains("credentials"), "{stderr}");
}

// ---------------------------------------------------------------- size

/// Peak resident memory of this process so far, from the kernel.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn a_100_mb_document_rewrites_in_bounded_memory() {
    const TARGET: usize = 100 * 1024 * 1024;
    let mut text = String::with_capacity(TARGET + 4096);
    text.push_str("{\n  \"swagger\": \"2.0\",\n  \"info\": {\"title\": \"big\", \"version\": \"1\"},\n  \"host\": \"old:1\",\n  \"paths\": {");
    let mut i = 0;
    while text.len() < TARGET {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            "\n    \"/p{i}/{{id}}\": {{\"get\": {{\"operationId\": \"Get{i}\", \"parameters\": [{{\"name\": \"id\", \"in\": \"path\", \"required\": true, \"type\": \"string\"}}], \"responses\": {{\"200\": {{\"description\": \"ok\"}}}}}}}}"
        ));
        i += 1;
    }
    text.push_str("\n  }\n}\n");
    let len = text.len();
    let before = peak_rss_bytes();
    let out = rewrite(text.as_bytes(), &options(false)).expect("a large document rewrites");
    assert!(out.text.len() >= len);
    assert!(out.text.contains("\"host\": \"10.224.0.4:30080\""));
    assert!(out.text.ends_with("\n  }\n}\n"));
    if let (Some(before), Some(after)) = (before, peak_rss_bytes()) {
        // The input and the output, and little else: nothing proportional to the tree.
        let grown = after.saturating_sub(before);
        assert!(
            grown < 3 * len as u64,
            "peak memory grew by {} MB for a {} MB document",
            grown >> 20,
            len >> 20
        );
    }
}

// ---------------------------------------------------------------- encodings and numbers

#[test]
fn invalid_utf8_and_utf16_are_refused_with_a_reason() {
    let mut bad = br#"{"swagger":"2.0","info":{"title":""#.to_vec();
    bad.extend_from_slice(&[0xC3, 0x28]);
    bad.extend_from_slice(br#""},"paths":{}}"#);
    for f in [
        |b: &[u8]| Document::parse(b).map(|_| ()),
        |b: &[u8]| rewrite(b, &options(false)).map(|_| ()),
    ] {
        let err = f(&bad).unwrap_err();
        assert!(
            matches!(err, SpecError::NotUtf8 { offset, .. } if offset == bad.len() - 16),
            "{err:?}"
        );
        for (bom, big_endian) in [(&[0xFF, 0xFE][..], false), (&[0xFE, 0xFF][..], true)] {
            let mut utf16 = bom.to_vec();
            for unit in r#"{"swagger":"2.0","paths":{}}"#.encode_utf16() {
                let b = if big_endian {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                };
                utf16.extend_from_slice(&b);
            }
            let err = f(&utf16).unwrap_err();
            assert!(matches!(err, SpecError::NotUtf8 { .. }), "{err:?}");
            assert!(err.to_string().contains("UTF-16"), "{err}");
        }
    }
}

#[test]
fn huge_numbers_survive_fix_byte_for_byte() {
    let big_int = "1".repeat(100);
    let text = format!(
        "{{\n  \"swagger\": \"2.0\",\n  \"info\": {{\"title\": \"n\", \"x-max\": {big_int}, \"x-huge\": 1e400, \"x-tiny\": -1E-400, \"x-precise\": 0.10000000000000000000000000001}},\n  \"paths\": {{}}\n}}\n"
    );
    for compact in [false, true] {
        let out = rewrite(text.as_bytes(), &options(compact)).unwrap();
        for lit in [
            big_int.as_str(),
            "1e400",
            "-1E-400",
            "0.10000000000000000000000000001",
        ] {
            assert!(out.text.contains(lit), "{lit} lost: {}", out.text);
        }
    }
    // Through the binary, the way a user runs it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .args(["fix", "--host", "10.0.0.4:30080", "-"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&big_int) && stdout.contains("1e400"),
        "{stdout}"
    );
    // The tree view cannot hold 1e400 (beyond f64): the lint and the diff refuse it clearly.
    let err = Document::parse(text.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("number out of range"), "{err}");
    // A 100-digit integer alone is a number the tree holds (approximately): it parses.
    let ok = text.replace("1e400", "1").replace("-1E-400", "0");
    Document::parse(ok.as_bytes()).unwrap();
}

#[test]
fn duplicate_keys_resolve_like_the_parser() {
    // The last duplicate wins in `Document::parse` (serde_json); the rewrite agrees on which
    // version and basePath count, and writes one `host`.
    let text = r#"{"swagger":"2.0","host":"a:1","basePath":"/first","paths":{"/x":{}},"host":"b:2","basePath":"/last","schemes":["ftp"],"schemes":["ws"]}"#;
    let doc = Document::parse(text.as_bytes()).unwrap();
    assert_eq!(doc.value()["basePath"], "/last");
    let out = rewrite(text.as_bytes(), &options(true)).unwrap();
    assert_eq!(out.text.matches("\"host\"").count(), 1, "{}", out.text);
    assert_eq!(out.text.matches("\"schemes\"").count(), 1, "{}", out.text);
    assert_eq!(out.service_url, "http://10.224.0.4:30080/last");
    let back = out.document().unwrap();
    assert_eq!(back.value()["host"], "10.224.0.4:30080");
    assert_eq!(back.value()["schemes"], serde_json::json!(["http"]));
    assert_eq!(back.value()["basePath"], "/last");

    let text =
        r#"{"openapi":"3.0.1","servers":[{"url":"/one"}],"paths":{},"servers":[{"url":"/two"}]}"#;
    let doc = Document::parse(text.as_bytes()).unwrap();
    assert_eq!(doc.value()["servers"][0]["url"], "/two");
    let out = rewrite(text.as_bytes(), &options(true)).unwrap();
    assert_eq!(out.text.matches("\"servers\"").count(), 1, "{}", out.text);
    assert_eq!(out.service_url, "http://10.224.0.4:30080/two");

    // A version given twice: both readers take the last.
    let text = r#"{"openapi":"3.0.1","openapi":"4.0","paths":{}}"#;
    assert!(matches!(
        Document::parse(text.as_bytes()),
        Err(SpecError::UnsupportedVersion { .. })
    ));
    assert!(matches!(
        rewrite(text.as_bytes(), &options(false)),
        Err(SpecError::UnsupportedVersion { .. })
    ));
    // Duplicates in nested objects pass through the rewrite untouched.
    let text = r#"{"swagger":"2.0","info":{"title":"a","title":"b"},"paths":{}}"#;
    let out = rewrite(text.as_bytes(), &options(true)).unwrap();
    assert!(out.text.contains(r#""info":{"title":"a","title":"b"}"#));
    let _ = lint(&Document::parse(text.as_bytes()).unwrap());
    let _: Value = serde_json::from_str(&out.text).unwrap();
}

// ---------------------------------------------------------------- inputs

#[test]
fn durations_that_overflow_are_refused_not_panics() {
    use apim_gate::inputs::{Env, Inputs, Need, parse_duration};
    let max = u64::MAX;
    for text in [
        format!("{max}s1s"),
        format!("{max}h"),
        format!("{max}m"),
        format!("{max}s{max}s"),
        format!("1s{max}ms{max}s"),
        "99999999999999999999999s".to_string(),
    ] {
        assert_eq!(parse_duration(&text), None, "{text}");
    }
    // Fits a Duration but not the milliseconds the inputs keep: named, not an internal error.
    let env = Env::from_pairs([
        ("APIM_GATE_SERVICE".to_string(), "petstore".to_string()),
        ("APIM_GATE_POD_READY_TIMEOUT".to_string(), format!("{max}s")),
    ]);
    let err = Inputs::load(&env, Need::Nothing).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert_eq!(err.problems[0].input, "pod-ready-timeout", "{err}");
    assert!(!err.to_string().contains("internal error"), "{err}");
}

// ---------------------------------------------------------------- findings and pointers (issue 13)

/// A 60,000-character property name over a 30,000-entry `allOf` of `entry` (600 KB with
/// `{"type":"string"}`), and `operations` operations whose response is a schema with that same
/// property name, typed `leaf`.
fn long_name_over_wide_all_of(entry: &Value, operations: usize, leaf: &str) -> String {
    let name = "a".repeat(60_000);
    let mut paths = serde_json::Map::new();
    paths.insert(
        "/big".into(),
        serde_json::json!({"post": {"operationId": "big",
            "parameters": [{"in": "body", "name": "b", "schema": {"$ref": "#/definitions/Big"}}],
            "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Big"}}}}}),
    );
    for i in 0..operations {
        paths.insert(
            format!("/small{i}"),
            serde_json::json!({"get": {"operationId": format!("small{i}"),
                "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Small"}}}}}),
        );
    }
    serde_json::json!({
        "swagger": "2.0", "info": {"title": "t", "version": "1"}, "host": "h", "schemes": ["http"],
        "paths": paths,
        "definitions": {
            "Big": {"type": "object", "properties": {name.clone(): {"allOf": vec![entry.clone(); 30_000]}}},
            "Small": {"type": "object", "properties": {name: {"type": leaf}}},
        }
    })
    .to_string()
}

#[test]
fn a_long_name_over_a_wide_all_of_lints_and_diffs() {
    let text = long_name_over_wide_all_of(&serde_json::json!({"type": "string"}), 0, "string");
    assert!((590_000..700_000).contains(&text.len()), "{}", text.len());
    let doc = Document::parse(text.as_bytes()).unwrap();
    let (lint_findings, diff_findings) = within(Duration::from_secs(120), move || {
        (lint(&doc), diff(&doc, &doc))
    });
    assert!(
        !lint_findings
            .iter()
            .any(|f| f.level == apim_gate::spec::Level::Error),
        "{lint_findings:?}"
    );
    assert!(diff_findings.is_empty(), "{diff_findings:?}");
}

/// The note that stands for the findings of `id` not listed.
fn note<'f>(
    findings: &'f [apim_gate::spec::Finding],
    id: &str,
) -> Option<&'f apim_gate::spec::Finding> {
    findings
        .iter()
        .find(|f| f.id == id && f.path.is_empty() && f.message.contains("more"))
}

#[test]
fn lint_lists_at_most_a_hundred_findings_of_a_rule_and_counts_the_rest() {
    use apim_gate::spec::finding::MAX_FINDINGS_PER_RULE;
    let dangling = serde_json::json!({"$ref": "#/definitions/Missing"});
    let text = long_name_over_wide_all_of(&dangling, 0, "string");
    let doc = Document::parse(text.as_bytes()).unwrap();
    let findings = within(Duration::from_secs(120), move || lint(&doc));
    let listed: Vec<_> = findings
        .iter()
        .filter(|f| f.id == "apim-unresolved-ref" && !f.path.is_empty())
        .collect();
    assert_eq!(listed.len(), MAX_FINDINGS_PER_RULE);
    assert!(
        listed[0]
            .path
            .starts_with("/definitions/Big/properties/aaaa")
    );
    assert!(
        listed[0].path.ends_with("/$ref"),
        "{}",
        &listed[0].path[60_000..]
    );
    let note = note(&findings, "apim-unresolved-ref").expect("a note counts the rest");
    assert_eq!(note.level, apim_gate::spec::Level::Error);
    assert!(
        note.message
            .starts_with("29900 more `apim-unresolved-ref` findings are not listed"),
        "{}",
        note.message
    );
    let text = render_text(&findings);
    assert!(text.contains("29900 more"), "the note reaches the output");
}

#[test]
fn diff_lists_at_most_a_hundred_findings_of_a_rule_and_counts_the_rest() {
    use apim_gate::spec::finding::MAX_FINDINGS_PER_RULE;
    let entry = serde_json::json!({"type": "string"});
    let base =
        Document::parse(long_name_over_wide_all_of(&entry, 300, "string").as_bytes()).unwrap();
    let new =
        Document::parse(long_name_over_wide_all_of(&entry, 300, "integer").as_bytes()).unwrap();
    let findings = within(Duration::from_secs(120), move || diff(&base, &new));
    let id = "response-property-type-changed";
    let listed: Vec<_> = findings
        .iter()
        .filter(|f| f.id == id && f.operation.is_some())
        .collect();
    assert_eq!(
        listed.len(),
        MAX_FINDINGS_PER_RULE,
        "one per operation, capped"
    );
    let note = note(&findings, id).expect("a note counts the rest");
    assert_eq!(note.level, apim_gate::spec::Level::Error);
    assert!(
        note.message
            .starts_with("200 more `response-property-type-changed` findings"),
        "{}",
        note.message
    );
    assert!(apim_gate::spec::finding::Report::new(findings).breaking);
}
