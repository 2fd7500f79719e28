//! How every renderer orders and shortens findings, in one place: what decided the verdict
//! (errors: lint errors and breaking changes) first and one by one, then the rest grouped by
//! rule — one entry per rule with its count, its message once and its first few operations — and
//! the per-level budget of CI annotations (GitHub shows at most 10 of each level per step).
//!
//! The full, ungrouped list stays available: `verbose`, `findings-file`, `lint`/`diff --format
//! json`.

use std::collections::{HashMap, HashSet};

use crate::gate::verdict::{FindingSource, SourcedFinding, Verdict};
use crate::spec::Level;

/// Operations a group names before "and N more".
pub const OPERATIONS_SHOWN: usize = 3;
/// Rules below the error level a log lists before "and N more rules" (the summary lists all).
pub const RULES_SHOWN: usize = 10;
/// Deciding findings a terminal shows one by one before it groups the rest of them too.
pub const DECIDING_SHOWN: usize = 10;

/// Findings of one rule at one level.
#[derive(Clone, Debug)]
pub struct Group<'a> {
    pub id: &'a str,
    pub level: Level,
    pub source: FindingSource,
    /// The first finding's message: the rule's message, said once.
    pub message: &'a str,
    /// Distinct operations in the findings' order; document-wide findings name none.
    pub operations: Vec<&'a str>,
    pub findings: Vec<&'a SourcedFinding>,
    seen: HashSet<&'a str>,
}

impl Group<'_> {
    pub fn count(&self) -> usize {
        self.findings.len()
    }

    /// The first [`OPERATIONS_SHOWN`] operations and how many more there are.
    pub fn shown_operations(&self) -> (&[&str], usize) {
        let n = self.operations.len().min(OPERATIONS_SHOWN);
        (&self.operations[..n], self.operations.len() - n)
    }
}

/// A verdict's findings as every renderer shows them.
#[derive(Clone, Debug, Default)]
pub struct Findings<'a> {
    /// Errors, the gate's order kept: what refused the release.
    pub deciding: Vec<&'a SourcedFinding>,
    /// Every finding grouped by rule: errors first, then by count (largest first), then rule id.
    pub groups: Vec<Group<'a>>,
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl<'a> Findings<'a> {
    pub fn of(verdict: &'a Verdict) -> Findings<'a> {
        Findings::from_list(&verdict.findings)
    }

    pub fn from_list(list: &'a [SourcedFinding]) -> Findings<'a> {
        let mut sorted: Vec<&SourcedFinding> = list.iter().collect();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.finding.level));
        let mut groups: Vec<Group<'a>> = Vec::new();
        let mut index: HashMap<(&str, Level), usize> = HashMap::new();
        for f in &sorted {
            let key = (f.finding.id.as_str(), f.finding.level);
            let g = match index.get(&key) {
                Some(&i) => &mut groups[i],
                None => {
                    index.insert(key, groups.len());
                    groups.push(Group {
                        id: &f.finding.id,
                        level: f.finding.level,
                        source: f.source,
                        message: &f.finding.message,
                        operations: Vec::new(),
                        findings: Vec::new(),
                        seen: HashSet::new(),
                    });
                    let last = groups.len() - 1;
                    &mut groups[last]
                }
            };
            if let Some(op) = f.finding.operation.as_deref()
                && g.seen.insert(op)
            {
                g.operations.push(op);
            }
            g.findings.push(f);
        }
        groups.sort_by(|a, b| {
            b.level
                .cmp(&a.level)
                .then_with(|| b.count().cmp(&a.count()))
                .then_with(|| a.id.cmp(b.id))
        });
        let count = |l: Level| sorted.iter().filter(|f| f.finding.level == l).count();
        Findings {
            deciding: sorted
                .iter()
                .copied()
                .filter(|f| f.finding.level == Level::Error)
                .collect(),
            errors: count(Level::Error),
            warnings: count(Level::Warning),
            infos: count(Level::Info),
            groups,
        }
    }

    pub fn total(&self) -> usize {
        self.errors + self.warnings + self.infos
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// The groups below the error level: what the grouped part of a report lists.
    pub fn other_groups(&self) -> impl Iterator<Item = &Group<'a>> {
        self.groups.iter().filter(|g| g.level < Level::Error)
    }

    /// `1 error, 242 warnings, 0 info`.
    pub fn counts(&self) -> String {
        format!(
            "{}, {}, {} info",
            plural(self.errors, "error"),
            plural(self.warnings, "warning"),
            self.infos
        )
    }
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// GitHub shows at most 10 error, 10 warning and 10 notice annotations per step (and 50 per job);
/// the rest are dropped without a word. actions/toolkit, docs/problem-matchers.md, "Limitations":
/// <https://github.com/actions/toolkit/blob/main/docs/problem-matchers.md#limitations>.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;

/// What a step may still annotate, per level. Every annotation of the step goes through
/// [`AnnotationBudget::take`] so the ones that matter are the ones shown, and
/// [`AnnotationBudget::left_out`] says how many were not.
#[derive(Clone, Debug)]
pub struct AnnotationBudget {
    left: [usize; 3],
    left_out: usize,
}

impl Default for AnnotationBudget {
    fn default() -> Self {
        AnnotationBudget::new(ANNOTATIONS_PER_LEVEL)
    }
}

impl AnnotationBudget {
    pub fn new(per_level: usize) -> AnnotationBudget {
        AnnotationBudget {
            left: [per_level; 3],
            left_out: 0,
        }
    }

    fn slot(level: Level) -> usize {
        match level {
            Level::Info => 0,
            Level::Warning => 1,
            Level::Error => 2,
        }
    }

    /// Whether one more annotation of `level` fits (and takes it). The caller counts what did
    /// not fit with [`AnnotationBudget::add_left_out`], in findings.
    pub fn take(&mut self, level: Level) -> bool {
        let left = &mut self.left[Self::slot(level)];
        if *left == 0 {
            false
        } else {
            *left -= 1;
            true
        }
    }

    /// Keeps `n` of `level` for what comes later (the closing notice, report problems).
    pub fn reserve(&mut self, level: Level, n: usize) {
        let left = &mut self.left[Self::slot(level)];
        *left = left.saturating_sub(n);
    }

    /// Gives back what [`AnnotationBudget::reserve`] kept.
    pub fn release(&mut self, level: Level, n: usize) {
        let left = &mut self.left[Self::slot(level)];
        *left = (*left + n).min(ANNOTATIONS_PER_LEVEL);
    }

    /// Findings that did not get an annotation of their own.
    pub fn left_out(&self) -> usize {
        self.left_out
    }

    /// Counts findings without an annotation of their own.
    pub fn add_left_out(&mut self, n: usize) {
        self.left_out += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Finding;

    fn f(id: &str, level: Level, op: Option<&str>) -> SourcedFinding {
        SourcedFinding {
            source: FindingSource::Lint,
            finding: Finding {
                id: id.into(),
                level,
                operation: op.map(str::to_string),
                path: String::new(),
                message: format!("{id} message"),
            },
        }
    }

    #[test]
    fn errors_decide_and_the_rest_is_grouped_by_rule() {
        let mut list = Vec::new();
        for i in 0..7 {
            list.push(f("many", Level::Warning, Some(&format!("GET /{i}"))));
        }
        list.push(f("few", Level::Warning, Some("GET /x")));
        list.push(f("doc", Level::Info, None));
        list.push(f("bad", Level::Error, Some("POST /y")));
        let found = Findings::from_list(&list);
        assert_eq!(found.deciding.len(), 1);
        assert_eq!(found.deciding[0].finding.id, "bad");
        let ids: Vec<_> = found.groups.iter().map(|g| (g.id, g.count())).collect();
        assert_eq!(ids, [("bad", 1), ("many", 7), ("few", 1), ("doc", 1)]);
        let (shown, more) = found.groups[1].shown_operations();
        assert_eq!(shown, ["GET /0", "GET /1", "GET /2"]);
        assert_eq!(more, 4);
        assert_eq!(found.other_groups().count(), 3);
        assert_eq!(found.counts(), "1 error, 8 warnings, 1 info");
        assert!(found.groups[3].operations.is_empty());
    }

    #[test]
    fn the_budget_keeps_ten_of_each_level_and_counts_the_rest() {
        let mut b = AnnotationBudget::default();
        let taken = (0..25).filter(|_| b.take(Level::Error)).count();
        assert_eq!(taken, 10);
        b.reserve(Level::Info, 1);
        assert_eq!((0..20).filter(|_| b.take(Level::Info)).count(), 9);
        b.release(Level::Info, 1);
        assert!(b.take(Level::Info));
        assert!(b.take(Level::Warning));
        b.add_left_out(7);
        assert_eq!(b.left_out(), 7);
    }
}
