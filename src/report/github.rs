//! The verdict in GitHub Actions: workflow commands in the log (`::group::` per step,
//! `::error`/`::warning`/`::notice` annotations with a title), the step outputs in
//! `GITHUB_OUTPUT`, the Markdown job summary in `GITHUB_STEP_SUMMARY`, and through the REST API
//! ([`api`]) a check run on the head commit and one pull-request comment kept up to date.
//!
//! `::add-mask::` was already printed by [`super::mask_secrets`]. A token without
//! `checks: write` or `pull-requests: write` is a warning naming the permission, never a failed
//! gate; other delivery failures fail a passed gate with exit 5.

pub mod api;

use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::gate::verdict::{Outcome, StepOutcome, Verdict};
use crate::inputs::{Env, Inputs};
use crate::spec::Level;

use super::text::{Cleaner, gh_data, gh_property};
use super::{
    MAX_LOG_ANNOTATIONS, ReportError, ReportOutcome, local, markdown, outputs, sorted_findings,
    verdict_line,
};

/// A workflow command: `::name key=value,…::data`, properties and data escaped as
/// actions/toolkit does. Callers pass cleaned text; escaping keeps it on one line.
pub fn command(name: &str, properties: &[(&str, &str)], data: &str) -> String {
    let props = properties
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", gh_property(v)))
        .collect::<Vec<_>>()
        .join(",");
    let sep = if props.is_empty() { "" } else { " " };
    format!("::{name}{sep}{props}::{}", gh_data(data))
}

/// A delimiter no value contains: `ghadelimiter_` and 128 random bits, as actions/toolkit
/// writes them. `RandomState` is seeded from the OS's randomness, so no crate is needed.
fn delimiter(avoid: &[&str]) -> String {
    loop {
        let state = RandomState::new();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let a = state.hash_one((nanos, std::process::id(), 1u8));
        let b = state.hash_one((nanos, std::process::id(), 2u8));
        let d = format!("ghadelimiter_{a:016x}{b:016x}");
        if !avoid.iter().any(|v| v.contains(&d)) {
            return d;
        }
    }
}

/// The `GITHUB_OUTPUT` text for the outputs: every value in the multi-line form
/// (`name<<DELIMITER`, the value, `DELIMITER`), which holds any value.
pub fn output_file_text(pairs: &[(&str, String)]) -> String {
    let values: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
    let d = delimiter(&values);
    let mut out = String::new();
    for (name, value) in pairs {
        let _ = write!(out, "{name}<<{d}\n{value}\n{d}\n");
    }
    out
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.flush()
}

/// The log: groups per step, the result, annotations, warnings and the verdict line.
pub fn log_text(verdict: &Verdict, clean: &Cleaner) -> String {
    let mut log = String::new();
    let mut line = |s: &str| {
        log.push_str(s);
        log.push('\n');
    };
    for step in &verdict.steps {
        line(&command(
            "group",
            &[],
            &local::step_line(step, clean, false),
        ));
        line(&clean.text(&step.detail));
        line("::endgroup::");
        if step.outcome == StepOutcome::Failed {
            line(&command(
                "error",
                &[("title", &format!("apim-gate: {}", step.name.title()))],
                &clean.text(&step.detail),
            ));
        }
    }
    for l in local::result_lines(verdict, clean) {
        line(&l);
    }
    let findings = sorted_findings(verdict);
    if !findings.is_empty() {
        line(&command(
            "group",
            &[],
            &format!("Findings ({})", findings.len()),
        ));
        for f in &findings {
            line(&local::finding_lines(f, clean, false));
        }
        line("::endgroup::");
    }
    for f in findings.iter().take(MAX_LOG_ANNOTATIONS) {
        let kind = match f.finding.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "notice",
        };
        let title = match &f.finding.operation {
            Some(op) => format!("{} ({})", clean.line(&f.finding.id), clean.line(op)),
            None => clean.line(&f.finding.id),
        };
        line(&command(
            kind,
            &[("title", &title)],
            &format!(
                "{} (at {})",
                clean.text(&f.finding.message),
                clean.line(&f.finding.path)
            ),
        ));
    }
    if findings.len() > MAX_LOG_ANNOTATIONS {
        line(&format!(
            "{} more findings are in the group above, the job summary and the check run.",
            findings.len() - MAX_LOG_ANNOTATIONS
        ));
    }
    for w in &verdict.warnings {
        line(&command(
            "warning",
            &[("title", "apim-gate")],
            &clean.text(w),
        ));
    }
    if let Some(e) = &verdict.error {
        line(&command(
            "error",
            &[("title", &format!("apim-gate {}", verdict.outcome.as_str()))],
            &clean.text(e),
        ));
    }
    let summary = verdict_line(verdict, clean);
    match verdict.outcome {
        Outcome::Passed => line(&command("notice", &[("title", "apim-gate")], &summary)),
        Outcome::Refused | Outcome::Failed => line(&summary),
    }
    log
}

pub(crate) async fn emit(
    verdict: &Verdict,
    inputs: &Inputs,
    env: &Env,
    clean: &Cleaner,
    out: &mut dyn Write,
    outcome: &mut ReportOutcome,
) -> Result<(), ReportError> {
    out.write_all(log_text(verdict, clean).as_bytes())
        .map_err(ReportError::Stdout)?;
    out.flush().map_err(ReportError::Stdout)?;

    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    match env.get("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        Some(path) => {
            let pairs: Vec<(&str, String)> = outputs(verdict)
                .into_iter()
                .map(|(name, _, v)| (name, clean.redact(&v)))
                .collect();
            if let Err(e) = append(Path::new(path), &output_file_text(&pairs)) {
                failures.push(format!(
                    "cannot write the step outputs to GITHUB_OUTPUT ({path}): {e}"
                ));
            }
        }
        None => warnings.push(
            "GITHUB_OUTPUT is not set: the step outputs (api-id, verdict, …) are not available"
                .to_string(),
        ),
    }
    if let Some(path) = env.get("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let used = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let budget = markdown::JOB_SUMMARY_BUDGET
            .saturating_sub(usize::try_from(used).unwrap_or(usize::MAX));
        let md = markdown::summary(verdict, clean, budget, None);
        if let Err(e) = append(Path::new(path), &md) {
            failures.push(format!(
                "cannot write the job summary to GITHUB_STEP_SUMMARY ({path}): {e}"
            ));
        }
    }

    let marker = api::comment_marker(verdict);
    let comment = || markdown::summary(verdict, clean, markdown::COMMENT_BUDGET, Some(&marker));
    let (check_run_url, comment_url) = to_pull_request(
        std::slice::from_ref(verdict),
        (&marker, &comment),
        inputs,
        env,
        clean,
        &mut warnings,
        &mut failures,
    )
    .await;
    outcome.check_run_url = check_run_url;
    outcome.comment_url = comment_url;

    let mut tail = String::new();
    for w in &warnings {
        tail.push_str(&command(
            "warning",
            &[("title", "apim-gate report")],
            &clean.text(w),
        ));
        tail.push('\n');
    }
    for f in &failures {
        tail.push_str(&command(
            "error",
            &[("title", "apim-gate report")],
            &clean.text(f),
        ));
        tail.push('\n');
    }
    out.write_all(tail.as_bytes())
        .map_err(ReportError::Stdout)?;
    outcome.warnings.extend(warnings);
    outcome.failures.extend(failures);
    Ok(())
}

/// The check runs (one per service: their names differ) and the pull-request comment (one for
/// the run, found again by `marker`, its body made only when it is written). Problems become
/// warnings (a missing permission, no token) or failures (the API refused). Returns the URLs of
/// the first check run and of the comment.
pub(crate) async fn to_pull_request(
    verdicts: &[Verdict],
    (marker, body): (&str, &dyn Fn() -> String),
    inputs: &Inputs,
    env: &Env,
    clean: &Cleaner,
    warnings: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> (Option<String>, Option<String>) {
    let (mut check_run_url, mut comment_url) = (None, None);
    let check_run = inputs.check_run.unwrap_or(inputs.github_token.is_some());
    if !check_run && !inputs.pr_comment {
        return (None, None);
    }
    let (token, ctx) = match (&inputs.github_token, api::Context::from_env(env)) {
        (None, _) => {
            warnings.push(
                "check-run and pr-comment need github-token (the action passes ${{ github.token }} by default); skipped"
                    .to_string(),
            );
            return (None, None);
        }
        (Some(_), Err(why)) => {
            warnings.push(format!("no check run or comment: {why}"));
            return (None, None);
        }
        (Some(token), Ok(ctx)) => (token, ctx),
    };
    let octo = match api::client(
        &ctx.api_url,
        token.expose(),
        inputs.ca_certificates.as_deref(),
        env,
    ) {
        Ok(octo) => octo,
        Err(e) => {
            failures.push(format!(
                "cannot reach the GitHub API at {}: {e}",
                ctx.api_url
            ));
            return (None, None);
        }
    };
    if check_run {
        for verdict in verdicts {
            let path = annotation_path(verdict, env);
            match api::check_run(&octo.rest, &ctx, verdict, clean, &path).await {
                // A run of several services links the first check run; each has its own.
                Ok(url) => check_run_url = check_run_url.or(url),
                Err(e) => {
                    let permission = matches!(e, api::ApiError::Permission { .. });
                    let (mut w, mut f) = (Vec::new(), Vec::new());
                    sort_api_error(e, &mut w, &mut f);
                    // With several services, say whose check run it was.
                    let named = |m: String| match verdicts.len() {
                        1 => m,
                        _ => format!("check run of {}: {m}", clean.line(&verdict.service)),
                    };
                    warnings.extend(w.into_iter().map(named));
                    failures.extend(f.into_iter().map(named));
                    // Without the permission the next service's check run fails the same way.
                    if permission {
                        break;
                    }
                }
            }
        }
    }
    if inputs.pr_comment {
        match ctx.pull_request {
            None => warnings.push(
                "pr-comment is set but this run is not for a pull request; no comment written"
                    .to_string(),
            ),
            Some(number) => match api::upsert_comment(&octo, &ctx, number, marker, &body()).await {
                Ok(url) => comment_url = url,
                Err(e) => sort_api_error(e, warnings, failures),
            },
        }
    }
    (check_run_url, comment_url)
}

fn sort_api_error(e: api::ApiError, warnings: &mut Vec<String>, failures: &mut Vec<String>) {
    match e {
        api::ApiError::Permission { .. } => warnings.push(e.to_string()),
        other => failures.push(other.to_string()),
    }
}

/// The file check-run annotations point at. The checks API needs a repository path; findings
/// live in a document, so: the written document when it is inside the workspace, else the
/// workflow file (`GITHUB_WORKFLOW_REF` names it), else `action.yml`.
pub fn annotation_path(verdict: &Verdict, env: &Env) -> String {
    if let (Some(spec), Some(ws)) = (&verdict.spec_path, env.get("GITHUB_WORKSPACE")) {
        let spec = PathBuf::from(spec);
        let rel = if spec.is_absolute() {
            spec.strip_prefix(ws).ok().map(Path::to_path_buf)
        } else {
            Some(spec)
        };
        if let Some(rel) = rel.filter(|r| !r.as_os_str().is_empty()) {
            return rel.to_string_lossy().replace('\\', "/");
        }
    }
    if let Some(r) = env.get("GITHUB_WORKFLOW_REF")
        && let Some((path, _)) = r.split_once('@')
        && let Some(idx) = path.find(".github/")
    {
        return path[idx..].to_string();
    }
    "action.yml".to_string()
}
