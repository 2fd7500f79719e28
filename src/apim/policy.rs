//! The API's and its operations' policies on APIM: the named values they use exist (checked
//! before any write), each policy is written to the revision being published, read back and
//! compared, and a dry run says what would change as a diff. Which policies and why is
//! `crate::policy`'s; this file only talks to ARM.
//!
//! Sources (Microsoft.ApiManagement 2024-05-01, `apimapis.json`, `apimnamedvalues.json`,
//! `definitions.json`):
//! - ApiPolicy_CreateOrUpdate `PUT .../apis/{apiId}/policies/policy` and
//!   ApiOperationPolicy_CreateOrUpdate `PUT .../apis/{apiId}/operations/{operationId}/policies/policy`,
//!   body `{"properties": {"format": "rawxml", "value": ...}}` (example
//!   ApiManagementCreateApiPolicyNonXmlEncoded; PolicyContentFormat `rawxml`: "non XML encoded"),
//!   answered 200/201, not long-running; `If-Match` is optional, so the write creates or replaces.
//!   `apiId` takes `;rev=N` (ApiIdRevParameter: "Revision has ;rev=n as a suffix"), and a policy
//!   written there goes live with the revision's release (Learn, "Revisions in API Management";
//!   Azure/apiops#728 shows tools that wrote to the live API instead).
//! - ApiPolicy_Get `?format=rawxml` (PolicyExportFormat: `xml`, the default, or `rawxml`), 404
//!   when the scope has no policy.
//! - NamedValue_Get `GET .../namedValues/{namedValueId}`, 404 when there is none. A policy names a
//!   value by its display name (Learn, "Use named values in Azure API Management policies"), which
//!   the portal makes the id as well but ARM clients need not, so an id that is not found, or found
//!   with another display name, is looked for among the display names (NamedValue_ListByService)
//!   before it counts as missing.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use serde_json::{Value, json};

use super::ctx::Ctx;
use super::target::encode;
use super::verify::{Undo, normalize_template};
use super::{ApimError, Cleanup};
use crate::azure::{ArmRequest, AzureError};
use crate::policy::{Policies, PolicyFile, diff, normalise, parse::parse_read_back};

/// How a revision records the policies it holds, in `apiRevisionDescription`, beside the
/// document's `apim-gate sha256=`.
pub const POLICY_MARKER: &str = "policies-sha256=";

/// The policies' hash recorded in a revision's description.
pub(super) fn recorded(description: Option<&str>) -> Option<String> {
    let d = description?;
    let i = d.find(POLICY_MARKER)?;
    let hex: String = d[i + POLICY_MARKER.len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| hex.to_ascii_lowercase())
}

/// Where a policy goes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum At {
    Api,
    /// The operation's name in APIM.
    Operation(String),
    /// The operation is not in the API (yet): `METHOD path` as the document has it.
    Missing(String),
}

/// One policy to write: where, and what.
struct Scope<'p> {
    at: At,
    /// For messages: `the API policy` or `the policy of operation getPet`.
    label: String,
    file: &'p PolicyFile,
}

/// Why writing or verifying the policies did not pass.
enum Failure {
    Azure { what: String, error: AzureError },
    Differences(Vec<String>),
}

impl Ctx<'_> {
    /// `None` for an operation that is not there.
    fn policy_url(&self, revision: Option<u32>, at: &At) -> Option<String> {
        let api = self.target.api_url(revision);
        match at {
            At::Api => Some(format!("{api}/policies/policy")),
            At::Operation(op) => Some(format!("{api}/operations/{}/policies/policy", encode(op))),
            At::Missing(_) => None,
        }
    }

    /// Refuses the run, before anything is written, when a policy uses a named value the service
    /// does not have; every missing one is named.
    pub async fn check_named_values(&self, policies: &Policies) -> Result<(), ApimError> {
        let names = policies.named_values();
        if names.is_empty() {
            return Ok(());
        }
        let service = self.target.service_path();
        let gets = names.iter().map(|name| {
            let url = format!("{service}/namedValues/{}", encode(name));
            async move { (name, self.send(ArmRequest::get(url)).await) }
        });
        let mut missing = Vec::new();
        for (name, answer) in join_all(gets).await {
            match answer {
                // Found by id, but a policy reaches it by display name (Learn, "Use named
                // values in Azure API Management policies"; NamedValueCreateContractProperties
                // `displayName`), so an id whose display name differs does not count: the list
                // below decides.
                Ok(r)
                    if r.json()
                        .pointer("/properties/displayName")
                        .and_then(Value::as_str)
                        == Some(name.as_str()) => {}
                Ok(_) => missing.push(name.clone()),
                Err(e) if e.status() == Some(404) => missing.push(name.clone()),
                Err(error) => return Err(self.read_failed(error)),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let listed = self
            .arm
            .get_all(&format!("{service}/namedValues"), &self.on_retry())
            .await
            .map_err(|error| self.read_failed(error))?;
        let display: BTreeSet<&str> = listed
            .iter()
            .filter_map(|v| v.pointer("/properties/displayName").and_then(Value::as_str))
            .collect();
        missing.retain(|m| !display.contains(m.as_str()));
        if missing.is_empty() {
            return Ok(());
        }
        Err(ApimError::NamedValues {
            api: self.target.api_id.clone(),
            service: self.target.apim_service.clone(),
            missing,
        })
    }

    /// The current API's own policy (`rawxml`); `None` when it has none.
    pub async fn read_api_policy(&self) -> Result<Option<String>, ApimError> {
        self.read_policy(None, &At::Api)
            .await
            .map_err(|error| self.read_failed(error))
    }

    /// The current API's operations that hold a policy no file in `policies` is for: a new
    /// revision copies every operation policy (Learn, "Revisions in API Management"), so one
    /// whose file was removed stays live. Their APIM names, sorted.
    pub async fn unmanaged_operation_policies(
        &self,
        policies: &Policies,
    ) -> Result<Vec<String>, ApimError> {
        let ops = match self.operations(None).await {
            Ok(ops) => ops,
            Err(e) if e.status() == Some(404) => return Ok(Vec::new()),
            Err(e) => return Err(self.read_failed(e)),
        };
        let managed = |method: &str, template: &str| {
            policies.operations.iter().any(|p| {
                p.method == method && normalize_template(&p.path) == normalize_template(template)
            })
        };
        let reads = ops
            .iter()
            .filter(|o| !managed(&o.method, &o.url_template))
            .map(|o| async move {
                let at = At::Operation(o.name.clone());
                (o, self.read_policy(None, &at).await)
            });
        let mut out = Vec::new();
        for (o, answer) in join_all(reads).await {
            match answer {
                Ok(Some(_)) => out.push(o.name.clone()),
                Ok(None) => {}
                Err(e) => return Err(self.read_failed(e)),
            }
        }
        out.sort();
        Ok(out)
    }

    /// The policy at a scope as APIM holds it (`rawxml`); `None` when there is none.
    async fn read_policy(
        &self,
        revision: Option<u32>,
        at: &At,
    ) -> Result<Option<String>, AzureError> {
        let Some(url) = self.policy_url(revision, at) else {
            return Ok(None);
        };
        match self
            .send(ArmRequest::get(format!("{url}?format=rawxml")))
            .await
        {
            Ok(r) => Ok(r
                .json()
                .pointer("/properties/value")
                .and_then(Value::as_str)
                .map(str::to_string)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Each policy with its APIM scope: operations are found by method and URL template among
    /// the revision's (APIM names them from the operationId its own way, so the name is read,
    /// not guessed). An operation not in the API (or no API at all) is [`At::Missing`].
    async fn scopes<'p>(
        &self,
        revision: Option<u32>,
        policies: &'p Policies,
    ) -> Result<Vec<Scope<'p>>, AzureError> {
        let mut out: Vec<Scope<'p>> = policies
            .api
            .iter()
            .map(|f| Scope {
                at: At::Api,
                label: "the API policy".into(),
                file: f,
            })
            .collect();
        if policies.operations.is_empty() {
            return Ok(out);
        }
        let ops = match self.operations(revision).await {
            Ok(ops) => ops,
            // No API yet (a dry run's first publish): no operation has a policy.
            Err(e) if e.status() == Some(404) => Vec::new(),
            Err(e) => return Err(e),
        };
        for p in &policies.operations {
            let template = normalize_template(&p.path);
            let at = match ops
                .iter()
                .find(|o| o.method == p.method && normalize_template(&o.url_template) == template)
            {
                Some(o) => At::Operation(o.name.clone()),
                None => At::Missing(format!("{} {}", p.method, p.path)),
            };
            out.push(Scope {
                at,
                label: format!("the policy of operation {}", p.operation_id),
                file: &p.file,
            });
        }
        Ok(out)
    }

    /// Writes every policy to `revision` (`None`: the current API), then reads each back and
    /// compares it, normalised, with what was sent.
    async fn write_policies(
        &self,
        revision: Option<u32>,
        policies: &Policies,
    ) -> Result<(), Failure> {
        let scopes = match self.scopes(revision, policies).await {
            Ok(s) => s,
            Err(error) => {
                return Err(Failure::Azure {
                    what: format!("Reading the operations of {}", self.api_label(revision)),
                    error,
                });
            }
        };
        let where_ = self.api_label(revision);
        let missing: Vec<String> = scopes
            .iter()
            .filter_map(|s| match &s.at {
                At::Missing(op) => Some(format!("{} has no operation {op} to hold it", where_)),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            return Err(Failure::Differences(missing));
        }
        let puts = scopes.iter().filter_map(|s| {
            let body = json!({"properties": {"format": "rawxml", "value": s.file.value()}});
            let req = ArmRequest::put(self.policy_url(revision, &s.at)?, body);
            let what = format!("write {} to {where_}", s.label);
            Some(async move { (s, self.write_and_wait(req, &what).await) })
        });
        for (s, answer) in join_all(puts).await {
            if let Err(error) = answer {
                return Err(Failure::Azure {
                    what: format!(
                        "Writing {} ({}) to {where_}",
                        s.label,
                        s.file.path.display()
                    ),
                    error,
                });
            }
        }
        let reads = scopes
            .iter()
            .map(|s| async move { (s, self.read_policy(revision, &s.at).await) });
        let mut differences = Vec::new();
        for (s, answer) in join_all(reads).await {
            let back = match answer {
                Ok(b) => b,
                Err(error) => {
                    return Err(Failure::Azure {
                        what: format!("Reading {} back from {where_}", s.label),
                        error,
                    });
                }
            };
            if let Some(d) = compare(s, back.as_deref()) {
                differences.push(d);
            }
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(Failure::Differences(differences))
        }
    }

    /// [`Ctx::write_policies`], undoing as `undo` says when it fails: a staged revision (or an
    /// API this run created) is deleted, so the live API and its policy stay as they were.
    pub async fn put_policies_or_undo(
        &self,
        revision: Option<u32>,
        policies: &Policies,
        undo: Undo,
    ) -> Result<(), ApimError> {
        let Err(failure) = self.write_policies(revision, policies).await else {
            return Ok(());
        };
        let cleanup = match undo {
            Undo::Delete(staged) => self.roll_back(staged).await,
            Undo::Nothing => Cleanup::InPlace,
        };
        Err(match failure {
            Failure::Azure { what, error } => {
                let hint = policy_hint(&error);
                ApimError::Step {
                    api: self.target.api_id.clone(),
                    step: what,
                    error: Box::new(error),
                    hint,
                    cleanup,
                }
            }
            Failure::Differences(differences) => ApimError::Verification {
                api: self.target.api_id.clone(),
                what: format!("the policies of {}", self.api_label(revision)),
                differences,
                cleanup,
            },
        })
    }

    /// For a dry run: a unified diff, per scope, from what the current revision holds to the
    /// policies given; empty when they already match.
    pub async fn policy_diff(&self, policies: &Policies) -> Result<String, ApimError> {
        let scopes = self
            .scopes(None, policies)
            .await
            .map_err(|error| self.read_failed(error))?;
        let reads = scopes
            .iter()
            .map(|s| async move { (s, self.read_policy(None, &s.at).await) });
        let mut out = String::new();
        for (s, now) in join_all(reads).await {
            let now = now.map_err(|error| self.read_failed(error))?;
            let old = now
                .as_deref()
                .and_then(|t| parse_read_back(t).ok())
                .map(|d| normalise::normalise(&d))
                .unwrap_or_default();
            out.push_str(&diff::unified(
                &old,
                &s.file.normalised(),
                &format!("APIM now: {}", s.label),
                &format!("{}: {}", s.file.input, s.file.path.display()),
            ));
        }
        Ok(out)
    }

    /// In-place: records `marker` (the document's and the policies' hashes) on the current
    /// revision once its policies are written and verified. PATCH takes `If-Match` (`*`: the
    /// import just wrote the API) and `apiRevisionDescription` (ApiUpdateContract).
    pub async fn record_marker(&self, marker: &str) -> Result<(), ApimError> {
        let req = ArmRequest::patch(
            self.target.api_url(None),
            json!({"properties": {"apiRevisionDescription": marker}}),
            None,
        );
        let what = format!("record the policies' hash on API '{}'", self.target.api_id);
        match self.write_and_wait(req, &what).await {
            Ok(_) => Ok(()),
            Err(error) => Err(ApimError::Step {
                api: self.target.api_id.clone(),
                step: format!(
                    "Recording the policies' hash on API '{}' (they are written and verified)",
                    self.target.api_id
                ),
                error: Box::new(error),
                hint: ". The next run will write the policies again.".into(),
                cleanup: Cleanup::InPlace,
            }),
        }
    }
}

/// What differs between a policy sent and the one read back, if anything.
fn compare(s: &Scope<'_>, back: Option<&str>) -> Option<String> {
    let Some(back) = back else {
        return Some(format!("{} is not there after writing it", s.label));
    };
    let Ok(doc) = parse_read_back(back) else {
        return Some(format!(
            "{} read back is not well-formed XML, so it cannot be compared",
            s.label
        ));
    };
    let (sent, got) = (s.file.normalised(), normalise::normalise(&doc));
    if sent == got {
        return None;
    }
    let first = sent
        .lines()
        .zip(got.lines())
        .find(|(a, b)| a != b)
        .map(|(a, b)| format!(": sent `{}`, read back `{}`", a.trim(), b.trim()))
        .unwrap_or_default();
    Some(format!(
        "{} read back differs from what was sent{first}",
        s.label
    ))
}

/// What the user can do about a policy APIM refused, from the words of its error.
fn policy_hint(error: &AzureError) -> String {
    let text = error.arm().map(|e| e.full_text()).unwrap_or_default();
    if text.contains("Cannot find a property") {
        ". A named value the policy uses does not exist (any more): create it, or remove the reference.".into()
    } else if text.contains("could not be found") {
        ". Something the policy names (a backend, a named value) does not exist in the APIM service.".into()
    } else if error.status() == Some(400) {
        ". APIM refused the policy document: fix the element it names and run again.".into()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_hash_is_found_beside_the_documents() {
        let h = "ab".repeat(32);
        let d = format!(
            "apim-gate sha256={} run=0123 {POLICY_MARKER}{h}",
            "cd".repeat(32)
        );
        assert_eq!(recorded(Some(&d)), Some(h));
        assert_eq!(
            recorded(Some("apim-gate sha256=x policies-sha256=abc")),
            None
        );
        assert_eq!(recorded(None), None);
    }
}
