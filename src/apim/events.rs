//! What publishing tells its caller while it works: [`Event`]s sent to an [`Observer`] (this
//! module never prints).

use crate::azure::Retry;

/// Things worth telling the user while publishing.
#[derive(Clone, Debug)]
pub enum Event {
    /// What was found.
    Found {
        what: String,
    },
    /// A write is about to be sent.
    Writing {
        what: String,
    },
    /// A long-running operation was polled.
    Polling {
        what: String,
        poll: u32,
    },
    /// A request waits and tries again.
    Retrying(Retry),
    /// A property APIM got wrong was corrected.
    Fixed {
        what: String,
    },
    Verified {
        revision: Option<u32>,
        operations: usize,
    },
    Released {
        revision: u32,
        release_id: String,
    },
    AddedToProduct {
        product: String,
    },
    CleanedUp {
        what: String,
    },
}

pub trait Observer: Send + Sync {
    fn event(&self, event: Event);
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _: Event) {}
}
