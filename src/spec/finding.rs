//! A finding of the lint or the breaking-change check: a rule id, a level, where, and why; and
//! the cap on how many of one rule a report lists.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// Findings of one rule listed in a report; the rest are counted in one note. A document of a
/// few hundred kilobytes can otherwise produce tens of thousands of findings, each quoting a long
/// name and its JSON pointer, and exhaust memory (issue 13); a hundred are enough to act on.
pub const MAX_FINDINGS_PER_RULE: usize = 100;

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding. `id` names the rule (oasdiff's ids where the concept is the same, so API teams
/// recognise them); `operation` is `METHOD /path` as written in the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: String,
    pub level: Level,
    pub operation: Option<String>,
    /// Where in the document, as a JSON pointer (`/paths/~1pets/get/parameters/0`).
    pub path: String,
    pub message: String,
}

/// Keeps at most [`MAX_FINDINGS_PER_RULE`] findings of each rule and counts the others, so that
/// callers build a finding's pointer and message only when it will be kept.
#[derive(Default)]
pub(crate) struct Cap {
    kept: HashMap<String, usize>,
    /// Findings not kept, by rule and level.
    dropped: BTreeMap<(String, Level), usize>,
}

impl Cap {
    /// Whether a finding of rule `id` is kept; if not, it is counted.
    pub(crate) fn admit(&mut self, id: &str, level: Level) -> bool {
        let kept = match self.kept.get_mut(id) {
            Some(kept) => kept,
            None => self.kept.entry(id.to_string()).or_insert(0),
        };
        if *kept < MAX_FINDINGS_PER_RULE {
            *kept += 1;
            return true;
        }
        self.drop_many(id, level, 1);
        false
    }

    /// Counts `n` findings of rule `id` as not kept.
    pub(crate) fn drop_many(&mut self, id: &str, level: Level, n: usize) {
        *self.dropped.entry((id.to_string(), level)).or_insert(0) += n;
    }

    /// How many findings were not kept so far, by rule and level.
    pub(crate) fn dropped(&self) -> &BTreeMap<(String, Level), usize> {
        &self.dropped
    }

    /// One note per rule and level with findings not kept, at that level, so the verdict and
    /// `--fail-on` are what they would be with every finding listed.
    pub(crate) fn notes(&self) -> Vec<Finding> {
        self.dropped
            .iter()
            .map(|((id, level), n)| Finding {
                id: id.clone(),
                level: *level,
                operation: None,
                path: String::new(),
                message: format!(
                    "{n} more `{id}` {} not listed: at most {MAX_FINDINGS_PER_RULE} findings of \
                     one rule are shown. Fix the ones shown and run again to see the rest.",
                    if *n == 1 {
                        "finding is"
                    } else {
                        "findings are"
                    }
                ),
            })
            .collect()
    }
}

/// `--fail-on` and friends: `error`, `warning` (or `warn`), `info`, in any case.
impl std::str::FromStr for Level {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Level, ParseLevelError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(Level::Error),
            "warning" | "warn" => Ok(Level::Warning),
            "info" => Ok(Level::Info),
            _ => Err(ParseLevelError(s.to_string())),
        }
    }
}

/// A level name that is not `error`, `warning` or `info`.
#[derive(Debug, thiserror::Error)]
#[error("unknown level `{0}`: expected error, warning or info")]
pub struct ParseLevelError(String);

/// What `diff` and `lint` print as JSON: `{"breaking": bool, "findings": [...]}`, `breaking` being
/// whether any finding is an error. A finding without an operation has `"operation": null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub breaking: bool,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Sorts the findings (errors first) and sets `breaking`.
    pub fn new(mut findings: Vec<Finding>) -> Report {
        sort_findings(&mut findings);
        Report {
            breaking: findings.iter().any(|f| f.level == Level::Error),
            findings,
        }
    }

    /// The most serious level found, if any.
    pub fn worst(&self) -> Option<Level> {
        self.findings.iter().map(|f| f.level).max()
    }

    /// Whether some finding is at least `fail_on`: the CLI's exit 1.
    pub fn fails(&self, fail_on: Level) -> bool {
        self.worst().is_some_and(|w| w >= fail_on)
    }

    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

/// Errors first, then by operation (document-wide findings last), location and rule; exact
/// duplicates (one schema reached twice) are dropped.
pub fn sort_findings(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| match (&a.operation, &b.operation) {
                (Some(x), Some(y)) => x.cmp(y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings.dedup();
}

fn counts(findings: &[Finding]) -> String {
    let n = |l: Level| findings.iter().filter(|f| f.level == l).count();
    let plural = |k: usize, word: &str| {
        if k == 1 {
            format!("{k} {word}")
        } else {
            format!("{k} {word}s")
        }
    };
    format!(
        "{}, {}, {}",
        plural(n(Level::Error), "error"),
        plural(n(Level::Warning), "warning"),
        n(Level::Info).to_string() + " info"
    )
}

/// One line per finding, then a count: for terminals and CI logs.
pub fn render_text(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "no findings\n".to_string();
    }
    let mut out = String::new();
    for f in findings {
        let operation = one_line(f.operation.as_deref().unwrap_or("(document)"));
        let message = one_line(&f.message);
        out.push_str(&format!(
            "{:<7} {}  {operation}: {message}\n        at {}\n",
            f.level.as_str(),
            one_line(&f.id),
            one_line(if f.path.is_empty() { "/" } else { &f.path })
        ));
    }
    out.push_str(&counts(findings));
    out.push('\n');
    out
}

/// A Markdown table (level, rule, operation, message with its location): for job summaries and
/// pull-request comments.
pub fn render_markdown(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "No findings.\n".to_string();
    }
    let mut out = String::from("| Level | Rule | Operation | Message |\n|---|---|---|---|\n");
    for f in findings {
        let operation = f
            .operation
            .as_deref()
            .map(|o| format!("`{}`", md_cell(o)))
            .unwrap_or_default();
        out.push_str(&format!(
            "| {} | `{}` | {operation} | {} (at `{}`) |\n",
            f.level.as_str(),
            md_cell(&f.id),
            md_cell(&f.message),
            md_cell(if f.path.is_empty() { "/" } else { &f.path }),
        ));
    }
    out.push_str(&format!("\n{}\n", counts(findings)));
    out
}

fn one_line(s: &str) -> String {
    printable(
        &s.split(['\r', '\n'])
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// A table cell must not end the row (`|`) or the table (a newline).
fn md_cell(s: &str) -> String {
    printable(
        &s.replace('\\', "\\\\")
            .replace('|', "\\|")
            .replace("\r\n", "<br>")
            .replace(['\n', '\r'], "<br>"),
    )
}

/// Findings quote the document (operationIds, paths, names), which the service's authors control:
/// control characters are shown as `\u{1b}` so an escape sequence cannot drive the terminal and a
/// NEL or NUL cannot cut the line a CI log reads commands from.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(level: Level, op: Option<&str>, path: &str, message: &str) -> Finding {
        Finding {
            id: "rule".into(),
            level,
            operation: op.map(str::to_string),
            path: path.into(),
            message: message.into(),
        }
    }

    #[test]
    fn parses_levels() {
        assert_eq!("error".parse::<Level>().unwrap(), Level::Error);
        assert_eq!("Warning".parse::<Level>().unwrap(), Level::Warning);
        assert_eq!("warn".parse::<Level>().unwrap(), Level::Warning);
        assert!("fatal".parse::<Level>().is_err());
    }

    #[test]
    fn report_serialises_the_documented_shape() {
        let r = Report::new(vec![
            finding(Level::Info, None, "/a", "x"),
            finding(Level::Error, Some("GET /b"), "/b", "y"),
        ]);
        assert!(r.breaking);
        assert!(r.fails(Level::Warning));
        let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(v["breaking"], true);
        assert_eq!(v["findings"][0]["level"], "error");
        assert_eq!(v["findings"][0]["operation"], "GET /b");
        assert_eq!(v["findings"][1]["operation"], serde_json::Value::Null);
        let keys: Vec<_> = v["findings"][0]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, ["id", "level", "operation", "path", "message"]);
        assert!(!Report::new(vec![finding(Level::Warning, None, "", "")]).fails(Level::Error));
    }

    #[test]
    fn markdown_escapes_cells() {
        let md = render_markdown(&[finding(
            Level::Warning,
            Some("GET /a|b"),
            "/x",
            "one|two\nthree",
        )]);
        let row = md.lines().nth(2).unwrap();
        assert!(row.contains("one\\|two<br>three"), "{row}");
        assert!(row.contains("GET /a\\|b"), "{row}");
        assert_eq!(row.matches(" | ").count(), 3, "{row}");
        assert!(render_text(&[]).contains("no findings"));
    }
}
