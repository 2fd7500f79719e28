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
