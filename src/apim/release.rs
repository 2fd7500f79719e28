//! Releasing a verified revision as current (a release resource naming it), its notes, and
//! adding the API to the products the inputs name.

use reqwest::Method;
use serde_json::json;

use super::ctx::Ctx;
use super::target::encode;
use super::{ApimError, Event, PublishOutcome, PublishRequest};
use crate::azure::ArmRequest;

/// `apim-gate-rev3-1a2b3c4d`: one release per revision and document.
pub(super) fn release_id(n: u32, sha256: &str) -> String {
    format!("apim-gate-rev{n}-{}", &sha256[..8])
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
    pub async fn release(&self, n: u32, release_id: &str, notes: &str) -> Result<(), ApimError> {
        let target = self.target;
        let release = json!({"properties": {
            "apiId": target.resource_id(Some(n)),
            "notes": notes,
        }});
        let release_url = format!("{}/releases/{release_id}", target.api_url(Some(n)));
        self.observer.event(Event::Writing {
            what: format!("release revision {n} as current ({release_id})"),
        });
        if let Err(error) = self.send(ArmRequest::put(release_url, release)).await {
            return Err(self
                .roll_back_after(
                    Some(n),
                    format!("Releasing revision {n} of API '{}'", target.api_id),
                    error,
                    String::new(),
                )
                .await);
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
