//! What every step shares ([`Ctx`]): the ARM client, the target, the observer, and sending a
//! write and following its long-running operation to the end.

use super::{ApiTarget, Event, Observer};
use crate::azure::{ArmClient, ArmRequest, ArmResponse, AzureError};

pub(super) struct Ctx<'a> {
    pub arm: &'a ArmClient,
    pub target: &'a ApiTarget,
    pub observer: &'a dyn Observer,
}

impl Ctx<'_> {
    /// Retries are told to the observer.
    pub fn on_retry(&self) -> impl Fn(crate::azure::Retry) + Send + Sync + '_ {
        |r| self.observer.event(Event::Retrying(r))
    }

    pub async fn send(&self, req: ArmRequest) -> Result<ArmResponse, AzureError> {
        self.arm.send(req, &self.on_retry()).await
    }

    /// Sends a write and follows its long-running operation to the end.
    pub async fn write_and_wait(
        &self,
        req: ArmRequest,
        what: &str,
    ) -> Result<ArmResponse, AzureError> {
        self.observer.event(Event::Writing {
            what: what.to_string(),
        });
        let accepted = self.send(req).await?;
        let observer = self.observer;
        self.arm
            .wait(accepted, what, &self.on_retry(), &|poll| {
                observer.event(Event::Polling {
                    what: what.to_string(),
                    poll,
                })
            })
            .await
    }

    pub fn api_label(&self, revision: Option<u32>) -> String {
        match revision {
            Some(n) => format!("revision {n} of API '{}'", self.target.api_id),
            None => format!("API '{}'", self.target.api_id),
        }
    }
}
