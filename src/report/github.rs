//! The verdict in GitHub Actions: workflow commands in the log (`::group::` per step,
//! `::error`/`::warning`/`::notice` annotations with a title, at most 10 of each level per step
//! ([`groups::ANNOTATIONS_PER_LEVEL`]), deciding findings first, then one per rule, then one notice
//! of the rest), the step outputs in
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

use crate::gate::verdict::{Outcome, SourcedFinding, StepOutcome, Verdict};
use crate::inputs::{Env, Inputs};
use crate::spec::Level;

use super::groups::{self, AnnotationBudget, Findings};
use super::text::{Cleaner, gh_data, gh_property};
use super::{ReportError, ReportOutcome, Style, local, markdown, outputs, verdict_line};

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

/// An annotation when `budget` has room for its level, else the same text as a plain line, so
/// nothing is lost from the log. Returns whether it became an annotation.
fn annotate(
    log: &mut String,
    budget: &mut AnnotationBudget,
    level: Level,
    title: &str,
    message: &str,
) -> bool {
    let annotated = budget.take(level);
    if annotated {
        let kind = match level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "notice",
        };
        log.push_str(&command(kind, &[("title", title)], message));
    } else {
        let _ = write!(log, "{}: {title}: {message}", level.as_str());
    }
    log.push('\n');
    annotated
}

/// A step's budget with room kept for what comes after the verdicts: one error and one warning
/// for report problems, one notice for [`rest_notice`].
pub fn step_budget() -> AnnotationBudget {
    let mut b = AnnotationBudget::default();
    b.reserve(Level::Error, 1);
    b.reserve(Level::Warning, 1);
    b.reserve(Level::Info, 1);
    b
}

fn finding_title(f: &SourcedFinding, clean: &Cleaner) -> String {
    match &f.finding.operation {
        Some(op) => format!("{} ({})", clean.line(&f.finding.id), clean.line(op)),
        None => clean.line(&f.finding.id),
    }
}

fn finding_message(f: &SourcedFinding, clean: &Cleaner) -> String {
    format!(
        "{} (at {})",
        clean.text(&f.finding.message),
        clean.line(&f.finding.path)
    )
}

/// The log: what decided the verdict first (the run's error, failed steps and error findings as
/// `::error` annotations), the steps as groups (unless the progress lines already showed them),
/// the result, the other findings grouped by rule (one annotation per rule), warnings and the
/// verdict line. Annotations go through `budget`, shared by every service of the step; the
/// caller ends the step with [`rest_notice`].
pub fn log_text(
    verdict: &Verdict,
    clean: &Cleaner,
    style: Style,
    budget: &mut AnnotationBudget,
) -> String {
    let found = Findings::of(verdict);
    let mut log = String::new();
    if let Some(e) = &verdict.error {
        annotate(
            &mut log,
            budget,
            Level::Error,
            &format!("apim-gate {}", verdict.outcome.as_str()),
            &clean.text(e),
        );
    }
    for step in verdict
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Failed)
    {
        annotate(
            &mut log,
            budget,
            Level::Error,
            &format!("apim-gate: {}", step.name.title()),
            &clean.text(&step.detail),
        );
    }
    let mut plain_deciding = 0;
    for (i, f) in found.deciding.iter().enumerate() {
        if budget.take(Level::Error) {
            let _ = writeln!(
                log,
                "{}",
                command(
                    "error",
                    &[("title", &finding_title(f, clean))],
                    &finding_message(f, clean)
                )
            );
        } else if style.verbose || i < groups::DECIDING_SHOWN {
            budget.add_left_out(1);
            let _ = writeln!(log, "{}", local::finding_lines(f, clean, false));
        } else {
            budget.add_left_out(1);
            plain_deciding += 1;
        }
    }
    if plain_deciding > 0 {
        let _ = writeln!(
            log,
            "  and {plain_deciding} more errors: see the job summary"
        );
    }
    if !style.progress_in_log {
        for step in &verdict.steps {
            let _ = writeln!(
                log,
                "{}",
                command("group", &[], &local::step_line(step, clean, false))
            );
            let _ = writeln!(log, "{}", clean.text(&step.detail));
            log.push_str("::endgroup::\n");
        }
    }
    for l in local::result_lines(verdict, clean) {
        let _ = writeln!(log, "{l}");
    }
    for g in found.other_groups() {
        let (shown, more) = g.shown_operations();
        let mut message = clean.text(g.message);
        if !shown.is_empty() {
            let ops: Vec<String> = shown.iter().map(|o| clean.line(o)).collect();
            let _ = write!(message, "\nIn {}", ops.join(", "));
            if more > 0 {
                let _ = write!(message, " and {more} more");
            }
        }
        let title = format!("{} ×{}", clean.line(g.id), g.count());
        // An annotated rule stands for its first finding; the others have none of their own.
        let annotated = annotate(&mut log, budget, g.level, &title, &message);
        budget.add_left_out(if annotated { g.count() - 1 } else { g.count() });
    }
    if style.verbose && !found.is_empty() {
        let _ = writeln!(
            log,
            "{}",
            command("group", &[], &format!("All findings ({})", found.counts()))
        );
        log.push_str(&local::findings_text(&found, clean, style, true));
        log.push_str("::endgroup::\n");
    }
    for w in &verdict.warnings {
        annotate(
            &mut log,
            budget,
            Level::Warning,
            "apim-gate",
            &clean.text(w),
        );
    }
    let summary = verdict_line(verdict, clean);
    match verdict.outcome {
        Outcome::Passed => {
            annotate(&mut log, budget, Level::Info, "apim-gate", &summary);
        }
        Outcome::Refused | Outcome::Failed => {
            let _ = writeln!(log, "{summary}");
        }
    }
    log
}

/// The one notice that says how many findings got no annotation and where they all are. Uses
/// the notice [`step_budget`] kept.
pub fn rest_notice(budget: &mut AnnotationBudget) -> Option<String> {
    let rest = budget.left_out();
    if rest == 0 {
        return None;
    }
    budget.release(Level::Info, 1);
    budget.take(Level::Info);
    Some(command(
        "notice",
        &[(
            "title",
            &format!(
                "apim-gate: {rest} more finding{} without an annotation of their own",
                if rest == 1 { "" } else { "s" }
            ),
        )],
        &format!(
            "GitHub shows at most {} annotations of each level per step, so findings are annotated \
             one per rule. The job summary lists every finding grouped by rule, the check run \
             annotates each one, and the findings-file input writes them all as JSON.",
            groups::ANNOTATIONS_PER_LEVEL
        ),
    ))
}

pub(crate) async fn emit(
    verdict: &Verdict,
    inputs: &Inputs,
    env: &Env,
    clean: &Cleaner,
    style: Style,
    out: &mut dyn Write,
    outcome: &mut ReportOutcome,
) -> Result<(), ReportError> {
    let mut budget = step_budget();
    out.write_all(log_text(verdict, clean, style, &mut budget).as_bytes())
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

    let mut tail = report_problems(&mut budget, &warnings, &failures, clean);
    if let Some(n) = rest_notice(&mut budget) {
        tail.push_str(&n);
        tail.push('\n');
    }
    out.write_all(tail.as_bytes())
        .map_err(ReportError::Stdout)?;
    outcome.warnings.extend(warnings);
    outcome.failures.extend(failures);
    Ok(())
}

/// Problems delivering the report, as annotations in the room [`step_budget`] kept.
pub(crate) fn report_problems(
    budget: &mut AnnotationBudget,
    warnings: &[String],
    failures: &[String],
    clean: &Cleaner,
) -> String {
    budget.release(Level::Warning, 1);
    budget.release(Level::Error, 1);
    let mut tail = String::new();
    for w in warnings {
        annotate(
            &mut tail,
            budget,
            Level::Warning,
            "apim-gate report",
            &clean.text(w),
        );
    }
    for f in failures {
        annotate(
            &mut tail,
            budget,
            Level::Error,
            "apim-gate report",
            &clean.text(f),
        );
    }
    tail
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
