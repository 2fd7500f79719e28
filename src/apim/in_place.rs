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
        outcome.dry_run_plan = Some(plan::in_place(
            req.target,
            current,
            import,
            &outcome.service_url,
        ));
        return Ok(outcome);
    }
    let want = ApiProperties::wanted(req);
    ctx.import_in_place(import, current, &outcome.service_url, &want)
        .await?;
    outcome.changed = true;
    ctx.verify_current_then_link(import, &want, current.revision, Undo::Nothing, &mut outcome)
        .await?;
    Ok(outcome)
}
