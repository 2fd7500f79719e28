//! A finding of the lint or the breaking-change check: a rule id, a level, where, and why.

use serde::Serialize;

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
