//! Exporting the live API as APIM sees it (OpenAPI 3 JSON), the breaking-change baseline.

use serde_json::Value;

use super::{ApiTarget, ApimError};
use crate::azure::{ArmClient, ArmRequest};

/// The current revision exported as OpenAPI 3 JSON (APIM's own view of it), the breaking-change
/// baseline; `None` when the API does not exist.
pub async fn export_current(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Option<Vec<u8>>, ApimError> {
    let url = format!(
        "{}?format=openapi%2Bjson-link&export=true",
        target.api_url(None)
    );
    let api = || target.api_id.clone();
    let r = match arm.send(ArmRequest::get(url), &|_| {}).await {
        Ok(r) => r,
        Err(e) if e.status() == Some(404) => return Ok(None),
        Err(error) => {
            return Err(ApimError::Read {
                api: api(),
                error: Box::new(error),
            });
        }
    };
    let body = r.json();
    let link = body
        .pointer("/value/link")
        .or_else(|| body.pointer("/properties/value/link"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApimError::Export {
            api: api(),
            message: "the export answer has no value.link".into(),
        })?;
    // The link is a storage SAS URL: it carries its own signature and must not get the ARM token.
    let resp = arm
        .http()
        .get(link)
        .send()
        .await
        .map_err(|e| ApimError::Export {
            api: api(),
            message: format!("cannot download the export link: {e}"),
        })?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| ApimError::Export {
        api: api(),
        message: format!("cannot download the export link: {e}"),
    })?;
    if !status.is_success() {
        return Err(ApimError::Export {
            api: api(),
            message: format!(
                "the export link answered {status}: {}",
                crate::spec::snippet(&String::from_utf8_lossy(&bytes))
            ),
        });
    }
    Ok(Some(bytes.to_vec()))
}
