//! The address rewrite. (Being written.)
pub struct RewriteOptions;
pub fn rewrite() {}
