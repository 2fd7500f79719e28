//! The offline spec commands (`fix`, `diff`, `lint`) through the binary users run, on real documents.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

fn documents() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["swashbuckle", "aspnetcore"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).expect("fixtures are present") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(
        out.len() >= 13,
        "expected every fixture, found {}",
        out.len()
    );
    out
}

fn apim_gate(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            // The binary may refuse its arguments before reading: a broken pipe is its answer.
            let _ = pipe.write_all(bytes);
        }
    }
    child.wait_with_output().unwrap()
}

/// The members in order, with the address members taken out.
fn without_address(v: &Value) -> Vec<(String, Value)> {
    v.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "host" | "schemes" | "servers"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn parse_input(bytes: &[u8]) -> Value {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn fix_points_every_fixture_at_the_address_and_keeps_the_rest() {
    for path in documents() {
        let input = std::fs::read(&path).unwrap();
        let out = apim_gate(
            &["fix", "--host", "10.224.0.4:30080", path.to_str().unwrap()],
            None,
        );
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let before = parse_input(&input);
        let after: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{name}: output does not parse: {e}"));
        if before.get("swagger").is_some() {
            assert_eq!(after["host"], "10.224.0.4:30080", "{name}");
            assert_eq!(after["schemes"], serde_json::json!(["http"]), "{name}");
            assert_eq!(after.get("servers"), None, "{name}");
            assert_eq!(after.get("basePath"), before.get("basePath"), "{name}");
        } else {
            let servers = after["servers"].as_array().unwrap();
            assert_eq!(servers.len(), 1, "{name}");
            let url = servers[0]["url"].as_str().unwrap();
            let old_path = before["servers"][0]["url"]
                .as_str()
                .map(|u| {
                    if u.starts_with('/') {
                        u.to_string()
                    } else {
                        String::new()
                    }
                })
                .unwrap_or_default();
            assert_eq!(url, format!("http://10.224.0.4:30080{old_path}"), "{name}");
        }
        assert_eq!(without_address(&before), without_address(&after), "{name}");
        // Documents without an address get one member inserted; every other byte is the input's.
        let text = String::from_utf8(out.stdout).unwrap();
        let input_text =
            std::str::from_utf8(input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&input)).unwrap();
        if before.get("servers").is_none() && before.get("host").is_none() {
            let inserted = if before.get("swagger").is_some() {
                "  \"host\": \"10.224.0.4:30080\",\n  \"schemes\": [\n    \"http\"\n  ],\n"
            } else {
                "  \"servers\": [\n    {\n      \"url\": \"http://10.224.0.4:30080\"\n    }\n  ],\n"
            };
            assert!(
                text.contains(inserted),
                "{name}: address not indented like the input"
            );
            assert_eq!(
                text.replacen(inserted, "", 1),
                input_text,
                "{name}: other bytes changed"
            );
        }
    }
}

#[test]
fn fix_keeps_the_relative_server_path() {
    let path = fixtures().join("swashbuckle/oauth2-relative-server.json");
    let out = apim_gate(
        &["fix", "--host", "aks-node:31000", path.to_str().unwrap()],
        None,
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["servers"][0]["url"],
        "http://aks-node:31000/resource-server"
    );
}

#[test]
fn fix_reads_stdin_writes_file_and_compacts() {
    let input = std::fs::read(fixtures().join("swashbuckle/basic-openapi30.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.json");
    let out = apim_gate(
        &[
            "fix",
            "--host",
            "10.0.0.1",
            "--scheme",
            "https",
            "--compact",
            "-o",
            out_path.to_str().unwrap(),
            "-",
        ],
        Some(&input),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "compact output is one line"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["servers"],
        serde_json::json!([{"url": "https://10.0.0.1"}])
    );
    assert_eq!(without_address(&v), without_address(&parse_input(&input)));
}

#[test]
fn fix_accepts_yaml() {
    let yaml = b"swagger: '2.0'\ninfo:\n  title: Pets\n  version: v1\nbasePath: /api\npaths:\n  /pets:\n    get:\n      operationId: ListPets\n      responses:\n        '200':\n          description: ok\n";
    let out = apim_gate(&["fix", "--host", "10.1.2.3:30001"], Some(yaml));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["host"], "10.1.2.3:30001");
    assert_eq!(v["basePath"], "/api");
    assert_eq!(v["paths"]["/pets"]["get"]["operationId"], "ListPets");
}

#[test]
fn fix_refuses_what_is_not_openapi_with_exit_2() {
    let cases: &[(&[u8], &str)] = &[
        (b"<!DOCTYPE html>\n<html><head><title>Swagger UI</title>", "HTML page"),
        (br#"{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.5","title":"Not Found","status":404}"#, "not an OpenAPI document"),
        (b"{}", "not an OpenAPI document"),
        (b"", "empty"),
        (b"{\"swagger\": \"2.0\",", "not valid JSON"),
        (br#"{"swagger":"1.2"}"#, "supports Swagger 2.0"),
        (b"\xff\xfe{", "not UTF-8"),
    ];
    for (input, expected) in cases {
        let out = apim_gate(&["fix", "--host", "h"], Some(input));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expected}: {stderr}");
        assert!(stderr.contains(expected), "{expected} not in: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn fix_refuses_a_host_with_a_path_or_credentials() {
    for host in [
        "http://10.0.0.1",
        "10.0.0.1/api",
        "user:pw@10.0.0.1:80",
        "10.0.0.1:99999",
    ] {
        let out = apim_gate(&["fix", "--host", host], Some(b"{\"swagger\":\"2.0\"}"));
        assert_eq!(out.status.code(), Some(2), "{host}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--host"), "{stderr}");
        assert!(!stderr.contains("pw@"), "credentials echoed: {stderr}");
    }
}

fn oasdiff(name: &str) -> String {
    fixtures()
        .join("oasdiff")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn diff_json_has_the_documented_shape_and_exit_code() {
    // Pair 01 is one of oasdiff's own breaking-change cases.
    let out = apim_gate(
        &[
            "diff",
            &oasdiff("01-base.json"),
            &oasdiff("01-revision.json"),
            "--format",
            "json",
        ],
        None,
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        for key in ["id", "level", "operation", "path", "message"] {
            assert!(f.get(key).is_some(), "{key} missing in {f}");
        }
        assert!(matches!(
            f["level"].as_str(),
            Some("error" | "warning" | "info")
        ));
    }
    let breaking = report["breaking"].as_bool().unwrap();
    assert_eq!(breaking, findings.iter().any(|f| f["level"] == "error"));
    assert_eq!(out.status.code(), Some(if breaking { 1 } else { 0 }));
}

#[test]
fn diff_of_a_document_with_itself_passes_and_a_removed_operation_fails() {
    let path = fixtures().join("swashbuckle/basic-openapi30.json");
    let p = path.to_str().unwrap();
    let out = apim_gate(&["diff", p, p], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let mut doc = parse_input(&std::fs::read(&path).unwrap());
    let paths = doc["paths"].as_object_mut().unwrap();
    let removed = paths.keys().next().unwrap().clone();
    paths.remove(&removed);
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.json");
    std::fs::write(&new, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = apim_gate(
        &["diff", p, new.to_str().unwrap(), "--format", "markdown"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(md.contains("api-path-removed-without-deprecation"), "{md}");
    assert!(md.contains(&removed), "{md}");
}

#[test]
fn lint_fails_on_a_swagger2_document_without_schemes_and_passes_once_fixed() {
    let path = fixtures().join("swashbuckle/basic-swagger2.json");
    let out = apim_gate(&["lint", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("apim-swagger2-no-scheme"));
    let fixed = apim_gate(
        &["fix", "--host", "10.0.0.4:30080", path.to_str().unwrap()],
        None,
    );
    // `-` reads standard input, as with fix.
    let out = apim_gate(&["lint", "-", "--format", "json"], Some(&fixed.stdout));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fixed.json");
    std::fs::write(&file, &fixed.stdout).unwrap();
    let out = apim_gate(&["lint", file.to_str().unwrap(), "--format", "json"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["breaking"], false);
}

#[test]
fn diff_and_lint_refuse_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("page.html");
    std::fs::write(&html, "<html><body>Swagger UI</body></html>").unwrap();
    let h = html.to_str().unwrap();
    for args in [
        vec!["diff", h, h],
        vec!["lint", h],
        vec!["lint", "/nonexistent.json"],
    ] {
        let out = apim_gate(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// A document written by an attacker: its path, operationIds and summaries hold the logging
/// commands of Azure DevOps (`##vso[…]`, `##[…]`) and GitHub (`::name::`).
const VSO: &str = "##vso[task.setvariable variable=APIM_GATE_ARM_ENDPOINT]https://evil.example";

fn hostile_document(with_hostile_operation: bool) -> Value {
    let mut paths = serde_json::json!({
        "/pets": {
            "get": {
                "operationId": "::set-output name=verdict::passed",
                "summary": "::error::pwned",
                "responses": {"200": {"description": "OK"}}
            },
            "post": {
                "operationId": "::set-output name=verdict::passed",
                "summary": "##[group]hidden",
                "responses": {"200": {"description": "OK"}}
            }
        }
    });
    if with_hostile_operation {
        paths[format!("/pets/{{id}}/{VSO}")] = serde_json::json!({
            "get": {
                "operationId": format!("{VSO}\n::error::x"),
                "summary": format!("\n::warning::{VSO}"),
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "type": "string"},
                    {"name": "other", "in": "path", "required": true, "type": "string"}
                ],
                "responses": {"200": {"description": "OK"}}
            }
        });
    }
    serde_json::json!({
        "swagger": "2.0",
        "info": {"title": "::error::title ##vso[task.complete result=Succeeded]", "version": "v1"},
        "paths": paths
    })
}

/// No line a runner or an agent would read as a command: no `##vso[` or `##[` anywhere, no
/// `::` at a line's start.
fn assert_inert(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        assert!(!lower.contains("##vso["), "{what}: {line}");
        assert!(!lower.contains("##["), "{what}: {line}");
        assert!(!line.trim_start().starts_with("::"), "{what}: {line}");
    }
}

fn apim_gate_on(platform: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .args(args)
        .env_clear()
        .envs(platform.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn lint_diff_and_fix_print_no_command_from_the_document_on_ci() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.json");
    let new = dir.path().join("new.json");
    std::fs::write(&base, hostile_document(true).to_string()).unwrap();
    std::fs::write(&new, hostile_document(false).to_string()).unwrap();
    let (b, n) = (base.to_str().unwrap(), new.to_str().unwrap());
    for platform in [
        &[("TF_BUILD", "True")][..],
        &[("GITHUB_ACTIONS", "true")][..],
    ] {
        for format in ["text", "json", "markdown"] {
            let lint = apim_gate_on(platform, &["lint", b, "--format", format]);
            assert_eq!(lint.status.code(), Some(1), "{platform:?} lint {format}");
            let stdout = String::from_utf8_lossy(&lint.stdout);
            // The findings still name what they are about, only made inert.
            assert!(
                stdout.contains("apim-operation-id-collision")
                    && stdout.contains("task.setvariable"),
                "{stdout}"
            );
            assert_inert(&format!("{platform:?} lint {format}"), &lint.stdout);
            assert_inert(&format!("{platform:?} lint {format} stderr"), &lint.stderr);

            let diff = apim_gate_on(platform, &["diff", b, n, "--format", format]);
            assert_eq!(diff.status.code(), Some(1), "{platform:?} diff {format}");
            assert!(
                String::from_utf8_lossy(&diff.stdout).contains("task.setvariable"),
                "the removed operation is named"
            );
            assert_inert(&format!("{platform:?} diff {format}"), &diff.stdout);
            assert_inert(&format!("{platform:?} diff {format} stderr"), &diff.stderr);
            if format == "json" {
                // Made inert without changing what it says.
                let report: Value = serde_json::from_slice(&diff.stdout).unwrap();
                assert!(report.to_string().contains(VSO), "{report}");
            }
        }

        // fix writes the document: on standard output inert, yet the same JSON as the file.
        let out = dir.path().join("fixed.json");
        let to_stdout = apim_gate_on(platform, &["fix", "--host", "10.0.0.4:30080", b]);
        assert_eq!(to_stdout.status.code(), Some(0));
        assert_inert(&format!("{platform:?} fix"), &to_stdout.stdout);
        let to_file = apim_gate_on(
            platform,
            &[
                "fix",
                "--host",
                "10.0.0.4:30080",
                "-o",
                out.to_str().unwrap(),
                b,
            ],
        );
        assert_eq!(to_file.status.code(), Some(0));
        let printed: Value = serde_json::from_slice(&to_stdout.stdout).unwrap();
        let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(printed, written);
        assert!(written["paths"].to_string().contains(VSO));

        // What is not a document is quoted in the error on standard error: inert too.
        let junk = dir.path().join("junk.txt");
        std::fs::write(&junk, format!("{VSO}\n::error::not a document\n")).unwrap();
        let refused = apim_gate_on(platform, &["lint", junk.to_str().unwrap()]);
        assert_eq!(refused.status.code(), Some(2));
        assert!(!refused.stderr.is_empty());
        assert_inert(&format!("{platform:?} lint junk"), &refused.stderr);
    }
}

/// The logs group findings by rule; `--format json` is the full list: every finding the lint and
/// the diff found, one by one, in a document with over a thousand of them.
#[test]
fn json_keeps_every_finding_of_lint_and_diff() {
    let path = fixtures().join("apim/apimapis.json");
    let doc = apim_gate::spec::Document::parse(&std::fs::read(&path).unwrap()).unwrap();
    let expected = apim_gate::spec::lint::lint(&doc);
    assert!(expected.len() > 200, "{}", expected.len());
    let out = apim_gate(&["lint", path.to_str().unwrap(), "--format", "json"], None);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), expected.len());
    for (got, want) in findings.iter().zip(&expected) {
        assert_eq!(got["id"], want.id.as_str());
        assert_eq!(got["path"], want.path.as_str());
    }

    // Removing every path: one finding per removed operation, none grouped away.
    let mut empty: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let operations = empty["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "put", "post", "delete", "patch", "head"].contains(&m.as_str()))
                .count()
        })
        .sum::<usize>();
    empty["paths"] = serde_json::json!({});
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.json");
    std::fs::write(&new, serde_json::to_vec(&empty).unwrap()).unwrap();
    let out = apim_gate(
        &[
            "diff",
            path.to_str().unwrap(),
            new.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "error")
        .count();
    assert!(removed >= operations, "{removed} < {operations}");
}
