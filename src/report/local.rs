//! The verdict as readable text for a terminal (and the plain lines the CI renderers reuse):
//! one line per step with outcome and duration, the address and why, the findings, the APIM
//! result. Colour only on a terminal and when `NO_COLOR` is unset.

use std::fmt::Write as _;
use std::io::IsTerminal;

use crate::gate::verdict::{FindingSource, Outcome, Step, StepOutcome, Verdict};
use crate::inputs::Env;
use crate::spec::Level;

use super::text::Cleaner;
use super::{duration, sorted_findings, verdict_line};

/// Colour when standard output is a terminal and `NO_COLOR` is unset or empty (no-color.org).
pub fn use_color(env: &Env) -> bool {
    std::io::stdout().is_terminal() && env.get("NO_COLOR").is_none_or(str::is_empty)
}

#[derive(Clone, Copy)]
enum Paint {
    Green,
    Yellow,
    Red,
    Dim,
    Bold,
}

fn paint(color: bool, p: Paint, s: &str) -> String {
    if !color {
        return s.to_string();
    }
    let code = match p {
        Paint::Green => "32",
        Paint::Yellow => "33",
        Paint::Red => "31",
        Paint::Dim => "2",
        Paint::Bold => "1",
    };
    format!("\u{1b}[{code}m{s}\u{1b}[0m")
}

/// `  ✓ passed   0.4s  Inputs: detail` — one step.
pub fn step_line(step: &Step, clean: &Cleaner, color: bool) -> String {
    let (mark, word, p) = outcome_parts(step.outcome);
    format!(
        "{} {:<24} {:>7}  {}",
        paint(color, p, &format!("{mark} {word:<7}")),
        step.name.title(),
        duration(step.duration),
        clean.line(&step.detail)
    )
}

fn outcome_parts(o: StepOutcome) -> (&'static str, &'static str, Paint) {
    match o {
        StepOutcome::Passed => ("✓", "passed", Paint::Green),
        StepOutcome::Warned => ("!", "warned", Paint::Yellow),
        StepOutcome::Failed => ("✗", "failed", Paint::Red),
        StepOutcome::Skipped => ("-", "skipped", Paint::Dim),
    }
}

/// The address, the APIM result and the findings, as plain lines.
pub fn result_lines(verdict: &Verdict, clean: &Cleaner) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(a) = &verdict.address {
        lines.push(format!(
            "Address APIM calls: {} ({})",
            clean.line(&a.address),
            clean.line(&a.why)
        ));
    }
    if let Some(p) = &verdict.publish {
        let change = if p.dry_run {
            "dry run, nothing written"
        } else if p.changed {
            "changed"
        } else {
            "unchanged"
        };
        lines.push(format!(
            "API Management: API {} revision {}, {} operations, {change}; backend {}",
            clean.line(&p.api_id),
            p.revision
                .map(|r| r.to_string())
                .unwrap_or_else(|| "-".into()),
            p.operations,
            clean.line(&p.service_url)
        ));
        if !p.portal_url.is_empty() {
            lines.push(format!("Azure portal: {}", clean.line(&p.portal_url)));
        }
    }
    if let Some(path) = &verdict.spec_path {
        lines.push(format!(
            "Published document written to {}",
            clean.line(path)
        ));
    }
    lines
}

/// One finding on one line, its location on the next.
pub fn finding_lines(
    f: &crate::gate::verdict::SourcedFinding,
    clean: &Cleaner,
    color: bool,
) -> String {
    let p = match f.finding.level {
        Level::Error => Paint::Red,
        Level::Warning => Paint::Yellow,
        Level::Info => Paint::Dim,
    };
    let source = match f.source {
        FindingSource::Lint => "lint",
        FindingSource::BreakingChange => "breaking",
    };
    format!(
        "  {} {} [{source}] {}: {}\n          at {}",
        paint(color, p, &format!("{:<7}", f.finding.level.as_str())),
        clean.line(&f.finding.id),
        f.finding
            .operation
            .as_deref()
            .map(|o| clean.line(o))
            .unwrap_or_else(|| "(document)".into()),
        clean.line(&f.finding.message),
        if f.finding.path.is_empty() {
            "/".to_string()
        } else {
            clean.line(&f.finding.path)
        }
    )
}

/// The whole report for a terminal.
pub fn render(verdict: &Verdict, clean: &Cleaner, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint(
            color,
            Paint::Bold,
            &format!("apim-gate: {}", clean.line(&verdict.service))
        )
    );
    for step in &verdict.steps {
        let _ = writeln!(out, "  {}", step_line(step, clean, color));
    }
    for line in result_lines(verdict, clean) {
        let _ = writeln!(out, "{line}");
    }
    let findings = sorted_findings(verdict);
    if !findings.is_empty() {
        let _ = writeln!(out, "Findings ({}):", findings.len());
        for f in findings {
            let _ = writeln!(out, "{}", finding_lines(f, clean, color));
        }
    }
    for w in &verdict.warnings {
        let _ = writeln!(
            out,
            "{} {}",
            paint(color, Paint::Yellow, "warning:"),
            clean.text(w)
        );
    }
    if let Some(e) = &verdict.error {
        let _ = writeln!(
            out,
            "{} {}",
            paint(color, Paint::Red, "error:"),
            clean.text(e)
        );
    }
    let p = match verdict.outcome {
        Outcome::Passed => Paint::Green,
        Outcome::Refused | Outcome::Failed => Paint::Red,
    };
    let _ = writeln!(out, "{}", paint(color, p, &verdict_line(verdict, clean)));
    out
}
