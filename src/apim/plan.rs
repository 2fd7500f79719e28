//! What a dry run says it would do, in sentences (nothing here sends a request).

use super::import::Import;
use super::{ApiTarget, CurrentApi};

pub(super) fn unchanged(target: &ApiTarget, current: &CurrentApi, sha: &str) -> String {
    format!(
        "Dry run, nothing was written. Revision {} of API '{}' already holds this document (SHA-256 {}): nothing would change.",
        current.revision,
        target.api_id,
        &sha[..12]
    )
}

pub(super) fn create(
    target: &ApiTarget,
    display_name: &str,
    import: &Import,
    service_url: &str,
) -> String {
    format!(
        "Dry run, nothing was written. API '{}' does not exist: would create it (path '{}', display name '{display_name}', protocols {}, subscription {}required) by importing {}, set its serviceUrl to {}, verify it{}.",
        target.api_id,
        target.api_path,
        target.protocols.join(", "),
        if target.subscription_required {
            ""
        } else {
            "not "
        },
        import.describe(),
        service_url,
        products_clause(target)
    )
}

/// `differences`: the document's operations against the current revision's.
#[allow(clippy::too_many_arguments)]
pub(super) fn staged(
    target: &ApiTarget,
    current: &CurrentApi,
    n: u32,
    import: &Import,
    service_url: &str,
    release_id: &str,
    notes: &str,
    differences: &[String],
) -> String {
    format!(
        "Dry run, nothing was written. API '{}' is at revision {} (serviceUrl {}). Would create revision {n} from it, import {} into it, set its serviceUrl to {}, verify it, and release it as current (release '{release_id}', notes \"{notes}\"){}. Against revision {}: {}.",
        target.api_id,
        current.revision,
        current.service_url.as_deref().unwrap_or("empty"),
        import.describe(),
        service_url,
        products_clause(target),
        current.revision,
        if differences.is_empty() {
            "same operations".to_string()
        } else {
            differences.join("; ")
        }
    )
}

pub(super) fn in_place(
    target: &ApiTarget,
    current: &CurrentApi,
    import: &Import,
    service_url: &str,
) -> String {
    format!(
        "Dry run, nothing was written. API '{}' is at revision {}: would import {} straight into it (revision in-place), set its serviceUrl to {} and verify it{}.",
        target.api_id,
        current.revision,
        import.describe(),
        service_url,
        products_clause(target)
    )
}

/// ` Would write the API policy ... and verify them (the report shows the diff).`, or nothing.
pub(super) fn policies(policies: Option<&crate::policy::Policies>, into: &str) -> String {
    match policies {
        None => String::new(),
        Some(p) => format!(
            " Would write {} to {into} as rawxml, then read each back and compare it (the report shows the diff).",
            p.describe()
        ),
    }
}

fn products_clause(target: &ApiTarget) -> String {
    if target.products.is_empty() {
        String::new()
    } else {
        format!(", and add it to product(s) {}", target.products.join(", "))
    }
}
