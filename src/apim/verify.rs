//! Verifying what was imported: the operations match the document one for one, and the
//! serviceUrl is the address found (APIM may leave it empty or take it from the document, so it
//! is set with PATCH and read back).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::import::Import;
use super::props::ApiProperties;
use super::read::parse_api;
use super::{ApimError, Cleanup, CurrentApi, Event, PRECONDITION_ATTEMPTS, PublishOutcome};
use crate::azure::{ArmRequest, ArmResponse, AzureError};
use crate::spec::Document;

/// What a failed verification does with what this run wrote.
pub(super) enum Undo {
    /// Delete the staged revision (`Some`) or the API this run created (`None`).
    Delete(Option<u32>),
    /// In-place: the live API was written; nothing to roll back to.
    Nothing,
}

/// What the imported API or revision must hold.
pub(super) struct Expected<'a> {
    /// `(METHOD, template)` of each operation.
    pub operations: &'a [(String, String)],
    pub service_url: &'a str,
    /// Protocols and subscriptionRequired are checked against these.
    pub properties: &'a ApiProperties,
}

/// Why verification did not pass.
enum VerifyError {
    Differences(Vec<String>),
    Azure(AzureError),
}

impl From<AzureError> for VerifyError {
    fn from(e: AzureError) -> Self {
        VerifyError::Azure(e)
    }
}

impl Ctx<'_> {
    /// The end of a write straight to the current revision (create, in-place import): verifies
    /// it against the document, undoing as `undo` says, then adds the API to its products as
    /// `revision`.
    pub async fn verify_current_then_link(
        &self,
        import: &Import,
        want: &ApiProperties,
        revision: u32,
        undo: Undo,
        outcome: &mut PublishOutcome,
    ) -> Result<(), ApimError> {
        self.verify_or_undo(
            None,
            &Expected {
                operations: &import.expected,
                service_url: &outcome.service_url,
                properties: want,
            },
            &mut outcome.notes,
            None,
            undo,
        )
        .await?;
        self.add_products(revision, outcome).await
    }

    /// Verifies `revision` (`None`: the current one); on failure undoes as `undo` says and
    /// returns the error naming what differs.
    pub async fn verify_or_undo(
        &self,
        revision: Option<u32>,
        expected: &Expected<'_>,
        notes: &mut Vec<String>,
        imported: Option<&ArmResponse>,
        undo: Undo,
    ) -> Result<(), ApimError> {
        let Err(e) = self.verify(revision, expected, notes, imported).await else {
            return Ok(());
        };
        let cleanup = match undo {
            Undo::Delete(staged) => self.roll_back(staged).await,
            Undo::Nothing => Cleanup::InPlace,
        };
        Err(match e {
            VerifyError::Differences(differences) => ApimError::Verification {
                api: self.target.api_id.clone(),
                what: self.api_label(revision),
                differences,
                cleanup,
            },
            VerifyError::Azure(error) => ApimError::Step {
                api: self.target.api_id.clone(),
                step: format!("Verifying {}", self.api_label(revision)),
                error: Box::new(error),
                hint: String::new(),
                cleanup,
            },
        })
    }

    /// The operations match the document one for one, the service URL is the address found
    /// (set with PATCH when APIM left it empty or wrong, then read back), and the protocols and
    /// subscriptionRequired are `want`'s (an import may take them from the document).
    ///
    /// `imported` is the import's final answer when it is already the contract of this very
    /// revision (the last `Location` poll is a GET of it): its serviceUrl and ETag are what a
    /// first GET would return, so that GET is not sent again.
    async fn verify(
        &self,
        revision: Option<u32>,
        expected: &Expected<'_>,
        notes: &mut Vec<String>,
        imported: Option<&ArmResponse>,
    ) -> Result<(), VerifyError> {
        let (service_url, want) = (expected.service_url, expected.properties);
        let ops = self.operations(revision).await?;
        let found: Vec<(String, String)> = ops
            .iter()
            .map(|o| (o.method.clone(), normalize_template(&o.url_template)))
            .collect();
        let mut differences = operation_differences(expected.operations, &found);

        let label = self.api_label(revision);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let known = imported.filter(|r| attempt == 1 && is_contract_of(r, revision));
            let r = match known {
                Some(r) => r.clone(),
                None => {
                    self.send(ArmRequest::get(self.target.api_url(revision)))
                        .await?
                }
            };
            let api = parse_api(&self.target.api_id, &r.json(), r.etag());
            if attempt == 1 {
                differences.extend(set_differences(self.target, &r.json()));
            }
            let actual = api.service_url.clone().unwrap_or_default();
            if actual.trim_end_matches('/') == service_url {
                differences.extend(gateway_differences(want, &api));
                break;
            }
            if attempt > PRECONDITION_ATTEMPTS {
                differences.push(format!(
                    "its serviceUrl is '{actual}' after setting it to '{service_url}'"
                ));
                differences.extend(gateway_differences(want, &api));
                break;
            }
            if attempt == 1 {
                notes.push(if actual.is_empty() {
                    format!(
                        "APIM left the serviceUrl of {label} empty after the import (it takes only an https server from an OpenAPI 3 document); set it to {service_url}"
                    )
                } else {
                    format!(
                        "APIM set the serviceUrl of {label} to {actual} from the document; set it to {service_url}"
                    )
                });
            }
            let patch = ArmRequest::patch(
                self.target.api_url(revision),
                json!({"properties": {"serviceUrl": service_url}}),
                api.etag.clone(),
            );
            self.observer.event(Event::Writing {
                what: format!("PATCH serviceUrl of {label} to {service_url}"),
            });
            match self.send(patch).await {
                Ok(_) => self.observer.event(Event::Fixed {
                    what: format!("serviceUrl of {label} set to {service_url}"),
                }),
                // Someone changed it meanwhile: read the new ETag and try again.
                Err(e) if e.status() == Some(412) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if differences.is_empty() {
            self.observer.event(Event::Verified {
                revision,
                operations: found.len(),
            });
            Ok(())
        } else {
            Err(VerifyError::Differences(differences))
        }
    }
}

/// A version that is no longer in its set, or no longer that version, as a sentence: an import
/// that leaves them out takes the API out of its set (Azure/apiops#759).
fn set_differences(target: &super::ApiTarget, contract: &serde_json::Value) -> Vec<String> {
    let Some(binding) = &target.version else {
        return Vec::new();
    };
    let text = |k: &str| {
        contract
            .pointer(&format!("/properties/{k}"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    };
    let set_id = text("apiVersionSetId");
    let in_set = set_id
        .rsplit_once("/apiVersionSets/")
        .is_some_and(|(_, tail)| tail.eq_ignore_ascii_case(&binding.set_id));
    if in_set && text("apiVersion") == binding.version {
        Vec::new()
    } else {
        vec![format!(
            "it is not version '{}' of version set '{}' (apiVersionSetId '{set_id}', apiVersion '{}')",
            binding.version,
            binding.set_id,
            text("apiVersion")
        )]
    }
}

/// Protocols and subscriptionRequired that are not `want`'s, as sentences.
fn gateway_differences(want: &ApiProperties, api: &CurrentApi) -> Vec<String> {
    let (_, said) = want.differences(&ApiProperties::of(api));
    let mut out: Vec<String> = said
        .into_iter()
        .filter(|s| s.starts_with("protocols") || s.starts_with("subscriptionRequired"))
        .map(|s| format!("its {s}"))
        .collect();
    out.sort();
    out
}

/// `(METHOD, template)` of each operation, in the form APIM stores: the path as written in the
/// document (basePath and server paths go into the service URL, not the template).
///
/// TRACE operations are left out: APIM does not import them (Learn, "API import restrictions
/// and known issues"; `apim-gate lint` warns `apim-trace-dropped`), so they are not missing.
pub fn expected_operations(document: &Document) -> Vec<(String, String)> {
    document
        .operations()
        .into_iter()
        .filter(|o| !o.method.eq_ignore_ascii_case("TRACE"))
        .map(|o| (o.method.to_ascii_uppercase(), normalize_template(&o.path)))
        .collect()
}

/// APIM may append required query parameters to a template (`/pets?status={status}`) and keeps
/// or drops a trailing slash; neither changes which requests reach the operation.
pub fn normalize_template(t: &str) -> String {
    let path = t.split('?').next().unwrap_or(t);
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

/// What differs between the document's operations and APIM's, as sentences.
pub(super) fn operation_differences(
    expected: &[(String, String)],
    found: &[(String, String)],
) -> Vec<String> {
    let count = |list: &[(String, String)]| {
        let mut m: BTreeMap<(String, String), usize> = BTreeMap::new();
        for k in list {
            *m.entry(k.clone()).or_default() += 1;
        }
        m
    };
    let (want, have) = (count(expected), count(found));
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for (k, n) in &want {
        let h = have.get(k).copied().unwrap_or(0);
        for _ in h..*n {
            missing.push(format!("{} {}", k.0, k.1));
        }
    }
    for (k, n) in &have {
        let w = want.get(k).copied().unwrap_or(0);
        for _ in w..*n {
            extra.push(format!("{} {}", k.0, k.1));
        }
    }
    let list = |items: &[String]| {
        let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
        let more = items.len().saturating_sub(shown.len());
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let mut out = Vec::new();
    if !missing.is_empty() {
        out.push(format!(
            "{} operation(s) of the document are not in APIM: {}",
            missing.len(),
            list(&missing)
        ));
    }
    if !extra.is_empty() {
        out.push(format!(
            "{} operation(s) in APIM are not in the document: {}",
            extra.len(),
            list(&extra)
        ));
    }
    out
}

/// A finished answer that is the contract of revision `revision` (with its ETag), as a GET of
/// that revision returns it. Only a numbered revision qualifies: its number says whose it is.
fn is_contract_of(r: &ArmResponse, revision: Option<u32>) -> bool {
    let Some(n) = revision else {
        return false;
    };
    let body = r.json();
    matches!(r.status, 200 | 201)
        && !r.in_progress()
        && r.etag().is_some()
        && body
            .pointer("/properties/apiRevision")
            .and_then(Value::as_str)
            == Some(n.to_string().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_out_of_its_set_is_a_difference() {
        let mut target = super::super::ApiTarget {
            subscription_id: "sub".into(),
            resource_group: "rg".into(),
            apim_service: "apim".into(),
            api_id: "orders-v2".into(),
            api_path: "orders".into(),
            display_name: None,
            protocols: vec!["https".into()],
            subscription_required: true,
            products: Vec::new(),
            version: None,
        };
        let lost = serde_json::json!({"properties": {"path": "orders"}});
        assert!(set_differences(&target, &lost).is_empty());
        target.version = Some(super::super::VersionBinding {
            set_id: "orders".into(),
            version: "v2".into(),
            scheme: super::super::VersioningScheme::Segment,
            query_name: "api-version".into(),
            header_name: "api-version".into(),
        });
        let d = set_differences(&target, &lost);
        assert!(d[0].contains("version set 'orders'"), "{d:?}");
        let kept = serde_json::json!({"properties": {"apiVersion": "v2",
            "apiVersionSetId": "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ApiManagement/service/apim/apiVersionSets/Orders"}});
        assert!(set_differences(&target, &kept).is_empty());
    }

    #[test]
    fn templates_compare_without_query_and_trailing_slash() {
        assert_eq!(normalize_template("/pets?status={status}"), "/pets");
        assert_eq!(normalize_template("/pets/"), "/pets");
        assert_eq!(normalize_template("/"), "/");
        assert_eq!(normalize_template("pets"), "/pets");
    }

    #[test]
    fn differences_name_each_operation() {
        let e = vec![
            ("GET".to_string(), "/a".to_string()),
            ("POST".to_string(), "/a".to_string()),
        ];
        let f = vec![
            ("GET".to_string(), "/a".to_string()),
            ("DELETE".to_string(), "/b".to_string()),
        ];
        let d = operation_differences(&e, &f);
        assert_eq!(d.len(), 2);
        assert!(d[0].contains("POST /a"), "{d:?}");
        assert!(d[1].contains("DELETE /b"), "{d:?}");
        assert!(operation_differences(&e, &e).is_empty());
    }
}
