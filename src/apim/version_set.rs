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

impl Ctx<'_> {
    /// Makes the version set hold the scheme, and a display name: `explicit` (the
    /// `api-display-name` input) when given, else the set's own, else `fallback` (the creating
    /// version's display name). Written only when missing or different; `create: false` leaves
    /// a missing set alone. Gives back what it did, for the log.
    pub(super) async fn ensure_version_set(
        &self,
        binding: &VersionBinding,
        explicit: Option<&str>,
        fallback: &str,
        create: bool,
    ) -> Result<Option<String>, ApimError> {
        let url = set_url(self.target, &binding.set_id);
        let failed = |step: &str, error| ApimError::Step {
            api: self.target.api_id.clone(),
            step: format!("{step} version set '{}'", binding.set_id),
            error: Box::new(error),
            hint: String::new(),
            cleanup: Cleanup::Nothing,
        };
        let current = match self.send(ArmRequest::get(url.clone())).await {
            Ok(r) => Some(r.json()),
            Err(e) if e.status() == Some(404) => None,
            Err(error) => return Err(failed("Reading", error)),
        };
        if current.is_none() && !create {
            return Ok(None);
        }
        let own = current
            .as_ref()
            .and_then(|c| c.pointer("/properties/displayName"))
            .and_then(Value::as_str);
        let wanted = binding.properties(explicit.or(own).unwrap_or(fallback));
        let same = current.as_ref().is_some_and(|c| {
            wanted
                .as_object()
                .into_iter()
                .flatten()
                .all(|(k, v)| c.pointer(&format!("/properties/{k}")) == Some(v))
        });
        if same {
            return Ok(None);
        }
        let what = format!(
            "{} version set '{}' ({} versioning)",
            if current.is_some() {
                "updated"
            } else {
                "created"
            },
            binding.set_id,
            binding.scheme.arm_name()
        );
        self.write_and_wait(ArmRequest::put(url, json!({ "properties": wanted })), &what)
            .await
            .map_err(|error| failed("Writing", error))?;
        Ok(Some(what))
    }
}

/// Brings an existing version set in line with the versioning inputs (scheme, parameter name,
/// `api-display-name`) before the versions run; a missing set is left to the first version
/// created. Gives back what it changed.
pub async fn sync_version_set(
    arm: &ArmClient,
    target: &ApiTarget,
    binding: &VersionBinding,
) -> Result<Option<String>, ApimError> {
    Ctx::reading(arm, target)
        .ensure_version_set(
            binding,
            target.display_name.as_deref(),
            &binding.set_id,
            false,
        )
        .await
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
    let ctx = Ctx::reading(arm, target);
    // Compared by the id's tail: APIM may spell the service's part of an id it returns in
    // another case than it was written.
    let wanted = format!("/apiVersionSets/{set_id}").to_ascii_lowercase();
    let items = arm
        .get_all(&format!("{}/apis", target.service_path()), &ctx.on_retry())
        .await
        .map_err(|error| ApimError::Read {
            api: format!("{set_id} (the APIs of its version set)"),
            error: Box::new(error),
        })?;
    Ok(items
        .iter()
        .filter(|a| {
            a.pointer("/properties/apiVersionSetId")
                .and_then(Value::as_str)
                .is_some_and(|id| id.to_ascii_lowercase().ends_with(&wanted))
        })
        .filter_map(|a| {
            let api_id = a.get("name").and_then(Value::as_str)?;
            Some(SetMember {
                api_id: api_id.to_string(),
                version: a
                    .pointer("/properties/apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
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
}
