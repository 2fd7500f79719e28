//! Making untrusted text safe to print: secrets redacted, terminal escapes removed, CI log
//! commands neutralised, and the escaping rules of GitHub's and Azure DevOps' logging commands.
//!
//! Titles, messages and paths come from the OpenAPI document, the cluster and Azure: a document
//! must not be able to set a pipeline variable, end a log group or recolour a terminal.

/// Inserted between the characters a CI log agent looks for (`::` at a line start, `##vso[`,
/// `##[`): invisible to a reader, and the agents no longer see a command. .NET's `TrimStart`
/// does not trim it (it is a format character, not white space).
const BREAK: char = '\u{200B}';

/// Cleans untrusted text before any renderer prints or writes it.
#[derive(Clone, Debug, Default)]
pub struct Cleaner {
    /// Longest first, so a secret that contains another is redacted whole.
    secrets: Vec<String>,
}

impl Cleaner {
    pub fn new(secrets: &[String]) -> Cleaner {
        let mut secrets: Vec<String> = secrets
            .iter()
            .flat_map(|s| secret_forms(s))
            .filter(|s| s.chars().count() >= MIN_SECRET_CHARS)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Cleaner { secrets }
    }

    /// Secrets replaced by `***`; control characters and terminal escapes removed (line breaks
    /// kept, `\r\n` and lone `\r` become `\n`); log commands neutralised on every line.
    pub fn text(&self, s: &str) -> String {
        neutralise(&strip_controls(&self.redact(s)))
    }

    /// [`Cleaner::text`] on one line: line breaks become spaces.
    pub fn line(&self, s: &str) -> String {
        let t = self.text(s);
        t.split('\n')
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Secrets and the query and user part of every URL replaced by `***` ([`crate::redact`]),
    /// nothing else changed: for values written to files the runner parses itself
    /// (`GITHUB_OUTPUT`). Errors come without URL queries already; this catches a signed link
    /// that reached a message some other way.
    pub fn redact(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        crate::redact::urls(&out)
    }
}

/// A secret shorter than this is not redacted inside other text: `***` in place of every `ab`
/// would make messages unreadable and a two-character secret protects nothing anyway.
const MIN_SECRET_CHARS: usize = 4;

/// The forms of a secret worth masking: the whole value and, for multi-line values (an inline
/// kubeconfig), each line, since CI maskers match line by line.
pub fn secret_forms(secret: &str) -> Vec<String> {
    let mut out = Vec::new();
    let whole = secret.trim();
    if whole.is_empty() {
        return out;
    }
    out.push(whole.to_string());
    if whole.contains(['\n', '\r']) {
        for line in whole.split(['\n', '\r']) {
            let line = line.trim();
            if line.chars().count() >= MIN_SECRET_CHARS {
                out.push(line.to_string());
            }
        }
    }
    out
}

/// Removes ESC and every other control character but `\n` and `\t`; C1 controls (U+0080–U+009F,
/// including the one-byte CSI) too. `\r\n` and lone `\r` become `\n`.
pub fn strip_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            // An ANSI sequence's parameters are printable; dropping ESC alone leaves `[31m`
            // behind, so a CSI sequence is dropped whole.
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&n) = chars.peek() {
                        chars.next();
                        if ('\u{40}'..='\u{7e}').contains(&n) {
                            break;
                        }
                    }
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Breaks `::` at the start of a line (after white space) and `##vso[` / `##[` anywhere, in any
/// case, so neither GitHub's runner nor the Azure Pipelines agent reads a command.
pub fn neutralise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent = line.len() - line.trim_start().len();
        let (lead, rest) = line.split_at(indent);
        out.push_str(lead);
        let rest = if let Some(after) = rest.strip_prefix("::") {
            out.push(':');
            out.push(BREAK);
            out.push(':');
            after
        } else {
            rest
        };
        out.push_str(&break_hash_commands(rest));
    }
    out
}

fn break_hash_commands(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for pos in hash_commands(s) {
        out.push_str(&s[last..=pos]);
        out.push(BREAK);
        last = pos + 1;
    }
    out.push_str(&s[last..]);
    out
}

/// Where `##vso[` or `##[` starts in `s`, in any case.
fn hash_commands(s: &str) -> Vec<usize> {
    let lower = s.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("##").map(|p| p + from) {
        let after = &lower[pos + 2..];
        if after.starts_with("vso[") || after.starts_with('[') {
            found.push(pos);
        }
        from = pos + 1;
    }
    found
}

/// JSON text (a document, a JSON report) made inert in a CI log without changing what it says:
/// the first `#` of every `##vso[` and `##[` becomes the escape `\u0023`, which every JSON
/// reader reads back as `#`. `#` only occurs inside strings in JSON text, where the escape is
/// valid; and no line of JSON text can start with `::` (two colons in a row are not JSON), so
/// GitHub's commands need nothing.
pub fn json_commands(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for pos in hash_commands(s) {
        out.push_str(&s[last..pos]);
        out.push_str("\\u0023");
        last = pos + 1;
    }
    out.push_str(&s[last..]);
    out
}

/// GitHub's workflow-command data: `%`, `\r`, `\n` percent-encoded (actions/toolkit `escapeData`).
pub fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's workflow-command property values: data escaping plus `:` and `,`.
pub fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Azure DevOps logging-command message: `%` → `%AZP25`, `\r`, `\n` percent-encoded
/// (azure-pipelines-task-lib `escapedata`).
pub fn ado_data(s: &str) -> String {
    s.replace('%', "%AZP25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Azure DevOps logging-command property values: data escaping plus `]` and `;`.
pub fn ado_property(s: &str) -> String {
    ado_data(s).replace(']', "%5D").replace(';', "%3B")
}

/// Text for Markdown: HTML and Markdown syntax escaped so a document's title renders as the
/// text it is (no links, images, mentions, tables or HTML); line breaks kept as `<br>`.
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => out.push_str("&#64;"),
            '\n' => out.push_str("<br>"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A code span for identifiers and paths; a backtick inside would end it, so it becomes `'`.
pub fn md_code(s: &str) -> String {
    let inner = s.replace('`', "'").replace('|', "\\|").replace('\n', " ");
    format!("`{inner}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralises_commands() {
        let t =
            neutralise("::set-output name=x::y\n  ::error::z\nok ##vso[task.complete]\n##[group]a");
        for line in t.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line}");
            assert!(!line.to_ascii_lowercase().contains("##vso["), "{line}");
            assert!(!line.contains("##["), "{line}");
        }
        assert_eq!(neutralise("a::b"), "a::b");
        assert!(neutralise("##VSO[x]").contains(BREAK));
    }

    #[test]
    fn strips_escapes_and_redacts() {
        assert_eq!(
            strip_controls("a\u{1b}[31mred\u{1b}[0m\r\nb\rc\u{7}"),
            "ared\nb\nc"
        );
        let c = Cleaner::new(&["hunter22".into(), "line-one\nline-two".into()]);
        assert_eq!(c.text("pw hunter22 and line-two"), "pw *** and ***");
    }

    #[test]
    fn json_text_becomes_inert_and_reads_back_the_same() {
        let text = serde_json::json!({
            "paths": {"/a/##vso[task.setvariable variable=x]y": {}},
            "summary": "##[group]g ##VSO[task.complete]",
            "description": "\\##vso[x] ## #[ ok"
        })
        .to_string();
        let inert = json_commands(&text);
        assert!(!inert.to_ascii_lowercase().contains("##vso["), "{inert}");
        assert!(!inert.contains("##["), "{inert}");
        let back: serde_json::Value = serde_json::from_str(&inert).expect("still JSON");
        assert_eq!(back.to_string(), text);
    }

    #[test]
    fn signed_urls_lose_their_query() {
        let c = Cleaner::new(&[]);
        let line = c.line("cannot download the export link: error sending request for url (https://a.blob.core.windows.net/e/x.json?sv=1&sig=S3CRETsig)");
        assert!(!line.contains("S3CRETsig"), "{line}");
        assert!(
            line.contains("https://a.blob.core.windows.net/e/x.json?***"),
            "{line}"
        );
    }

    #[test]
    fn escapes_per_platform() {
        assert_eq!(gh_data("100%\r\n"), "100%25%0D%0A");
        assert_eq!(gh_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(ado_data("100%\n"), "100%AZP25%0A");
        assert_eq!(ado_property("a;b]"), "a%3Bb%5D");
        assert_eq!(md_text("<b>|@x"), "&lt;b&gt;\\|&#64;x");
    }
}
