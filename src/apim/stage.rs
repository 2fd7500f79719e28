//! `revision: staged`: a new revision is created from the current one, the document imported
//! into it, verified, and released; any failure before the release deletes it, so the current
//! revision never changes. This file owns the sequence and its first step, staging the revision.

use serde_json::json;

use super::ctx::Ctx;
use super::import::Import;
use super::props::ApiProperties;
use super::release::{notes_for, release_id};
use super::verify::{Expected, Undo, normalize_template, operation_differences};
use super::{ApimError, CurrentApi, Event, PublishKind, PublishOutcome, PublishRequest, plan};
use crate::azure::ArmRequest;

pub(super) async fn staged(
    ctx: &Ctx<'_>,
    req: &PublishRequest<'_>,
    import: &Import,
    current: &CurrentApi,
    mut outcome: PublishOutcome,
) -> Result<PublishOutcome, ApimError> {
    let n = ctx.next_revision(current).await?;
    ctx.observer.event(Event::Found {
        what: format!("next revision of API '{}': {n}", req.target.api_id),
    });
    let release_id = release_id(n, &ctx.run_marker);
    let notes = notes_for(req, &import.sha256);
    outcome.kind = PublishKind::Staged;
    outcome.revision = Some(n);
    if req.dry_run {
        let differences = ctx.differences_from_current(import).await?;
        outcome.dry_run_plan = Some(
            plan::staged(
                req.target,
                current,
                n,
                import,
                &outcome.service_url,
                &release_id,
                &notes,
                &differences,
            ) + &plan::policies(req.policies, &format!("revision {n}")),
        );
        return Ok(outcome);
    }
    let path = current
        .path
        .clone()
        .unwrap_or_else(|| req.target.api_path.clone());
    // Locked on a revision that is not current: staged with the current values, and the wanted
    // ones set once it is current (see props.rs).
    let locked = ApiProperties::of(current);
    let want = ApiProperties::wanted(req);
    ctx.stage_revision(n, current, &path, &import.sha256)
        .await?;
    outcome.changed = true;
    let imported = ctx
        .import_into_revision(
            n,
            import,
            req.document,
            &locked,
            &path,
            &outcome.service_url,
        )
        .await?;
    if let Some(policies) = req.policies {
        ctx.put_policies_or_undo(Some(n), policies, Undo::Delete(Some(n)))
            .await?;
    }
    ctx.verify_or_undo(
        Some(n),
        &Expected {
            operations: &import.expected,
            service_url: &outcome.service_url,
            properties: &locked,
        },
        &mut outcome.notes,
        Some(&imported),
        Undo::Delete(Some(n)),
    )
    .await?;
    ctx.release(n, &release_id, &notes).await?;
    outcome.release_id = Some(release_id);
    ctx.apply_properties(n, &want).await?;
    ctx.add_products(n, &mut outcome).await?;
    Ok(outcome)
}

impl Ctx<'_> {
    /// One more than the highest revision the API has, current or not.
    async fn next_revision(&self, current: &CurrentApi) -> Result<u32, ApimError> {
        // Read with the live operations when the gate compared against them; the re-read of
        // revision n right before it is created (stage_revision) still catches another run.
        let highest = match current.highest_revision {
            Some(highest) => highest,
            None => self
                .highest_revision()
                .await
                .map_err(|error| self.read_failed(error))?,
        };
        Ok(highest.max(current.revision) + 1)
    }

    /// For a dry run: the document's operations against the current revision's.
    async fn differences_from_current(&self, import: &Import) -> Result<Vec<String>, ApimError> {
        let now = self
            .operations(None)
            .await
            .map_err(|error| self.read_failed(error))?;
        let now: Vec<(String, String)> = now
            .iter()
            .map(|o| (o.method.clone(), normalize_template(&o.url_template)))
            .collect();
        Ok(operation_differences(&import.expected, &now))
    }

    /// Creates revision `n` as a copy of the current one (`sourceApiId`); a revision whose
    /// creation failed may still exist half-made, so a failure deletes it.
    async fn stage_revision(
        &self,
        n: u32,
        current: &CurrentApi,
        path: &str,
        sha256: &str,
    ) -> Result<(), ApimError> {
        let target = self.target;
        // A PUT creates or overwrites: re-checked right before it, so a revision another run
        // made since the revisions were listed is a conflict, not something to take over.
        if self.read(Some(n)).await?.is_some() {
            return Err(ApimError::Conflict {
                api: target.api_id.clone(),
                what: format!("revision {n}"),
            });
        }
        let create = json!({"properties": {
            "sourceApiId": target.resource_id(None),
            "path": path,
            "apiRevisionDescription": format!("apim-gate: staging {} {}", &sha256[..12], self.run_marker),
        }});
        let what = format!(
            "create revision {n} of API '{}' from revision {}",
            target.api_id, current.revision
        );
        match self
            .write_and_wait(ArmRequest::put(target.api_url(Some(n)), create), &what)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => Err(self
                .roll_back_after(
                    Some(n),
                    format!("Creating revision {n} of API '{}'", target.api_id),
                    error,
                    String::new(),
                )
                .await),
        }
    }
}
