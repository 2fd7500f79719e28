//! Local `$ref` resolution and JSON pointer building, shared by the diff and the lint.
//!
//! Only references into the same document (`#/...`) are followed: APIM refuses external ones, so
//! the lint reports them and the diff treats them as opaque.

use serde_json::Value;

/// How many `$ref` hops are followed before a chain is treated as a cycle: real documents use one
/// or two, and a bound keeps `A -> B -> A` from looping.
pub const MAX_REF_HOPS: usize = 32;

/// The `$ref` string of an object, if it has one.
pub fn ref_of(value: &Value) -> Option<&str> {
    value.get("$ref").and_then(Value::as_str)
}

/// The JSON pointer a local reference names (`#/components/schemas/Pet` → `/components/schemas/Pet`),
/// or `None` for an external one. Percent-encoding is decoded, since URI fragments may carry it.
pub fn local_pointer(reference: &str) -> Option<String> {
    let fragment = reference.strip_prefix('#')?;
    Some(percent_decode(fragment))
}

/// A value with `$ref`s followed, and where it lives.
#[derive(Clone, Debug)]
pub struct Resolved<'a> {
    pub value: &'a Value,
    /// JSON pointer of `value` in the document.
    pub pointer: String,
}

/// Follows `$ref` from `value` (found at `pointer`) to what it names. Returns `None` when a
/// reference is external, dangling, or part of a cycle of references to references.
pub fn resolve<'a>(root: &'a Value, value: &'a Value, pointer: &str) -> Option<Resolved<'a>> {
    let mut current = value;
    let mut at = pointer.to_string();
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = ref_of(current) else {
            return Some(Resolved {
                value: current,
                pointer: at,
            });
        };
        let target = local_pointer(reference)?;
        current = root.pointer(&target)?;
        at = target;
    }
    None
}

/// Escapes one reference token (`/pets/{id}` → `~1pets~1{id}`).
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// `pointer` extended by one token.
pub fn join(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", escape(token))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_chains_and_stops_on_cycles() {
        let root = json!({"d": {"A": {"$ref": "#/d/B"}, "B": {"type": "string"},
                                "X": {"$ref": "#/d/Y"}, "Y": {"$ref": "#/d/X"}}});
        let r = resolve(&root, &root["d"]["A"], "/d/A").unwrap();
        assert_eq!(r.pointer, "/d/B");
        assert_eq!(r.value["type"], "string");
        assert!(resolve(&root, &root["d"]["X"], "/d/X").is_none());
        assert!(resolve(&root, &json!({"$ref": "other.json#/a"}), "").is_none());
    }

    #[test]
    fn escapes_and_decodes() {
        assert_eq!(join("/paths", "/pets/{id}"), "/paths/~1pets~1{id}");
        assert_eq!(local_pointer("#/a%20b/c~1d").as_deref(), Some("/a b/c~1d"));
        assert_eq!(local_pointer("#/bad%zz").as_deref(), Some("/bad%zz"));
    }
}
