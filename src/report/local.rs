//! The verdict as readable text for a terminal (and the plain lines the CI renderers reuse):
//! what decided the verdict first, one line per step with outcome and duration, the address and
//! why, the APIM result, the other findings grouped by rule ([`super::groups`]). Colour only on
//! a terminal and when `NO_COLOR` is unset.

use std::fmt::Write as _;
use std::io::IsTerminal;

use crate::gate::verdict::{FindingSource, Outcome, Step, StepOutcome, Verdict};
use crate::inputs::Env;
use crate::spec::Level;

use super::groups::{self, Findings, Group};
use super::text::Cleaner;
use super::{Style, duration, verdict_line};

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
            "{}: {} ({})",
            if verdict.is_check() {
                "Address the gate would choose now"
            } else {
                "Address APIM calls"
            },
            clean.line(&a.address),
            clean.line(&a.why)
        ));
        if let Some(pool) = &a.pool {
            lines.extend(pool_lines(pool, clean));
        }
    }
    if let Some(p) = &verdict.publish {
        let change = if p.dry_run {
            "dry run, nothing written"
        } else if verdict.is_check() {
            if p.changed {
                "address repaired"
            } else {
                "as found"
            }
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
        lines.extend(policy_diff_lines(p.policy_diff.as_deref(), clean));
    }
    if let Some(path) = &verdict.spec_path {
        lines.push(format!(
            "Published document written to {}",
            clean.line(path)
        ));
    }
    lines
}

/// A dry run's policy change: the unified diff (normalised XML), or that there is none.
pub fn policy_diff_lines(diff: Option<&str>, clean: &Cleaner) -> Vec<String> {
    match diff {
        None => Vec::new(),
        Some("") => vec!["Policies: the same as APIM holds now".to_string()],
        Some(d) => {
            std::iter::once("Policy change (unified diff of the normalised XML):".to_string())
                .chain(clean.text(d).lines().map(|l| format!("  {l}")))
                .collect()
        }
    }
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
        FindingSource::Waiver => "waivers",
        FindingSource::Drift => "drift",
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

/// A rule's findings on two lines: level, rule, count and the message once, then the first
/// operations and how many more.
pub fn group_lines(g: &Group<'_>, clean: &Cleaner, color: bool) -> String {
    let p = match g.level {
        Level::Error => Paint::Red,
        Level::Warning => Paint::Yellow,
        Level::Info => Paint::Dim,
    };
    let mut out = format!(
        "  {} {} ×{}: {}",
        paint(color, p, &format!("{:<7}", g.level.as_str())),
        clean.line(g.id),
        g.count(),
        clean.line(g.message)
    );
    let (shown, more) = g.shown_operations();
    if !shown.is_empty() {
        let ops: Vec<String> = shown.iter().map(|o| clean.line(o)).collect();
        let _ = write!(out, "\n          {}", ops.join(", "));
        if more > 0 {
            let _ = write!(out, " and {more} more");
        }
    }
    out
}

/// The findings as a log shows them: with `verbose` every one; else the deciding ones one by one
/// (at most [`groups::DECIDING_SHOWN`]) and the rest grouped by rule. `deciding` is false when the
/// caller printed the deciding ones already (at the top of a terminal report, as annotations).
pub fn findings_text(
    found: &Findings<'_>,
    clean: &Cleaner,
    style: Style,
    deciding: bool,
) -> String {
    let mut out = String::new();
    if found.is_empty() {
        return out;
    }
    if style.verbose {
        let _ = writeln!(out, "Findings ({}):", found.counts());
        for g in &found.groups {
            for f in &g.findings {
                let _ = writeln!(out, "{}", finding_lines(f, clean, style.color));
            }
        }
        return out;
    }
    if deciding {
        out.push_str(&deciding_text(found, clean, style.color));
    }
    let others: Vec<&Group<'_>> = found.other_groups().collect();
    if !others.is_empty() {
        let _ = writeln!(
            out,
            "{} by rule ({}):",
            if found.warnings > 0 {
                "Warnings"
            } else {
                "Notes"
            },
            [
                (found.warnings > 0).then(|| groups::plural(found.warnings, "warning")),
                (found.infos > 0).then(|| format!("{} info", found.infos)),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        );
        for g in others.iter().take(groups::RULES_SHOWN) {
            let _ = writeln!(out, "{}", group_lines(g, clean, style.color));
        }
        let hidden = &others[others.len().min(groups::RULES_SHOWN)..];
        if !hidden.is_empty() {
            let findings: usize = hidden.iter().map(|g| g.count()).sum();
            let _ = writeln!(
                out,
                "  and {} more rules ({})",
                hidden.len(),
                groups::plural(findings, "finding")
            );
        }
    }
    out
}

/// What decided the verdict, one by one: at most [`groups::DECIDING_SHOWN`], then how many more
/// of which rules.
pub fn deciding_text(found: &Findings<'_>, clean: &Cleaner, color: bool) -> String {
    let mut out = String::new();
    if found.deciding.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Refused by {}:", groups::plural(found.errors, "error"));
    for f in found.deciding.iter().take(groups::DECIDING_SHOWN) {
        let _ = writeln!(out, "{}", finding_lines(f, clean, color));
    }
    let more = found.deciding.len().saturating_sub(groups::DECIDING_SHOWN);
    if more > 0 {
        let rules: Vec<String> = found
            .groups
            .iter()
            .filter(|g| g.level == Level::Error)
            .map(|g| format!("{} ×{}", clean.line(g.id), g.count()))
            .collect();
        let _ = writeln!(out, "  and {more} more errors ({})", rules.join(", "));
    }
    out
}

/// The "Waived" section: each finding a reviewed waiver let through, its level before, until
/// when and why (at most [`super::markdown::WAIVED_SHOWN`]).
pub fn waived_text(verdict: &Verdict, clean: &Cleaner) -> String {
    let mut out = String::new();
    if verdict.waived.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Waived ({}):", verdict.waived.len());
    for w in verdict.waived.iter().take(super::markdown::WAIVED_SHOWN) {
        let _ = writeln!(
            out,
            "  {:<7} {} {}: until {}, {} ({})",
            w.finding.level.as_str(),
            clean.line(&w.finding.id),
            w.finding
                .operation
                .as_deref()
                .map(|o| clean.line(o))
                .unwrap_or_else(|| "(document)".into()),
            clean.line(&w.until),
            clean.line(&w.reason),
            clean.line(&w.waiver)
        );
    }
    let more = verdict
        .waived
        .len()
        .saturating_sub(super::markdown::WAIVED_SHOWN);
    if more > 0 {
        let _ = writeln!(out, "  and {more} more waived findings");
    }
    out
}

/// Where the whole list is when the report grouped it.
pub const FULL_LIST_HINT: &str =
    "Every finding one by one: set verbose (-v), or findings-file for JSON.";

/// The whole report for a terminal: what decided the verdict first, then the steps (unless the
/// progress lines already showed them in the same log), the result, the other findings grouped by
/// rule, and the verdict.
pub fn render(verdict: &Verdict, clean: &Cleaner, style: Style) -> String {
    let color = style.color;
    let found = Findings::of(verdict);
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
    if let Some(e) = &verdict.error {
        let _ = writeln!(
            out,
            "{} {}",
            paint(color, Paint::Red, "error:"),
            clean.text(e)
        );
    }
    if !style.verbose {
        let deciding = deciding_text(&found, clean, color);
        // A drift check refuses no release: its errors are drift.
        out.push_str(&if verdict.is_check() {
            deciding.replacen("Refused by ", "Drift: ", 1)
        } else {
            deciding
        });
    }
    if !style.progress_in_log {
        for step in &verdict.steps {
            let _ = writeln!(out, "  {}", step_line(step, clean, color));
        }
    }
    for line in result_lines(verdict, clean) {
        let _ = writeln!(out, "{line}");
    }
    out.push_str(&findings_text(&found, clean, style, false));
    out.push_str(&waived_text(verdict, clean));
    for w in &verdict.warnings {
        let _ = writeln!(
            out,
            "{} {}",
            paint(color, Paint::Yellow, "warning:"),
            clean.text(w)
        );
    }
    let p = match verdict.outcome {
        Outcome::Passed => Paint::Green,
        Outcome::Refused | Outcome::Failed => Paint::Red,
    };
    let _ = writeln!(out, "{}", paint(color, p, &verdict_line(verdict, clean)));
    if !style.verbose && found.groups.iter().any(|g| g.count() > 1) {
        let _ = writeln!(out, "{FULL_LIST_HINT}");
    }
    out
}

/// `backend: pool`: the backend the policy routes to, every node taken or skipped with why, and
/// what was written.
pub fn pool_lines(pool: &crate::gate::pool::PoolReport, clean: &Cleaner) -> Vec<String> {
    let taken = pool.nodes.iter().filter(|n| n.eligible).count();
    let mut lines = vec![match (&pool.backend, pool.nodes.is_empty()) {
        (Some(id), true) => format!("Backend: {} (one address, no pool)", clean.line(id)),
        (Some(id), false) => format!(
            "Backend pool: {} over {taken} of {} node(s)",
            clean.line(id),
            pool.nodes.len()
        ),
        (None, _) => format!(
            "Backend pool: {taken} of {} node(s) eligible",
            pool.nodes.len()
        ),
    }];
    for n in &pool.nodes {
        lines.push(format!(
            "  {} {}: {}",
            if n.eligible { "+" } else { "-" },
            clean.line(&n.name),
            clean.line(&if n.eligible {
                n.why.clone()
            } else {
                format!("skipped, {}", n.why)
            })
        ));
    }
    for c in &pool.changes {
        lines.push(format!("  {}", clean.line(c)));
    }
    lines
}
