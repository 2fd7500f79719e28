//! `revision: in-place`: the document is imported straight into the current revision, then
//! verified. There is no untouched revision to fall back to, so nothing is rolled back.

use super::ctx::Ctx;
use super::import::Import;
use super::props::ApiProperties;
use super::verify::Undo;
use super::{ApimError, CurrentApi, PublishKind, PublishOutcome, PublishRequest, plan};

pub(super) async fn in_place(
    ctx: &Ctx<'_>,
    req: &PublishRequest<'_>,
    import: &Import,
    current: &CurrentApi,
    mut outcome: PublishOutcome,
) -> Result<PublishOutcome, ApimError> {
    outcome.kind = PublishKind::InPlace;
    outcome.revision = Some(current.revision);
    if req.dry_run {
        outcome.dry_run_plan = Some(
            plan::in_place(req.target, current, import, &outcome.service_url)
                + &plan::policies(req.policies, "the current revision"),
        );
        return Ok(outcome);
    }
    let want = ApiProperties::wanted(req);
    // With policies, the import records only the document's hash: the policies' joins it once
    // they are written and verified, so a run that fails between the two is not taken for
    // unchanged by the next one.
    let document_only = req.policies.map(|_| Import {
        marker: import
            .marker
            .split(' ')
            .filter(|w| !w.starts_with(super::POLICY_MARKER))
            .collect::<Vec<_>>()
            .join(" "),
        ..import.clone()
    });
    ctx.import_in_place(
        document_only.as_ref().unwrap_or(import),
        current,
        &outcome.service_url,
        &want,
    )
    .await?;
    outcome.changed = true;
    if let Some(policies) = req.policies {
        ctx.put_policies_or_undo(None, policies, Undo::Nothing)
            .await?;
        ctx.record_marker(&import.marker).await?;
    }
    ctx.verify_current_then_link(import, &want, current.revision, Undo::Nothing, &mut outcome)
        .await?;
    Ok(outcome)
}
