//! Both documents as API Management's export can show them, for a comparison against the live API.
//!
//! APIM ignores custom `x-` extensions on import and does not keep them for export (Microsoft
//! Learn, "API import restrictions and known issues": custom extensions "Are ignored on import.
//! Aren't saved or preserved for export."). The export never says what an extension of the new
//! document said before, so an extension that changes a comparison (Swashbuckle's `x-nullable`)
//! would read as a change on every release. Both sides are compared without them; the published
//! API loses them too.
//!
//! Kept: `deprecated` and oasdiff's `x-sunset` and `x-stability-level`. The deprecation rules
//! judge the new document's lifecycle by them, knowing the export lacks them ([`super::Policy`]).
//!
//! Only members in field positions are extensions: property, header and schema names, media types
//! and example or default values are data.

use serde_json::{Map, Value};

/// Extensions the deprecation rules read.
const LIFECYCLE: &[&str] = &["x-sunset", "x-stability-level"];

/// Members mapping names to objects: the names are data.
const NAMED: &[&str] = &[
    "properties",
    "patternProperties",
    "definitions",
    "schemas",
    "securityDefinitions",
    "securitySchemes",
    "headers",
    "content",
    "encoding",
    "variables",
    "links",
    "callbacks",
    "requestBodies",
    "$defs",
    "dependentSchemas",
];

/// Members holding data, never fields.
const DATA: &[&str] = &[
    "example", "examples", "default", "enum", "const", "security", "scopes", "mapping",
];

/// `doc` without the custom extensions API Management drops.
pub(super) fn as_apim_keeps(doc: &Value) -> Value {
    let mut out = doc.clone();
    if let Value::Object(root) = &mut out {
        object(root, true);
    }
    out
}

/// `top`: the root or `components`, where `parameters` and `responses` map names to objects.
fn object(m: &mut Map<String, Value>, top: bool) {
    m.retain(|k, _| !dropped(k));
    for (k, v) in m.iter_mut() {
        let key = k.as_str();
        if DATA.contains(&key) {
            continue;
        }
        if NAMED.contains(&key) || (top && matches!(key, "parameters" | "responses")) {
            if let Value::Object(named) = v {
                named.values_mut().for_each(|item| any(item, false));
            }
            continue;
        }
        any(v, key == "components");
    }
}

fn any(v: &mut Value, top: bool) {
    match v {
        Value::Object(m) => object(m, top),
        Value::Array(a) => a.iter_mut().for_each(|i| any(i, false)),
        _ => {}
    }
}

fn dropped(key: &str) -> bool {
    key.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-")) && !LIFECYCLE.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extensions_go_lifecycle_names_and_data_stay() {
        let doc = json!({
            "swagger": "2.0",
            "x-origin": 1,
            "paths": {"/a": {"get": {
                "deprecated": true, "x-sunset": "2030-01-01", "x-stability-level": "beta",
                "x-purpose": "p",
                "responses": {"200": {"description": "ok",
                    "headers": {"x-request-id": {"type": "string", "x-h": 1}},
                    "schema": {"$ref": "#/definitions/x-P"}}}
            }}},
            "definitions": {"x-P": {"x-nullable": true, "properties": {
                "x-name": {"type": "string", "x-nullable": true, "example": {"x-data": 1}}}}}
        });
        assert_eq!(
            as_apim_keeps(&doc),
            json!({
                "swagger": "2.0",
                "paths": {"/a": {"get": {
                    "deprecated": true, "x-sunset": "2030-01-01", "x-stability-level": "beta",
                    "responses": {"200": {"description": "ok",
                        "headers": {"x-request-id": {"type": "string"}},
                        "schema": {"$ref": "#/definitions/x-P"}}}
                }}},
                "definitions": {"x-P": {"properties": {
                    "x-name": {"type": "string", "example": {"x-data": 1}}}}}
            })
        );
    }
}
