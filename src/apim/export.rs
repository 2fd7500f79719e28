//! Exporting the live API as APIM sees it (OpenAPI 3 JSON), the breaking-change baseline.
//!
//! APIM answers a `…-link` export with a storage SAS URL on another origin than ARM: it carries
//! its own signature, so the ARM token is never sent there (the HTTP client sends no
//! `Authorization` to it; Azure Storage refuses a SAS request that also carries one). When the
//! link cannot be downloaded (a proxy or firewall that lets ARM through but not storage), the
//! inline export is asked for instead (`format=openapi+json`, then `swagger`), as APIOps'
//! extractor does; so too when APIM answers the link export itself with a 5xx (apiops#223).

use serde_json::Value;

use super::{ApiTarget, ApimError};
use crate::azure::{ArmClient, ArmRequest, AzureError};

/// The current revision exported as OpenAPI 3 JSON (APIM's own view of it), the breaking-change
/// baseline; `None` when the API does not exist.
pub async fn export_current(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Option<Vec<u8>>, ApimError> {
    let link_failed = match export(arm, target, "openapi%2Bjson-link").await {
        Ok(None) => return Ok(None),
        Ok(Some(body)) => {
            let link = body
                .pointer("/value/link")
                .or_else(|| body.pointer("/properties/value/link"))
                .and_then(Value::as_str)
                .ok_or_else(|| ApimError::Export {
                    api: target.api_id.clone(),
                    message: "the export answer has no value.link".into(),
                })?;
            match download(arm, link).await {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(reason) => format!("the export link could not be downloaded ({reason})"),
            }
        }
        // APIM can fail the link export itself with a 500 while the inline formats of the same
        // API work (Azure/apiops#223): after the client's retries, ask for the inline export.
        Err(error) if error.status().is_some_and(|s| s >= 500) => {
            format!("APIM could not make an export link ({error})")
        }
        Err(error) => {
            return Err(ApimError::Read {
                api: target.api_id.clone(),
                error: Box::new(error),
            });
        }
    };
    // The inline formats APIOps asks for (tools/code/common/Api.cs, GetExportFormat): `openapi+json`,
    // then `swagger`; `swagger-json` is an import format, which an export refuses.
    for format in ["openapi%2Bjson", "swagger"] {
        match export(arm, target, format).await {
            Ok(Some(body)) => {
                if let Some(doc) = inline_document(&body) {
                    return Ok(Some(doc));
                }
            }
            Ok(None) => return Ok(None),
            // An older or stricter APIM may not offer this inline format: try the next.
            Err(_) => {}
        }
    }
    Err(ApimError::Export {
        api: target.api_id.clone(),
        message: format!(
            "{link_failed}, and APIM offered no inline export either. Let this agent reach Azure Storage (*.blob.core.windows.net) through its proxy, or give baseline-spec"
        ),
    })
}

/// `GET {api}?format=…&export=true`; `None` when the API does not exist.
async fn export(
    arm: &ArmClient,
    target: &ApiTarget,
    format: &str,
) -> Result<Option<Value>, AzureError> {
    let url = format!("{}?format={format}&export=true", target.api_url(None));
    match arm.send(ArmRequest::get(url), &|_| {}).await {
        Ok(r) => Ok(Some(r.json())),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Downloads the SAS link without any ARM credential; the reason it failed, without the link's
/// query (its signature).
async fn download(arm: &ArmClient, link: &str) -> Result<Vec<u8>, String> {
    let resp = arm
        .http()
        .get(link)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if !status.is_success() {
        return Err(format!(
            "it answered {status}: {}",
            crate::spec::snippet(&String::from_utf8_lossy(&bytes))
        ));
    }
    Ok(bytes.to_vec())
}

/// The document of an inline export: `value` holds it as an object, or as JSON text.
fn inline_document(body: &Value) -> Option<Vec<u8>> {
    let value = body
        .get("value")
        .or_else(|| body.pointer("/properties/value"))?;
    match value {
        Value::Object(o) if !o.contains_key("link") => Some(value.to_string().into_bytes()),
        Value::String(s) if s.trim_start().starts_with('{') => Some(s.clone().into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inline_exports_hold_the_document_as_object_or_text() {
        let doc = json!({"openapi": "3.0.1", "paths": {}});
        assert_eq!(
            inline_document(&json!({"value": doc})).unwrap(),
            doc.to_string().into_bytes()
        );
        assert!(inline_document(&json!({"value": doc.to_string()})).is_some());
        assert!(inline_document(&json!({"value": {"link": "https://x"}})).is_none());
        assert!(inline_document(&json!({"id": "x"})).is_none());
    }
}
