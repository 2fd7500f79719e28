//! What every step shares ([`Ctx`]): the ARM client, the target, the observer, and sending a
//! write and following its long-running operation to the end.

use super::{ApiTarget, Event, Observer, Quiet};
use crate::azure::{ArmClient, ArmRequest, ArmResponse, AzureError};

pub(super) struct Ctx<'a> {
    pub arm: &'a ArmClient,
    pub target: &'a ApiTarget,
    pub observer: &'a dyn Observer,
    /// `run=<id>`, unique to this run, written into every revision it makes: a clean-up deletes
    /// only what carries it, never what a concurrent run made. Empty when only reading.
    pub run_marker: String,
}

/// A new `run=<id>`: 64 random bits (std's per-process random hasher keys, the clock and the
/// process id), enough to tell two runs apart.
pub(super) fn new_run_marker() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    format!("run={:016x}", h.finish())
}

impl<'a> Ctx<'a> {
    /// A context that only reads: no observer to tell, no run marker to write.
    pub fn reading(arm: &'a ArmClient, target: &'a ApiTarget) -> Self {
        Ctx {
            arm,
            target,
            observer: &Quiet,
            run_marker: String::new(),
        }
    }

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
        self.send_and_wait(req, what).await
    }

    /// [`Ctx::write_and_wait`] without announcing it (the caller did).
    pub async fn send_and_wait(
        &self,
        req: ArmRequest,
        what: &str,
    ) -> Result<ArmResponse, AzureError> {
        let cleanup = req.cleanup;
        let accepted = self.send(req).await?;
        let observer = self.observer;
        self.arm
            .wait(accepted, what, cleanup, &self.on_retry(), &|poll| {
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
