//! The verdict in an Azure Pipelines log: `##[group]` per step, `##vso[task.logissue]` for
//! errors and warnings, `##vso[task.setvariable …;isOutput=true]` for the outputs, the Markdown
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

use super::text::{Cleaner, ado_data, ado_property};
use super::{
    MAX_LOG_ANNOTATIONS, ReportError, ReportOutcome, local, markdown, outputs, sorted_findings,
    verdict_line,
};
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

/// `##vso[task.setvariable variable=name;isOutput=true]value`.
pub fn setvariable(name: &str, value: &str) -> String {
    format!(
        "##vso[task.setvariable variable={};isOutput=true;]{}",
        ado_property(name),
        ado_data(value)
    )
}

/// Where the summary goes when `--summary` is not given: the agent's temp directory, cleaned
/// after the job.
fn summary_path(env: &Env, service: &str) -> PathBuf {
    let dir = env
        .get("AGENT_TEMPDIRECTORY")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let name: String = service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    dir.join(format!("apim-gate-{name}.md"))
}

pub(crate) fn emit(
    verdict: &Verdict,
    env: &Env,
    clean: &Cleaner,
    out: &mut dyn Write,
    outcome: &mut ReportOutcome,
    summary_file: Option<&Path>,
) -> Result<(), ReportError> {
    let mut log = String::new();
    let mut line = |s: &str| {
        log.push_str(s);
        log.push('\n');
    };

    for step in &verdict.steps {
        line(&format!(
            "##[group]{}",
            local::step_line(step, clean, false)
        ));
        line(&clean.text(&step.detail));
        line("##[endgroup]");
        if step.outcome == StepOutcome::Failed {
            line(&logissue(
                "error",
                None,
                &format!("{}: {}", step.name.title(), clean.line(&step.detail)),
            ));
        }
    }
    for l in local::result_lines(verdict, clean) {
        line(&l);
    }

    let findings = sorted_findings(verdict);
    let notable: Vec<_> = findings
        .iter()
        .filter(|f| f.finding.level >= Level::Warning)
        .collect();
    if !findings.is_empty() {
        line(&format!("##[group]Findings ({})", findings.len()));
        for f in &findings {
            line(&local::finding_lines(f, clean, false));
        }
        line("##[endgroup]");
    }
    for f in notable.iter().take(MAX_LOG_ANNOTATIONS) {
        let kind = if f.finding.level == Level::Error {
            "error"
        } else {
            "warning"
        };
        let operation = f
            .finding
            .operation
            .as_deref()
            .map(|o| format!("{}: ", clean.line(o)))
            .unwrap_or_default();
        line(&logissue(
            kind,
            Some(&clean.line(&f.finding.id)),
            &format!(
                "{operation}{} (at {})",
                clean.line(&f.finding.message),
                clean.line(&f.finding.path)
            ),
        ));
    }
    if notable.len() > MAX_LOG_ANNOTATIONS {
        line(&format!(
            "{} more errors and warnings are in the findings above and the summary.",
            notable.len() - MAX_LOG_ANNOTATIONS
        ));
    }
    for w in &verdict.warnings {
        line(&logissue("warning", None, &clean.line(w)));
    }
    if let Some(e) = &verdict.error {
        line(&logissue("error", None, &clean.text(e)));
    }
    for (_, name, value) in outputs(verdict) {
        line(&setvariable(name, &clean.redact(&value)));
    }
    out.write_all(log.as_bytes()).map_err(ReportError::Stdout)?;

    let path = summary_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| summary_path(env, &verdict.service));
    let md = markdown::summary(verdict, clean, markdown::JOB_SUMMARY_BUDGET, None);
    match std::fs::write(&path, md) {
        Ok(()) => writeln!(
            out,
            "##vso[task.uploadsummary]{}",
            ado_data(&path.display().to_string())
        )
        .map_err(ReportError::Stdout)?,
        Err(e) => {
            let message = format!("cannot write the summary to {}: {e}", path.display());
            writeln!(out, "{}", logissue("warning", None, &message))
                .map_err(ReportError::Stdout)?;
            outcome.failures.push(message);
        }
    }

    let reporting_failed = !outcome.failures.is_empty() && verdict.exit == Exit::Passed;
    let issues = !verdict.warnings.is_empty()
        || !notable.is_empty()
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
