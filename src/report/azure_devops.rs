//! The verdict in an Azure Pipelines log: `##[group]` per step, `##vso[task.logissue]` for
//! errors and warnings (deciding errors first, one per rule, at most 10 of each level), `##vso[task.setvariable …;isOutput=true]` for the outputs, the Markdown
//! summary uploaded with `##vso[task.uploadsummary]`, and `##vso[task.complete]` last.
//!
//! Values are escaped as azure-pipelines-task-lib does (`%` → `%AZP25`, CR/LF percent-encoded,
//! and `;` / `]` in properties); `##vso[task.setsecret]` was already printed by
//! [`super::mask_secrets`].

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::gate::verdict::{Outcome, StepOutcome, Verdict};
use crate::spec::Level;

use super::groups::{self, AnnotationBudget, Findings};
use super::text::{Cleaner, ado_data, ado_property};
use super::{ReportError, ReportOutcome, Style, local, markdown, outputs, verdict_line};
use crate::inputs::Env;

/// `##vso[task.logissue type=…]`, without `sourcepath`/`linenumber`: findings point into a
/// document, not a file of the repository.
pub fn logissue(kind: &str, code: Option<&str>, message: &str) -> String {
    let code = code
        .map(|c| format!(";code={}", ado_property(c)))
        .unwrap_or_default();
    format!(
        "##vso[task.logissue type={kind}{code};]{}",
        ado_data(message)
    )
}

/// A `logissue` when `budget` has room for the level, else a plain line. Azure DevOps documents
/// no limit, but a log with hundreds of issues buries the one that decided: the same 10 per
/// level as on GitHub, the rest in the uploaded summary.
fn issue(
    line: &mut impl FnMut(&str),
    budget: &mut AnnotationBudget,
    level: Level,
    code: Option<&str>,
    text: &str,
) {
    if budget.take(level) {
        line(&logissue(level.as_str(), code, text));
    } else {
        line(&format!("{}: {text}", level.as_str()));
    }
}

/// `##vso[task.setvariable variable=name;isOutput=true]value`.
pub fn setvariable(name: &str, value: &str) -> String {
    format!(
        "##vso[task.setvariable variable={};isOutput=true;]{}",
        ado_property(name),
        ado_data(value)
    )
}

/// Writes the summary when `--summary` is not given: a new file of its own in the agent's temp
/// directory (cleaned after the job), else in the system's. The name is unpredictable and the
/// file is created, never opened if it exists (`O_EXCL` does not follow a planted symlink), and
/// readable by this user only: under a shared /tmp another user could otherwise plant
/// `apim-gate-<service>.md` as a link to a file of this user's, or read the summary.
pub(crate) fn write_private_summary(
    env: &Env,
    service: &str,
    text: &str,
) -> std::io::Result<PathBuf> {
    use std::hash::{BuildHasher, Hasher};
    use std::io::ErrorKind;
    let dir = env
        .get("AGENT_TEMPDIRECTORY")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let name: String = service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(64)
        .collect();
    let mut last = None;
    for attempt in 0u32..16 {
        // RandomState is seeded from the OS's randomness once per process and differs per
        // instance: 64 unguessable bits without a crate.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u32(attempt);
        let path = dir.join(format!("apim-gate-{name}-{:016x}.md", h.finish()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ErrorKind::AlreadyExists.into()))
}

pub(crate) fn emit(
    verdict: &Verdict,
    env: &Env,
    clean: &Cleaner,
    style: Style,
    out: &mut dyn Write,
    outcome: &mut ReportOutcome,
    summary_file: Option<&Path>,
) -> Result<(), ReportError> {
    let mut log = String::new();
    let mut line = |s: &str| {
        log.push_str(s);
        log.push('\n');
    };

    let found = Findings::of(verdict);
    let mut budget = AnnotationBudget::default();
    // Errors first: the run's error, failed steps, the deciding findings.
    if let Some(e) = &verdict.error {
        issue(&mut line, &mut budget, Level::Error, None, &clean.text(e));
    }
    for step in verdict
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Failed)
    {
        let text = format!("{}: {}", step.name.title(), clean.line(&step.detail));
        issue(&mut line, &mut budget, Level::Error, None, &text);
    }
    let mut plain_deciding = 0;
    for (i, f) in found.deciding.iter().enumerate() {
        let operation = f
            .finding
            .operation
            .as_deref()
            .map(|o| format!("{}: ", clean.line(o)))
            .unwrap_or_default();
        let text = format!(
            "{operation}{} (at {})",
            clean.line(&f.finding.message),
            clean.line(&f.finding.path)
        );
        if budget.take(Level::Error) {
            line(&logissue("error", Some(&clean.line(&f.finding.id)), &text));
        } else if style.verbose || i < groups::DECIDING_SHOWN {
            budget.add_left_out(1);
            line(&local::finding_lines(f, clean, false));
        } else {
            budget.add_left_out(1);
            plain_deciding += 1;
        }
    }
    if plain_deciding > 0 {
        line(&format!(
            "  and {plain_deciding} more errors: see the summary"
        ));
    }
    if !style.progress_in_log {
        for step in &verdict.steps {
            line(&format!(
                "##[group]{}",
                local::step_line(step, clean, false)
            ));
            line(&clean.text(&step.detail));
            line("##[endgroup]");
        }
    }
    for l in local::result_lines(verdict, clean) {
        line(&l);
    }
    // One issue per rule below the error level; `logissue` has no notice type, so notes stay
    // plain lines.
    for g in found.other_groups() {
        let (shown, more) = g.shown_operations();
        let mut text = format!(
            "{} ×{}: {}",
            clean.line(g.id),
            g.count(),
            clean.line(g.message)
        );
        if !shown.is_empty() {
            let ops: Vec<String> = shown.iter().map(|o| clean.line(o)).collect();
            text.push_str(&format!(" In {}", ops.join(", ")));
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
        }
        if g.level == Level::Warning && budget.take(Level::Warning) {
            line(&logissue("warning", Some(&clean.line(g.id)), &text));
            budget.add_left_out(g.count() - 1);
        } else {
            budget.add_left_out(g.count());
            line(&format!("{}: {text}", g.level.as_str()));
        }
    }
    if style.verbose && !found.is_empty() {
        line(&format!("##[group]All findings ({})", found.counts()));
        line(local::findings_text(&found, clean, style, true).trim_end());
        line("##[endgroup]");
    }
    for w in &verdict.warnings {
        issue(&mut line, &mut budget, Level::Warning, None, &clean.line(w));
    }
    if budget.left_out() > 0 {
        line(&format!(
            "{} more without an issue of their own (one issue per rule, at most {} errors and {} \
             warnings): the summary lists every finding grouped by rule; the findings-file input \
             writes them all as JSON.",
            groups::plural(budget.left_out(), "finding"),
            groups::ANNOTATIONS_PER_LEVEL,
            groups::ANNOTATIONS_PER_LEVEL
        ));
    }
    for (_, name, value) in outputs(verdict) {
        line(&setvariable(name, &clean.redact(&value)));
    }
    out.write_all(log.as_bytes()).map_err(ReportError::Stdout)?;

    let md = markdown::summary(verdict, clean, markdown::JOB_SUMMARY_BUDGET, None);
    let written = match summary_file {
        Some(path) => std::fs::write(path, md)
            .map(|()| path.to_path_buf())
            .map_err(|e| format!("cannot write the summary to {}: {e}", path.display())),
        None => write_private_summary(env, &verdict.service, &md).map_err(|e| {
            format!("cannot create a summary file in the agent's temp directory: {e}")
        }),
    };
    match written {
        Ok(path) => writeln!(
            out,
            "##vso[task.uploadsummary]{}",
            ado_data(&path.display().to_string())
        )
        .map_err(ReportError::Stdout)?,
        Err(message) => {
            writeln!(out, "{}", logissue("warning", None, &message))
                .map_err(ReportError::Stdout)?;
            outcome.failures.push(message);
        }
    }

    let reporting_failed = !outcome.failures.is_empty() && verdict.exit == Exit::Passed;
    let issues = !verdict.warnings.is_empty()
        || found.errors + found.warnings > 0
        || verdict
            .steps
            .iter()
            .any(|s| s.outcome == StepOutcome::Warned);
    let result = match verdict.outcome {
        Outcome::Passed if reporting_failed => "Failed",
        Outcome::Passed if issues => "SucceededWithIssues",
        Outcome::Passed => "Succeeded",
        Outcome::Refused | Outcome::Failed => "Failed",
    };
    let summary_line = verdict_line(verdict, clean);
    writeln!(out, "{summary_line}").map_err(ReportError::Stdout)?;
    writeln!(
        out,
        "##vso[task.complete result={result};]{}",
        ado_data(&summary_line)
    )
    .map_err(ReportError::Stdout)?;
    Ok(())
}
