//! Reporting a run of several services (the `services` input): each service's report as for one
//! service, then a row per service and the totals. Outputs: `verdict` (the run's), the totals,
//! and `services`, a JSON array with each service's outputs.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::exit::Exit;
use crate::gate::verdict::{Outcome, Verdict};
use crate::inputs::{Env, Inputs, Platform};

use super::text::{Cleaner, md_text};
use super::{
    EmitOptions, ReportError, ReportOutcome, azure_devops, github, local, markdown, mask_secrets,
    secrets, service_outputs,
};

/// How many services ended each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub services: usize,
    pub passed: usize,
    pub refused: usize,
    pub failed: usize,
}

impl Totals {
    pub fn of(verdicts: &[Verdict]) -> Totals {
        let count = |o: Outcome| verdicts.iter().filter(|v| v.outcome == o).count();
        Totals {
            services: verdicts.len(),
            passed: count(Outcome::Passed),
            refused: count(Outcome::Refused),
            failed: count(Outcome::Failed),
        }
    }

    /// The run's outcome: failed if any failed, else refused if any was refused.
    pub fn outcome(&self) -> Outcome {
        if self.failed > 0 {
            Outcome::Failed
        } else if self.refused > 0 {
            Outcome::Refused
        } else {
            Outcome::Passed
        }
    }
}

/// The outputs of a run of several services, GitHub's name then Azure DevOps'.
pub fn many_outputs(verdicts: &[Verdict]) -> Vec<(&'static str, &'static str, String)> {
    let t = Totals::of(verdicts);
    let services: Vec<serde_json::Value> = verdicts
        .iter()
        .map(|v| {
            let mut m = serde_json::Map::new();
            m.insert("service".into(), json!(v.service));
            m.insert("exit".into(), json!(v.exit.code()));
            for (name, _, value) in service_outputs(v) {
                m.insert(name.into(), json!(value));
            }
            serde_json::Value::Object(m)
        })
        .collect();
    let changed = verdicts
        .iter()
        .any(|v| v.publish.as_ref().is_some_and(|p| p.changed && !p.dry_run));
    let breaking: usize = verdicts.iter().map(Verdict::breaking_changes).sum();
    vec![
        ("verdict", "verdict", t.outcome().as_str().to_string()),
        ("changed", "changed", changed.to_string()),
        ("breaking-changes", "breakingChanges", breaking.to_string()),
        ("services-total", "servicesTotal", t.services.to_string()),
        ("services-passed", "servicesPassed", t.passed.to_string()),
        ("services-refused", "servicesRefused", t.refused.to_string()),
        ("services-failed", "servicesFailed", t.failed.to_string()),
        (
            "services",
            "services",
            serde_json::Value::Array(services).to_string(),
        ),
    ]
}

/// One line per service: outcome, exit, API, revision, operations, breaking changes, time.
fn rows(verdicts: &[Verdict], clean: &Cleaner) -> Vec<[String; 8]> {
    verdicts
        .iter()
        .map(|v| {
            let p = v.publish.as_ref();
            let time: std::time::Duration = v.steps.iter().map(|s| s.duration).sum();
            [
                clean.line(&v.service),
                v.outcome.as_str().to_string(),
                v.exit.code().to_string(),
                p.map(|p| clean.line(&p.api_id))
                    .unwrap_or_else(|| "-".into()),
                p.and_then(|p| p.revision)
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "-".into()),
                p.map(|p| p.operations.to_string())
                    .unwrap_or_else(|| "-".into()),
                v.breaking_changes().to_string(),
                super::duration(time),
            ]
        })
        .collect()
}

const HEADERS: [&str; 8] = [
    "Service",
    "Verdict",
    "Exit",
    "API",
    "Revision",
    "Operations",
    "Breaking",
    "Time",
];

/// The table and the totals for a terminal or a CI log.
pub fn table_text(verdicts: &[Verdict], clean: &Cleaner) -> String {
    let rows = rows(verdicts, clean);
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", parts.join("  ").trim_end());
    };
    let _ = writeln!(out, "Services:");
    line(&mut out, &HEADERS.map(str::to_string));
    for r in &rows {
        line(&mut out, r);
    }
    let _ = writeln!(out, "{}", totals_line(verdicts));
    out
}

/// `apim-gate refused the release: 3 services, 2 passed, 1 refused, 0 failed (exit 1)`.
pub fn totals_line(verdicts: &[Verdict]) -> String {
    let t = Totals::of(verdicts);
    let check = verdicts.iter().any(Verdict::is_check);
    let what = match t.outcome() {
        Outcome::Passed if check => "found no drift",
        Outcome::Refused if check => "found drift",
        Outcome::Passed => "passed",
        Outcome::Refused => "refused the release",
        Outcome::Failed => "failed",
    };
    format!(
        "apim-gate {what}: {} services, {} passed, {} refused, {} failed (exit {})",
        t.services,
        t.passed,
        t.refused,
        t.failed,
        crate::gate::overall_exit(verdicts).code()
    )
}

/// The Markdown summary: the table of services first, then each service's summary in what is
/// left of `budget`.
pub fn summary(verdicts: &[Verdict], clean: &Cleaner, budget: usize) -> String {
    let t = Totals::of(verdicts);
    let icon = match t.outcome() {
        Outcome::Passed => "✅",
        Outcome::Refused => "⛔",
        Outcome::Failed => "❌",
    };
    let mut md = format!(
        "## {icon} apim-gate {}: {} services\n\n{} passed, {} refused, {} failed\n\n| {} |\n|{}\n",
        t.outcome().as_str(),
        t.services,
        t.passed,
        t.refused,
        t.failed,
        HEADERS.join(" | "),
        "---|".repeat(HEADERS.len())
    );
    for r in rows(verdicts, clean) {
        let cells: Vec<String> = r.iter().map(|c| md_text(c)).collect();
        let _ = writeln!(md, "| {} |", cells.join(" | "));
    }
    md.push('\n');
    let each = budget.saturating_sub(md.len()) / verdicts.len().max(1);
    for v in verdicts {
        md.push_str(&markdown::summary(v, clean, each, None));
        md.push('\n');
    }
    md
}

/// Reports several verdicts on the inputs' platform. On GitHub each service gets its own check
/// run, and the pull request one comment with the table of services (updated by later runs).
pub async fn emit_many(
    verdicts: &[Verdict],
    inputs: &Inputs,
    env: &Env,
    out: &mut dyn Write,
    options: &EmitOptions<'_>,
) -> Result<ReportOutcome, ReportError> {
    let mut all_secrets = secrets(env, Some(inputs));
    all_secrets.extend(options.extra_secrets.iter().cloned());
    let platform = inputs.platform();
    mask_secrets(platform, &all_secrets, out).map_err(ReportError::Stdout)?;
    let clean = Cleaner::new(&all_secrets);
    let exit = crate::gate::overall_exit(verdicts);
    let mut outcome = ReportOutcome {
        exit,
        warnings: Vec::new(),
        failures: Vec::new(),
        check_run_url: None,
        comment_url: None,
    };
    let budget = markdown::JOB_SUMMARY_BUDGET;
    let style = super::Style::new(inputs, env, options);
    match platform {
        Platform::Local => {
            for v in verdicts {
                out.write_all(local::render(v, &clean, style).as_bytes())
                    .map_err(ReportError::Stdout)?;
                out.write_all(b"\n").map_err(ReportError::Stdout)?;
            }
            out.write_all(table_text(verdicts, &clean).as_bytes())
                .map_err(ReportError::Stdout)?;
        }
        Platform::GithubActions => {
            // One step: the services share GitHub's 10 annotations of each level.
            let mut annotations = github::step_budget();
            let mut log = String::new();
            for v in verdicts {
                let _ = writeln!(
                    log,
                    "::group::{}",
                    super::text::gh_data(&clean.line(&v.service))
                );
                log.push_str(&github::log_text(v, &clean, style, &mut annotations));
                let _ = writeln!(log, "::endgroup::");
            }
            log.push_str(&table_text(verdicts, &clean));
            out.write_all(log.as_bytes()).map_err(ReportError::Stdout)?;
            if let Some(path) = env.get("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
                let pairs: Vec<(&str, String)> = many_outputs(verdicts)
                    .into_iter()
                    .map(|(name, _, v)| (name, clean.redact(&v)))
                    .collect();
                if let Err(e) = append(Path::new(path), &github::output_file_text(&pairs)) {
                    outcome.failures.push(format!(
                        "cannot write the step outputs to GITHUB_OUTPUT ({path}): {e}"
                    ));
                }
            }
            if let Some(path) = env.get("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
                let md = summary(verdicts, &clean, budget);
                if let Err(e) = append(Path::new(path), &md) {
                    outcome.failures.push(format!(
                        "cannot write the job summary to GITHUB_STEP_SUMMARY ({path}): {e}"
                    ));
                }
            }
            let marker = github::api::services_marker(verdicts);
            let comment = || {
                format!(
                    "{marker}\n{}",
                    summary(verdicts, &clean, markdown::COMMENT_BUDGET)
                )
            };
            let (mut warnings, mut failures) = (Vec::new(), Vec::new());
            let (check_run_url, comment_url) = github::to_pull_request(
                verdicts,
                (&marker, &comment),
                inputs,
                env,
                &clean,
                &mut warnings,
                &mut failures,
            )
            .await;
            outcome.check_run_url = check_run_url;
            outcome.comment_url = comment_url;
            outcome.warnings.extend(warnings);
            outcome.failures.extend(failures);
            let problems: Vec<String> = outcome
                .warnings
                .iter()
                .chain(&outcome.failures)
                .cloned()
                .collect();
            let mut tail = github::report_problems(&mut annotations, &problems, &[], &clean);
            if let Some(n) = github::rest_notice(&mut annotations) {
                tail.push_str(&n);
                tail.push('\n');
            }
            out.write_all(tail.as_bytes())
                .map_err(ReportError::Stdout)?;
        }
        Platform::AzureDevops => {
            let mut log = String::new();
            for v in verdicts {
                let _ = writeln!(log, "##[group]{}", clean.line(&v.service));
                for l in local::result_lines(v, &clean) {
                    let _ = writeln!(log, "{l}");
                }
                let _ = writeln!(log, "##[endgroup]");
                if let Some(e) = &v.error {
                    let _ = writeln!(
                        log,
                        "{}",
                        azure_devops::logissue(
                            "error",
                            None,
                            &format!("{}: {}", clean.line(&v.service), clean.text(e))
                        )
                    );
                }
            }
            log.push_str(&table_text(verdicts, &clean));
            for (_, name, value) in many_outputs(verdicts) {
                let _ = writeln!(
                    log,
                    "{}",
                    azure_devops::setvariable(name, &clean.redact(&value))
                );
            }
            out.write_all(log.as_bytes()).map_err(ReportError::Stdout)?;
            let md = summary(verdicts, &clean, budget);
            let written = match options.summary_file {
                Some(path) => std::fs::write(path, md)
                    .map(|()| path.to_path_buf())
                    .map_err(|e| format!("cannot write the summary to {}: {e}", path.display())),
                None => azure_devops::write_private_summary(env, "services", &md).map_err(|e| {
                    format!("cannot create a summary file in the agent's temp directory: {e}")
                }),
            };
            match written {
                Ok(path) => writeln!(
                    out,
                    "##vso[task.uploadsummary]{}",
                    super::text::ado_data(&path.display().to_string())
                )
                .map_err(ReportError::Stdout)?,
                Err(message) => outcome.failures.push(message),
            }
            let result = match Totals::of(verdicts).outcome() {
                Outcome::Passed if !outcome.failures.is_empty() => "Failed",
                Outcome::Passed => "Succeeded",
                Outcome::Refused | Outcome::Failed => "Failed",
            };
            writeln!(
                out,
                "##vso[task.complete result={result};]{}",
                super::text::ado_data(&totals_line(verdicts))
            )
            .map_err(ReportError::Stdout)?;
        }
    }
    if platform != Platform::AzureDevops
        && let Some(path) = options.summary_file
        && let Err(e) = std::fs::write(path, summary(verdicts, &clean, budget))
    {
        outcome.failures.push(format!(
            "cannot write the summary to {}: {e}",
            path.display()
        ));
    }
    if !outcome.failures.is_empty() && exit == Exit::Passed {
        outcome.exit = Exit::Reporting;
    }
    out.flush().map_err(ReportError::Stdout)?;
    Ok(outcome)
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}
