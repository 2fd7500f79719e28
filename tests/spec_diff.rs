//! The breaking-change check against oasdiff's own test pairs, real Swashbuckle documents, and
//! crafted documents for each error rule and its opposite.

use std::collections::BTreeMap;
use std::path::PathBuf;

use apim_gate::spec::diff::{diff, diff_report};
use apim_gate::spec::{Document, Finding, Level};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

fn load(path: &PathBuf) -> Document {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Document::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn doc(v: &Value) -> Document {
    Document::parse(v.to_string().as_bytes()).unwrap()
}

/// oasdiff's levels by rule id, from rule-ids.txt.
fn oasdiff_levels() -> BTreeMap<String, Level> {
    let text = std::fs::read_to_string(fixtures().join("oasdiff/rule-ids.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let level = match cols[1] {
                "ERR" => Level::Error,
                "WARN" => Level::Warning,
                "INFO" => Level::Info,
                other => panic!("unknown level {other}"),
            };
            (cols[0].to_string(), level)
        })
        .collect()
}

/// Where a rule id is oasdiff's, the level must be oasdiff's too.
fn assert_oasdiff_levels(findings: &[Finding]) {
    let levels = oasdiff_levels();
    for f in findings {
        if let Some(l) = levels.get(&f.id) {
            assert_eq!(*l, f.level, "{} has oasdiff level {l}: {f:?}", f.id);
        }
        assert!(
            !f.message.is_empty() && (f.path.is_empty() || f.path.starts_with('/')),
            "{f:?}"
        );
    }
}

fn has(findings: &[Finding], id: &str, level: Level) -> bool {
    findings.iter().any(|f| f.id == id && f.level == level)
}

#[track_caller]
fn expect(findings: &[Finding], id: &str, level: Level) {
    assert!(
        has(findings, id, level),
        "expected {id} ({level}), got:\n{}",
        summary(findings)
    );
    assert_oasdiff_levels(findings);
}

fn summary(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "  {} {} {:?} {} — {}",
                f.level, f.id, f.operation, f.path, f.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_oasdiff_pair_produces_its_expected_rules() {
    let dir = fixtures().join("oasdiff");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let pairs = expected.as_array().unwrap();
    assert!(pairs.len() >= 16);
    for pair in pairs {
        let base = load(&dir.join(pair["base"].as_str().unwrap()));
        let new = load(&dir.join(pair["revision"].as_str().unwrap()));
        let findings = diff(&base, &new);
        let level: Level = pair["level"].as_str().unwrap().parse().unwrap();
        for id in pair["expected_rules"].as_array().unwrap() {
            let id = id.as_str().unwrap();
            assert!(
                has(&findings, id, level),
                "pair {}: expected {id} ({level}), got:\n{}",
                pair["pair"],
                summary(&findings)
            );
        }
        assert_oasdiff_levels(&findings);
        // Each side compared with itself is silent.
        assert!(
            diff(&base, &base).is_empty(),
            "pair {} base vs itself",
            pair["pair"]
        );
        assert!(
            diff(&new, &new).is_empty(),
            "pair {} revision vs itself",
            pair["pair"]
        );
    }
}

#[test]
fn a_pair_that_only_changes_servers_produces_nothing() {
    let dir = fixtures().join("oasdiff");
    for name in ["01-base.json", "19-base.json", "21-base.json"] {
        let base = load(&dir.join(name));
        let mut v = base.value().clone();
        v["servers"] =
            json!([{"url": "https://elsewhere.example.com/prefix"}, {"url": "http://x"}]);
        let findings = diff(&base, &doc(&v));
        assert!(findings.is_empty(), "{name}:\n{}", summary(&findings));
    }
}

fn real_documents() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["swashbuckle", "aspnetcore"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 13, "fixtures missing: {out:?}");
    out
}

#[test]
fn real_documents_against_themselves_and_with_another_address_give_nothing() {
    for path in real_documents() {
        let d = load(&path);
        let findings = diff(&d, &d);
        assert!(
            findings.is_empty(),
            "{}:\n{}",
            path.display(),
            summary(&findings)
        );
        let mut v = d.value().clone();
        if d.version().is_swagger2() {
            v["host"] = json!("api.example.com:8443");
            v["schemes"] = json!(["https"]);
            v["basePath"] = json!("/orders/v2");
        } else {
            v["servers"] = json!([{"url": "https://orders.internal.example:8443/base"}]);
        }
        let moved = doc(&v);
        for (a, b) in [(&d, &moved), (&moved, &d)] {
            let findings = diff(a, b);
            assert!(
                findings.is_empty(),
                "{}:\n{}",
                path.display(),
                summary(&findings)
            );
        }
    }
}

#[test]
fn removing_an_operation_of_a_real_document_is_breaking() {
    for path in real_documents() {
        let d = load(&path);
        let Some(op) = d.operations().into_iter().next() else {
            continue;
        };
        let mut v = d.value().clone();
        let item = v["paths"][&op.path].as_object_mut().unwrap();
        item.remove(&op.method.to_ascii_lowercase());
        let label = format!("{} {}", op.method, op.path);
        let report = diff_report(&d, &doc(&v));
        assert!(report.breaking, "{}", path.display());
        let f = &report.findings[0];
        assert!(
            f.id == "api-removed-without-deprecation"
                || f.id == "api-path-removed-without-deprecation",
            "{f:?}"
        );
        assert_eq!(f.operation.as_deref(), Some(label.as_str()));
        assert!(
            d.value().pointer(&f.path).is_some(),
            "{} not in base",
            f.path
        );
    }
}

// ------------------------------------------------------------------ crafted documents

fn oas3(paths: Value) -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths})
}

fn run(base: &Value, new: &Value) -> Vec<Finding> {
    diff(&doc(base), &doc(new))
}

/// An operation `GET /pets/{id}` with the given query parameter schema.
fn with_query_param(schema: Value, required: bool) -> Value {
    oas3(json!({"/pets/{id}": {"get": {
        "parameters": [
            {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
            {"name": "q", "in": "query", "required": required, "schema": schema}
        ],
        "responses": {"200": {"description": "ok"}}
    }}}))
}

/// Runs base→new expecting `breaking`, and new→base expecting `opposite`.
#[track_caller]
fn both_ways(base: &Value, new: &Value, breaking: (&str, Level), opposite: (&str, Level)) {
    expect(&run(base, new), breaking.0, breaking.1);
    expect(&run(new, base), opposite.0, opposite.1);
}

#[test]
fn removed_paths_and_operations() {
    let base = oas3(json!({
        "/a": {"get": {"responses": {"200": {"description": "ok"}}},
               "delete": {"responses": {"204": {"description": "ok"}}}},
        "/b": {"get": {"responses": {"200": {"description": "ok"}}}}
    }));
    let new = oas3(json!({"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}));
    let f = run(&base, &new);
    expect(&f, "api-path-removed-without-deprecation", Level::Error);
    expect(&f, "api-removed-without-deprecation", Level::Error);
    let removed = f
        .iter()
        .find(|f| f.id == "api-removed-without-deprecation")
        .unwrap();
    assert_eq!(removed.operation.as_deref(), Some("DELETE /a"));
    assert_eq!(removed.path, "/paths/~1a/delete");
    expect(&run(&new, &base), "endpoint-added", Level::Info);

    let mut deprecated = base.clone();
    deprecated["paths"]["/b"]["get"]["deprecated"] = json!(true);
    deprecated["paths"]["/a"]["delete"]["deprecated"] = json!(true);
    let f = run(&deprecated, &new);
    expect(&f, "api-path-removed-with-deprecation", Level::Info);
    expect(&f, "api-removed-with-deprecation", Level::Info);
    assert!(f.iter().all(|f| f.level == Level::Info));
    both_ways(
        &base,
        &deprecated,
        ("endpoint-deprecated", Level::Info),
        ("endpoint-reactivated", Level::Info),
    );
}

#[test]
fn path_parameter_names_are_ignored() {
    let base = with_query_param(json!({"type": "string"}), false);
    let mut new = base.clone();
    let item = new["paths"]["/pets/{id}"].take();
    new["paths"] = json!({"/pets/{petId}": item});
    new["paths"]["/pets/{petId}"]["get"]["parameters"][0]["name"] = json!("petId");
    let f = run(&base, &new);
    assert!(f.is_empty(), "{}", summary(&f));
    let f = run(&new, &base);
    assert!(f.is_empty(), "{}", summary(&f));
}

#[test]
fn operations_are_named_as_written_in_the_new_document() {
    let base = with_query_param(json!({"type": "string"}), false);
    let mut new = base.clone();
    let item = new["paths"]["/pets/{id}"].take();
    new["paths"] = json!({"/pets/{petId}": item});
    new["paths"]["/pets/{petId}"]["get"]["parameters"][0]["name"] = json!("petId");
    new["paths"]["/pets/{petId}"]["get"]["parameters"][1]["required"] = json!(true);
    let f = run(&base, &new);
    expect(&f, "request-parameter-became-required", Level::Error);
    assert_eq!(f[0].operation.as_deref(), Some("GET /pets/{petId}"));
    assert_eq!(f[0].path, "/paths/~1pets~1{petId}/get/parameters/1");
}

#[test]
fn parameters_added_removed_required() {
    let none = oas3(json!({"/p": {"get": {"responses": {"200": {"description": "ok"}}}}}));
    let required = oas3(json!({"/p": {"get": {
        "parameters": [{"name": "q", "in": "query", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok"}}}}}));
    let optional = oas3(json!({"/p": {"get": {
        "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok"}}}}}));
    both_ways(
        &none,
        &required,
        ("new-required-request-parameter", Level::Error),
        ("request-parameter-removed", Level::Warning),
    );
    expect(
        &run(&none, &optional),
        "new-optional-request-parameter",
        Level::Info,
    );
    both_ways(
        &optional,
        &required,
        ("request-parameter-became-required", Level::Error),
        ("request-parameter-became-optional", Level::Info),
    );
    let path_level = oas3(json!({"/p": {
        "parameters": [{"name": "v", "in": "query", "required": true, "schema": {"type": "string"}}],
        "get": {"responses": {"200": {"description": "ok"}}}}}));
    expect(
        &run(&none, &path_level),
        "new-required-request-default-parameter-to-existing-path",
        Level::Error,
    );
}

#[test]
fn header_names_match_without_case() {
    let h = |name: &str| {
        oas3(json!({"/p": {"get": {
        "parameters": [{"name": name, "in": "header", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok"}}}}}))
    };
    let f = run(&h("X-Tenant"), &h("x-tenant"));
    assert!(f.is_empty(), "{}", summary(&f));
    let q = |name: &str| {
        oas3(json!({"/p": {"get": {
        "parameters": [{"name": name, "in": "query", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok"}}}}}))
    };
    expect(
        &run(&q("tenant"), &q("Tenant")),
        "new-required-request-parameter",
        Level::Error,
    );
}

#[test]
fn parameter_schema_changes() {
    let p = |s: Value| with_query_param(s, true);
    both_ways(
        &p(json!({"type": "integer"})),
        &p(json!({"type": "string"})),
        ("request-parameter-type-changed", Level::Error),
        ("request-parameter-type-changed", Level::Error),
    );
    both_ways(
        &p(json!({"type": "integer", "format": "int64"})),
        &p(json!({"type": "integer", "format": "int32"})),
        ("request-parameter-type-changed", Level::Error),
        ("request-parameter-type-generalized", Level::Info),
    );
    both_ways(
        &p(json!({"type": "string"})),
        &p(json!({"type": "string", "format": "uuid"})),
        ("request-parameter-type-changed", Level::Error),
        ("request-parameter-type-generalized", Level::Info),
    );
    expect(
        &run(
            &p(json!({"type": "string"})),
            &p(json!({"type": "string", "enum": ["a"]})),
        ),
        "request-parameter-became-enum",
        Level::Error,
    );
    both_ways(
        &p(json!({"type": "string", "enum": ["a", "b"]})),
        &p(json!({"type": "string", "enum": ["a"]})),
        ("request-parameter-enum-value-removed", Level::Error),
        ("request-parameter-enum-value-added", Level::Info),
    );
    both_ways(
        &p(json!({"type": "string"})),
        &p(json!({"type": "string", "pattern": "^a"})),
        ("request-parameter-pattern-added", Level::Error),
        ("request-parameter-pattern-removed", Level::Info),
    );
    expect(
        &run(
            &p(json!({"type": "string", "pattern": "^a"})),
            &p(json!({"type": "string", "pattern": "^b"})),
        ),
        "request-parameter-pattern-changed",
        Level::Warning,
    );
    both_ways(
        &p(json!({"type": "integer", "maximum": 10})),
        &p(json!({"type": "integer", "maximum": 5})),
        ("request-parameter-max-decreased", Level::Error),
        ("request-parameter-max-increased", Level::Info),
    );
    expect(
        &run(
            &p(json!({"type": "integer"})),
            &p(json!({"type": "integer", "maximum": 5})),
        ),
        "request-parameter-max-set",
        Level::Warning,
    );
    both_ways(
        &p(json!({"type": "integer", "minimum": 1})),
        &p(json!({"type": "integer", "minimum": 3})),
        ("request-parameter-min-increased", Level::Error),
        ("request-parameter-min-decreased", Level::Info),
    );
    expect(
        &run(
            &p(json!({"type": "integer"})),
            &p(json!({"type": "integer", "minimum": 5})),
        ),
        "request-parameter-min-set",
        Level::Warning,
    );
    expect(
        &run(
            &p(json!({"type": "integer", "maximum": 5})),
            &p(json!({"type": "integer", "maximum": 5, "exclusiveMaximum": true})),
        ),
        "request-parameter-exclusive-max-decreased",
        Level::Error,
    );
    expect(
        &run(
            &p(json!({"type": "integer", "minimum": 5})),
            &p(json!({"type": "integer", "minimum": 5, "exclusiveMinimum": true})),
        ),
        "request-parameter-exclusive-min-increased",
        Level::Error,
    );
    both_ways(
        &p(json!({"type": "string", "maxLength": 10})),
        &p(json!({"type": "string", "maxLength": 5})),
        ("request-parameter-max-length-decreased", Level::Error),
        ("request-parameter-max-length-increased", Level::Info),
    );
    expect(
        &run(
            &p(json!({"type": "string"})),
            &p(json!({"type": "string", "maxLength": 5})),
        ),
        "request-parameter-max-length-set",
        Level::Warning,
    );
    both_ways(
        &p(json!({"type": "string", "minLength": 1})),
        &p(json!({"type": "string", "minLength": 3})),
        ("request-parameter-min-length-increased", Level::Error),
        ("request-parameter-min-length-decreased", Level::Info),
    );
    let arr = |extra: Value| {
        let mut s = json!({"type": "array", "items": {"type": "string"}});
        s.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p(s)
    };
    both_ways(
        &arr(json!({"maxItems": 10})),
        &arr(json!({"maxItems": 2})),
        ("request-parameter-max-items-decreased", Level::Error),
        ("request-parameter-max-items-increased", Level::Info),
    );
    both_ways(
        &arr(json!({"minItems": 1})),
        &arr(json!({"minItems": 2})),
        ("request-parameter-min-items-increased", Level::Error),
        ("request-parameter-min-items-decreased", Level::Info),
    );
    both_ways(
        &p(json!({"type": "string", "nullable": true})),
        &p(json!({"type": "string"})),
        ("request-parameter-became-not-nullable", Level::Error),
        ("request-parameter-became-nullable", Level::Info),
    );
}

#[test]
fn swagger2_parameters_carry_their_schema_inline() {
    let s2 = |param: Value| {
        json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
        "paths": {"/p": {"get": {"parameters": [param], "responses": {"200": {"description": "ok"}}}}}})
    };
    both_ways(
        &s2(
            json!({"name": "n", "in": "query", "type": "integer", "maximum": 10, "x-nullable": true}),
        ),
        &s2(json!({"name": "n", "in": "query", "type": "integer", "maximum": 3})),
        ("request-parameter-max-decreased", Level::Error),
        ("request-parameter-max-increased", Level::Info),
    );
    expect(
        &run(
            &s2(json!({"name": "n", "in": "query", "type": "integer", "x-nullable": true})),
            &s2(json!({"name": "n", "in": "query", "type": "integer"})),
        ),
        "request-parameter-became-not-nullable",
        Level::Error,
    );
}

fn with_body(body: Value) -> Value {
    oas3(
        json!({"/p": {"post": {"requestBody": body, "responses": {"200": {"description": "ok"}}}}}),
    )
}

fn json_body(schema: Value, required: bool) -> Value {
    with_body(json!({"required": required, "content": {"application/json": {"schema": schema}}}))
}

#[test]
fn request_bodies() {
    let none = oas3(json!({"/p": {"post": {"responses": {"200": {"description": "ok"}}}}}));
    let obj = json!({"type": "object"});
    both_ways(
        &json_body(obj.clone(), false),
        &none,
        ("request-body-removed", Level::Error),
        ("request-body-added-optional", Level::Info),
    );
    expect(
        &run(&none, &json_body(obj.clone(), true)),
        "request-body-added-required",
        Level::Error,
    );
    both_ways(
        &json_body(obj.clone(), false),
        &json_body(obj.clone(), true),
        ("request-body-became-required", Level::Error),
        ("request-body-became-optional", Level::Info),
    );
    let two = with_body(
        json!({"content": {"application/json": {"schema": obj}, "application/xml": {"schema": obj}}}),
    );
    let one = with_body(json!({"content": {"application/json": {"schema": obj}}}));
    both_ways(
        &two,
        &one,
        ("request-body-media-type-removed", Level::Error),
        ("request-body-media-type-added", Level::Info),
    );
}

#[test]
fn swagger2_body_parameters_and_consumes() {
    let s2 = |consumes: Value, schema: Value| {
        json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
        "consumes": consumes,
        "paths": {"/p": {"post": {
            "parameters": [{"name": "b", "in": "body", "required": true, "schema": schema}],
            "responses": {"200": {"description": "ok"}}}}}})
    };
    let pet = json!({"type": "object", "properties": {"name": {"type": "string"}}});
    let pet_req = json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["age"]});
    both_ways(
        &s2(json!(["application/json", "text/json"]), pet.clone()),
        &s2(json!(["application/json"]), pet.clone()),
        ("request-body-media-type-removed", Level::Error),
        ("request-body-media-type-added", Level::Info),
    );
    both_ways(
        &s2(json!(["application/json"]), pet),
        &s2(json!(["application/json"]), pet_req),
        ("new-required-request-property", Level::Error),
        ("request-property-removed", Level::Warning),
    );
}

#[test]
fn request_properties() {
    let schema = |props: Value, required: Value| json!({"type": "object", "properties": props, "required": required});
    let base = json_body(schema(json!({"a": {"type": "string"}}), json!([])), true);
    let new_req = json_body(
        schema(
            json!({"a": {"type": "string"}, "b": {"type": "string"}}),
            json!(["b"]),
        ),
        true,
    );
    let new_opt = json_body(
        schema(
            json!({"a": {"type": "string"}, "b": {"type": "string"}}),
            json!([]),
        ),
        true,
    );
    both_ways(
        &base,
        &new_req,
        ("new-required-request-property", Level::Error),
        ("request-property-removed", Level::Warning),
    );
    expect(
        &run(&base, &new_opt),
        "new-optional-request-property",
        Level::Info,
    );
    let a_req = json_body(schema(json!({"a": {"type": "string"}}), json!(["a"])), true);
    both_ways(
        &base,
        &a_req,
        ("request-property-became-required", Level::Error),
        ("request-property-became-optional", Level::Info),
    );
    // The three spellings of nullable.
    let nullable30 = json_body(
        schema(
            json!({"a": {"type": "string", "nullable": true}}),
            json!([]),
        ),
        true,
    );
    both_ways(
        &nullable30,
        &base,
        ("request-property-became-not-nullable", Level::Error),
        ("request-property-became-nullable", Level::Info),
    );
    let mut v31 = json_body(
        schema(json!({"a": {"type": ["string", "null"]}}), json!([])),
        true,
    );
    v31["openapi"] = json!("3.1.0");
    let mut base31 = base.clone();
    base31["openapi"] = json!("3.1.0");
    both_ways(
        &v31,
        &base31,
        ("request-property-became-not-nullable", Level::Error),
        ("request-property-became-nullable", Level::Info),
    );
    both_ways(
        &json_body(schema(json!({"a": {"type": "integer"}}), json!([])), true),
        &base,
        ("request-property-type-changed", Level::Error),
        ("request-property-type-changed", Level::Error),
    );
    both_ways(
        &json_body(
            schema(
                json!({"a": {"type": "string", "enum": ["x", "y"]}}),
                json!([]),
            ),
            true,
        ),
        &json_body(
            schema(json!({"a": {"type": "string", "enum": ["x"]}}), json!([])),
            true,
        ),
        ("request-property-enum-value-removed", Level::Error),
        ("request-property-enum-value-added", Level::Info),
    );
    expect(
        &run(
            &base,
            &json_body(
                schema(json!({"a": {"type": "string", "maxLength": 3}}), json!([])),
                true,
            ),
        ),
        "request-property-max-length-set",
        Level::Warning,
    );
    // A readOnly property is the server's: adding it as required does not concern clients.
    let ro = json_body(
        schema(
            json!({"a": {"type": "string"}, "id": {"type": "string", "readOnly": true}}),
            json!(["id"]),
        ),
        true,
    );
    let f = run(&base, &ro);
    assert!(f.is_empty(), "{}", summary(&f));
    both_ways(
        &json_body(
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            true,
        ),
        &json_body(
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}),
            true,
        ),
        (
            "request-body-additional-properties-disallowed",
            Level::Error,
        ),
        ("request-body-additional-properties-allowed", Level::Info),
    );
}

#[test]
fn all_of_is_merged() {
    let doc_with = |extra_required: Value| {
        let mut d = json_body(json!({"$ref": "#/components/schemas/Pet"}), true);
        d["components"] = json!({"schemas": {
            "Base": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "Pet": {"allOf": [{"$ref": "#/components/schemas/Base"},
                               {"type": "object", "properties": {"name": {"type": "string"}}, "required": extra_required}]}
        }});
        d
    };
    let f = run(&doc_with(json!([])), &doc_with(json!(["id"])));
    expect(&f, "request-property-became-required", Level::Error);
    assert_eq!(f[0].path, "/components/schemas/Base/properties/id");
    // Flattening the same shape into one schema changes nothing.
    let flat = json_body(
        json!({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}),
        true,
    );
    let f = run(&doc_with(json!([])), &flat);
    assert!(f.is_empty(), "{}", summary(&f));
}

fn with_response(code: &str, content: Value) -> Value {
    oas3(json!({"/p": {"get": {"responses": {code: {"description": "ok", "content": content}}}}}))
}

fn json_response(schema: Value) -> Value {
    with_response("200", json!({"application/json": {"schema": schema}}))
}

#[test]
fn responses() {
    let obj = json!({"type": "object"});
    both_ways(
        &with_response("200", json!({})),
        &with_response("201", json!({})),
        ("response-success-status-removed", Level::Error),
        ("response-success-status-added", Level::Info),
    );
    let two = with_response(
        "200",
        json!({"application/json": {"schema": obj}, "text/plain": {"schema": {"type": "string"}}}),
    );
    let one = with_response("200", json!({"application/json": {"schema": obj}}));
    both_ways(
        &two,
        &one,
        ("response-media-type-removed", Level::Error),
        ("response-media-type-added", Level::Info),
    );
    let schema = |props: Value, required: Value| {
        json_response(json!({"type": "object", "properties": props, "required": required}))
    };
    let ab = schema(
        json!({"a": {"type": "string"}, "b": {"type": "string"}}),
        json!(["a", "b"]),
    );
    let a = schema(json!({"a": {"type": "string"}}), json!(["a"]));
    both_ways(
        &ab,
        &a,
        ("response-required-property-removed", Level::Error),
        ("response-required-property-added", Level::Info),
    );
    let ab_opt = schema(
        json!({"a": {"type": "string"}, "b": {"type": "string"}}),
        json!(["a"]),
    );
    both_ways(
        &ab_opt,
        &a,
        ("response-optional-property-removed", Level::Warning),
        ("response-optional-property-added", Level::Info),
    );
    both_ways(
        &ab,
        &ab_opt,
        ("response-property-became-optional", Level::Error),
        ("response-property-became-required", Level::Info),
    );
    let nullable = schema(
        json!({"a": {"type": "string", "nullable": true}}),
        json!(["a"]),
    );
    both_ways(
        &a,
        &nullable,
        ("response-property-became-nullable", Level::Error),
        ("response-property-became-not-nullable", Level::Info),
    );
    let int = schema(json!({"a": {"type": "integer"}}), json!(["a"]));
    both_ways(
        &a,
        &int,
        ("response-property-type-changed", Level::Error),
        ("response-property-type-changed", Level::Error),
    );
    let e1 = schema(
        json!({"a": {"type": "string", "enum": ["x"]}}),
        json!(["a"]),
    );
    let e2 = schema(
        json!({"a": {"type": "string", "enum": ["x", "y"]}}),
        json!(["a"]),
    );
    both_ways(
        &e1,
        &e2,
        ("response-property-enum-value-added", Level::Warning),
        ("response-property-enum-value-removed", Level::Info),
    );
    // Nested below arrays and maps.
    let items = |s: Value| {
        json_response(
            json!({"type": "array", "items": {"type": "object", "properties": {"v": s}, "required": ["v"]}}),
        )
    };
    expect(
        &run(
            &items(json!({"type": "string"})),
            &items(json!({"type": "boolean"})),
        ),
        "response-property-type-changed",
        Level::Error,
    );
    let map = |r: Value| {
        json_response(
            json!({"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"type": "string"}}, "required": r}}),
        )
    };
    expect(
        &run(&map(json!(["v"])), &map(json!([]))),
        "response-property-became-optional",
        Level::Error,
    );
}

#[test]
fn response_headers() {
    let h = |headers: Value| {
        oas3(
            json!({"/p": {"get": {"responses": {"200": {"description": "ok", "headers": headers}}}}}),
        )
    };
    let req = h(json!({"X-Rate": {"required": true, "schema": {"type": "integer"}}}));
    let opt = h(json!({"x-rate": {"schema": {"type": "integer"}}}));
    let none = h(json!({}));
    both_ways(
        &req,
        &none,
        ("required-response-header-removed", Level::Error),
        ("response-header-added", Level::Info),
    );
    expect(
        &run(&opt, &none),
        "optional-response-header-removed",
        Level::Warning,
    );
    expect(
        &run(&req, &opt),
        "response-header-became-optional",
        Level::Error,
    );
}

#[test]
fn swagger2_responses_use_produces() {
    let s2 = |produces: Value| {
        json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
        "paths": {"/p": {"get": {"produces": produces,
            "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Pet"}}}}}},
        "definitions": {"Pet": {"type": "object", "properties": {"name": {"type": "string", "x-nullable": false}}}}})
    };
    both_ways(
        &s2(json!(["application/json", "text/json"])),
        &s2(json!(["application/json"])),
        ("response-media-type-removed", Level::Error),
        ("response-media-type-added", Level::Info),
    );
}

#[test]
fn host_schemes_base_path_and_servers_are_never_findings() {
    let s2 = |host: &str, base: &str, schemes: Value| {
        json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
        "host": host, "basePath": base, "schemes": schemes,
        "paths": {"/p": {"get": {"responses": {"200": {"description": "ok"}}}}}})
    };
    let f = run(
        &s2("a.example", "/", json!(["http"])),
        &s2("b.example:8080", "/api/v2", json!(["https"])),
    );
    assert!(f.is_empty(), "{}", summary(&f));
    let mut a = oas3(json!({"/p": {"get": {"responses": {"200": {"description": "ok"}}}}}));
    let mut b = a.clone();
    a["servers"] = json!([{"url": "https://a.example/x"}]);
    b["servers"] = json!([{"url": "/relative"}]);
    assert!(run(&a, &b).is_empty());
}

#[test]
fn findings_are_sorted_errors_first_and_serialise_as_documented() {
    let base = oas3(json!({
        "/a": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/b": {"get": {"responses": {"200": {"description": "ok"}}}}
    }));
    let new = oas3(json!({
        "/a": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/c": {"get": {"responses": {"200": {"description": "ok"}}}}
    }));
    let report = diff_report(&doc(&base), &doc(&new));
    assert!(report.breaking);
    let levels: Vec<Level> = report.findings.iter().map(|f| f.level).collect();
    let mut sorted = levels.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(levels, sorted);
    let v: Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(v["findings"][0]["operation"], "GET /b");
    assert_eq!(v["findings"][0]["level"], "error");
    assert_eq!(
        v["findings"][0]["id"],
        "api-path-removed-without-deprecation"
    );
}

// ------------------------------------------------------------------ termination

#[test]
fn reference_cycles_terminate_and_still_find_changes() {
    let tree = |leaf_type: &str| {
        let mut d = json_response(json!({"$ref": "#/components/schemas/Node"}));
        d["components"] = json!({"schemas": {
            "Node": {"type": "object", "required": ["value"], "properties": {
                "value": {"type": leaf_type},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                "parent": {"$ref": "#/components/schemas/Node"},
                "self": {"$ref": "#/components/schemas/Alias"}}},
            "Alias": {"$ref": "#/components/schemas/Alias2"},
            "Alias2": {"$ref": "#/components/schemas/Alias"}
        }});
        d
    };
    let f = run(&tree("string"), &tree("integer"));
    expect(&f, "response-property-type-changed", Level::Error);
    assert_eq!(
        f.iter()
            .filter(|f| f.id == "response-property-type-changed")
            .count(),
        1
    );
    assert!(run(&tree("string"), &tree("string")).is_empty());
}

#[test]
fn a_ten_thousand_long_reference_chain_terminates() {
    let chain = |last: &str| {
        let mut schemas = serde_json::Map::new();
        for i in 0..10_000 {
            let next = if i == 9_999 {
                json!({"type": last})
            } else {
                json!({"$ref": format!("#/components/schemas/S{}", i + 1)})
            };
            schemas.insert(
                format!("S{i}"),
                json!({"type": "object", "properties": {"next": next}}),
            );
        }
        let mut d = json_response(json!({"$ref": "#/components/schemas/S0"}));
        d["components"] = json!({"schemas": schemas});
        d
    };
    let (a, b) = (chain("string"), chain("integer"));
    let f = run(&a, &b);
    // The change sits deeper than the comparison follows; what matters is that it returns.
    assert!(
        f.iter()
            .all(|f| f.level != Level::Error || f.id == "response-property-type-changed")
    );
    assert!(run(&a, &a).is_empty());
}

#[test]
fn a_ten_thousand_deep_schema_does_not_overflow() {
    const DEPTH: usize = 10_000;
    let mut schema = String::new();
    for _ in 0..DEPTH {
        schema.push_str(r#"{"type":"object","properties":{"a":"#);
    }
    schema.push_str(r#"{"type":"string"}"#);
    for _ in 0..DEPTH {
        schema.push_str("}}");
    }
    let text = format!(
        r#"{{"openapi":"3.0.3","info":{{"title":"t","version":"1"}},"paths":{{"/p":{{"get":{{"responses":{{"200":{{"description":"ok","content":{{"application/json":{{"schema":{schema}}}}}}}}}}}}}}}}}"#
    );
    // Parsers refuse nesting this deep; what matters is a clean answer, not a crash.
    if let Ok(d) = Document::parse(text.as_bytes()) {
        assert!(diff(&d, &d).is_empty());
    }
    // The deepest nesting the parser takes is compared without trouble.
    let mut depth = 2_000;
    let parsed = loop {
        let mut s = String::new();
        for _ in 0..depth {
            s.push_str(r#"{"type":"object","properties":{"a":"#);
        }
        s.push_str(r#"{"type":"string"}"#);
        for _ in 0..depth {
            s.push_str("}}");
        }
        let text = format!(
            r#"{{"openapi":"3.0.3","info":{{"title":"t","version":"1"}},"paths":{{"/p":{{"get":{{"responses":{{"200":{{"description":"ok","content":{{"application/json":{{"schema":{s}}}}}}}}}}}}}}}}}"#
        );
        if let Ok(d) = Document::parse(text.as_bytes()) {
            break Some(d);
        }
        if depth <= 8 {
            break None;
        }
        depth /= 2;
    };
    let d = parsed.expect("some nesting parses");
    assert!(diff(&d, &d).is_empty());
}

#[test]
fn the_same_app_as_openapi_30_and_31_compares_clean() {
    // Swashbuckle's two serialisations differ only in how nullability is spelled.
    let dir = fixtures().join("swashbuckle");
    let v30 = load(&dir.join("basic-openapi30.json"));
    let v31 = load(&dir.join("basic-openapi31.json"));
    for (a, b) in [(&v30, &v31), (&v31, &v30)] {
        let f = diff(a, b);
        assert!(f.is_empty(), "{}", summary(&f));
    }
}

#[test]
fn swagger2_form_parameters_compare_as_an_openapi3_form_body() {
    let s2 = |required: bool| {
        json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
        "paths": {"/upload": {"post": {"consumes": ["multipart/form-data"], "parameters": [
            {"name": "file", "in": "formData", "type": "file", "required": required},
            {"name": "note", "in": "formData", "type": "string", "maxLength": 100}],
            "responses": {"200": {"description": "ok"}}}}}})
    };
    let v3 = |required: Value| {
        oas3(
            json!({"/upload": {"post": {"requestBody": {"content": {"multipart/form-data": {
        "schema": {"type": "object", "required": required, "properties": {
            "file": {"type": "string", "format": "binary"},
            "note": {"type": "string", "maxLength": 100}}}}}},
        "responses": {"200": {"description": "ok"}}}}}),
        )
    };
    let f = run(&s2(true), &v3(json!(["file"])));
    // Only the body's own required flag differs: 2.0 derives it from its required parameters.
    assert!(f.iter().all(|f| f.level != Level::Error), "{}", summary(&f));
    let f = run(&s2(false), &v3(json!([])));
    assert!(f.is_empty(), "{}", summary(&f));
    expect(
        &run(&s2(false), &s2(true)),
        "request-property-became-required",
        Level::Error,
    );
    expect(
        &run(&s2(false), &v3(json!(["file", "note"]))),
        "request-property-became-required",
        Level::Error,
    );
}
