//! The Markdown summary of a verdict, one text for every place a person reads it: the GitHub job
//! summary, the check run, the pull-request comment, the Azure DevOps build summary and
//! `--summary FILE`. The first table groups the findings by rule, errors first; the steps come
//! next; the full list last, folded, cut to the place's size limit with a note; then, folded too,
//! every change from the live API to the new document (the changelog, compatible ones included).

use std::fmt::Write as _;

use crate::gate::verdict::{FindingSource, Outcome, StepOutcome, Verdict};
use crate::spec::Level;

use super::groups::Findings;
use super::text::{Cleaner, md_code, md_text};
use super::{duration, sorted_findings};

/// GitHub's job-summary limit is 1 MiB per step; leave room for a line a wrapper might add.
pub const JOB_SUMMARY_BUDGET: usize = 1_000_000;
/// Check-run summaries and issue comments stop at 65,535 characters; bytes never undercount them.
pub const COMMENT_BUDGET: usize = 60_000;

/// Renders the summary in at most `budget` bytes. `marker` (an HTML comment) goes first, for the
/// pull-request comment that is found again and updated.
pub fn summary(verdict: &Verdict, clean: &Cleaner, budget: usize, marker: Option<&str>) -> String {
    let mut head = String::new();
    if let Some(m) = marker {
        head.push_str(m);
        head.push('\n');
    }
    let (icon, word) = match verdict.outcome {
        Outcome::Passed if verdict.is_check() => ("✅", "found no drift"),
        Outcome::Refused if verdict.is_check() => ("⚠️", "found drift"),
        Outcome::Passed => ("✅", "passed"),
        Outcome::Refused => ("⛔", "refused"),
        Outcome::Failed => ("❌", "failed"),
    };
    let _ = writeln!(
        head,
        "## {icon} apim-gate {word}: {}\n",
        md_text(&clean.line(&verdict.service))
    );
    if let Some(error) = &verdict.error {
        let _ = writeln!(head, "> **Error:** {}\n", md_text(&clean.line(error)));
    }
    let found = Findings::of(verdict);
    // At most half the place: the steps and the result must fit beside it.
    head.push_str(&grouped_table(&found, clean, budget / 2));
    head.push_str(&waived_table(verdict, clean, budget / 4));

    head.push_str("| Step | Outcome | Duration | Detail |\n|---|---|---|---|\n");
    for step in &verdict.steps {
        let outcome = match step.outcome {
            StepOutcome::Passed => "✅ passed",
            StepOutcome::Warned => "⚠️ warned",
            StepOutcome::Failed => "❌ failed",
            StepOutcome::Skipped => "⏭️ skipped",
        };
        let _ = writeln!(
            head,
            "| {} | {outcome} | {} | {} |",
            step.name.title(),
            duration(step.duration),
            md_text(&clean.line(&step.detail))
        );
    }
    head.push('\n');

    if let Some(a) = &verdict.address {
        let _ = writeln!(
            head,
            "**{}:** {} — {}\n",
            if verdict.is_check() {
                "Address the gate would choose now"
            } else {
                "Address APIM calls"
            },
            md_code(&clean.line(&a.address)),
            md_text(&clean.line(&a.why))
        );
        if let Some(pool) = &a.pool {
            head.push_str(&pool_table(pool, clean));
        }
    }
    if let Some(p) = &verdict.publish {
        let revision = p
            .revision
            .map(|r| format!("revision {r}"))
            .unwrap_or_else(|| "no revision".into());
        let change = if p.dry_run {
            "dry run: nothing written"
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
        let _ = write!(
            head,
            "**API Management:** API {}, {revision}, {} operation{}, {change}; backend {}",
            md_code(&clean.line(&p.api_id)),
            p.operations,
            if p.operations == 1 { "" } else { "s" },
            md_code(&clean.line(&p.service_url)),
        );
        let portal = clean.line(&p.portal_url);
        if portal.starts_with("https://") {
            // A URL is not escaped like text (it must stay a link); `)` and spaces would end it.
            let _ = write!(
                head,
                " — [open in the Azure portal]({})",
                portal.replace(' ', "%20").replace(')', "%29")
            );
        }
        head.push_str("\n\n");
        // A quarter of the place at most, cut at a line: cut by the size limit, the block's
        // closing fence would go too.
        head.push_str(&policy_diff_block(
            p.policy_diff.as_deref(),
            clean,
            budget / 4,
        ));
    }
    if let Some(path) = &verdict.spec_path {
        let _ = writeln!(
            head,
            "**Published document written to** {}\n",
            md_code(&clean.line(path))
        );
    }

    let mut tail = String::new();
    if !verdict.warnings.is_empty() {
        tail.push_str("### Warnings\n\n");
        for w in &verdict.warnings {
            let _ = writeln!(tail, "- {}", md_text(&clean.line(w)));
        }
        tail.push('\n');
    }
    let _ = writeln!(
        tail,
        "<sub>exit code {} · apim-gate {}</sub>",
        verdict.exit.code(),
        env!("CARGO_PKG_VERSION")
    );

    let findings = sorted_findings(verdict);
    let mut table = String::new();
    if !findings.is_empty() {
        let _ = writeln!(
            table,
            "<details><summary>All {} findings, one by one</summary>\n",
            findings.len()
        );
        table.push_str("| Level | Source | Rule | Operation | Message |\n|---|---|---|---|---|\n");
        // Room for the note that says how many rows were left out and the closing tag.
        let reserve = 300;
        let room = budget.saturating_sub(head.len() + tail.len() + reserve);
        let mut shown = 0;
        for f in &findings {
            let row = finding_row(f, clean);
            if table.len() + row.len() > room {
                break;
            }
            table.push_str(&row);
            shown += 1;
        }
        table.push('\n');
        if shown < findings.len() {
            let _ = writeln!(
                table,
                "_{} more finding{} not shown: the summary is limited in size. \
                 The check run annotates each one; the findings-file input writes them all._\n",
                findings.len() - shown,
                if findings.len() - shown == 1 { "" } else { "s" }
            );
        }
        table.push_str("</details>\n\n");
    }

    let reserve = 300;
    let room = budget.saturating_sub(head.len() + table.len() + tail.len() + reserve);
    let changes = changes_section(&verdict.changes, clean, room);

    let mut out = head;
    out.push_str(&table);
    out.push_str(&changes);
    out.push_str(&tail);
    if out.len() > budget {
        // Only a huge error or warning text gets here; cut at a character boundary.
        let note = "\n\n_…cut to fit the summary's size limit._\n";
        let mut end = budget.saturating_sub(note.len());
        while end > 0 && !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(note);
    }
    out
}

/// The first table: one row per rule, errors (what decided) first, each with its count, its
/// message once and its first operations.
fn grouped_table(found: &Findings<'_>, clean: &Cleaner, room: usize) -> String {
    let mut out = String::new();
    if found.is_empty() {
        out.push_str("### Findings\n\nNo findings.\n\n");
        return out;
    }
    let _ = writeln!(out, "### Findings ({})\n", found.counts());
    out.push_str("| Level | Rule | Count | Message | Operations |\n|---|---|---|---|---|\n");
    let mut rules = 0;
    for g in &found.groups {
        let (shown, more) = g.shown_operations();
        let ops: Vec<String> = shown.iter().map(|o| md_code(&clean.line(o))).collect();
        let mut ops = ops.join(", ");
        if more > 0 {
            let _ = write!(ops, " and {more} more");
        }
        let source = match g.source {
            FindingSource::Lint => "",
            FindingSource::BreakingChange => " (breaking change)",
            FindingSource::Waiver => " (waivers)",
            FindingSource::Drift => " (drift)",
        };
        let row = format!(
            "| {}{source} | {} | {} | {} | {} |\n",
            level_cell(g.level),
            md_code(&clean.line(g.id)),
            g.count(),
            md_text(&clean.line(g.message)),
            ops
        );
        if out.len() + row.len() + 200 > room {
            break;
        }
        out.push_str(&row);
        rules += 1;
    }
    out.push('\n');
    if rules < found.groups.len() {
        let _ = writeln!(
            out,
            "_{} more rules not shown: the summary is limited in size._\n",
            found.groups.len() - rules
        );
    }
    out
}

/// Rows of the "Waived" section before it says "and N more".
pub const WAIVED_SHOWN: usize = 50;

/// The "Waived" section: each finding a reviewed waiver let through, with its level before,
/// the waiver's reason and the last day it waives.
fn waived_table(verdict: &Verdict, clean: &Cleaner, room: usize) -> String {
    let mut out = String::new();
    if verdict.waived.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "### Waived ({})
",
        verdict.waived.len()
    );
    out.push_str(
        "| Was | Rule | Operation | Until | Reason | Waiver |\n|---|---|---|---|---|---|\n",
    );
    let mut shown = 0;
    for w in verdict.waived.iter().take(WAIVED_SHOWN) {
        let row = format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            level_cell(w.finding.level),
            md_code(&clean.line(&w.finding.id)),
            w.finding
                .operation
                .as_deref()
                .map(|o| md_code(&clean.line(o)))
                .unwrap_or_default(),
            md_text(&clean.line(&w.until)),
            md_text(&clean.line(&w.reason)),
            md_text(&clean.line(&w.waiver)),
        );
        if out.len() + row.len() + 200 > room {
            break;
        }
        out.push_str(&row);
        shown += 1;
    }
    out.push('\n');
    if shown < verdict.waived.len() {
        let _ = writeln!(
            out,
            "_{} more waived findings not shown; the findings-file input lists them all (as info notes)._\n",
            verdict.waived.len() - shown
        );
    }
    out
}

/// `<details><summary>All changes (N)</summary>`: every change the breaking-change check found,
/// compatible ones included, with oasdiff's rule ids; rows beyond `room` bytes are counted.
fn changes_section(changes: &[crate::spec::Finding], clean: &Cleaner, room: usize) -> String {
    let mut out = String::new();
    if changes.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "<details><summary>All changes ({})</summary>\n",
        changes.len()
    );
    out.push_str("| Level | Rule | Operation | Change |\n|---|---|---|---|\n");
    let mut shown = 0;
    for f in changes {
        let operation = f
            .operation
            .as_deref()
            .map(|o| md_code(&clean.line(o)))
            .unwrap_or_default();
        let row = format!(
            "| {} | {} | {operation} | {} |\n",
            level_cell(f.level),
            md_code(&clean.line(&f.id)),
            md_text(&clean.line(&f.message)),
        );
        if out.len() + row.len() > room {
            break;
        }
        out.push_str(&row);
        shown += 1;
    }
    out.push('\n');
    if shown < changes.len() {
        let _ = writeln!(
            out,
            "_{} more change{} not shown: the summary is limited in size. \
             `apim-gate diff --all` lists them all._\n",
            changes.len() - shown,
            if changes.len() - shown == 1 { "" } else { "s" }
        );
    }
    out.push_str("</details>\n\n");
    out
}

fn level_cell(level: Level) -> &'static str {
    match level {
        Level::Error => "🔴 error",
        Level::Warning => "🟡 warning",
        Level::Info => "🔵 info",
    }
}

fn finding_row(f: &crate::gate::verdict::SourcedFinding, clean: &Cleaner) -> String {
    let level = level_cell(f.finding.level);
    let source = match f.source {
        FindingSource::Lint => "lint",
        FindingSource::BreakingChange => "breaking change",
        FindingSource::Waiver => "waivers",
        FindingSource::Drift => "drift",
    };
    let operation = f
        .finding
        .operation
        .as_deref()
        .map(|o| md_code(&clean.line(o)))
        .unwrap_or_default();
    let at = if f.finding.path.is_empty() {
        "/".to_string()
    } else {
        clean.line(&f.finding.path)
    };
    format!(
        "| {level} | {source} | {} | {operation} | {} (at {}) |\n",
        md_code(&clean.line(&f.finding.id)),
        md_text(&clean.line(&f.finding.message)),
        md_code(&at),
    )
}

/// `backend: pool`: which nodes are in the pool and why each was taken or skipped, then what was
/// written.
fn pool_table(pool: &crate::gate::pool::PoolReport, clean: &Cleaner) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "**Backend{}:** {}\n",
        if pool.nodes.is_empty() { "" } else { " pool" },
        pool.backend
            .as_deref()
            .map(|id| md_code(&clean.line(id)))
            .unwrap_or_else(|| "not written".into())
    );
    if !pool.nodes.is_empty() {
        out.push_str("| Node | In the pool | Why |\n|---|---|---|\n");
        for n in &pool.nodes {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                md_code(&clean.line(&n.name)),
                if n.eligible {
                    "✅ yes"
                } else {
                    "⏭️ skipped"
                },
                md_text(&clean.line(&n.why))
            );
        }
        out.push('\n');
    }
    for c in &pool.changes {
        let _ = writeln!(out, "- {}", md_text(&clean.line(c)));
    }
    if !pool.changes.is_empty() {
        out.push('\n');
    }
    out
}

/// A dry run's policy change as a collapsed `diff` block of at most about `room` bytes; its fence
/// is longer than any run of backticks in the diff, so the policy's text cannot end it.
fn policy_diff_block(diff: Option<&str>, clean: &Cleaner, room: usize) -> String {
    match diff {
        None => String::new(),
        Some("") => "**Policies:** the same as APIM holds now\n\n".to_string(),
        Some(d) => {
            let full = clean.text(d);
            let mut d = String::new();
            let lines: Vec<&str> = full.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                if d.len() + l.len() + 200 > room {
                    d.push_str(&format!(
                        "... {} more lines: the log shows the whole diff\n",
                        lines.len() - i
                    ));
                    break;
                }
                d.push_str(l);
                d.push('\n');
            }
            let longest = d.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            format!(
                "<details><summary>Policy change (dry run)</summary>\n\n{fence}diff\n{}\n{fence}\n\n</details>\n\n",
                d.trim_end()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Finding;

    #[test]
    fn the_policy_diff_fence_outlasts_any_backticks_in_it() {
        let clean = Cleaner::default();
        let d = "--- a\n+++ b\n@@ -1,1 +1,1 @@\n-<value>x</value>\n+<value>```y````</value>\n";
        let block = policy_diff_block(Some(d), &clean, 60_000);
        assert!(block.contains("\n`````diff\n--- a\n"), "{block}");
        assert!(block.contains("</value>\n`````\n\n</details>"), "{block}");
        assert!(policy_diff_block(Some(""), &clean, 100).contains("the same as APIM holds now"));
        assert_eq!(policy_diff_block(None, &clean, 100), "");
        let long: String = (0..1000)
            .map(|i| format!("+<line n=\"{i}\" />\n"))
            .collect();
        let cut = policy_diff_block(Some(&long), &clean, 2_000);
        assert!(cut.len() < 2_200, "{}", cut.len());
        assert!(
            cut.contains("more lines: the log shows the whole diff\n```\n\n</details>"),
            "{cut}"
        );
    }

    fn change(i: usize) -> Finding {
        Finding {
            id: "endpoint-added".into(),
            level: Level::Info,
            operation: Some(format!("GET /pets/{i}|x")),
            path: String::new(),
            message: "the operation was added.".into(),
        }
    }

    #[test]
    fn all_changes_are_folded_escaped_and_cut_to_the_room() {
        let clean = Cleaner::default();
        assert_eq!(changes_section(&[], &clean, 10_000), "");
        let changes: Vec<Finding> = (0..50).map(change).collect();
        let all = changes_section(&changes, &clean, 100_000);
        assert!(all.starts_with("<details><summary>All changes (50)</summary>\n\n"));
        assert!(all.ends_with("</details>\n\n"));
        assert_eq!(all.matches("`endpoint-added`").count(), 50);
        assert!(all.contains("GET /pets/7\\|x"), "{all}");
        let cut = changes_section(&changes, &clean, 2_000);
        let shown = cut.matches("`endpoint-added`").count();
        assert!(shown > 0 && shown < 50, "{cut}");
        assert!(
            cut.contains(&format!("_{} more changes not shown", 50 - shown)),
            "{cut}"
        );
    }
}
