//! A flattened view of one schema for comparison: `$ref`s followed, `allOf` merged, and the three
//! spellings of "nullable" (2.0 `x-nullable`, 3.0 `nullable`, 3.1 `type: [.., "null"]`) unified.
//!
//! Swagger 2.0 non-body parameters carry their schema keywords on the parameter itself, so a
//! parameter object can be viewed as a schema too.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use super::refs::{join, ref_of, resolve};

/// `allOf` nesting followed when merging; deeper members are ignored rather than risk the stack.
const MAX_ALL_OF_DEPTH: usize = 16;

/// A numeric bound and whether it excludes its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    pub value: f64,
    pub exclusive: bool,
}

/// `additionalProperties`, as far as comparing goes.
#[derive(Clone, Debug)]
pub enum Additional<'a> {
    /// Absent or `true`: anything goes.
    Allowed,
    /// `false`.
    Forbidden,
    /// A schema extra members must match, and where it lives.
    Schema(String, &'a Value),
}

/// One property of an object schema.
#[derive(Clone, Debug)]
pub struct Property<'a> {
    pub name: String,
    pub pointer: String,
    pub value: &'a Value,
}

/// The comparable keywords of one schema.
#[derive(Clone, Debug)]
pub struct View<'a> {
    /// Where the schema (after `$ref`s) lives; identifies it for cycle detection.
    pub pointer: String,
    /// Types other than `null`; `None` when the schema does not constrain the type.
    pub types: Option<BTreeSet<String>>,
    pub nullable: bool,
    pub format: Option<&'a str>,
    /// Allowed values other than `null`.
    pub enum_values: Option<Vec<&'a Value>>,
    pub pattern: Option<&'a str>,
    pub max: Option<Bound>,
    pub min: Option<Bound>,
    pub max_length: Option<f64>,
    pub min_length: Option<f64>,
    pub max_items: Option<f64>,
    pub min_items: Option<f64>,
    pub properties: Vec<Property<'a>>,
    pub required: BTreeSet<String>,
    pub items: Option<(String, &'a Value)>,
    pub additional: Additional<'a>,
    pub read_only: bool,
    pub write_only: bool,
}

impl<'a> View<'a> {
    /// Views the schema `value` found at `pointer` in `root`. `None` when it cannot be resolved
    /// (external or dangling `$ref`, or not an object).
    pub fn of(root: &'a Value, value: &'a Value, pointer: &str) -> Option<View<'a>> {
        View::of_bounded(root, value, pointer, 0)
    }

    fn of_bounded(
        root: &'a Value,
        value: &'a Value,
        pointer: &str,
        wrappers: usize,
    ) -> Option<View<'a>> {
        let resolved = resolve(root, value, pointer)?;
        let obj = resolved.value.as_object()?;
        // `anyOf`/`oneOf` of one schema and `{type: null}` is how 3.1 generators spell a nullable
        // reference; compare it as that schema, nullable. Bounded, since the inner schema may be
        // a reference back to this one.
        for key in ["anyOf", "oneOf"] {
            if wrappers < MAX_ALL_OF_DEPTH
                && let Some(inner) = nullable_wrapper(obj.get(key))
            {
                let inner_ptr = join(&join(&resolved.pointer, key), &inner.0.to_string());
                let mut view = View::of_bounded(root, inner.1, &inner_ptr, wrappers + 1)?;
                view.nullable = true;
                return Some(view);
            }
        }
        let mut view = View::empty(resolved.pointer.clone());
        let mut absorbed = HashSet::new();
        view.absorb(
            root,
            resolved.value,
            At::Built(&resolved.pointer),
            0,
            &mut absorbed,
        );
        Some(view)
    }

    /// An object schema made of the given properties: how Swagger 2.0 form parameters compare.
    pub fn object(
        pointer: String,
        properties: Vec<Property<'a>>,
        required: BTreeSet<String>,
    ) -> View<'a> {
        let mut view = View::empty(pointer);
        view.types = Some(BTreeSet::from(["object".to_string()]));
        view.properties = properties;
        view.required = required;
        view
    }

    fn empty(pointer: String) -> View<'a> {
        View {
            pointer,
            types: None,
            nullable: false,
            format: None,
            enum_values: None,
            pattern: None,
            max: None,
            min: None,
            max_length: None,
            min_length: None,
            max_items: None,
            min_items: None,
            properties: Vec::new(),
            required: BTreeSet::new(),
            items: None,
            additional: Additional::Allowed,
            read_only: false,
            write_only: false,
        }
    }

    /// Adds the keywords of `value` (already resolved) where this view has none yet; properties and
    /// required names accumulate, which is what `allOf` means for them.
    fn absorb(
        &mut self,
        root: &'a Value,
        value: &'a Value,
        at: At<'_>,
        depth: usize,
        absorbed: &mut HashSet<*const Value>,
    ) {
        // Each schema once: `allOf` members may repeat or refer back to the schema itself. A
        // schema is identified by where it is in the document, as its pointer would.
        if !absorbed.insert(std::ptr::from_ref(value)) {
            return;
        }
        let Some(obj) = value.as_object() else {
            return;
        };
        // Built only when a member needs it: a 30,000-entry `allOf` under a long name would
        // otherwise copy that name 30,000 times.
        let needs_pointer = obj.contains_key("properties")
            || obj.get("items").is_some_and(Value::is_object)
            || obj
                .get("additionalProperties")
                .is_some_and(Value::is_object);
        let pointer = if needs_pointer {
            at.build()
        } else {
            String::new()
        };
        let pointer = pointer.as_str();
        if self.types.is_none() {
            match obj.get("type") {
                Some(Value::String(t)) if t == "null" => self.nullable = true,
                // Swagger 2.0's `file` is OpenAPI 3's binary string.
                Some(Value::String(t)) if t == "file" => {
                    self.types = Some(BTreeSet::from(["string".to_string()]));
                    self.format = self.format.or(Some("binary"));
                }
                Some(Value::String(t)) => self.types = Some(BTreeSet::from([t.clone()])),
                Some(Value::Array(ts)) => {
                    let mut set = BTreeSet::new();
                    for t in ts.iter().filter_map(Value::as_str) {
                        if t == "null" {
                            self.nullable = true;
                        } else {
                            set.insert(t.to_string());
                        }
                    }
                    if !set.is_empty() {
                        self.types = Some(set);
                    }
                }
                _ => {}
            }
        }
        if depth == 0 {
            self.nullable |= flag(obj.get("nullable")) || flag(obj.get("x-nullable"));
        }
        self.read_only |= flag(obj.get("readOnly"));
        self.write_only |= flag(obj.get("writeOnly"));
        if self.format.is_none() {
            self.format = obj.get("format").and_then(Value::as_str);
        }
        if self.enum_values.is_none()
            && let Some(values) = obj.get("enum").and_then(Value::as_array)
        {
            if values.iter().any(Value::is_null) {
                self.nullable = true;
            }
            self.enum_values = Some(values.iter().filter(|v| !v.is_null()).collect());
        }
        if self.pattern.is_none() {
            self.pattern = obj.get("pattern").and_then(Value::as_str);
        }
        if self.max.is_none() {
            self.max = bound(obj.get("maximum"), obj.get("exclusiveMaximum"));
        }
        if self.min.is_none() {
            self.min = bound(obj.get("minimum"), obj.get("exclusiveMinimum"));
        }
        for (slot, key) in [
            (&mut self.max_length, "maxLength"),
            (&mut self.min_length, "minLength"),
            (&mut self.max_items, "maxItems"),
            (&mut self.min_items, "minItems"),
        ] {
            if slot.is_none() {
                *slot = obj.get(key).and_then(Value::as_f64);
            }
        }
        if let Some(props) = obj.get("properties").and_then(Value::as_object) {
            let props_ptr = join(pointer, "properties");
            for (name, schema) in props {
                if !self.properties.iter().any(|p| &p.name == name) {
                    self.properties.push(Property {
                        name: name.clone(),
                        pointer: join(&props_ptr, name),
                        value: schema,
                    });
                }
            }
        }
        if let Some(required) = obj.get("required").and_then(Value::as_array) {
            self.required.extend(
                required
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string),
            );
        }
        if self.items.is_none()
            && let Some(items) = obj.get("items").filter(|v| v.is_object())
        {
            self.items = Some((join(pointer, "items"), items));
        }
        if matches!(self.additional, Additional::Allowed) {
            match obj.get("additionalProperties") {
                Some(Value::Bool(false)) => self.additional = Additional::Forbidden,
                Some(schema @ Value::Object(_)) => {
                    self.additional =
                        Additional::Schema(join(pointer, "additionalProperties"), schema);
                }
                _ => {}
            }
        }
        if depth >= MAX_ALL_OF_DEPTH {
            return;
        }
        if let Some(members) = obj.get("allOf").and_then(Value::as_array) {
            for (i, member) in members.iter().enumerate() {
                if ref_of(member).is_none() {
                    self.absorb(root, member, At::Member(&at, i), depth + 1, absorbed);
                } else if let Some(r) = resolve(root, member, "") {
                    // A reference names its target's pointer, whatever the start was.
                    self.absorb(root, r.value, At::Built(&r.pointer), depth + 1, absorbed);
                }
            }
        }
    }

    /// Whether the schema is an object with named members worth comparing one by one.
    pub fn has_properties(&self) -> bool {
        !self.properties.is_empty()
    }

    pub fn property(&self, name: &str) -> Option<&Property<'a>> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// The types as written, for messages: `integer`, `string or null`...
    pub fn type_text(&self) -> String {
        let mut text = match &self.types {
            Some(t) => t.iter().cloned().collect::<Vec<_>>().join(" or "),
            None => "any".to_string(),
        };
        if let Some(f) = self.format {
            text.push_str(&format!(" ({f})"));
        }
        text
    }
}

/// Where a schema being absorbed is: a pointer, or the `allOf` member `i` of another schema.
#[derive(Clone, Copy)]
enum At<'p> {
    Built(&'p str),
    Member(&'p At<'p>, usize),
}

impl At<'_> {
    fn build(&self) -> String {
        match self {
            At::Built(p) => (*p).to_string(),
            At::Member(parent, i) => join(&join(&parent.build(), "allOf"), &i.to_string()),
        }
    }
}

fn flag(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn nullable_wrapper(members: Option<&Value>) -> Option<(usize, &Value)> {
    let members = members?.as_array()?;
    if members.len() != 2 {
        return None;
    }
    let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
    match (is_null(&members[0]), is_null(&members[1])) {
        (true, false) => Some((1, &members[1])),
        (false, true) => Some((0, &members[0])),
        _ => None,
    }
}

/// `maximum` with 2.0/3.0's boolean `exclusiveMaximum`, or 3.1's numeric one: the stricter wins.
fn bound(inclusive: Option<&Value>, exclusive: Option<&Value>) -> Option<Bound> {
    let plain = inclusive.and_then(Value::as_f64);
    match exclusive {
        Some(Value::Bool(true)) => plain.map(|value| Bound {
            value,
            exclusive: true,
        }),
        Some(Value::Number(n)) => {
            let ex = n.as_f64()?;
            Some(match plain {
                Some(p) if p != ex => Bound {
                    value: p,
                    exclusive: false,
                },
                _ => Bound {
                    value: ex,
                    exclusive: true,
                },
            })
        }
        _ => plain.map(|value| Bound {
            value,
            exclusive: false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_all_of_and_nullable_spellings() {
        let root = json!({"c": {
            "Base": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
            "Pet": {"allOf": [{"$ref": "#/c/Base"}, {"properties": {"name": {"type": ["string", "null"]}}}],
                    "nullable": true}
        }});
        let v = View::of(&root, &root["c"]["Pet"], "/c/Pet").unwrap();
        assert!(v.nullable);
        assert_eq!(v.types, Some(BTreeSet::from(["object".to_string()])));
        assert!(v.required.contains("id"));
        let name = v.property("name").unwrap();
        assert_eq!(name.pointer, "/c/Pet/allOf/1/properties/name");
        let n = View::of(&root, name.value, &name.pointer).unwrap();
        assert!(n.nullable);
        assert_eq!(n.type_text(), "string");
    }

    #[test]
    fn reads_both_exclusive_spellings() {
        assert_eq!(
            bound(Some(&json!(5)), Some(&json!(true))),
            Some(Bound {
                value: 5.0,
                exclusive: true
            })
        );
        assert_eq!(
            bound(None, Some(&json!(5))),
            Some(Bound {
                value: 5.0,
                exclusive: true
            })
        );
        assert_eq!(bound(None, Some(&json!(false))), None);
    }

    #[test]
    fn self_referencing_wrappers_and_all_of_terminate() {
        let root = json!({"c": {
            "A": {"anyOf": [{"$ref": "#/c/A"}, {"type": "null"}]},
            "B": {"allOf": [{"$ref": "#/c/B"}, {"$ref": "#/c/B"}], "properties": {"x": {}}}
        }});
        let _ = View::of(&root, &root["c"]["A"], "/c/A");
        let b = View::of(&root, &root["c"]["B"], "/c/B").unwrap();
        assert_eq!(b.properties.len(), 1);
    }

    #[test]
    fn unwraps_one_of_null() {
        let root = json!({"s": {"oneOf": [{"type": "null"}, {"type": "integer"}]}});
        let v = View::of(&root, &root["s"], "/s").unwrap();
        assert!(v.nullable);
        assert_eq!(v.pointer, "/s/oneOf/1");
    }
}
