//! Reading the live API: its current revision's contract, its operations (every page), and the
//! highest revision number it has.

use serde_json::Value;

use super::ctx::Ctx;
use super::{ApiTarget, ApimError, SHA_MARKER};
use crate::azure::{ArmClient, ArmRequest, AzureError};

/// One operation of an API as APIM holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiOperation {
    pub name: String,
    /// Upper case.
    pub method: String,
    pub url_template: String,
}

/// The current revision of an API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentApi {
    pub api_id: String,
    pub revision: u32,
    pub etag: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub path: Option<String>,
    pub protocols: Vec<String>,
    pub subscription_required: bool,
    pub service_url: Option<String>,
    /// The document hash apim-gate recorded when it published this revision.
    pub sha256: Option<String>,
    pub revision_description: Option<String>,
    pub operations: Vec<ApiOperation>,
    /// The highest revision number the API has, when it was read with the operations (a staged
    /// release's next revision is one more); `None` makes the release read it itself.
    pub highest_revision: Option<u32>,
    /// The current revision's `updatedDateTime` from the revisions list (read with
    /// `highest_revision`): APIM sets it when a release makes the revision current, so a
    /// deprecation the live document carries is at most that old (`deprecation-days`).
    pub current_updated: Option<String>,
}

/// The API's current revision, its operations included; `None` when the API does not exist.
pub async fn current_api(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Option<CurrentApi>, ApimError> {
    let ctx = Ctx::reading(arm, target);
    let Some(mut api) = ctx.read(None).await? else {
        return Ok(None);
    };
    api.operations = current_operations(arm, target).await?;
    Ok(Some(api))
}

/// The current revision's contract (ETag, serviceUrl, recorded SHA-256) without its operations:
/// one request, enough to tell an unchanged document; `None` when the API does not exist.
pub async fn current_contract(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Option<CurrentApi>, ApimError> {
    let ctx = Ctx::reading(arm, target);
    ctx.read(None).await
}

/// The operations of the current revision (every page).
pub async fn current_operations(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Vec<ApiOperation>, ApimError> {
    let ctx = Ctx::reading(arm, target);
    ctx.operations(None)
        .await
        .map_err(|error| ctx.read_failed(error))
}

/// The highest revision number the API has (current or not).
pub async fn highest_revision(arm: &ArmClient, target: &ApiTarget) -> Result<u32, ApimError> {
    let ctx = Ctx::reading(arm, target);
    ctx.highest_revision()
        .await
        .map_err(|error| ctx.read_failed(error))
}

/// The highest revision number and the current revision's `updatedDateTime`, from one read of
/// the revisions list (ApiRevisionContract, spec example ApiManagementListApiRevisions).
pub async fn revisions_overview(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<(u32, Option<String>), ApimError> {
    let ctx = Ctx::reading(arm, target);
    ctx.revisions_overview()
        .await
        .map_err(|error| ctx.read_failed(error))
}

impl Ctx<'_> {
    pub fn read_failed(&self, error: AzureError) -> ApimError {
        ApimError::Read {
            api: self.target.api_id.clone(),
            error: Box::new(error),
        }
    }

    /// GET of the API (or a revision of it), without operations.
    pub async fn read(&self, revision: Option<u32>) -> Result<Option<CurrentApi>, ApimError> {
        match self
            .send(ArmRequest::get(self.target.api_url(revision)))
            .await
        {
            Ok(r) => Ok(Some(parse_api(&self.target.api_id, &r.json(), r.etag()))),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(error) => Err(self.read_failed(error)),
        }
    }

    pub async fn operations(&self, revision: Option<u32>) -> Result<Vec<ApiOperation>, AzureError> {
        let items = self
            .arm
            .get_all(
                &format!("{}/operations", self.target.api_url(revision)),
                &self.on_retry(),
            )
            .await?;
        Ok(items
            .iter()
            .map(|o| ApiOperation {
                name: o
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                method: o
                    .pointer("/properties/method")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_ascii_uppercase(),
                url_template: o
                    .pointer("/properties/urlTemplate")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
            .collect())
    }

    /// The highest revision number the API has (current or not).
    pub async fn highest_revision(&self) -> Result<u32, AzureError> {
        Ok(self.revisions_overview().await?.0)
    }

    /// The highest revision number, and the `updatedDateTime` of the revision marked `isCurrent`.
    pub async fn revisions_overview(&self) -> Result<(u32, Option<String>), AzureError> {
        let items = self
            .arm
            .get_all(
                &format!("{}/revisions", self.target.api_url(None)),
                &self.on_retry(),
            )
            .await?;
        let highest = items
            .iter()
            .filter_map(|r| r.get("apiRevision").and_then(Value::as_str))
            .filter_map(|n| n.parse::<u32>().ok())
            .max()
            .unwrap_or(1);
        let current_updated = items
            .iter()
            .find(|r| r.get("isCurrent").and_then(Value::as_bool) == Some(true))
            .and_then(|r| r.get("updatedDateTime").and_then(Value::as_str))
            .map(str::to_string);
        Ok((highest, current_updated))
    }
}

/// The contract in an API's GET answer.
pub fn parse_api(api_id: &str, body: &Value, etag: Option<String>) -> CurrentApi {
    let p = body.get("properties").cloned().unwrap_or(Value::Null);
    let text = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let description = text("apiRevisionDescription");
    CurrentApi {
        api_id: api_id.to_string(),
        revision: text("apiRevision")
            .and_then(|r| r.parse().ok())
            .unwrap_or(1),
        etag,
        display_name: text("displayName"),
        description: text("description"),
        protocols: p
            .get("protocols")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        // APIM's default when the property is absent is true.
        subscription_required: p
            .get("subscriptionRequired")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        path: p.get("path").and_then(Value::as_str).map(str::to_string),
        service_url: text("serviceUrl"),
        sha256: description.as_deref().and_then(recorded_sha),
        revision_description: description,
        operations: Vec::new(),
        highest_revision: None,
        current_updated: None,
    }
}

/// The hash in `apim-gate sha256=<hex>`, wherever it sits in the description.
fn recorded_sha(description: &str) -> Option<String> {
    let i = description.find(SHA_MARKER)?;
    let hex: String = description[i + SHA_MARKER.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_hash_is_read_back() {
        let h = "ab".repeat(32);
        assert_eq!(recorded_sha(&format!("{SHA_MARKER}{h}")), Some(h.clone()));
        assert_eq!(
            recorded_sha(&format!("release x; {SHA_MARKER}{h} more")),
            Some(h)
        );
        assert_eq!(recorded_sha("apim-gate sha256=abc"), None);
        assert_eq!(recorded_sha("manual"), None);
    }
}
