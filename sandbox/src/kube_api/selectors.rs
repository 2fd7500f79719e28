//! `labelSelector` and `fieldSelector` query parameters, with kube-apiserver's syntax and its
//! refusals (400 with the parser's message).

use std::collections::BTreeSet;

use serde_json::Value;

use super::objects::Resource;

#[derive(Debug, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Default)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut out = Vec::new();
        for part in split_top_level(text) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            out.push(parse_requirement(part)?);
        }
        Ok(LabelSelector(out))
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.matches_with(|k| labels.get(k).and_then(Value::as_str))
    }

    /// The same test on labels known before an object is rendered.
    pub fn matches_labels(&self, labels: &std::collections::BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    fn matches_with<'v>(&self, get: impl Fn(&str) -> Option<&'v str>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::In(k, values) => get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => get(k).is_none_or(|v| !values.contains(v)),
        })
    }
}

/// Commas separate requirements except inside `in (a,b)` sets.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn valid_key(k: &str) -> bool {
    let (prefix, name) = k.rsplit_once('/').unwrap_or(("", k));
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.len() <= 253
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c));
    name_ok && prefix_ok && !(k.contains('/') && prefix.is_empty())
}

fn valid_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let key_err = |k: &str| {
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
    };
    let value_err = |v: &str| {
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )
    };
    let single = |k: &str, v: &str, negate: bool| -> Result<Requirement, String> {
        let (k, v) = (k.trim(), v.trim());
        if !valid_key(k) {
            return Err(key_err(k));
        }
        if !valid_value(v) {
            return Err(value_err(v));
        }
        let set = BTreeSet::from([v.to_string()]);
        Ok(if negate {
            Requirement::NotIn(k.to_string(), set)
        } else {
            Requirement::In(k.to_string(), set)
        })
    };
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return if valid_key(key) {
            Ok(Requirement::NotExists(key.to_string()))
        } else {
            Err(key_err(key))
        };
    }
    if let Some((k, v)) = part.split_once("!=") {
        return single(k, v, true);
    }
    if let Some((k, v)) = part.split_once("==") {
        return single(k, v, false);
    }
    if let Some((k, v)) = part.split_once('=') {
        return single(k, v, false);
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or("").trim();
    let rest = words.next().unwrap_or("").trim();
    if rest.is_empty() {
        return if valid_key(key) {
            Ok(Requirement::Exists(key.to_string()))
        } else {
            Err(key_err(key))
        };
    }
    let (op, set) = rest
        .split_once(|c: char| c.is_whitespace() || c == '(')
        .map(|(op, _)| (op, &rest[op.len()..]))
        .unwrap_or((rest, ""));
    let set = set.trim();
    let Some(inner) = set.strip_prefix('(').and_then(|s| s.strip_suffix(')')) else {
        return Err(format!(
            "unable to parse requirement: found '{set}', expected: '('"
        ));
    };
    if !valid_key(key) {
        return Err(key_err(key));
    }
    let mut values = BTreeSet::new();
    for v in inner.split(',') {
        let v = v.trim();
        if !valid_value(v) {
            return Err(value_err(v));
        }
        values.insert(v.to_string());
    }
    match op {
        "in" => Ok(Requirement::In(key.to_string(), values)),
        "notin" => Ok(Requirement::NotIn(key.to_string(), values)),
        other => Err(format!(
            "unable to parse requirement: found '{other}', expected: in, notin, =, ==, !=, gt, lt"
        )),
    }
}

/// A parsed field selector: `path=value`, `path==value`, `path!=value`, comma-separated.
#[derive(Debug, Default)]
pub struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    pub fn parse(text: &str, resource: Resource) -> Result<FieldSelector, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, value, equal) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, true)
            } else {
                return Err(format!(
                    "invalid selector: '{text}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            if !supported(resource, field) {
                return Err(format!("field label not supported: {field}"));
            }
            out.push((field.to_string(), value.trim().to_string(), equal));
        }
        Ok(FieldSelector(out))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, want, equal)| {
            let mut v = object;
            for step in field.split('.') {
                v = &v[step];
            }
            let got = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                // Absent fields compare as their zero value, like the apiserver's field sets.
                Value::Null if field == "spec.unschedulable" => "false".to_string(),
                _ => String::new(),
            };
            (got == *want) == *equal
        })
    }
}

/// The field labels kube-apiserver accepts per resource.
fn supported(resource: Resource, field: &str) -> bool {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return true;
    }
    match resource {
        Resource::Pods => matches!(
            field,
            "spec.nodeName"
                | "spec.restartPolicy"
                | "spec.schedulerName"
                | "spec.serviceAccountName"
                | "spec.hostNetwork"
                | "status.phase"
                | "status.podIP"
                | "status.nominatedNodeName"
        ),
        Resource::Nodes => field == "spec.unschedulable",
        Resource::Namespaces => field == "status.phase",
        Resource::Services => matches!(field, "spec.clusterIP" | "spec.type"),
        Resource::EndpointSlices => field == "addressType",
        Resource::Endpoints => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_follow_kubernetes_syntax() {
        let obj = json!({"metadata": {"labels": {"app": "svc-1", "tier": "web"}}});
        for (sel, want) in [
            ("app=svc-1", true),
            ("app==svc-1,tier", true),
            ("app!=svc-1", false),
            ("app in (svc-1, svc-2)", true),
            ("app notin (svc-1)", false),
            ("!tier", false),
            ("!missing", true),
            ("kubernetes.io/service-name=svc-1", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&obj),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("app=-x").is_err());
        assert!(LabelSelector::parse("app in svc-1").is_err());
        assert!(LabelSelector::parse("app foo (x)").is_err());
    }

    #[test]
    fn field_selectors_refuse_unknown_fields() {
        let pod = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        let sel =
            FieldSelector::parse("metadata.name=p,status.phase!=Pending", Resource::Pods).unwrap();
        assert!(sel.matches(&pod));
        assert!(FieldSelector::parse("spec.foo=x", Resource::Pods).is_err());
    }
}
