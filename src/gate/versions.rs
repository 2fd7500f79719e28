//! Versioned APIs (`api-versions`): a service's documents, one per API version, published as one
//! APIM version set `{api-id}` with one API `{api-id}-{version}` per version, all at `api-path`.
//!
//! Each version is a run of its own through the machinery of several services
//! ([`super::run_many`]): lint, breaking changes against that version's live API, staged
//! revision, verify, release; `parallelism` at a time; a refused version does not stop the
//! others. A version APIM has in the set but the list leaves out is never deleted: a
//! `version-not-published` warning says so.
//!
//! Before any version runs, the set is checked ([`check_set`]): an API outside it on the path,
//! and a change of its versioning scheme (a breaking change for every caller); the set is
//! changed only after the versions ran ([`finish_set`]).
//!
//! `auto` reads the list from the Swagger UI the pod serves ([`crate::cluster::swagger_ui`]).

use std::sync::Arc;

use serde::Deserialize;

use super::{Progress, Session, Verdict, run_many};
use crate::apim::version_set::{ListedApi, SetChange};
use crate::apim::{self, ApiTarget, VersionBinding, VersioningScheme};
use crate::cluster::swagger_ui;
use crate::exit::Exit;
use crate::inputs::{BreakingChanges, Env, Inputs};

/// The four versioning keys as a `services` manifest entry gives them (each may be left out:
/// the single-service input is the default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct VersionKeys {
    pub api_versions: Option<String>,
    pub versioning_scheme: Option<VersioningScheme>,
    pub version_query_name: Option<String>,
    pub version_header_name: Option<String>,
}

/// One version: its name (`apiVersion`) and the path of its document in the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionSpec {
    pub name: String,
    pub path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionList {
    /// Read from the pod's Swagger UI.
    Auto,
    Listed(Vec<VersionSpec>),
}

/// What `api-versions` and its companions ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioning {
    pub list: VersionList,
    pub scheme: VersioningScheme,
    pub query_name: String,
    pub header_name: String,
}

/// A versioning input that cannot be used (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{input}: {message}")]
pub struct VersionsError {
    pub input: &'static str,
    pub message: String,
}

fn bad(input: &'static str, message: impl Into<String>) -> VersionsError {
    VersionsError {
        input,
        message: message.into(),
    }
}

impl Versioning {
    /// The versioning the inputs ask for; `None` without `api-versions`.
    pub fn from_inputs(inputs: &Inputs) -> Result<Option<Versioning>, VersionsError> {
        let Some(value) = inputs.api_versions.as_deref() else {
            return Ok(None);
        };
        let list = parse_list(value)?;
        check_carrier("version-query-name", &inputs.version_query_name, false)?;
        check_carrier("version-header-name", &inputs.version_header_name, true)?;
        if let VersionList::Listed(versions) = &list {
            // `{api-id}-{version}` is an API id: checked now, before anything runs.
            let base = inputs
                .api_id
                .clone()
                .or_else(|| inputs.service.clone())
                .unwrap_or_default();
            for v in versions {
                crate::inputs::check_apim_id("api-id", &format!("{base}-{}", v.name))
                    .map_err(|m| bad("api-versions", format!("version {}: {m}", v.name)))?;
            }
        }
        Ok(Some(Versioning {
            list,
            scheme: inputs.versioning_scheme,
            query_name: inputs.version_query_name.clone(),
            header_name: inputs.version_header_name.clone(),
        }))
    }
}

/// `NAME=PATH` per line or comma (`#` starts a comment line), or `auto`.
pub fn parse_list(value: &str) -> Result<VersionList, VersionsError> {
    let trimmed = value.trim();
    if trimmed.eq_ignore_ascii_case("auto") {
        return Ok(VersionList::Auto);
    }
    let mut out: Vec<VersionSpec> = Vec::new();
    for line in trimmed.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        for item in line.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, path)) = item.split_once('=') else {
                return Err(bad(
                    "api-versions",
                    format!(
                        "{item:?} is not NAME=PATH: write v1=/swagger/v1/swagger.json per line or comma, or auto"
                    ),
                ));
            };
            let (name, path) = (name.trim(), path.trim());
            check_version_name(name)?;
            if !path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(
                    "api-versions",
                    format!(
                        "version {name}: {path:?} is not a path in the pod: give one starting with '/' (/swagger/{name}/swagger.json)"
                    ),
                ));
            }
            if let Some(o) = out.iter().find(|o| o.name.eq_ignore_ascii_case(name)) {
                return Err(bad(
                    "api-versions",
                    format!(
                        "version {name} is listed twice (also as {}): APIM tells a set's versions apart by name, without regard to case",
                        o.name
                    ),
                ));
            }
            if let Some(o) = out.iter().find(|o| o.path == path) {
                return Err(bad(
                    "api-versions",
                    format!(
                        "versions {} and {name} both name {path}: each version has its own document",
                        o.name
                    ),
                ));
            }
            out.push(VersionSpec {
                name: name.to_string(),
                path: path.to_string(),
            });
        }
    }
    if out.is_empty() {
        return Err(bad(
            "api-versions",
            "it names no version: give NAME=PATH per line or comma (v1=/swagger/v1/swagger.json), or auto",
        ));
    }
    Ok(VersionList::Listed(out))
}

/// A version's name is its `apiVersion` (at most 100 characters, definitions.json
/// ApiContractProperties) and, in a segment scheme, a URL segment; it also ends the API's id.
fn check_version_name(name: &str) -> Result<(), VersionsError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !name.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(bad(
            "api-versions",
            format!(
                "version name {name:?} is not usable: letters, digits, '.', '-' and '_' (1 to 100, not ending in '.'), as it becomes a URL segment and part of the API id"
            ),
        ))
    }
}

/// `versionQueryName` / `versionHeaderName`: 1 to 100 characters (definitions.json
/// ApiVersionSetContractProperties); a header name is an RFC 9110 token, a query name has no
/// character that would end it (`&`, `=`, `#`) or need encoding.
fn check_carrier(input: &'static str, value: &str, header: bool) -> Result<(), VersionsError> {
    let len = value.chars().count();
    let ok_char = |c: char| {
        if header {
            c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
        } else {
            c.is_ascii_alphanumeric() || "-._~".contains(c)
        }
    };
    if (1..=100).contains(&len) && value.chars().all(ok_char) {
        Ok(())
    } else {
        Err(bad(
            input,
            format!(
                "{value:?} is not a {} name of 1 to 100 characters (letters, digits, '-', '.', '_')",
                if header { "header" } else { "query parameter" }
            ),
        ))
    }
}

/// The inputs of one version's run: its document, its API `{api-id}-{version}` at the API's
/// path, in the set `{api-id}`.
pub fn version_inputs(base: &Inputs, versioning: &Versioning, version: &VersionSpec) -> Inputs {
    let service = base.service.clone().unwrap_or_default();
    let set_id = base.api_id.clone().unwrap_or_else(|| service.clone());
    let mut i = base.clone();
    i.swagger_path = Some(version.path.clone());
    i.api_id = Some(format!("{set_id}-{}", version.name));
    i.api_path = Some(base.api_path.clone().unwrap_or_else(|| service.clone()));
    i.api_version = Some(VersionBinding {
        set_id,
        version: version.name.clone(),
        scheme: versioning.scheme,
        query_name: versioning.query_name.clone(),
        header_name: versioning.header_name.clone(),
    });
    // One file per version, or each would overwrite the last one's.
    let per_version = |p: &std::path::PathBuf, default_stem: &str| {
        let stem = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(default_stem);
        let ext = p
            .extension()
            .and_then(|s| s.to_str())
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        p.with_file_name(format!("{stem}.{}{ext}", version.name))
    };
    i.output_spec = base.output_spec.as_ref().map(|p| per_version(p, "openapi"));
    i.findings_file = base
        .findings_file
        .as_ref()
        .map(|p| per_version(p, "findings"));
    if base.swagger_path.is_some() {
        i.warnings.push(
            "swagger-path is ignored with api-versions: each version's document is at the PATH api-versions gives"
                .into(),
        );
    }
    if base.baseline_spec.is_some() {
        i.baseline_spec = None;
        i.warnings.push(
            "baseline-spec is ignored with api-versions: each version is compared with its own live API"
                .into(),
        );
    }
    i
}

/// The label of a version's verdict in reports: `namespace/service version`.
pub fn label(inputs: &Inputs) -> String {
    let service = format!(
        "{}/{}",
        inputs.namespace,
        inputs.service.as_deref().unwrap_or_default()
    );
    match &inputs.api_version {
        Some(v) => format!("{service} {}", v.version),
        None => service,
    }
}

/// Makes the progress of one run from its label.
pub type ProgressFor<'a> = &'a (dyn Fn(&Inputs, &str) -> Arc<dyn Progress> + Sync);

/// Where a verdict of the run comes from.
enum Slot {
    Run(usize),
    Done(Box<Verdict>),
}

/// A versioned service: where its versions' verdicts are, for the warnings about the set.
struct Group {
    inputs: Inputs,
    /// The first version's inputs: the set's binding and the APIM target.
    first: Inputs,
    names: Vec<String>,
    slots: Vec<usize>,
    /// What the inputs change in the existing set, written after the versions ran.
    change: Option<SetChange>,
    /// Warnings about the list itself (`auto`).
    notes: Vec<String>,
}

/// Runs `services`, each expanded into its versions when it has `api-versions`, `parallelism`
/// at a time; verdicts come back in the order given, a version's in its list's order.
pub async fn run_all(
    session: Arc<Session>,
    env: &Env,
    services: Vec<(Inputs, Arc<dyn Progress>)>,
    parallelism: usize,
    progress_for: ProgressFor<'_>,
) -> Vec<Verdict> {
    let mut runs: Vec<(Inputs, Arc<dyn Progress>)> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let refused = |inputs: &Inputs, step, exit, message| {
        Slot::Done(Box::new(super::run::failed(inputs, step, exit, message)))
    };
    for (inputs, progress) in services {
        let versioning = match Versioning::from_inputs(&inputs) {
            Ok(Some(v)) => v,
            Ok(None) => {
                slots.push(Slot::Run(runs.len()));
                runs.push((inputs, progress));
                continue;
            }
            Err(e) => {
                slots.push(refused(
                    &inputs,
                    super::StepName::Cluster,
                    Exit::Input,
                    e.to_string(),
                ));
                continue;
            }
        };
        let mut notes = Vec::new();
        let versions = match &versioning.list {
            VersionList::Listed(list) => list.clone(),
            VersionList::Auto => match discover(&session, &inputs, progress.as_ref()).await {
                Ok((list, warnings)) => {
                    notes = warnings;
                    list
                }
                Err((exit, message)) => {
                    slots.push(refused(&inputs, super::StepName::Cluster, exit, message));
                    continue;
                }
            },
        };
        let version_runs: Vec<Inputs> = versions
            .iter()
            .map(|v| version_inputs(&inputs, &versioning, v))
            .collect();
        let Some(first) = version_runs.first().cloned() else {
            continue;
        };
        let names: Vec<String> = versions.iter().map(|v| v.name.clone()).collect();
        let change = match check_set(&session, &inputs, &first, &names).await {
            Ok(change) => change,
            Err((step, exit, message)) => {
                slots.push(refused(&inputs, step, exit, message));
                continue;
            }
        };
        let mut group = Group {
            inputs: inputs.clone(),
            first,
            names,
            slots: Vec::new(),
            change,
            notes,
        };
        for vi in version_runs {
            let progress = progress_for(&vi, &label(&vi));
            group.slots.push(slots.len());
            slots.push(Slot::Run(runs.len()));
            runs.push((vi, progress));
        }
        groups.push(group);
    }
    let mut ran: Vec<Option<Verdict>> = run_many(session.clone(), env, runs, parallelism)
        .await
        .into_iter()
        .map(Some)
        .collect();
    let mut verdicts: Vec<Verdict> = slots
        .into_iter()
        .filter_map(|s| match s {
            Slot::Run(i) => ran.get_mut(i).and_then(Option::take),
            Slot::Done(v) => Some(*v),
        })
        .collect();
    for group in &groups {
        let failed: Vec<String> = group
            .slots
            .iter()
            .zip(&group.names)
            .filter(|(slot, _)| {
                verdicts
                    .get(**slot)
                    .is_none_or(|v| v.outcome != super::Outcome::Passed)
            })
            .map(|(_, name)| name.clone())
            .collect();
        let mut warnings = group.notes.clone();
        warnings.extend(finish_set(&session, group, &failed).await);
        warnings.extend(unpublished(&session, &group.inputs, &group.names).await);
        if let Some(first) = group.slots.first().and_then(|i| verdicts.get_mut(*i)) {
            first.warnings.extend(warnings);
        }
    }
    verdicts
}

/// `v1 (API svc-1-v1), v2 (API svc-1-v2)`.
fn versions_of(apis: &[ListedApi], set_id: &str) -> String {
    let listed: Vec<String> = apis
        .iter()
        .filter(|a| a.in_set(set_id))
        .map(|a| format!("{} (API {})", a.version, a.api_id))
        .collect();
    if listed.is_empty() {
        "the set".to_string()
    } else {
        listed.join(", ")
    }
}

/// Before any version runs, a dry run too (it only reads): an API already on `api-path` outside
/// the set, which APIM would refuse every version over, stops the service (exit 2); a change of
/// the existing set's versioning scheme is a breaking change for every caller of every version,
/// refused (exit 1) under `breaking-changes: fail`. Gives back what the inputs change in the
/// set, to write once the versions passed.
async fn check_set(
    session: &Session,
    service: &Inputs,
    first: &Inputs,
    names: &[String],
) -> Result<Option<SetChange>, (super::StepName, Exit, String)> {
    let Some(binding) = first.api_version.as_ref() else {
        return Ok(None);
    };
    let Ok(signed) = session.arm().await else {
        // Each version's run reports the sign-in failure.
        return Ok(None);
    };
    let service_name = first.service.clone().unwrap_or_default();
    let Ok(target) = ApiTarget::from_inputs(first, &service_name, &signed.subscription_id) else {
        // Each version's run reports the bad target.
        return Ok(None);
    };
    let set_id = &binding.set_id;
    let azure = |e: apim::ApimError| {
        (
            super::StepName::Publish,
            Exit::Azure,
            format!("version set '{set_id}': {e}"),
        )
    };
    let apis = apim::version_set::list_apis(&signed.arm, &target)
        .await
        .map_err(azure)?;
    // APIM answers a version created on a path another API holds with "Cannot create API 'X'
    // with the same Path 'P' as API 'Y'  unless it's a part of the same version set" (Azure/apiops
    // #712, Azure/azure-powershell #8957 and #11027): the usual case is the unversioned API a
    // service had before it listed its versions.
    if let Some(other) = apis
        .iter()
        .find(|a| a.path.eq_ignore_ascii_case(&target.api_path) && !a.in_set(set_id))
    {
        return Err((
            super::StepName::Inputs,
            Exit::Input,
            format!(
                "api-path: API '{}' ({:?}) already serves path '{}' and is not in version set '{set_id}'; API Management refuses a version on a path another API holds unless that API is in the same version set, so nothing was written. Either give api-path another path for versions {}, or make API '{}' the set's original version in API Management (its apiVersionSetId the set's id, its apiVersion \"\"; the portal's \"Add version\" does this) and run again",
                other.api_id,
                other.display_name,
                other.path,
                names.join(", "),
                other.api_id
            ),
        ));
    }
    let Some(existing) = apim::version_set::read_version_set(&signed.arm, &target, set_id)
        .await
        .map_err(azure)?
    else {
        return Ok(None);
    };
    let change = binding.change_to(&existing, target.display_name.as_deref());
    if let Some((old, new)) = change.as_ref().and_then(|c| c.scheme.as_ref())
        && service.breaking_changes == BreakingChanges::Fail
    {
        return Err((
            super::StepName::BreakingChanges,
            Exit::Refused,
            format!(
                "version set '{set_id}' would change how callers choose a version, from {old} to {new}: every caller of {} would break at once, so nothing was written. Keep the set's scheme (versioning-scheme, version-query-name, version-header-name), publish the new scheme as another set (another api-id and api-path), or set breaking-changes to warn or allow to change it (the set is then written only after every version passed)",
                versions_of(&apis, set_id)
            ),
        ));
    }
    Ok(change)
}

/// After the versions ran: the existing set made to carry the versioning inputs. A scheme change
/// is written only when every version passed, so callers do not lose their way to versions
/// that were refused; a dry run says what it would do.
async fn finish_set(session: &Session, group: &Group, failed: &[String]) -> Vec<String> {
    let (Some(change), Some(binding)) = (&group.change, &group.first.api_version) else {
        return Vec::new();
    };
    let set_id = &binding.set_id;
    let describe = |c: &SetChange| {
        let mut parts = Vec::new();
        if let Some((old, new)) = &c.scheme {
            parts.push(format!(
                "callers choose a version by {new}, no longer by {old}: every caller of versions {} must change how it asks for a version",
                group.names.join(", ")
            ));
        }
        if let Some((old, new)) = &c.display_name {
            parts.push(format!("display name {old:?} → {new:?}"));
        }
        parts.join("; ")
    };
    if group.first.dry_run {
        return vec![format!(
            "dry run: would update version set '{set_id}' after every version passed: {}",
            describe(change)
        )];
    }
    if change.scheme.is_some() && !failed.is_empty() {
        return vec![format!(
            "version set '{set_id}' was left as it is ({}): versions {} did not pass, and changing the scheme would break their callers too. Run again once every version passes",
            change
                .scheme
                .as_ref()
                .map(|(old, _)| old.as_str())
                .unwrap_or_default(),
            failed.join(", ")
        )];
    }
    let Ok(signed) = session.arm().await else {
        return Vec::new();
    };
    let service = group.first.service.clone().unwrap_or_default();
    let Ok(target) = ApiTarget::from_inputs(&group.first, &service, &signed.subscription_id) else {
        return Vec::new();
    };
    match apim::version_set::update_version_set(&signed.arm, &target, binding).await {
        Ok(Some(done)) => vec![format!(
            "updated version set '{set_id}' ({} versioning): {}",
            binding.scheme.arm_name(),
            describe(&done)
        )],
        Ok(None) => Vec::new(),
        Err(e) => vec![format!(
            "version set '{set_id}' could not be brought in line with the versioning inputs: {e}. Run again"
        )],
    }
}

/// The versions the pod's Swagger UI lists, named after their documents, and a warning for
/// each document left out because an earlier one has its version name.
async fn discover(
    session: &Session,
    inputs: &Inputs,
    observer: &dyn crate::cluster::Observer,
) -> Result<(Vec<VersionSpec>, Vec<String>), (Exit, String)> {
    let conn = session.cluster().await?;
    let target = super::cluster_side::target(inputs);
    let listed = swagger_ui::listed_documents(conn, &target, observer)
        .await
        .map_err(|e| (e.exit(), e.to_string()))?;
    let mut out: Vec<VersionSpec> = Vec::new();
    let mut warnings = Vec::new();
    for doc in &listed.documents {
        let name = swagger_ui::version_name(doc);
        check_version_name(&name).map_err(|e| {
            (
                Exit::Input,
                format!(
                    "{e}. The Swagger UI of pod {} lists {} as {:?}; list the versions in api-versions yourself (NAME=PATH)",
                    listed.pod, doc.path, doc.name
                ),
            )
        })?;
        if let Some(first) = out.iter().find(|o| o.name.eq_ignore_ascii_case(&name)) {
            if first.path != doc.path {
                warnings.push(format!(
                    "api-versions auto: the Swagger UI of pod {} lists {} ({:?}) as version {name} too; only {} is published as version {}, {} is not published. List the versions in api-versions yourself (NAME=PATH) to publish it under a name of its own",
                    listed.pod, doc.path, doc.name, first.path, first.name, doc.path
                ));
            }
            continue;
        }
        out.push(VersionSpec {
            name,
            path: doc.path.clone(),
        });
    }
    Ok((out, warnings))
}

/// `version-not-published`: the versions APIM has in the set that the list leaves out. They
/// are left as they are; only a person retires a version.
async fn unpublished(session: &Session, inputs: &Inputs, names: &[String]) -> Vec<String> {
    let Ok(signed) = session.arm().await else {
        return Vec::new();
    };
    let service = inputs.service.clone().unwrap_or_default();
    let Ok(target) = ApiTarget::from_inputs(inputs, &service, &signed.subscription_id) else {
        return Vec::new();
    };
    let set_id = target.api_id.clone();
    match apim::version_set::set_members(&signed.arm, &target, &set_id).await {
        Ok(members) => members
            .into_iter()
            // The set's original version (`apiVersion` "", an API that was there before the
            // versions, kept as check_set advises) is no NAME api-versions could list.
            .filter(|m| !m.version.is_empty())
            .filter(|m| !names.iter().any(|n| n.eq_ignore_ascii_case(&m.version)))
            .map(|m| {
                format!(
                    "version-not-published: version '{}' (API '{}') is in version set '{set_id}' but not in api-versions; it was left as it is (apim-gate never deletes a version). Retire it in APIM yourself, or list it again",
                    m.version, m.api_id
                )
            })
            .collect(),
        Err(e) => vec![format!(
            "version-not-published could not be checked: {e}"
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_refuse_with_the_input_named() {
        let l = parse_list("v1=/swagger/v1/swagger.json, v2 = /swagger/v2/swagger.json\n# old\n")
            .unwrap();
        assert_eq!(
            l,
            VersionList::Listed(vec![
                VersionSpec {
                    name: "v1".into(),
                    path: "/swagger/v1/swagger.json".into()
                },
                VersionSpec {
                    name: "v2".into(),
                    path: "/swagger/v2/swagger.json".into()
                },
            ])
        );
        assert_eq!(parse_list(" AUTO ").unwrap(), VersionList::Auto);
        for bad in [
            "v1",
            "v1=swagger/v1.json",
            "v1=/a, V1=/b",
            "v1=/a, v2=/a",
            "v 1=/a",
            "v1/x=/a",
            "",
        ] {
            let e = parse_list(bad).unwrap_err();
            assert_eq!(e.input, "api-versions", "{bad}");
        }
        assert!(check_carrier("version-header-name", "x-api-version", true).is_ok());
        assert!(check_carrier("version-header-name", "x api", true).is_err());
        assert!(check_carrier("version-query-name", "v&x", false).is_err());
    }
}
