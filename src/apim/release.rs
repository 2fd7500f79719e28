//! Releasing a verified revision as current (a release resource naming it), its notes, and
//! adding the API to the products the inputs name.

use reqwest::Method;
use serde_json::json;

use super::ctx::Ctx;
use super::target::encode;
use super::{ApimError, Event, PublishOutcome, PublishRequest};
use crate::azure::ArmRequest;
use crate::spec::Finding;

/// `apim-gate-rev3-1a2b3c4d`: one release per revision and run. A release id used before names
/// an existing release, and re-pointing it fails or moves an old one (Azure/azure-api-management-
/// devops-resource-kit#603); APIOps makes each one unique too (`apiops-set-current-{guid8}`).
pub(super) fn release_id(n: u32, run_marker: &str) -> String {
    let run: String = run_marker
        .trim_start_matches("run=")
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    format!("apim-gate-rev{n}-{run}")
}

/// Longest default release notes, in UTF-16 code units (how .NET, behind ARM, counts a string).
/// The 2024-05-01 specification gives `ApiReleaseContractProperties.notes` no `maxLength`, and
/// Microsoft Learn documents none; the API's other free texts of this kind,
/// `apiRevisionDescription` and `apiVersionDescription` (`ApiEntityBaseContract` in
/// definitions.json), are capped at 256, so the notes the gate writes keep to that as well.
pub const RELEASE_NOTES_MAX: usize = 256;

/// The release notes: the input as given, or the commit, the document's hash and a short
/// changelog (`endpoint-added GET /pets; ... and 3 more`) within [`RELEASE_NOTES_MAX`].
pub(super) fn notes_for(req: &PublishRequest<'_>, sha: &str) -> String {
    if let Some(notes) = &req.release_notes {
        return notes.clone();
    }
    let head = match &req.commit {
        Some(c) => format!(
            "Published by apim-gate from commit {} (document sha256 {})",
            truncate_units(c, 40),
            &sha[..12]
        ),
        None => format!("Published by apim-gate (document sha256 {})", &sha[..12]),
    };
    with_changelog(head, req.changes, RELEASE_NOTES_MAX)
}

/// `head`, then as many changes as fit in `max` UTF-16 units with the count of the rest.
fn with_changelog(head: String, changes: &[Finding], max: usize) -> String {
    let units = |s: &str| s.encode_utf16().count();
    if changes.is_empty() {
        return truncate_units(&head, max);
    }
    let entries: Vec<String> = changes
        .iter()
        .map(|f| {
            let what = f.operation.as_deref().unwrap_or("(document)");
            // Notes are plain text shown in the portal: one line each, no control characters.
            let line: String = format!("{} {what}", f.id)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            line
        })
        .collect();
    let mut out = format!("{head}. Changes: ");
    for (i, entry) in entries.iter().enumerate() {
        let rest = entries.len() - i - 1;
        let sep = if i == 0 { "" } else { "; " };
        let more = if rest == 0 {
            String::new()
        } else {
            format!(" ... and {rest} more")
        };
        // Room for this entry and, after it, the count of those left out.
        if units(&out) + units(sep) + units(entry) + units(&more) <= max {
            out.push_str(sep);
            out.push_str(entry);
            continue;
        }
        let more = format!(" ... and {} more", entries.len() - i);
        if i == 0 {
            out = format!("{head}. {} change(s)", entries.len());
        } else {
            out.push_str(&more);
        }
        return truncate_units(&out, max);
    }
    out
}

/// At most `max` UTF-16 units of `s`, cut at a character boundary.
fn truncate_units(s: &str, max: usize) -> String {
    let mut n = 0;
    let mut out = String::new();
    for c in s.chars() {
        n += c.len_utf16();
        if n > max {
            break;
        }
        out.push(c);
    }
    out
}

impl Ctx<'_> {
    /// Makes revision `n` current; a failure deletes it again (the current one never changed).
    ///
    /// The release is addressed on the bare API (`apis/{id}/releases/{rid}`) with the revision in
    /// the body's `apiId`, as azure-cli (`az apim api release create`), Azure PowerShell and
    /// APIOps send it (spec example ApiManagementCreateApiRelease). When the answer is an error
    /// (a 5xx after retries, a dropped connection), APIM may still have applied it: the API is
    /// read, and if revision `n` is current the release happened. Rolling back then would try to
    /// delete the current revision, which APIM refuses (Azure/apiops-cli#260, "Cannot delete the
    /// current revision").
    pub async fn release(&self, n: u32, release_id: &str, notes: &str) -> Result<(), ApimError> {
        let target = self.target;
        let release = json!({"properties": {
            "apiId": target.resource_id(Some(n)),
            "notes": notes,
        }});
        let release_url = format!("{}/releases/{release_id}", target.api_url(None));
        self.observer.event(Event::Writing {
            what: format!("release revision {n} as current ({release_id})"),
        });
        if let Err(error) = self.send(ArmRequest::put(release_url, release)).await {
            match self.read(None).await {
                Ok(Some(now)) if now.revision == n => {
                    self.observer.event(Event::Found {
                        what: format!(
                            "the release answered with an error ({error}), yet revision {n} is current: it was applied"
                        ),
                    });
                }
                _ => {
                    return Err(self
                        .roll_back_after(
                            Some(n),
                            format!("Releasing revision {n} of API '{}'", target.api_id),
                            error,
                            String::new(),
                        )
                        .await);
                }
            }
        }
        self.observer.event(Event::Released {
            revision: n,
            release_id: release_id.to_string(),
        });
        Ok(())
    }

    /// Adds the API to each product of the inputs (the API serves traffic already).
    pub async fn add_products(
        &self,
        revision: u32,
        outcome: &mut PublishOutcome,
    ) -> Result<(), ApimError> {
        for product in &self.target.products {
            let url = format!(
                "{}/products/{}/apis/{}",
                self.target.service_path(),
                encode(product),
                encode(&self.target.api_id)
            );
            self.observer.event(Event::Writing {
                what: format!("add API '{}' to product '{product}'", self.target.api_id),
            });
            self.send(ArmRequest::new(Method::PUT, url))
                .await
                .map_err(|error| ApimError::Product {
                    api: self.target.api_id.clone(),
                    revision,
                    product: product.clone(),
                    error: Box::new(error),
                })?;
            self.observer.event(Event::AddedToProduct {
                product: product.clone(),
            });
            outcome.products.push(product.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Level;

    fn change(id: &str, op: &str) -> Finding {
        Finding {
            id: id.into(),
            level: Level::Info,
            operation: Some(op.into()),
            path: String::new(),
            message: String::new(),
        }
    }

    #[test]
    fn notes_carry_a_short_changelog_within_the_limit() {
        let head = "Published by apim-gate from commit 0123456789abcdef0123456789abcdef01234567 \
                    (document sha256 0123456789ab)"
            .to_string();
        let few = [
            change("endpoint-added", "GET /pets"),
            change("new-optional-request-parameter", "GET /pets"),
        ];
        let notes = with_changelog(head.clone(), &few, RELEASE_NOTES_MAX);
        assert_eq!(
            notes,
            format!(
                "{head}. Changes: endpoint-added GET /pets; new-optional-request-parameter GET /pets"
            )
        );
        let many: Vec<Finding> = (0..40)
            .map(|i| {
                change(
                    "response-optional-property-added",
                    &format!("GET /pets/{i}"),
                )
            })
            .collect();
        let notes = with_changelog(head.clone(), &many, RELEASE_NOTES_MAX);
        assert!(notes.encode_utf16().count() <= RELEASE_NOTES_MAX, "{notes}");
        assert!(notes.contains("GET /pets/0"), "{notes}");
        let shown = notes.matches("response-optional-property-added").count();
        assert!((1..40).contains(&shown), "{notes}");
        assert!(
            notes.ends_with(&format!(" ... and {} more", 40 - shown)),
            "{notes}"
        );
        // A change too long for the room left is counted, not cut.
        let long = [change(
            "endpoint-added",
            &format!("GET /{}", "x".repeat(300)),
        )];
        let notes = with_changelog(head.clone(), &long, RELEASE_NOTES_MAX);
        assert_eq!(notes, format!("{head}. 1 change(s)"));
        assert!(
            with_changelog("é".repeat(300), &[], 256)
                .encode_utf16()
                .count()
                == 256
        );
    }

    #[test]
    fn release_ids_are_unique_per_run() {
        let (a, b) = (
            super::super::ctx::new_run_marker(),
            super::super::ctx::new_run_marker(),
        );
        assert_ne!(release_id(2, &a), release_id(2, &b));
        assert_eq!(
            release_id(3, "run=00ff00ff12345678"),
            "apim-gate-rev3-00ff00ff"
        );
        crate::inputs::check_apim_id("release id", &release_id(3, &a)).unwrap();
    }
}
