//! Reviewed exceptions to the gate's checks: the `waivers` file and the `rule-levels` input.
//!
//! - [`file`]: the waivers file (`rule`, `operation`, `api-id`, `until`, `reason` per entry);
//! - [`levels`]: `rule=level` overrides;
//! - [`rules`]: the rule ids they may name, and which cannot be touched (lint errors: APIM
//!   itself rejects the document, so letting it through would only fail the import);
//! - [`date`]: `until` dates and today's date.
//!
//! A run applies them to each check's findings in that order: levels first (so a rule raised to
//! warning can be waived, and one lowered to info needs no waiver), then waivers, which turn a
//! finding an active waiver covers into an info note. A waiver past its `until` waives nothing
//! and is itself reported (`waiver-expired`, warning); one that covered nothing in a run that
//! completed its checks is reported too (`waiver-unused`, info).

pub mod date;
pub mod file;
pub mod levels;
pub mod rules;

use std::collections::BTreeMap;

pub use date::Date;
pub use file::{Operation, Waiver};

use crate::spec::{Finding, Level};

/// Rule id of the warning about a waiver past its date.
pub const EXPIRED: &str = "waiver-expired";
/// Rule id of the note about a waiver that covered nothing.
pub const UNUSED: &str = "waiver-unused";

/// The waivers and level overrides of a run, as read from the inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub waivers: Vec<Waiver>,
    pub levels: BTreeMap<String, Level>,
    /// The waivers file as the user named it, for messages.
    pub file: Option<String>,
}

static EMPTY: Policy = Policy {
    waivers: Vec::new(),
    levels: BTreeMap::new(),
    file: None,
};

impl Policy {
    /// Reads and checks the waivers file at `path`; `Err` lists every problem.
    pub fn read_waivers(path: &std::path::Path) -> Result<Vec<Waiver>, Vec<String>> {
        let bytes = std::fs::read(path).map_err(|e| vec![format!("cannot read it: {e}")])?;
        let text = String::from_utf8(bytes)
            .map_err(|_| vec!["not UTF-8 text: save it as UTF-8".to_string()])?;
        file::parse(&text)
    }

    pub fn file_name(&self) -> &str {
        self.file.as_deref().unwrap_or("waivers")
    }

    fn describe(&self, w: &Waiver) -> String {
        format!(
            "{} entry {} (`{}`, {}{}, until {})",
            self.file_name(),
            w.entry,
            w.rule,
            w.operation,
            w.api_id
                .as_deref()
                .map(|a| format!(", api-id {a}"))
                .unwrap_or_default(),
            w.until
        )
    }
}

/// A finding an active waiver covered: as the check found it, and the waiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waived {
    pub finding: Finding,
    pub waiver: Waiver,
}

/// One run's use of the policy: one API, one day.
pub struct Run<'p> {
    policy: &'p Policy,
    api_id: String,
    today: Date,
    /// Per waiver: it covered a finding.
    used: Vec<bool>,
    /// Per waiver: it would have covered a finding, had it not expired.
    stale_hits: Vec<usize>,
    /// Every check ran, so a waiver that covered nothing is known to be unused.
    complete: bool,
}

impl<'p> Run<'p> {
    pub fn new(policy: &'p Policy, api_id: &str, today: Date) -> Run<'p> {
        Run {
            policy,
            api_id: api_id.to_string(),
            today,
            used: vec![false; policy.waivers.len()],
            stale_hits: vec![0; policy.waivers.len()],
            complete: false,
        }
    }

    /// No waivers, no overrides.
    pub fn none() -> Run<'static> {
        Run::new(&EMPTY, "", Date::today())
    }

    /// Whether waiver `w` is for this run's API.
    fn applies(&self, w: &Waiver) -> bool {
        w.api_id
            .as_deref()
            .is_none_or(|a| a.eq_ignore_ascii_case(&self.api_id))
    }

    fn expired(&self, w: &Waiver) -> bool {
        w.until < self.today
    }

    /// The `rule-levels` overrides, on one check's findings.
    pub fn relevel(&self, findings: &mut [Finding]) {
        if self.policy.levels.is_empty() {
            return;
        }
        for f in findings {
            if let Some(level) = self.policy.levels.get(&f.id) {
                f.level = *level;
            }
        }
    }

    /// Turns each warning or error an active waiver covers into an info note saying so; gives
    /// back what was waived, as found.
    pub fn waive(&mut self, findings: &mut [Finding]) -> Vec<Waived> {
        let mut waived = Vec::new();
        for f in findings.iter_mut().filter(|f| f.level > Level::Info) {
            let mut covering = self.policy.waivers.iter().enumerate().filter(|(_, w)| {
                w.rule == f.id && self.applies(w) && w.operation.covers(f.operation.as_deref())
            });
            let (active, stale): (Vec<_>, Vec<_>) =
                covering.by_ref().partition(|(_, w)| !self.expired(w));
            for (i, _) in &stale {
                self.stale_hits[*i] += 1;
            }
            let Some((i, w)) = active.into_iter().next() else {
                continue;
            };
            self.used[i] = true;
            waived.push(Waived {
                finding: f.clone(),
                waiver: w.clone(),
            });
            f.message = format!(
                "Waived until {} ({} entry {}: {}); it was {}: {}",
                w.until,
                self.policy.file_name(),
                w.entry,
                w.reason,
                f.level,
                f.message
            );
            f.level = Level::Info;
        }
        waived
    }

    /// The waivers file as named in messages.
    pub fn file_name(&self) -> &str {
        self.policy.file_name()
    }

    /// Every check ran: waivers that covered nothing can be reported as unused.
    pub fn checks_complete(&mut self) {
        self.complete = true;
    }

    /// `waiver-expired` for each of this API's waivers past its date, and `waiver-unused` for
    /// each active one that covered nothing (only once every check ran).
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for (i, w) in self.policy.waivers.iter().enumerate() {
            if !self.applies(w) {
                continue;
            }
            let operation = match &w.operation {
                Operation::Any => None,
                Operation::One { text, .. } => Some(text.clone()),
            };
            if self.expired(w) {
                let hits = match self.stale_hits[i] {
                    0 => String::new(),
                    n => format!(
                        " It would have covered {n} finding(s) of this run, which count again."
                    ),
                };
                out.push(Finding {
                    id: EXPIRED.to_string(),
                    level: Level::Warning,
                    operation,
                    path: String::new(),
                    message: format!(
                        "{} expired: it waives nothing after {} (today is {}).{hits} Review the \
                         change again and give the waiver a new `until`, or remove it.",
                        self.policy.describe(w),
                        w.until,
                        self.today
                    ),
                });
            } else if self.complete && !self.used[i] {
                out.push(Finding {
                    id: UNUSED.to_string(),
                    level: Level::Info,
                    operation,
                    path: String::new(),
                    message: format!(
                        "{} covered no finding in this run: remove it once the change it was \
                         written for is released.",
                        self.policy.describe(w)
                    ),
                });
            }
        }
        out
    }

    /// For a refusal's message: the expired waivers of this API, named.
    pub fn expired_note(&self) -> Option<String> {
        let expired: Vec<String> = self
            .policy
            .waivers
            .iter()
            .filter(|w| self.applies(w) && self.expired(w))
            .map(|w| self.policy.describe(w))
            .collect();
        (!expired.is_empty()).then(|| {
            format!(
                "Expired waivers waive nothing (today is {}): {}.",
                self.today,
                expired.join("; ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, level: Level, op: Option<&str>) -> Finding {
        Finding {
            id: id.into(),
            level,
            operation: op.map(str::to_string),
            path: "/paths/x".into(),
            message: "m".into(),
        }
    }

    fn policy(yaml: &str, levels: &str) -> Policy {
        Policy {
            waivers: file::parse(yaml).unwrap(),
            levels: levels::parse(levels).unwrap(),
            file: Some(".apim-gate/waivers.yaml".into()),
        }
    }

    const TODAY: &str = "2026-06-15";

    #[test]
    fn active_waivers_turn_findings_into_notes_and_expired_ones_do_not() {
        let p = policy(
            "- {rule: api-path-removed-without-deprecation, operation: GET /a, until: 2026-06-15, reason: gone}\n\
             - {rule: api-path-removed-without-deprecation, operation: GET /b, until: 2026-06-14, reason: old}\n\
             - {rule: request-parameter-removed, operation: '*', api-id: other, until: 2030-01-01, reason: not ours}\n\
             - {rule: endpoint-added, operation: '*', until: 2030-01-01, reason: never matches}\n",
            "",
        );
        let today = Date::parse(TODAY).unwrap();
        let mut run = Run::new(&p, "shop", today);
        let mut found = vec![
            finding(
                "api-path-removed-without-deprecation",
                Level::Error,
                Some("GET /a"),
            ),
            finding(
                "api-path-removed-without-deprecation",
                Level::Error,
                Some("GET /b"),
            ),
            finding("request-parameter-removed", Level::Error, Some("GET /c")),
        ];
        let waived = run.waive(&mut found);
        assert_eq!(waived.len(), 1);
        assert_eq!(waived[0].finding.level, Level::Error);
        assert_eq!(waived[0].waiver.entry, 1);
        assert_eq!(found[0].level, Level::Info);
        assert!(
            found[0]
                .message
                .starts_with("Waived until 2026-06-15 (.apim-gate/waivers.yaml entry 1: gone)")
        );
        assert_eq!(
            (found[1].level, found[2].level),
            (Level::Error, Level::Error)
        );
        assert!(
            run.findings().iter().all(|f| f.id != UNUSED),
            "not complete yet"
        );
        run.checks_complete();
        let notes = run.findings();
        let ids: Vec<(&str, Level)> = notes.iter().map(|f| (f.id.as_str(), f.level)).collect();
        assert_eq!(ids, [(EXPIRED, Level::Warning), (UNUSED, Level::Info)]);
        assert!(notes[0].message.contains("entry 2") && notes[0].message.contains("1 finding(s)"));
        assert!(notes[1].message.contains("entry 4"));
        let note = run.expired_note().unwrap();
        assert!(
            note.contains("entry 2") && !note.contains("entry 1"),
            "{note}"
        );
    }

    #[test]
    fn levels_apply_before_waivers() {
        let p = policy(
            "- {rule: apim-operation-id-missing, operation: '*', until: 2030-01-01, reason: legacy}\n",
            "response-property-became-optional=warning, endpoint-added=error",
        );
        let run_today = Date::parse(TODAY).unwrap();
        let mut run = Run::new(&p, "shop", run_today);
        let mut found = vec![
            finding(
                "response-property-became-optional",
                Level::Error,
                Some("GET /a"),
            ),
            finding("endpoint-added", Level::Info, Some("GET /n")),
            finding("apim-operation-id-missing", Level::Warning, None),
        ];
        run.relevel(&mut found);
        assert_eq!(found[0].level, Level::Warning);
        assert_eq!(found[1].level, Level::Error);
        let waived = run.waive(&mut found);
        assert_eq!(waived.len(), 1);
        assert_eq!(found[2].level, Level::Info);
        assert!(run.expired_note().is_none());
    }
}
