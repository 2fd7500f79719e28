//! Creating an API that does not exist yet: one PUT that imports the document with the API's
//! path, display name, protocols and serviceUrl (revision 1, current at once), then verify and
//! products. A failure deletes the API this run created.

use serde_json::json;

use super::ctx::Ctx;
use super::import::{Import, import_hint};
use super::props::ApiProperties;
use super::verify::Undo;
use super::{ApimError, PublishKind, PublishOutcome, PublishRequest, plan};
use crate::azure::ArmRequest;

pub(super) async fn create(
    ctx: &Ctx<'_>,
    req: &PublishRequest<'_>,
    import: &Import,
    mut outcome: PublishOutcome,
) -> Result<PublishOutcome, ApimError> {
    let target = req.target;
    let want = ApiProperties::wanted(req);
    outcome.kind = PublishKind::Created;
    outcome.revision = Some(1);
    if req.dry_run {
        outcome.dry_run_plan = Some(
            plan::create(target, &want.display_name, import, &outcome.service_url)
                + &plan::policies(req.policies, "the new API"),
        );
        return Ok(outcome);
    }
    ctx.create_by_import(import, &want, &outcome.service_url)
        .await?;
    outcome.changed = true;
    if let Some(policies) = req.policies {
        ctx.put_policies_or_undo(None, policies, Undo::Delete(None))
            .await?;
    }
    ctx.verify_current_then_link(import, &want, 1, Undo::Delete(None), &mut outcome)
        .await?;
    Ok(outcome)
}

impl Ctx<'_> {
    /// The PUT that creates the API from the document; a failure deletes what it may have made.
    async fn create_by_import(
        &self,
        import: &Import,
        want: &ApiProperties,
        service_url: &str,
    ) -> Result<(), ApimError> {
        let target = self.target;
        // Re-checked right before the PUT (which creates or overwrites): an API another run
        // created since this run's read is a conflict, left as it is.
        if self.read(None).await?.is_some() {
            return Err(ApimError::Conflict {
                api: target.api_id.clone(),
                what: "the API".into(),
            });
        }
        let mut props = json!({
            "format": import.format,
            "value": import.value,
            "path": target.api_path,
            "serviceUrl": service_url,
            "apiRevisionDescription": import.marker,
        });
        want.write_into(&mut props);
        let body = json!({ "properties": props });
        let what = format!(
            "create API '{}' by importing {}",
            target.api_id,
            import.describe()
        );
        match self
            .write_and_wait(ArmRequest::put(target.api_url(None), body), &what)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                let hint = import_hint(&error);
                Err(self
                    .roll_back_after(
                        None,
                        format!("Creating API '{}' by importing the document", target.api_id),
                        error,
                        hint,
                    )
                    .await)
            }
        }
    }
}
