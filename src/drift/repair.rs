//! `check --repair`: points the current revision at the address the gate would choose now, in
//! place. One PATCH of the API (which addresses the current revision) with `If-Match`, then a
//! read back: the serviceUrl is the new one and the current revision is the same one, so no
//! revision was made and nothing was released. A document is never imported here.
//!
//! PATCH of the current revision's `serviceUrl` is what APIM allows on it: the properties locked
//! on revisions are display name, description, path, protocols and the like, and only on
//! revisions that are not current (Learn, "Revisions in Azure API Management"); `Api_Update` takes
//! `serviceUrl` and `apiRevisionDescription` (apimapis.json 2024-05-01, ApiContractUpdateProperties,
//! as hashicorp/go-azure-sdk's apimanagement/2024-05-01 model carries them; spec example
//! ApiManagementUpdateApi sets `serviceUrl` with `If-Match: *`), and needs `If-Match`
//! (IfMatchRequiredParameter). The ETag read is what is sent, never `*`, so a release between
//! the read and the PATCH makes it fail (412) instead of being overwritten.

use serde_json::{Value, json};

use crate::apim::{ApiTarget, CurrentApi, SHA_MARKER};
use crate::azure::{ArmClient, ArmRequest, AzureError};

/// Times a PATCH meeting 412 (someone changed the API meanwhile) is re-read and tried again.
const ATTEMPTS: u32 = 3;

/// What the repair did.
#[derive(Clone, Debug)]
pub struct Repaired {
    pub from: String,
    pub to: String,
    pub revision: u32,
    /// The document record was moved to the document pointed at the new address.
    pub marker_updated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error(
        "repairing the serviceUrl of API '{api}' (revision {revision}) failed: {error}. Nothing else was changed; run apim-gate check --repair again, or set the serviceUrl in the Azure portal."
    )]
    Write {
        api: String,
        revision: u32,
        error: Box<AzureError>,
    },
    #[error(
        "APIM answered the read of API '{api}' (revision {revision}) without an ETag, so the repair could not be sent on the condition that nobody changed the API since (If-Match); nothing was changed. Run apim-gate check --repair again, or set the serviceUrl in the Azure portal."
    )]
    NoEtag { api: String, revision: u32 },
    #[error(
        "after the repair, API '{api}' {what}. Check the API in the Azure portal; run apim-gate check to see where it stands."
    )]
    Verify { api: String, what: String },
}

/// The description with the recorded SHA-256 replaced by `sha` (the rest, the run marker
/// included, kept).
fn with_sha(description: &str, sha: &str) -> Option<String> {
    let at = description.find(SHA_MARKER)? + SHA_MARKER.len();
    let end = description[at..]
        .find(|c: char| !c.is_ascii_hexdigit())
        .map_or(description.len(), |i| at + i);
    Some(format!(
        "{}{sha}{}",
        &description[..at],
        &description[end..]
    ))
}

/// The `If-Match` of the PATCH: the ETag the API was read with. `If-Match: *` would overwrite
/// whatever someone (a release) wrote since the check read it, so without an ETag the repair is
/// refused rather than sent unconditionally.
fn if_match(api: &str, revision: u32, etag: Option<&str>) -> Result<String, RepairError> {
    etag.map(str::to_string).ok_or_else(|| RepairError::NoEtag {
        api: api.to_string(),
        revision,
    })
}

/// Sets the current revision's serviceUrl to `to` (and, when `sha` is given, records that the
/// revision holds the document pointed there), then reads it back.
pub async fn repair(
    arm: &ArmClient,
    target: &ApiTarget,
    current: &CurrentApi,
    to: &str,
    sha: Option<&str>,
) -> Result<Repaired, RepairError> {
    let quiet = |_| {};
    let write_failed = |error: AzureError| RepairError::Write {
        api: target.api_id.clone(),
        revision: current.revision,
        error: Box::new(error),
    };
    let mut now = current.clone();
    let mut marker_updated = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut props = json!({ "serviceUrl": to });
        if let (Some(sha), Some(description)) = (sha, now.revision_description.as_deref())
            && let Some(updated) = with_sha(description, sha)
        {
            props["apiRevisionDescription"] = Value::String(updated);
            marker_updated = true;
        }
        let etag = if_match(&target.api_id, now.revision, now.etag.as_deref())?;
        let patch = ArmRequest::patch(
            target.api_url(None),
            json!({ "properties": props }),
            Some(etag),
        );
        match arm.send(patch, &quiet).await {
            Ok(_) => break,
            Err(e) if e.status() == Some(412) && attempt < ATTEMPTS => {
                let r = arm
                    .send(ArmRequest::get(target.api_url(None)), &quiet)
                    .await
                    .map_err(write_failed)?;
                now = parse(target, &r.json(), r.etag());
                if now.revision != current.revision {
                    return Err(RepairError::Verify {
                        api: target.api_id.clone(),
                        what: format!(
                            "had another current revision ({}, was {}) before the repair could be written: someone released meanwhile; nothing was changed",
                            now.revision, current.revision
                        ),
                    });
                }
            }
            Err(e) => return Err(write_failed(e)),
        }
    }
    let r = arm
        .send(ArmRequest::get(target.api_url(None)), &quiet)
        .await
        .map_err(write_failed)?;
    let after = parse(target, &r.json(), r.etag());
    let got = after.service_url.clone().unwrap_or_default();
    if got.trim_end_matches('/') != to.trim_end_matches('/') {
        return Err(RepairError::Verify {
            api: target.api_id.clone(),
            what: format!("calls '{got}', not {to}"),
        });
    }
    if after.revision != current.revision {
        return Err(RepairError::Verify {
            api: target.api_id.clone(),
            what: format!(
                "has revision {} current, not {}",
                after.revision, current.revision
            ),
        });
    }
    Ok(Repaired {
        from: current.service_url.clone().unwrap_or_default(),
        to: to.to_string(),
        revision: current.revision,
        marker_updated,
    })
}

fn parse(target: &ApiTarget, body: &Value, etag: Option<String>) -> CurrentApi {
    crate::apim::parse_api(&target.api_id, body, etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_etag_the_repair_is_refused_not_sent_with_a_wildcard() {
        assert_eq!(
            if_match("petstore", 3, Some("\"AAAA\"")).unwrap(),
            "\"AAAA\""
        );
        let e = if_match("petstore", 3, None).unwrap_err().to_string();
        assert!(e.contains("petstore") && e.contains("If-Match"), "{e}");
        assert!(e.contains("nothing was changed"), "{e}");
    }

    #[test]
    fn the_record_keeps_the_run_marker() {
        let old = "a".repeat(64);
        let new = "b".repeat(64);
        assert_eq!(
            with_sha(&format!("{SHA_MARKER}{old} run=0123"), &new).unwrap(),
            format!("{SHA_MARKER}{new} run=0123")
        );
        assert!(with_sha("manual", &new).is_none());
    }
}
