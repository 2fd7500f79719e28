//! Security requirements, of the whole document and of each operation: requirements and scopes
//! added or removed, reported as information.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Differ, Level};

/// Scheme name → scopes, for one requirement.
type Schemes = BTreeMap<String, BTreeSet<String>>;

impl Differ<'_> {
    /// `prefix` is the rule family: `api-global-security` or `api-security`.
    pub(super) fn compare_security(
        &mut self,
        b: Option<&Value>,
        n: Option<&Value>,
        ptr: &str,
        prefix: &str,
    ) {
        let (bs, ns) = (requirements(b), requirements(n));
        for (key, schemes) in &ns {
            match bs.get(key) {
                None => self.emit(
                    &format!("{prefix}-added"),
                    Level::Info,
                    ptr,
                    format!("the security requirement `{key}` was added."),
                ),
                Some(bschemes) => self.compare_scopes(key, bschemes, schemes, ptr, prefix),
            }
        }
        for key in bs.keys() {
            if !ns.contains_key(key) {
                self.emit(
                    &format!("{prefix}-removed"),
                    Level::Info,
                    ptr,
                    format!("the security requirement `{key}` was removed."),
                );
            }
        }
    }

    fn compare_scopes(
        &mut self,
        key: &str,
        bschemes: &Schemes,
        schemes: &Schemes,
        ptr: &str,
        prefix: &str,
    ) {
        for (scheme, scopes) in schemes {
            let before = bschemes.get(scheme);
            for scope in scopes {
                if !before.is_some_and(|b| b.contains(scope)) {
                    self.emit(
                        &format!("{prefix}-scope-added"),
                        Level::Info,
                        ptr,
                        format!(
                            "the scope `{scope}` was added to the security requirement `{key}`."
                        ),
                    );
                }
            }
            for scope in before.into_iter().flatten() {
                if !scopes.contains(scope) {
                    self.emit(
                        &format!("{prefix}-scope-removed"),
                        Level::Info,
                        ptr,
                        format!(
                            "the scope `{scope}` was removed from the security requirement `{key}`."
                        ),
                    );
                }
            }
        }
    }
}

/// Security requirements keyed by their scheme names (`oauth + apiKey`), with scopes per scheme.
fn requirements(v: Option<&Value>) -> BTreeMap<String, Schemes> {
    let mut out = BTreeMap::new();
    for req in v.and_then(Value::as_array).into_iter().flatten() {
        let Some(obj) = req.as_object() else { continue };
        let schemes: Schemes = obj
            .iter()
            .map(|(k, scopes)| {
                (
                    k.clone(),
                    scopes
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                )
            })
            .collect();
        let key = if schemes.is_empty() {
            "(anonymous)".to_string()
        } else {
            schemes.keys().cloned().collect::<Vec<_>>().join(" + ")
        };
        out.insert(key, schemes);
    }
    out
}
