//! API version sets: the set `{api-id}` a versioned service's APIs belong to, written before a
//! version's API is created, and the versions APIM already has in it.
//!
//! Sources (Microsoft.ApiManagement 2024-05-01): `apimapiversionsets.json` (PUT
//! `.../apiVersionSets/{versionSetId}` answers 200/201 at once, no long-running operation) and
//! definitions.json ApiVersionSetContractProperties (`displayName` and `versioningScheme`
//! `Segment`|`Query`|`Header` required; `versionQueryName` for Query, `versionHeaderName` for
//! Header); example ApiManagementCreateApiVersionSet. An API joins a set with `apiVersion` and
//! `apiVersionSetId`, the set's full resource id (example
//! ApiManagementCreateApiNewVersionUsingExistingApi). Learn, "Versions in Azure API
//! Management": the versions of a set share the API's path and are told apart by the segment,
//! the query parameter or the header.

use serde::Deserialize;
use serde_json::{Value, json};

use super::ctx::Ctx;
use super::target::encode;
use super::{ApiTarget, ApimError, Cleanup};
use crate::azure::{ArmClient, ArmRequest};

/// How callers pick a version (the `versioning-scheme` input).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VersioningScheme {
    #[default]
    #[serde(alias = "Segment")]
    Segment,
    #[serde(alias = "Query")]
    Query,
    #[serde(alias = "Header")]
    Header,
}

impl VersioningScheme {
    /// As APIM spells it in `versioningScheme`.
    pub fn arm_name(self) -> &'static str {
        match self {
            VersioningScheme::Segment => "Segment",
            VersioningScheme::Query => "Query",
            VersioningScheme::Header => "Header",
        }
    }
}

/// The version of a version set one API is: set by the versions run for each version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionBinding {
    /// The version set's id (`{api-id}`).
    pub set_id: String,
    /// `apiVersion`: the version's name (`v1`).
    pub version: String,
    pub scheme: VersioningScheme,
    /// The query parameter (Query) or header (Header) that carries the version.
    pub query_name: String,
    pub header_name: String,
}

impl VersionBinding {
    /// The set's properties as they are written.
    fn properties(&self, display_name: &str) -> Value {
        let mut p = json!({
            "displayName": display_name,
            "versioningScheme": self.scheme.arm_name(),
        });
        match self.scheme {
            VersioningScheme::Query => p["versionQueryName"] = json!(self.query_name),
            VersioningScheme::Header => p["versionHeaderName"] = json!(self.header_name),
            VersioningScheme::Segment => {}
        }
        p
    }
}

/// `{service}/apiVersionSets/{id}`: the URL path of a set.
pub fn set_url(target: &ApiTarget, set_id: &str) -> String {
    format!(
        "{}/apiVersionSets/{}",
        target.service_path(),
        encode(set_id)
    )
}

/// The set's resource id as bodies carry it (`apiVersionSetId`): literal, not percent-encoded,
/// as [`ApiTarget::resource_id`].
pub fn set_resource_id(target: &ApiTarget, set_id: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apiVersionSets/{set_id}",
        target.subscription_id, target.resource_group, target.apim_service
    )
}

/// A version set as APIM has it: its properties and the ETag an update must send.
#[derive(Clone, Debug, PartialEq)]
pub struct ExistingSet {
    pub properties: Value,
    pub etag: Option<String>,
}

impl ExistingSet {
    fn str(&self, key: &str) -> Option<&str> {
        self.properties.get(key).and_then(Value::as_str)
    }

    /// `Header (header 'x-api-version')`: how callers choose a version in this set now.
    pub fn describe_scheme(&self) -> String {
        describe_scheme(
            self.str("versioningScheme").unwrap_or("none"),
            self.str("versionQueryName"),
            self.str("versionHeaderName"),
        )
    }
}

fn describe_scheme(scheme: &str, query: Option<&str>, header: Option<&str>) -> String {
    match scheme {
        s if s.eq_ignore_ascii_case("Query") => {
            format!("Query (query parameter '{}')", query.unwrap_or(""))
        }
        s if s.eq_ignore_ascii_case("Header") => {
            format!("Header (header '{}')", header.unwrap_or(""))
        }
        s if s.eq_ignore_ascii_case("Segment") => "Segment (a URL path segment)".to_string(),
        other => other.to_string(),
    }
}

/// What the versioning inputs would change in an existing set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetChange {
    /// `(old, new)` when the scheme or the name that carries the version changes: every caller
    /// of every version of the set has to change how it asks for a version, at once.
    pub scheme: Option<(String, String)>,
    /// The display name changes (nothing a caller notices).
    pub display_name: Option<(String, String)>,
}

impl VersionBinding {
    /// `Query (query parameter 'v')`: how callers will choose a version.
    pub fn describe_scheme(&self) -> String {
        describe_scheme(
            self.scheme.arm_name(),
            Some(&self.query_name),
            Some(&self.header_name),
        )
    }

    /// What writing this binding (with display name `explicit`, the `api-display-name` input)
    /// would change in `existing`; `None` when nothing.
    pub fn change_to(&self, existing: &ExistingSet, explicit: Option<&str>) -> Option<SetChange> {
        let own = existing.str("displayName").unwrap_or("");
        let wanted = self.properties(explicit.unwrap_or(own));
        let differs = |k: &str| {
            wanted.get(k).and_then(Value::as_str).map(str::to_string)
                != existing.str(k).map(str::to_string)
        };
        let scheme = ["versioningScheme", "versionQueryName", "versionHeaderName"]
            .iter()
            .any(|k| wanted.get(*k).is_some() && differs(k))
            .then(|| (existing.describe_scheme(), self.describe_scheme()));
        let display_name = differs("displayName").then(|| {
            (
                own.to_string(),
                wanted["displayName"].as_str().unwrap_or("").to_string(),
            )
        });
        (scheme.is_some() || display_name.is_some()).then_some(SetChange {
            scheme,
            display_name,
        })
    }

    /// The body of an update of `existing`: APIM's PUT replaces the whole set
    /// (apimapiversionsets.json ApiVersionSet_CreateOrUpdate), so what the inputs do not set
    /// (`description`) is carried over from the set as read.
    fn update_body(&self, existing: &ExistingSet, explicit: Option<&str>) -> Value {
        let own = existing.str("displayName").unwrap_or(&self.set_id);
        let mut props = self.properties(explicit.unwrap_or(own));
        if let Some(d) = existing
            .properties
            .get("description")
            .filter(|d| !d.is_null())
        {
            props["description"] = d.clone();
        }
        json!({ "properties": props })
    }
}

impl Ctx<'_> {
    async fn read_set(&self, set_id: &str) -> Result<Option<ExistingSet>, ApimError> {
        match self
            .send(ArmRequest::get(set_url(self.target, set_id)))
            .await
        {
            Ok(r) => Ok(Some(ExistingSet {
                properties: r.json().get("properties").cloned().unwrap_or(Value::Null),
                etag: r.etag(),
            })),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(error) => Err(self.set_failed("Reading", set_id, error)),
        }
    }

    fn set_failed(&self, step: &str, set_id: &str, error: crate::azure::AzureError) -> ApimError {
        ApimError::Step {
            api: self.target.api_id.clone(),
            step: format!("{step} version set '{set_id}'"),
            error: Box::new(error),
            hint: String::new(),
            cleanup: Cleanup::Nothing,
        }
    }

    /// Creates the version set when it is missing, with the scheme and a display name:
    /// `explicit` (the `api-display-name` input) when given, else `fallback` (the creating
    /// version's display name). An existing set is left as it is: changing it is the versions
    /// run's call ([`update_version_set`]), made only once every version passed, as a scheme
    /// change breaks every caller. Gives back what it did, for the log.
    pub(super) async fn create_version_set_if_missing(
        &self,
        binding: &VersionBinding,
        explicit: Option<&str>,
        fallback: &str,
    ) -> Result<Option<String>, ApimError> {
        if self.read_set(&binding.set_id).await?.is_some() {
            return Ok(None);
        }
        let what = format!(
            "created version set '{}' ({} versioning)",
            binding.set_id,
            binding.scheme.arm_name()
        );
        let body = json!({ "properties": binding.properties(explicit.unwrap_or(fallback)) });
        self.write_and_wait(
            ArmRequest::put(set_url(self.target, &binding.set_id), body),
            &what,
        )
        .await
        .map_err(|error| self.set_failed("Writing", &binding.set_id, error))?;
        Ok(Some(what))
    }
}

/// Reads version set `set_id`; `None` when APIM has no such set.
pub async fn read_version_set(
    arm: &ArmClient,
    target: &ApiTarget,
    set_id: &str,
) -> Result<Option<ExistingSet>, ApimError> {
    Ctx::reading(arm, target).read_set(set_id).await
}

/// Brings an existing version set in line with the versioning inputs (scheme, parameter name,
/// `api-display-name`), re-read now so the update carries its newest ETag in `If-Match`
/// (IfMatchOptionalParameter: "required when updating an entity") and keeps its description. A
/// missing set is left alone. Gives back what it changed.
pub async fn update_version_set(
    arm: &ArmClient,
    target: &ApiTarget,
    binding: &VersionBinding,
) -> Result<Option<SetChange>, ApimError> {
    let ctx = Ctx::reading(arm, target);
    let Some(existing) = ctx.read_set(&binding.set_id).await? else {
        return Ok(None);
    };
    let explicit = target.display_name.as_deref();
    let Some(change) = binding.change_to(&existing, explicit) else {
        return Ok(None);
    };
    let what = format!(
        "update version set '{}' ({} versioning)",
        binding.set_id,
        binding.scheme.arm_name()
    );
    ctx.write_and_wait(update_request(target, binding, &existing, explicit), &what)
        .await
        .map_err(|error| ctx.set_failed("Writing", &binding.set_id, error))?;
    Ok(Some(change))
}

/// The PUT that updates `existing`: the whole set (PUT replaces it), with its ETag in `If-Match`.
fn update_request(
    target: &ApiTarget,
    binding: &VersionBinding,
    existing: &ExistingSet,
    explicit: Option<&str>,
) -> ArmRequest {
    ArmRequest::put(
        set_url(target, &binding.set_id),
        binding.update_body(existing, explicit),
    )
    .if_match(existing.etag.clone().unwrap_or_else(|| "*".to_string()))
}

/// An API as the list of a service's APIs shows it (current revisions only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedApi {
    pub api_id: String,
    pub display_name: String,
    pub path: String,
    /// The name of the version set it is in (the tail of `apiVersionSetId`).
    pub set_id: Option<String>,
    pub version: String,
}

impl ListedApi {
    pub fn in_set(&self, set_id: &str) -> bool {
        self.set_id
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(set_id))
    }
}

/// Every API of the service (`target` names the APIM instance).
pub async fn list_apis(arm: &ArmClient, target: &ApiTarget) -> Result<Vec<ListedApi>, ApimError> {
    let ctx = Ctx::reading(arm, target);
    let items = arm
        .get_all(&format!("{}/apis", target.service_path()), &ctx.on_retry())
        .await
        .map_err(|error| ApimError::Read {
            api: format!("{} (the list of the service's APIs)", target.api_id),
            error: Box::new(error),
        })?;
    let text = |a: &Value, k: &str| {
        a.pointer(&format!("/properties/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(items
        .iter()
        .filter_map(|a| {
            Some(ListedApi {
                api_id: a.get("name").and_then(Value::as_str)?.to_string(),
                display_name: text(a, "displayName"),
                path: text(a, "path"),
                // Compared by the id's tail: APIM may spell the service's part of an id it
                // returns in another case than it was written.
                set_id: a
                    .pointer("/properties/apiVersionSetId")
                    .and_then(Value::as_str)
                    .and_then(|id| id.rsplit_once("/apiVersionSets/"))
                    .map(|(_, tail)| tail.to_string())
                    .filter(|t| !t.is_empty()),
                version: text(a, "apiVersion"),
            })
        })
        .collect())
}

/// A version APIM has in a set: the API's id and its `apiVersion`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetMember {
    pub api_id: String,
    pub version: String,
}

/// The APIs in version set `set_id` (current revisions; the list of APIs shows one per API).
/// `target` names the APIM instance.
pub async fn set_members(
    arm: &ArmClient,
    target: &ApiTarget,
    set_id: &str,
) -> Result<Vec<SetMember>, ApimError> {
    Ok(list_apis(arm, target)
        .await?
        .into_iter()
        .filter(|a| a.in_set(set_id))
        .map(|a| SetMember {
            api_id: a.api_id,
            version: a.version,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_carry_only_the_schemes_name() {
        let b = VersionBinding {
            set_id: "orders".into(),
            version: "v1".into(),
            scheme: VersioningScheme::Query,
            query_name: "api-version".into(),
            header_name: "x-version".into(),
        };
        let p = b.properties("Orders");
        assert_eq!(p["versioningScheme"], "Query");
        assert_eq!(p["versionQueryName"], "api-version");
        assert!(p.get("versionHeaderName").is_none());
        let s = VersionBinding {
            scheme: VersioningScheme::Segment,
            ..b
        };
        assert_eq!(
            s.properties("Orders"),
            json!({"displayName": "Orders", "versioningScheme": "Segment"})
        );
    }

    fn binding(scheme: VersioningScheme) -> VersionBinding {
        VersionBinding {
            set_id: "orders".into(),
            version: "v1".into(),
            scheme,
            query_name: "v".into(),
            header_name: "x-api-version".into(),
        }
    }

    fn existing() -> ExistingSet {
        ExistingSet {
            properties: json!({
                "displayName": "Orders",
                "description": "Orders of the shop",
                "versioningScheme": "Header",
                "versionHeaderName": "x-api-version",
            }),
            etag: Some("\"AAAAAAAAAAM=\"".into()),
        }
    }

    #[test]
    fn an_update_keeps_the_description_and_sends_the_sets_etag() {
        let target = ApiTarget {
            subscription_id: "sub".into(),
            resource_group: "rg".into(),
            apim_service: "apim".into(),
            api_id: "orders-v1".into(),
            api_path: "orders".into(),
            display_name: None,
            protocols: vec!["https".into()],
            subscription_required: true,
            products: Vec::new(),
            version: None,
        };
        let r = update_request(
            &target,
            &binding(VersioningScheme::Query),
            &existing(),
            Some("Orders API"),
        );
        assert_eq!(r.if_match.as_deref(), Some("\"AAAAAAAAAAM=\""));
        assert_eq!(
            r.body.unwrap()["properties"],
            json!({
                "displayName": "Orders API",
                "description": "Orders of the shop",
                "versioningScheme": "Query",
                "versionQueryName": "v",
            })
        );
        // No ETag known: `*`, still an explicit update.
        let r = update_request(
            &target,
            &binding(VersioningScheme::Query),
            &ExistingSet {
                etag: None,
                ..existing()
            },
            None,
        );
        assert_eq!(r.if_match.as_deref(), Some("*"));
    }

    #[test]
    fn a_scheme_or_carrier_change_is_told_apart_from_a_display_name_change() {
        let e = existing();
        assert_eq!(binding(VersioningScheme::Header).change_to(&e, None), None);
        let c = binding(VersioningScheme::Header)
            .change_to(&e, Some("Shop orders"))
            .unwrap();
        assert_eq!(c.scheme, None);
        assert_eq!(
            c.display_name,
            Some(("Orders".to_string(), "Shop orders".to_string()))
        );
        let c = binding(VersioningScheme::Query)
            .change_to(&e, None)
            .unwrap();
        assert_eq!(
            c.scheme,
            Some((
                "Header (header 'x-api-version')".to_string(),
                "Query (query parameter 'v')".to_string()
            ))
        );
        // Same scheme, another header: callers still break.
        let other_header = VersionBinding {
            header_name: "api-version".into(),
            ..binding(VersioningScheme::Header)
        };
        assert!(other_header.change_to(&e, None).unwrap().scheme.is_some());
    }
}
