//! Releasing a verified revision as current (a release resource naming it), its notes, and
//! adding the API to the products the inputs name.

use reqwest::Method;
use serde_json::json;

use super::ctx::Ctx;
use super::target::encode;
use super::{ApimError, Event, PublishOutcome, PublishRequest};
use crate::azure::ArmRequest;

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

/// The release notes: the input, or the commit and the document's hash.
pub(super) fn notes_for(req: &PublishRequest<'_>, sha: &str) -> String {
    req.release_notes
        .clone()
        .unwrap_or_else(|| match &req.commit {
            Some(c) => format!(
                "Published by apim-gate from commit {c} (document sha256 {})",
                &sha[..12]
            ),
            None => format!("Published by apim-gate (document sha256 {})", &sha[..12]),
        })
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
