//! What can go wrong publishing to APIM, each said with what happened, why, what to do, and
//! what became of the staged revision.

use std::fmt;

use crate::azure::AzureError;
use crate::exit::Exit;

/// What the failed run left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing had been written yet.
    Nothing,
    /// The staged revision was deleted; the current one never changed.
    DeletedRevision(u32),
    /// Deleting the staged revision failed too; it is there, not current.
    LeftRevision { revision: u32, reason: String },
    /// The API this run had just created was deleted again.
    DeletedApi,
    /// The API this run created could not be deleted.
    LeftApi { reason: String },
    /// `revision: in-place` wrote into the live API; there is nothing to roll back to.
    InPlace,
    /// What this run wrote no longer carries its marker (another run wrote it since), so it was
    /// left alone. `None`: the API.
    NotOurs { revision: Option<u32> },
}

impl Cleanup {
    fn sentence(&self, api: &str) -> String {
        match self {
            Cleanup::Nothing => String::new(),
            Cleanup::DeletedRevision(n) => format!(
                " Revision {n} was deleted again; the current revision is untouched (same operations, serviceUrl and ETag)."
            ),
            Cleanup::LeftRevision { revision, reason } => format!(
                " Deleting revision {revision} failed too ({reason}), so it is left in place, not current; the current revision is untouched. Delete it in the portal (API → Revisions) or with `az apim api delete --api-id '{api};rev={revision}' ...`."
            ),
            Cleanup::DeletedApi => {
                " The API this run had just created was deleted again, so nothing is left half-made.".into()
            }
            Cleanup::LeftApi { reason } => format!(
                " The API this run had just created could not be deleted ({reason}); delete API '{api}' in the portal before running again."
            ),
            Cleanup::NotOurs { revision } => format!(
                " {} now carries another run's marker, so this run did not delete it; the current revision is untouched. Serialise runs that publish the same API (a concurrency group).",
                match revision {
                    Some(n) => format!("Revision {n}"),
                    None => format!("API '{api}'"),
                }
            ),
            Cleanup::InPlace => {
                " With revision in-place the import went straight into the live API, so there is no untouched revision to fall back to: fix the cause and run again (revision staged avoids this).".into()
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApimError {
    #[error(
        "the document is {size} as compact JSON, more than the 4 MB API Management accepts inline; nothing was sent. Make it smaller (Swashbuckle: filter out internal endpoints or large examples) or split the API."
    )]
    TooLarge { bytes: usize, size: String },
    #[error("{0}")]
    Target(String),
    #[error("reading API '{api}' from API Management failed: {error}")]
    Read { api: String, error: Box<AzureError> },
    #[error("{step} failed: {error}{hint}{}", cleanup.sentence(api))]
    Step {
        api: String,
        step: String,
        error: Box<AzureError>,
        hint: String,
        cleanup: Cleanup,
    },
    #[error(
        "verification of {what} failed, so it was not released: {}.{}",
        differences.join("; "),
        cleanup.sentence(api)
    )]
    Verification {
        api: String,
        what: String,
        differences: Vec<String>,
        cleanup: Cleanup,
    },
    #[error(
        "revision {revision} of API '{api}' is released and serves traffic, but adding the API to product '{product}' failed: {error}. Check the products input (product ids, not display names) and run again; the run will find the document unchanged and only add the products."
    )]
    Product {
        api: String,
        revision: u32,
        product: String,
        error: Box<AzureError>,
    },
    #[error(
        "revision {revision} of API '{api}' is released and serves traffic, but setting its display name, description, protocols and subscription required failed: {reason}. Run again: the run will find the document unchanged and set them."
    )]
    Properties {
        api: String,
        revision: u32,
        reason: String,
    },
    #[error(
        "{what} of API '{api}' was created by someone else (another run?) between this run's read and its write, so this run wrote and deleted nothing. Serialise runs that publish the same API (a concurrency group per API), then run again."
    )]
    Conflict { api: String, what: String },
    #[error("exporting API '{api}' from API Management failed: {message}")]
    Export { api: String, message: String },
    #[error(
        "the policies for API '{api}' use named value(s) {} that APIM service '{service}' does not have, so nothing was written. Create them (portal: Named values; `az apim nv create --named-value-id NAME --display-name NAME --value ...`) or remove the references from the policy files, then run again.",
        missing.iter().map(|m| format!("{{{{{m}}}}}")).collect::<Vec<_>>().join(", ")
    )]
    NamedValues {
        api: String,
        service: String,
        missing: Vec<String>,
    },
}

impl ApimError {
    /// Bad inputs exit 2, a verification failure 1 (the gate refused), the rest 4.
    pub fn exit(&self) -> Exit {
        match self {
            ApimError::TooLarge { .. } | ApimError::Target(_) | ApimError::NamedValues { .. } => {
                Exit::Input
            }
            ApimError::Verification { .. } => Exit::Refused,
            ApimError::Read { error, .. } | ApimError::Step { error, .. } => match error.exit() {
                Exit::Input => Exit::Input,
                _ => Exit::Azure,
            },
            ApimError::Product { .. }
            | ApimError::Properties { .. }
            | ApimError::Conflict { .. }
            | ApimError::Export { .. } => Exit::Azure,
        }
    }

    /// What became of the staged revision, when the run got that far.
    pub fn cleanup(&self) -> Option<&Cleanup> {
        match self {
            ApimError::Step { cleanup, .. } | ApimError::Verification { cleanup, .. } => {
                Some(cleanup)
            }
            _ => None,
        }
    }
}

/// `4.0 MB`, `812 KB`, `96 bytes`.
pub fn human_size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB ({bytes} bytes)", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

impl fmt::Display for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sentence("the API").trim())
    }
}
