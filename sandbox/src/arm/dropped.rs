//! What API Management does not keep of an imported OpenAPI / Swagger document: custom `x-`
//! extensions and `deprecated`. The importer removes them before it stores the document and its
//! operations, so no export can show them again.
//!
//! - Extensions: "The only supported extensions are: `x-ms-paths` [...] `x-servers`" and "Custom
//!   extensions: Are ignored on import. Aren't saved or preserved for export." (Microsoft Learn,
//!   "API import restrictions and known issues", sections Supported extensions and Custom
//!   extensions; MicrosoftDocs/azure-docs articles/api-management/api-management-api-import-restrictions.md).
//!   The two supported ones act on import (paths told apart by query, servers for OpenAPI 2); an
//!   export shows APIM's own paths and gateway `servers`/`host` instead, so they go too. APIM
//!   writes no extension of its own into the exports modelled here.
//! - `deprecated` (operations, parameters, headers, schemas and their properties): imported and
//!   exported documents lose it (Azure/api-management-developer-portal#1216, "after exporting
//!   the OpenAPI specification, the 'deprecated' fields are not there anymore"; #1620, the APIM
//!   team: "API Management in general doesn't support the `deprecated` property"). Its operation,
//!   parameter and representation contracts (apimapis.json / definitions.json 2024-05-01) have
//!   no field for it. No source says any of it survives, so all of it is dropped.
//!
//! Only keys in object positions are fields: property names, header names (`x-request-id`),
//! media types, schema names and example or default values are data and stay as they are.

use serde_json::{Map, Value};

/// Members whose value is a map from names to objects (the names are data, the objects fields).
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

/// Members whose value is data written by the document's author, never fields.
const DATA: &[&str] = &[
    "example", "examples", "default", "enum", "const", "security", "scopes", "mapping",
];

/// Removes every custom extension and `deprecated` from a parsed document, in place.
pub fn strip(doc: &mut Value) {
    if let Value::Object(root) = doc {
        object(root, true);
    }
}

/// `top`: the document root or `components`, where `parameters` and `responses` map names to
/// objects (elsewhere they are an array, and a map from status codes that may carry extensions).
fn object(m: &mut Map<String, Value>, top: bool) {
    m.retain(|k, _| !is_dropped(k));
    for (k, v) in m.iter_mut() {
        let key = k.as_str();
        if DATA.contains(&key) {
            continue;
        }
        if NAMED.contains(&key) || (top && matches!(key, "parameters" | "responses")) {
            if let Value::Object(named) = v {
                for item in named.values_mut() {
                    any(item, false);
                }
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

/// A field APIM does not keep. OpenAPI's extensions are `^x-`; APIM's reader matches field names
/// without regard to case, so `X-` goes too.
fn is_dropped(key: &str) -> bool {
    key == "deprecated" || key.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_go_names_and_data_stay() {
        let mut doc = json!({
            "openapi": "3.0.1",
            "x-root": 1,
            "info": {"title": "t", "version": "1", "x-logo": {}},
            "paths": {
                "x-path-ext": {},
                "/a": {
                    "x-item": 1,
                    "get": {
                        "deprecated": true,
                        "x-sunset": "2030-01-01",
                        "parameters": [{"name": "q", "in": "query", "deprecated": true,
                                        "x-ms-param": 1, "schema": {"type": "string", "x-s": 1}}],
                        "responses": {
                            "x-resp-ext": 1,
                            "200": {"description": "ok", "x-r": 1,
                                "headers": {"x-request-id": {"schema": {"type": "string"}, "deprecated": true},
                                            "Sunset": {"schema": {"type": "string"}, "example": {"x-data": 1}}},
                                "content": {"application/json": {"x-m": 1, "schema": {"$ref": "#/components/schemas/x-Pet"}}}}
                        }
                    }
                }
            },
            "components": {
                "schemas": {"x-Pet": {"x-nullable": true, "deprecated": true,
                    "properties": {"x-name": {"type": "string", "deprecated": true},
                                   "deprecated": {"type": "boolean", "default": {"x-d": 1}}}}},
                "parameters": {"x-p": {"name": "p", "in": "query", "x-e": 1}}
            }
        });
        strip(&mut doc);
        let expected = json!({
            "openapi": "3.0.1",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/a": {
                    "get": {
                        "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}],
                        "responses": {
                            "200": {"description": "ok",
                                "headers": {"x-request-id": {"schema": {"type": "string"}},
                                            "Sunset": {"schema": {"type": "string"}, "example": {"x-data": 1}}},
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/x-Pet"}}}}
                        }
                    }
                }
            },
            "components": {
                "schemas": {"x-Pet": {
                    "properties": {"x-name": {"type": "string"},
                                   "deprecated": {"type": "boolean", "default": {"x-d": 1}}}}},
                "parameters": {"x-p": {"name": "p", "in": "query"}}
            }
        });
        assert_eq!(doc, expected);
    }

    #[test]
    fn swagger_named_maps_at_the_root() {
        let mut doc = json!({
            "swagger": "2.0",
            "parameters": {"x-id": {"name": "id", "in": "path", "x-ms-skip-url-encoding": true}},
            "responses": {"x-NotFound": {"description": "nf", "x-e": 1}},
            "definitions": {"P": {"x-nullable": true, "properties": {"a": {"x-nullable": true}}}}
        });
        strip(&mut doc);
        assert_eq!(
            doc,
            json!({
                "swagger": "2.0",
                "parameters": {"x-id": {"name": "id", "in": "path"}},
                "responses": {"x-NotFound": {"description": "nf"}},
                "definitions": {"P": {"properties": {"a": {}}}}
            })
        );
    }
}
