//! Rolling back: deleting what this run staged (a revision, or an API it had just created) when
//! a later step fails, so the live API is left as it was.

use super::ctx::Ctx;
use super::{ApimError, Cleanup, Event};
use crate::azure::{ArmRequest, AzureError};

impl Ctx<'_> {
    /// `step` failed with `error` after this run wrote `revision` (`None`: the API it created):
    /// deletes that, and returns the error saying how the clean-up went.
    pub async fn roll_back_after(
        &self,
        revision: Option<u32>,
        step: String,
        error: AzureError,
        hint: String,
    ) -> ApimError {
        let cleanup = self.roll_back(revision).await;
        ApimError::Step {
            api: self.target.api_id.clone(),
            step,
            error: Box::new(error),
            hint,
            cleanup,
        }
    }

    /// Deletes what this run staged, saying how that went. Only what still carries this run's
    /// marker is deleted: a concurrent run's revision or API is never touched.
    pub async fn roll_back(&self, revision: Option<u32>) -> Cleanup {
        let what = match revision {
            Some(n) => format!("DELETE revision {n} of API '{}'", self.target.api_id),
            None => format!("DELETE API '{}' created by this run", self.target.api_id),
        };
        self.observer.event(Event::Writing { what: what.clone() });
        match self.read(revision).await {
            // Never made (its creation failed): nothing to delete.
            Ok(None) => return Cleanup::Nothing,
            Ok(Some(api))
                if !self.run_marker.is_empty()
                    && api
                        .revision_description
                        .as_deref()
                        .is_some_and(|d| d.contains(&self.run_marker)) => {}
            Ok(Some(_)) => return Cleanup::NotOurs { revision },
            Err(e) => {
                let reason = e.to_string();
                return match revision {
                    Some(n) => Cleanup::LeftRevision {
                        revision: n,
                        reason,
                    },
                    None => Cleanup::LeftApi { reason },
                };
            }
        }
        let result = self
            .send_and_wait(
                ArmRequest::delete(self.target.api_url(revision)).for_cleanup(),
                &what,
            )
            .await;
        match (result, revision) {
            (Ok(_), Some(n)) => {
                self.observer.event(Event::CleanedUp {
                    what: format!("revision {n} deleted"),
                });
                Cleanup::DeletedRevision(n)
            }
            (Ok(_), None) => {
                self.observer.event(Event::CleanedUp {
                    what: format!("API '{}' deleted", self.target.api_id),
                });
                Cleanup::DeletedApi
            }
            (Err(e), Some(n)) => Cleanup::LeftRevision {
                revision: n,
                reason: e.to_string(),
            },
            (Err(e), None) => Cleanup::LeftApi {
                reason: e.to_string(),
            },
        }
    }
}
