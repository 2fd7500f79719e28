//! The offline document commands: `fix` (point a document at an address), `diff` (breaking
//! changes from one document to another; with `--all` every change, the changelog) and `lint`
//! (what APIM would reject).

use std::path::{Path, PathBuf};

use super::{fail, read_input, write_json_output};
use crate::exit::Exit;
use crate::report::Cleaner;
use crate::report::text::json_commands;
use crate::spec::finding::{self, Report};
use crate::spec::rewrite::{RewriteOptions, Scheme, rewrite};
use crate::spec::{Document, Finding, Level, diff as spec_diff, lint as spec_lint};

/// How `diff` and `lint` print their findings.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

/// `fix`'s arguments, as given on the command line.
#[derive(Clone, Debug)]
pub struct FixOptions {
    /// HOST[:PORT], not yet parsed.
    pub host: String,
    /// Schemes as given; none means http.
    pub schemes: Vec<String>,
    pub compact: bool,
    pub output: Option<PathBuf>,
    /// `-` or none reads standard input.
    pub input: Option<PathBuf>,
}

pub fn fix(args: FixOptions) -> Exit {
    let address = match args.host.parse() {
        Ok(a) => a,
        Err(e) => return fail(Exit::Input, format_args!("--host {e}")),
    };
    let schemes = if args.schemes.is_empty() {
        vec![Scheme::Http]
    } else {
        let mut out = Vec::new();
        for s in &args.schemes {
            match s.parse::<Scheme>() {
                Ok(s) => out.push(s),
                Err(e) => return fail(Exit::Input, format_args!("--scheme {e}")),
            }
        }
        out
    };
    let (bytes, name) = match read_input(args.input.as_deref()) {
        Ok(b) => b,
        Err(e) => return fail(Exit::Input, e),
    };
    let options = RewriteOptions {
        address,
        schemes,
        compact: args.compact,
    };
    let rewritten = match rewrite(&bytes, &options) {
        Ok(r) => r,
        Err(e) => return fail(Exit::Input, format_args!("{name}: {e}")),
    };
    write_json_output(args.output.as_deref(), &rewritten.text)
}

/// `diff`'s options besides the documents and the output.
#[derive(Clone, Copy, Debug, Default)]
pub struct DiffOptions {
    /// Every change (the changelog), not only the breaking and possibly breaking ones.
    pub all: bool,
    /// `--deprecation-days`: see [`spec_diff::Policy`].
    pub deprecation_days: u32,
}

pub fn diff(base: &Path, new: &Path, format: Format, fail_on: &str, options: DiffOptions) -> Exit {
    let (base, new) = match (read_document(base), read_document(new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let policy = spec_diff::Policy::now(options.deprecation_days);
    let mut report = spec_diff::diff_report_with(&base, &new, &policy);
    // Without --all, compatible changes are counted, not listed: what a reviewer must act on
    // comes first, as in the gate's report.
    let not_listed = if options.all {
        0
    } else {
        let before = report.findings.len();
        report.findings.retain(|f| f.level > Level::Info);
        before - report.findings.len()
    };
    print_report_with(&report, format, fail_on, not_listed, options.all)
}

pub fn lint(spec: &Path, format: Format, fail_on: &str) -> Exit {
    match read_document(spec) {
        Ok(doc) => print_report(&spec_lint::lint_report(&doc), format, fail_on),
        Err(e) => e,
    }
}

fn read_document(path: &Path) -> Result<Document, Exit> {
    let (bytes, name) = read_input(Some(path)).map_err(|e| fail(Exit::Input, e))?;
    Document::parse(&bytes).map_err(|e| fail(Exit::Input, format_args!("{name}: {e}")))
}

fn print_report(report: &Report, format: Format, fail_on: &str) -> Exit {
    print_report_with(report, format, fail_on, 0, false)
}

/// Prints the report; `not_listed` compatible changes were left out (text and Markdown say so),
/// `changelog` titles the text and Markdown as the list of every change.
fn print_report_with(
    report: &Report,
    format: Format,
    fail_on: &str,
    not_listed: usize,
    changelog: bool,
) -> Exit {
    // Findings quote the document (paths, operationIds, summaries): cleaned as the gate cleans
    // them, so a CI agent reading this output finds no command in it.
    let clean = Cleaner::default();
    let text = match format {
        Format::Text => {
            let mut t = String::new();
            if changelog {
                t.push_str(&changelog_title(&report.findings, false));
            }
            t.push_str(&finding::render_text(&report.findings));
            t.push_str(&not_listed_note(not_listed));
            clean.text(&t)
        }
        Format::Markdown => {
            let mut t = String::new();
            if changelog {
                t.push_str(&changelog_title(&report.findings, true));
            }
            t.push_str(&finding::render_markdown(&report.findings));
            t.push_str(&not_listed_note(not_listed));
            clean.text(&t)
        }
        Format::Json => match report.to_json() {
            Ok(t) => json_commands(&t) + "\n",
            Err(e) => return fail(Exit::Input, format_args!("cannot write JSON: {e}")),
        },
    };
    print!("{text}");
    // clap only lets "error" and "warning" through.
    let level: Level = fail_on.parse().unwrap_or(Level::Error);
    if report.fails(level) {
        Exit::Refused
    } else {
        Exit::Passed
    }
}

/// `N changes: B breaking, P possibly breaking, C compatible`, as a heading in Markdown.
fn changelog_title(findings: &[Finding], markdown: bool) -> String {
    let n = |l: Level| findings.iter().filter(|f| f.level == l).count();
    let line = format!(
        "{} change{}: {} breaking, {} possibly breaking, {} compatible",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        n(Level::Error),
        n(Level::Warning),
        n(Level::Info)
    );
    if markdown {
        format!("### All changes ({})\n\n{line}\n\n", findings.len())
    } else {
        format!("{line}\n")
    }
}

fn not_listed_note(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "1 compatible change not listed; --all lists every change.\n".to_string(),
        n => format!("{n} compatible changes not listed; --all lists every change.\n"),
    }
}
