//! Breaking-change detection between two documents. (Being written.)

use super::{Document, Finding};

/// Findings of `new` against `base`, most serious first.
pub fn diff(_base: &Document, _new: &Document) -> Vec<Finding> {
    Vec::new()
}
