//! Publish, revisions, verify, release, roll back.
//!
//! [`publish`] puts a rewritten document into API Management without ever leaving the live API
//! broken. The sequence, one file per step:
//!
//! 1. `read`: the current revision's contract (or none: the API does not exist yet); `export`
//!    gives the breaking-change baseline before publishing;
//! 2. unchanged: a document whose SHA-256 is already recorded on the current revision changes
//!    nothing;
//! 3. `create` a new API by importing the document, or `stage` a revision from the current one
//!    (`revision: staged`), or import `in_place` (`revision: in-place`); the API and a revision
//!    are re-checked right before they are created, so another run's work is a conflict; a
//!    version of a version set is created in its set, written first (`version_set`);
//! 4. `import` the document (with `protocols` always) and follow its long-running operation;
//! 5. `verify` the operations, serviceUrl, protocols and subscriptionRequired;
//! 6. `release` the staged revision as current, set on it what a non-current revision may not
//!    change (`props`: display name, description, protocols, subscription required), then add
//!    the API to its products;
//! 7. on any failure before the release, `rollback` deletes what this run staged (only what
//!    carries this run's marker), so the current revision stays exactly as it was.
//!
//! With the `policy` / `operation-policies` inputs, `policy` checks their named values before any
//! write, writes them to the revision after step 4 and reads them back (step 5 for policies);
//! their hash joins the document's in the revision's description, so unchanged means both.
//!
//! With `backend: pool`, [`backends`] keeps the node backends and their pool around these steps:
//! written before the revision is staged, stale ones removed after the release.
//!
//! Nothing here prints: progress goes to an [`Observer`].

pub mod backends;
mod create;
mod ctx;
mod error;
mod events;
mod export;
mod import;
mod in_place;
mod plan;
mod policy;
mod props;
mod read;
mod release;
mod request;
mod rollback;
mod stage;
mod target;
mod verify;
pub mod version_set;

pub use error::{ApimError, Cleanup, human_size};
pub use events::{Event, Observer, Quiet};
pub use export::export_current;
pub use policy::POLICY_MARKER;
pub use read::{
    ApiOperation, CurrentApi, current_api, current_contract, current_operations, highest_revision,
    parse_api, revisions_overview,
};
pub use request::{PublishKind, PublishOutcome, PublishRequest, commit_from_env};
pub use target::ApiTarget;
pub use verify::{expected_operations, normalize_template};
pub use version_set::{VersionBinding, VersioningScheme};

use crate::azure::ArmClient;
use crate::inputs::RevisionMode;
use ctx::Ctx;
use import::Import;

/// The largest document APIM imports inline.
pub const INLINE_LIMIT: usize = 4 * 1024 * 1024;
/// How a revision records the document it holds, in `apiRevisionDescription`.
pub const SHA_MARKER: &str = "apim-gate sha256=";
/// Times a write with a stale ETag (412) is re-read and tried again.
const PRECONDITION_ATTEMPTS: u32 = 3;

/// Publishes `req.document`: create, or stage a revision, import, verify, release; or nothing
/// when the current revision already holds it.
pub async fn publish(
    arm: &ArmClient,
    req: &PublishRequest<'_>,
    observer: &dyn Observer,
) -> Result<PublishOutcome, ApimError> {
    req.target.check()?;
    let mut import = Import::new(req.document)?;
    if let Some(p) = req.policies {
        import
            .marker
            .push_str(&format!(" {POLICY_MARKER}{}", p.sha256()));
    }
    let ctx = Ctx {
        arm,
        target: req.target,
        observer,
        run_marker: import.run_marker.clone(),
    };
    let outcome = first_outcome(arm, req, &import);
    let current = match req.current {
        Some(known) => known.clone(),
        None => ctx.read(None).await?,
    };
    let Some(current) = current else {
        observer.event(Event::Found {
            what: format!("API '{}' does not exist yet", req.target.api_id),
        });
        let outcome = check_policies(&ctx, req, outcome).await?;
        return create::create(&ctx, req, &import, outcome).await;
    };
    let outcome = found_current(req, &import, &current, outcome, observer);
    if outcome.kind == PublishKind::Unchanged {
        return unchanged_document(&ctx, req, &current, outcome).await;
    }
    let outcome = check_policies(&ctx, req, outcome).await?;
    match req.revision {
        RevisionMode::Staged => stage::staged(&ctx, req, &import, &current, outcome).await,
        RevisionMode::InPlace => in_place::in_place(&ctx, req, &import, &current, outcome).await,
    }
}

/// The current revision holds this document; only what the inputs say about the API (display
/// name, protocols, subscription required) may have changed, and is set on the current API.
async fn unchanged_document(
    ctx: &Ctx<'_>,
    req: &PublishRequest<'_>,
    current: &CurrentApi,
    mut outcome: PublishOutcome,
) -> Result<PublishOutcome, ApimError> {
    let want = props::ApiProperties::wanted(req);
    let (patch, said) = want.differences(&props::ApiProperties::of(current));
    if patch.is_empty() {
        return Ok(outcome);
    }
    if req.dry_run {
        outcome.dry_run_plan = Some(format!(
            "Dry run, nothing was written. Revision {} of API '{}' already holds this document; would set {} on the API.",
            current.revision,
            req.target.api_id,
            said.join(", ")
        ));
        return Ok(outcome);
    }
    ctx.apply_properties(current.revision, &want).await?;
    outcome.changed = true;
    outcome.notes.push(format!(
        "the document is unchanged; set {} on API '{}'",
        said.join(", "),
        req.target.api_id
    ));
    Ok(outcome)
}

/// Before any write (the backends of `backend: pool` included, issue 14: "nothing written"):
/// every named value the policies use exists, else the run is refused naming them all. The
/// caller runs it before [`publish`] and before anything else it writes; [`publish`] itself
/// does not repeat it.
pub async fn check_named_values(
    arm: &ArmClient,
    target: &ApiTarget,
    policies: &crate::policy::Policies,
    observer: &dyn Observer,
) -> Result<(), ApimError> {
    let ctx = Ctx {
        arm,
        target,
        observer,
        run_marker: String::new(),
    };
    ctx.check_named_values(policies).await
}

/// The live API's policy as APIM holds it (`rawxml`, ApiPolicy_Get), `None` when it has none
/// (404): with `backend: pool` and no `policy` input the routing is spliced into it, since a new
/// revision copies it (Learn, "Revisions in API Management") and replacing it would drop a
/// policy kept by hand.
pub async fn live_api_policy(
    arm: &ArmClient,
    target: &ApiTarget,
) -> Result<Option<String>, ApimError> {
    Ctx::reading(arm, target).read_api_policy().await
}

/// The live API's operations whose policy no `operation-policies` file is for (it stays live:
/// the gate writes policies, it never deletes one), by APIM name.
pub async fn unmanaged_operation_policies(
    arm: &ArmClient,
    target: &ApiTarget,
    policies: &crate::policy::Policies,
) -> Result<Vec<String>, ApimError> {
    Ctx::reading(arm, target)
        .unmanaged_operation_policies(policies)
        .await
}

/// A dry run gets the policies' diff against what APIM holds now (the named values were checked
/// by [`check_named_values`] before anything was written).
async fn check_policies(
    ctx: &Ctx<'_>,
    req: &PublishRequest<'_>,
    mut outcome: PublishOutcome,
) -> Result<PublishOutcome, ApimError> {
    let Some(policies) = req.policies else {
        return Ok(outcome);
    };
    if req.dry_run {
        outcome.policy_diff = Some(ctx.policy_diff(policies).await?);
    }
    Ok(outcome)
}

/// The outcome before anything is read: nothing changed yet.
fn first_outcome(arm: &ArmClient, req: &PublishRequest<'_>, import: &Import) -> PublishOutcome {
    PublishOutcome {
        api_id: req.target.api_id.clone(),
        kind: PublishKind::Unchanged,
        revision: None,
        previous_revision: None,
        service_url: req.service_url.trim_end_matches('/').to_string(),
        operations: import.expected.len(),
        changed: false,
        dry_run: req.dry_run,
        sha256: import.sha256.clone(),
        release_id: None,
        products: Vec::new(),
        portal_url: req.target.portal_url(arm.portal()),
        dry_run_plan: None,
        notes: Vec::new(),
        policy_diff: None,
    }
}

/// Says what the current revision holds; the outcome stays [`PublishKind::Unchanged`] only
/// when it already holds this document (same SHA-256) and, when policies are given, these
/// policies (same recorded hash), and otherwise becomes a placeholder the next step replaces.
fn found_current(
    req: &PublishRequest<'_>,
    import: &Import,
    current: &CurrentApi,
    mut outcome: PublishOutcome,
    observer: &dyn Observer,
) -> PublishOutcome {
    let sha = &import.sha256;
    let policies_held = match req.policies {
        None => true,
        Some(p) => policy::recorded(current.revision_description.as_deref()) == Some(p.sha256()),
    };
    outcome.previous_revision = Some(current.revision);
    outcome.revision = Some(current.revision);
    observer.event(Event::Found {
        what: format!(
            "API '{}': current revision {}{}",
            req.target.api_id,
            current.revision,
            match &current.sha256 {
                Some(s) if s == sha && !policies_held =>
                    " holds this document (same SHA-256) but other policies".to_string(),
                Some(s) if s == sha => " holds this document (same SHA-256)".to_string(),
                Some(_) => " holds another document".to_string(),
                None => " was not published by apim-gate".to_string(),
            }
        ),
    });
    if let Some(path) = current
        .path
        .as_deref()
        .filter(|p| *p != req.target.api_path)
    {
        outcome.notes.push(format!(
            "api-path is '{}' but the API's path is '{path}'; revisions keep the API's path, so it stays",
            req.target.api_path,
        ));
    }
    if current.sha256.as_deref() == Some(sha.as_str()) && policies_held {
        if req.dry_run {
            outcome.dry_run_plan = Some(plan::unchanged(req.target, current, sha));
        }
    } else {
        outcome.kind = match req.revision {
            RevisionMode::Staged => PublishKind::Staged,
            RevisionMode::InPlace => PublishKind::InPlace,
        };
    }
    outcome
}

/// What the current revision's policies differ in from `policies`, as a unified diff per
/// scope; empty when APIM holds them (normalised). Only reads (the drift check).
pub async fn policy_drift(
    arm: &ArmClient,
    target: &ApiTarget,
    policies: &crate::policy::Policies,
) -> Result<String, ApimError> {
    Ctx::reading(arm, target).policy_diff(policies).await
}
