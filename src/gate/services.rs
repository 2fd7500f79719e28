//! The `services` input: several Kubernetes Services published in one run, each as its own API.
//!
//! Either a list (`namespace/service[:port][=api-id]`, one per line or comma-separated; the
//! namespace may be left out for the `namespace` input) or the path of a YAML/JSON manifest:
//!
//! ```yaml
//! namespace: shop            # optional, default for the entries
//! services:                  # or the list itself at the top level
//!   - service: orders        # required (alias: name); or "shop/orders:http=orders-v1"
//!     namespace: shop
//!     service-port: http
//!     api-id: orders-v1
//!     api-path: orders
//!     api-display-name: Orders
//!     products: [starter]
//!     swagger-path: /swagger/v1/swagger.json
//!     breaking-changes: warn
//!     api-versions: v1=/swagger/v1/swagger.json, v2=/swagger/v2/swagger.json   # or auto
//!     versioning-scheme: header                                                # segment, query
//!     version-header-name: x-api-version                                       # version-query-name
//! ```
//!
//! The single-service inputs (service-port, swagger-path, products, breaking-changes) are the
//! defaults of every entry. api-id, api-path and api-display-name are not: one API id shared by
//! several services would make them overwrite each other, so each defaults to its service name.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::versions::VersionKeys;
use crate::apim::VersioningScheme;
use crate::inputs::{BreakingChanges, Inputs};

/// One service to publish, as the `services` input gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub namespace: String,
    pub service: String,
    pub service_port: Option<String>,
    pub api_id: Option<String>,
    pub api_path: Option<String>,
    pub api_display_name: Option<String>,
    pub products: Option<Vec<String>>,
    pub swagger_path: Option<String>,
    pub breaking_changes: Option<BreakingChanges>,
    /// `api-versions` and its companions ([`super::versions`]).
    pub versioning: VersionKeys,
}

/// The `services` input cannot be used; `where_` names the line or manifest entry.
#[derive(Debug, thiserror::Error)]
#[error("services input, {where_}: {message}")]
pub struct ServicesError {
    pub where_: String,
    pub message: String,
}

impl ServicesError {
    fn new(where_: impl Into<String>, message: impl Into<String>) -> ServicesError {
        ServicesError {
            where_: where_.into(),
            message: message.into(),
        }
    }
}

/// Parses the `services` input. `default_namespace` is the `namespace` input; `base_dir` is where
/// a relative manifest path is looked up (the working directory).
pub fn parse(
    value: &str,
    default_namespace: &str,
    base_dir: &Path,
) -> Result<Vec<ServiceSpec>, ServicesError> {
    let trimmed = value.trim();
    let specs = match manifest_path(trimmed, base_dir) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ServicesError::new(
                    format!("manifest {}", path.display()),
                    format!("cannot read it: {e}. Give an existing YAML/JSON file, or the services as a list"),
                )
            })?;
            parse_manifest(&text, default_namespace, &path.display().to_string())?
        }
        None => parse_list(trimmed, default_namespace)?,
    };
    check_unique(&specs)?;
    Ok(specs)
}

/// A single token that names a file (or looks like one) is a manifest; anything else is a list.
/// Kubernetes Service names cannot hold dots, so `x.yaml` is never a service.
fn manifest_path(value: &str, base_dir: &Path) -> Option<PathBuf> {
    if value.contains(['\n', ',']) {
        return None;
    }
    let lower = value.to_ascii_lowercase();
    let looks_like = [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| lower.ends_with(ext));
    let path = base_dir.join(value);
    (looks_like || (value.contains('.') && path.is_file())).then_some(path)
}

/// `namespace/service[:port][=api-id]` per line or comma; `#` starts a comment line.
pub fn parse_list(value: &str, default_namespace: &str) -> Result<Vec<ServiceSpec>, ServicesError> {
    let mut out = Vec::new();
    for (n, line) in value.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        for item in line.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let where_ = format!("line {} ({item:?})", n + 1);
            out.push(
                parse_item(item, default_namespace).map_err(|m| ServicesError::new(where_, m))?,
            );
        }
    }
    if out.is_empty() {
        return Err(ServicesError::new(
            "the list",
            "it names no service: give namespace/service[:port][=api-id] per line or comma",
        ));
    }
    Ok(out)
}

fn parse_item(item: &str, default_namespace: &str) -> Result<ServiceSpec, String> {
    let (rest, api_id) = match item.split_once('=') {
        Some((r, id)) => (r.trim(), Some(id.trim())),
        None => (item, None),
    };
    let (rest, port) = match rest.split_once(':') {
        Some((r, p)) => (r.trim(), Some(p.trim())),
        None => (rest, None),
    };
    let (namespace, service) = match rest.split_once('/') {
        Some((ns, s)) => (ns.trim(), s.trim()),
        None => (default_namespace, rest.trim()),
    };
    check_name("namespace", namespace)?;
    check_name("service", service)?;
    if port == Some("") {
        return Err("the port after ':' is empty: give the Service port's name or number".into());
    }
    if api_id == Some("") {
        return Err("the api-id after '=' is empty: give one, or leave out the '='".into());
    }
    Ok(ServiceSpec {
        namespace: namespace.to_string(),
        service: service.to_string(),
        service_port: port.map(str::to_string),
        api_id: api_id.map(str::to_string),
        api_path: None,
        api_display_name: None,
        products: None,
        swagger_path: None,
        breaking_changes: None,
        versioning: VersionKeys::default(),
    })
}

/// Kubernetes names: lowercase letters, digits and '-', at most 63, starting and ending alphanumeric.
fn check_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} is not a Kubernetes name (lowercase letters, digits and '-', at most 63); \
             write namespace/service[:port][=api-id]"
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entry {
    #[serde(alias = "name")]
    service: String,
    namespace: Option<String>,
    service_port: Option<PortValue>,
    api_id: Option<String>,
    api_path: Option<String>,
    api_display_name: Option<String>,
    products: Option<Products>,
    swagger_path: Option<String>,
    breaking_changes: Option<BreakingChanges>,
    api_versions: Option<String>,
    versioning_scheme: Option<VersioningScheme>,
    version_query_name: Option<String>,
    version_header_name: Option<String>,
}

/// `service-port: 8080` and `service-port: http` are both natural in YAML.
#[derive(Deserialize)]
#[serde(untagged)]
enum PortValue {
    Number(u64),
    Name(String),
}

/// `products: [a, b]` or `products: a, b`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Products {
    List(Vec<String>),
    Text(String),
}

fn parse_manifest(
    text: &str,
    default_namespace: &str,
    name: &str,
) -> Result<Vec<ServiceSpec>, ServicesError> {
    let where_ = format!("manifest {name}");
    let root: Value = serde_saphyr::from_str(text)
        .map_err(|e| ServicesError::new(where_.clone(), format!("not YAML or JSON: {e}")))?;
    let (namespace, list) = match &root {
        Value::Array(items) => (default_namespace.to_string(), items.clone()),
        Value::Object(map) => {
            if let Some(key) = map.keys().find(|k| *k != "services" && *k != "namespace") {
                return Err(ServicesError::new(
                    where_,
                    format!("unknown key {key:?} at the top: only namespace and services"),
                ));
            }
            let ns = match map.get("namespace") {
                None | Some(Value::Null) => default_namespace.to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(ServicesError::new(where_, "namespace must be a string"));
                }
            };
            match map.get("services") {
                Some(Value::Array(items)) => (ns, items.clone()),
                _ => {
                    return Err(ServicesError::new(
                        where_,
                        "it needs a services list (services: [ {service: name, ...} ])",
                    ));
                }
            }
        }
        _ => {
            return Err(ServicesError::new(
                where_,
                "it must be a list of services or a map with a services list",
            ));
        }
    };
    if list.is_empty() {
        return Err(ServicesError::new(where_, "its services list is empty"));
    }
    let mut out = Vec::new();
    for (i, item) in list.into_iter().enumerate() {
        let label = item
            .get("service")
            .or_else(|| item.get("name"))
            .or(Some(&item))
            .and_then(Value::as_str)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        let where_ = format!("manifest {name}, services[{i}]{label}");
        let spec = match item {
            Value::String(s) => parse_item(s.trim(), &namespace),
            other => entry(other, &namespace),
        }
        .map_err(|m| ServicesError::new(where_, m))?;
        out.push(spec);
    }
    Ok(out)
}

fn entry(value: Value, namespace: &str) -> Result<ServiceSpec, String> {
    let e: Entry = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let namespace = e.namespace.unwrap_or_else(|| namespace.to_string());
    check_name("namespace", &namespace)?;
    check_name("service", &e.service)?;
    let non_empty = |what: &str, v: Option<String>| match v {
        Some(s) if s.trim().is_empty() => {
            Err(format!("{what} is empty: give a value or leave it out"))
        }
        other => Ok(other.map(|s| s.trim().to_string())),
    };
    Ok(ServiceSpec {
        namespace,
        service: e.service,
        service_port: non_empty(
            "service-port",
            e.service_port.map(|p| match p {
                PortValue::Number(n) => n.to_string(),
                PortValue::Name(s) => s,
            }),
        )?,
        api_id: non_empty("api-id", e.api_id)?,
        api_path: e.api_path,
        api_display_name: non_empty("api-display-name", e.api_display_name)?,
        products: e.products.map(|p| match p {
            Products::List(v) => v,
            Products::Text(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }),
        swagger_path: non_empty("swagger-path", e.swagger_path)?,
        breaking_changes: e.breaking_changes,
        versioning: VersionKeys {
            api_versions: match non_empty("api-versions", e.api_versions)? {
                Some(v) => {
                    super::versions::parse_list(&v).map_err(|e| e.to_string())?;
                    Some(v)
                }
                None => None,
            },
            versioning_scheme: e.versioning_scheme,
            version_query_name: non_empty("version-query-name", e.version_query_name)?,
            version_header_name: non_empty("version-header-name", e.version_header_name)?,
        },
    })
}

/// Two entries writing the same API would overwrite each other's revisions.
fn check_unique(specs: &[ServiceSpec]) -> Result<(), ServicesError> {
    for (i, s) in specs.iter().enumerate() {
        if let Some(first) = specs[..i].iter().position(|o| o.api_id() == s.api_id()) {
            return Err(ServicesError::new(
                format!("entry {} ({}/{})", i + 1, s.namespace, s.service),
                format!(
                    "api-id '{}' is also used by entry {} ({}/{}): give each service its own api-id",
                    s.api_id(),
                    first + 1,
                    specs[first].namespace,
                    specs[first].service
                ),
            ));
        }
    }
    Ok(())
}

impl ServiceSpec {
    /// The APIM API id this service publishes to.
    pub fn api_id(&self) -> &str {
        self.api_id.as_deref().unwrap_or(&self.service)
    }

    /// `namespace/service`, as the report names it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.service)
    }

    /// The run's inputs for this service: the entry's values over the single-service inputs.
    pub fn inputs(&self, base: &Inputs) -> Inputs {
        let mut i = base.clone();
        i.namespace = self.namespace.clone();
        i.service = Some(self.service.clone());
        i.service_port = self
            .service_port
            .clone()
            .or_else(|| base.service_port.clone());
        i.api_id = self.api_id.clone();
        i.api_path = self.api_path.clone();
        i.api_display_name = self.api_display_name.clone();
        if let Some(p) = &self.products {
            i.products = p.clone();
        }
        if let Some(s) = &self.swagger_path {
            i.swagger_path = Some(s.clone());
        }
        if let Some(b) = self.breaking_changes {
            i.breaking_changes = b;
        }
        let v = &self.versioning;
        if let Some(list) = &v.api_versions {
            i.api_versions = Some(list.clone());
        }
        if let Some(scheme) = v.versioning_scheme {
            i.versioning_scheme = scheme;
        }
        if let Some(q) = &v.version_query_name {
            i.version_query_name = q.clone();
        }
        if let Some(h) = &v.version_header_name {
            i.version_header_name = h.clone();
        }
        // One file per service, or each run would overwrite the last one's.
        let per_service = |p: &PathBuf, default_stem: &str| {
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(default_stem);
            let ext = p
                .extension()
                .and_then(|s| s.to_str())
                .map(|e| format!(".{e}"))
                .unwrap_or_default();
            p.with_file_name(format!("{stem}.{}-{}{ext}", self.namespace, self.service))
        };
        i.output_spec = base.output_spec.as_ref().map(|p| per_service(p, "openapi"));
        i.findings_file = base
            .findings_file
            .as_ref()
            .map(|p| per_service(p, "findings"));
        // One baseline file cannot be the previous document of several services.
        if base.baseline_spec.is_some() {
            i.baseline_spec = None;
            i.warnings.push(
                "baseline-spec is ignored with several services: each is compared with what APIM serves now"
                    .into(),
            );
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_take_the_default_namespace_port_and_api_id() {
        let s = parse_list(
            "orders, shop/cart:http=cart-v2\n# comment\n web:8080",
            "dflt",
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].namespace.as_str(), s[0].service.as_str()),
            ("dflt", "orders")
        );
        assert_eq!(s[1].label(), "shop/cart");
        assert_eq!(s[1].service_port.as_deref(), Some("http"));
        assert_eq!(s[1].api_id(), "cart-v2");
        assert_eq!(s[2].service_port.as_deref(), Some("8080"));
    }
}
