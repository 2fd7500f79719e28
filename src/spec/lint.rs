//! The APIM import lint. (Being written.)

use super::{Document, Finding};

/// What APIM would reject or silently change in `doc`.
pub fn lint(_doc: &Document) -> Vec<Finding> {
    Vec::new()
}
