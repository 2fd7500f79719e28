//! The APIM import lint: one crafted document per rule, and every real document without false errors.

use std::path::PathBuf;

use apim_gate::spec::lint::{lint, lint_report, normalize_operation_id};
use apim_gate::spec::{Document, Finding, Level};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

fn doc(v: &Value) -> Document {
    Document::parse(v.to_string().as_bytes()).unwrap()
}

fn oas3(paths: Value) -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths})
}

fn ok() -> Value {
    json!({"200": {"description": "ok"}})
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

/// Lints `v`, asserts `id` at `level` is found at a location that exists in the document, and
/// returns the findings.
#[track_caller]
fn expect(v: &Value, id: &str, level: Level) -> Vec<Finding> {
    let d = doc(v);
    let findings = lint(&d);
    let hit = findings.iter().find(|f| f.id == id);
    let Some(hit) = hit else {
        panic!("expected {id}, got:\n{}", summary(&findings));
    };
    assert_eq!(hit.level, level, "{hit:?}");
    assert!(
        d.value().pointer(&hit.path).is_some(),
        "{} is not in the document",
        hit.path
    );
    assert!(!hit.message.is_empty());
    findings
}

#[track_caller]
fn expect_none(v: &Value, id: &str) {
    let findings = lint(&doc(v));
    assert!(
        findings.iter().all(|f| f.id != id),
        "unexpected {id}:\n{}",
        summary(&findings)
    );
}

#[test]
fn size_limit() {
    let mut v = oas3(json!({"/a": {"get": {"operationId": "a", "responses": ok()}}}));
    v["info"]["description"] = json!("x".repeat(4 * 1024 * 1024));
    expect(&v, "apim-size-limit", Level::Error);
    v["info"]["description"] = json!("x".repeat(1024));
    expect_none(&v, "apim-size-limit");
}

#[test]
fn swagger2_needs_a_scheme() {
    let s2 = |schemes: Option<Value>| {
        let mut v = json!({"swagger": "2.0", "info": {"title": "t", "version": "1"}, "host": "h",
            "paths": {"/a": {"get": {"operationId": "a", "responses": ok()}}}});
        if let Some(s) = schemes {
            v["schemes"] = s;
        }
        v
    };
    expect(&s2(None), "apim-swagger2-no-scheme", Level::Error);
    expect(
        &s2(Some(json!([]))),
        "apim-swagger2-no-scheme",
        Level::Error,
    );
    expect(
        &s2(Some(json!(["ws"]))),
        "apim-swagger2-no-scheme",
        Level::Error,
    );
    expect_none(&s2(Some(json!(["https"]))), "apim-swagger2-no-scheme");
    expect_none(&s2(Some(json!(["HTTP"]))), "apim-swagger2-no-scheme");
    // OpenAPI 3 has servers instead; no scheme rule.
    expect_none(&oas3(json!({})), "apim-swagger2-no-scheme");
}

#[test]
fn operation_ids() {
    let two = |a: &str, b: &str| {
        oas3(json!({
            "/a": {"get": {"operationId": a, "responses": ok()}},
            "/b": {"get": {"operationId": b, "responses": ok()}}
        }))
    };
    let f = expect(
        &two("getPet", "GetPet"),
        "apim-operation-id-collision",
        Level::Error,
    );
    assert_eq!(
        f.iter()
            .filter(|f| f.id == "apim-operation-id-collision")
            .count(),
        1
    );
    expect(
        &two("Pets_Get", "pets.get"),
        "apim-operation-id-collision",
        Level::Error,
    );
    let long = "a".repeat(80);
    let longer = format!("{long}b");
    expect(
        &two(&long, &longer),
        "apim-operation-id-collision",
        Level::Error,
    );
    expect(
        &two(&long, "short"),
        "apim-operation-id-truncated",
        Level::Warning,
    );
    expect_none(&two("getPet", "getPets"), "apim-operation-id-collision");
    expect_none(&two("getPet", "getPets"), "apim-operation-id-truncated");
    assert_eq!(normalize_operation_id("Pets_Get..ById"), "pets-get-byid");

    let missing = oas3(
        json!({"/a": {"get": {"responses": ok()}, "post": {"operationId": "", "responses": ok()}}}),
    );
    // No operation has one: one finding for the document, not one per operation.
    let f = expect(&missing, "apim-operation-id-missing", Level::Warning);
    let missing_ids: Vec<_> = f
        .iter()
        .filter(|f| f.id == "apim-operation-id-missing")
        .collect();
    assert_eq!(missing_ids.len(), 1, "{missing_ids:?}");
    assert_eq!(missing_ids[0].operation, None);
    assert!(
        missing_ids[0].message.contains("none of the 2 operations"),
        "{}",
        missing_ids[0].message
    );
    // Some have one: each operation without one is named.
    let some = oas3(json!({"/a": {
        "get": {"responses": ok()},
        "put": {"responses": ok()},
        "post": {"operationId": "createA", "responses": ok()}
    }}));
    let f = expect(&some, "apim-operation-id-missing", Level::Warning);
    let named: Vec<_> = f
        .iter()
        .filter(|f| f.id == "apim-operation-id-missing")
        .map(|f| f.operation.clone().unwrap_or_default())
        .collect();
    assert_eq!(named, ["GET /a", "PUT /a"]);
}

#[test]
fn duplicate_operations_by_template() {
    let v = oas3(json!({
        "/pets/{id}": {"get": {"operationId": "a", "parameters": [{"name": "id", "in": "path", "required": true}], "responses": ok()}},
        "/pets/{petId}": {"get": {"operationId": "b", "parameters": [{"name": "petId", "in": "path", "required": true}], "responses": ok()}}
    }));
    expect(&v, "apim-duplicate-operation", Level::Error);
}

#[test]
fn url_template_parameters() {
    let op = |path: &str, params: Value| {
        oas3(json!({path: {"get": {"operationId": "a", "parameters": params, "responses": ok()}}}))
    };
    let path_id =
        json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let dup = op(
        "/pets/{id}",
        json!([path_id, {"name": "ID", "in": "query", "required": true, "schema": {"type": "string"}}]),
    );
    expect(&dup, "apim-duplicate-url-parameter", Level::Error);
    // An optional query parameter stays out of the template.
    let fine = op(
        "/pets/{id}",
        json!([path_id, {"name": "ID", "in": "query", "schema": {"type": "string"}}]),
    );
    expect_none(&fine, "apim-duplicate-url-parameter");
    // Headers are not in the URL.
    let header = op(
        "/pets/{id}",
        json!([path_id, {"name": "id", "in": "header", "required": true}]),
    );
    expect_none(&header, "apim-duplicate-url-parameter");

    expect(
        &op("/pets", json!([path_id])),
        "apim-path-parameter-not-in-template",
        Level::Error,
    );
    expect(
        &op("/pets/{id}", json!([])),
        "apim-template-parameter-undeclared",
        Level::Error,
    );
    // Declared at path level counts.
    let mut at_path = oas3(
        json!({"/pets/{id}": {"parameters": [path_id], "get": {"operationId": "a", "responses": ok()}}}),
    );
    let f = lint(&doc(&at_path));
    assert!(f.is_empty(), "{}", summary(&f));
    // Through a $ref too.
    at_path["paths"]["/pets/{id}"]["parameters"] = json!([{"$ref": "#/components/parameters/Id"}]);
    at_path["components"] = json!({"parameters": {"Id": path_id}});
    let f = lint(&doc(&at_path));
    assert!(f.is_empty(), "{}", summary(&f));
}

#[test]
fn references() {
    let mut v = oas3(
        json!({"/a": {"get": {"operationId": "a", "responses": {"200": {"description": "ok",
        "content": {"application/json": {"schema": {"$ref": "pets.yaml#/Pet"}}}}}}}}),
    );
    expect(&v, "apim-external-ref", Level::Error);
    v["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/Nope"});
    expect(&v, "apim-unresolved-ref", Level::Error);
    v["components"] = json!({"schemas": {"Nope": {"type": "object"}}});
    let f = lint(&doc(&v));
    assert!(f.is_empty(), "{}", summary(&f));
    // A `$ref` inside an example is data, not a reference.
    v["components"]["schemas"]["Nope"]["example"] = json!({"$ref": "elsewhere.json"});
    let f = lint(&doc(&v));
    assert!(f.is_empty(), "{}", summary(&f));
}

#[test]
fn recursive_schemas() {
    let mut v = oas3(json!({"/a": {"get": {"operationId": "a", "responses": ok()}}}));
    v["components"] = json!({"schemas": {
        "Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}},
        "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
        "B": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}},
        "Leaf": {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}}
    }});
    let f = expect(&v, "apim-recursive-schema", Level::Warning);
    let recursive: Vec<&str> = f
        .iter()
        .filter(|f| f.id == "apim-recursive-schema")
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        recursive,
        ["/components/schemas/A", "/components/schemas/Node"]
    );
}

#[test]
fn a_long_reference_chain_does_not_overflow() {
    let mut schemas = serde_json::Map::new();
    for i in 0..10_000 {
        let next = (i + 1) % 10_000;
        schemas.insert(
            format!("S{i}"),
            json!({"properties": {"n": {"$ref": format!("#/definitions/S{next}")}}}),
        );
    }
    let v = json!({"swagger": "2.0", "info": {"title": "t", "version": "1"}, "schemes": ["https"],
        "paths": {}, "definitions": schemas});
    // 10,000 schemas in one cycle: found once, without recursing per link.
    let started = std::time::Instant::now();
    let f = lint(&doc(&v));
    assert!(started.elapsed().as_secs() < 60);
    assert_eq!(f.len(), 1, "{}", summary(&f));
    assert_eq!(f[0].id, "apim-recursive-schema");
}

#[test]
fn parameters_apim_drops() {
    let v = oas3(json!({"/a": {"get": {"operationId": "a", "parameters": [
        {"name": "session", "in": "cookie", "schema": {"type": "string"}}], "responses": ok()}}}));
    expect(&v, "apim-cookie-parameter", Level::Warning);
    let s2 = json!({"swagger": "2.0", "info": {"title": "t", "version": "1"}, "schemes": ["https"],
        "paths": {"/a": {"post": {"operationId": "a", "consumes": ["multipart/form-data"], "parameters": [
            {"name": "file", "in": "formData", "type": "file"}, {"name": "note", "in": "formData", "type": "string"}],
            "responses": ok()}}}});
    let f = expect(&s2, "apim-form-parameter", Level::Warning);
    assert_eq!(f.len(), 1, "one finding per operation: {}", summary(&f));
}

#[test]
fn servers_below_the_document() {
    let v = oas3(json!({"/a": {"servers": [{"url": "https://x"}],
        "get": {"operationId": "a", "responses": ok()},
        "post": {"operationId": "b", "servers": [{"url": "https://y"}], "responses": ok()}}}));
    expect(&v, "apim-path-servers", Level::Warning);
    let f = expect(&v, "apim-operation-servers", Level::Warning);
    assert_eq!(
        f.iter()
            .find(|f| f.id == "apim-operation-servers")
            .unwrap()
            .operation
            .as_deref(),
        Some("POST /a")
    );
    let mut top = oas3(json!({"/a": {"get": {"operationId": "a", "responses": ok()}}}));
    top["servers"] = json!([{"url": "https://x"}]);
    assert!(lint(&doc(&top)).is_empty());
}

#[test]
fn bodies_on_get_are_discarded() {
    let v = oas3(
        json!({"/a": {"get": {"operationId": "a", "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}, "responses": ok()}}}),
    );
    expect(&v, "apim-body-ignored", Level::Warning);
    let v = oas3(
        json!({"/a": {"post": {"operationId": "a", "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}, "responses": ok()}}}),
    );
    expect_none(&v, "apim-body-ignored");
}

#[test]
fn openapi31_features() {
    let mut v = oas3(
        json!({"/a": {"get": {"operationId": "a", "responses": {"200": {"description": "ok",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/P"}}}}}}}}),
    );
    v["openapi"] = json!("3.1.0");
    v["components"] = json!({"schemas": {"P": {"type": "object", "properties": {
        "kind": {"const": "pet"},
        "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
        "either": {"type": ["string", "integer"]},
        "maybe": {"type": ["string", "null"]},
        "const": {"type": "string", "examples": [{"type": ["a", "b"]}]}
    }}}});
    v["webhooks"] = json!({"newPet": {"post": {"responses": ok()}}});
    expect(&v, "apim-openapi31-webhooks", Level::Warning);
    let f = expect(&v, "apim-openapi31-type-array", Level::Warning);
    // `[T, "null"]` is plain nullability; only `either` counts, and example data is not schema.
    let types: Vec<&Finding> = f
        .iter()
        .filter(|f| f.id == "apim-openapi31-type-array")
        .collect();
    assert_eq!(types.len(), 1);
    assert_eq!(
        types[0].path,
        "/components/schemas/P/properties/either/type"
    );
    assert!(!types[0].message.contains("places"), "{}", types[0].message);
    let keywords: Vec<&str> = f
        .iter()
        .filter(|f| f.id == "apim-openapi31-keyword")
        .map(|f| f.path.as_str())
        .collect();
    // A property named `const` is a name, not the keyword.
    assert_eq!(
        keywords,
        [
            "/components/schemas/P/properties/kind/const",
            "/components/schemas/P/properties/pair/prefixItems"
        ]
    );
    // The same document as 3.0 is not judged by 3.1 rules.
    v["openapi"] = json!("3.0.3");
    let f = lint(&doc(&v));
    assert!(
        f.iter().all(|f| !f.id.starts_with("apim-openapi31")),
        "{}",
        summary(&f)
    );
}

#[test]
fn the_report_fails_on_errors_only() {
    let v = oas3(json!({"/a": {"get": {"responses": ok()}}}));
    let r = lint_report(&doc(&v));
    assert!(!r.breaking);
    assert!(r.fails(Level::Warning));
    assert!(!r.fails(Level::Error));
}

/// Whether APIM would find an http(s) scheme: the one fact a raw Swashbuckle 2.0 document may lack.
fn lacks_scheme(d: &Document) -> bool {
    d.version().is_swagger2()
        && !d.value()["schemes"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s == "https" || s == "http"))
}

#[test]
fn real_documents_have_no_false_errors() {
    let mut checked = 0;
    for dir in ["swashbuckle", "aspnetcore"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let d = Document::parse(&std::fs::read(&path).unwrap()).unwrap();
            let findings = lint(&d);
            for f in &findings {
                assert!(
                    d.value().pointer(&f.path).is_some(),
                    "{}: {f:?}",
                    path.display()
                );
                assert!(f.id.starts_with("apim-"), "{f:?}");
            }
            let errors: Vec<&Finding> = findings
                .iter()
                .filter(|f| f.level == Level::Error)
                .collect();
            if lacks_scheme(&d) {
                assert_eq!(
                    errors.len(),
                    1,
                    "{}:\n{}",
                    path.display(),
                    summary(&findings)
                );
                assert_eq!(errors[0].id, "apim-swagger2-no-scheme");
                // With the scheme the rewrite sets, nothing stops the import.
                let mut v = d.value().clone();
                v["schemes"] = json!(["https"]);
                let findings = lint(&doc(&v));
                assert!(
                    findings.iter().all(|f| f.level != Level::Error),
                    "{}:\n{}",
                    path.display(),
                    summary(&findings)
                );
            } else {
                assert!(
                    errors.is_empty(),
                    "{}:\n{}",
                    path.display(),
                    summary(&findings)
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 13);
}

#[test]
fn trace_operations_are_not_imported() {
    let v = oas3(
        json!({"/a": {"get": {"operationId": "a", "responses": ok()},
        "trace": {"operationId": "t", "responses": ok()}}}),
    );
    let f = expect(&v, "apim-trace-dropped", Level::Warning);
    assert_eq!(f.len(), 1, "{}", summary(&f));
    assert_eq!(f[0].operation.as_deref(), Some("TRACE /a"));
}
