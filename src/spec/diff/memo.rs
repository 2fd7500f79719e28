//! The memo of compared schema pairs. Within one operation each pair of schemas (by pointers and
//! direction) is compared at most once, which also cuts reference cycles. Across operations, a
//! finished comparison is remembered and replayed under the next operation's name, so a schema
//! shared by many operations is compared once; which pairs a comparison met is logged, so a replay
//! happens only where the original run's pruning would have been the same.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::super::schema::View;
use super::{Differ, Dir, Finding, Level, MAX_SCHEMA_DEPTH, Role};

/// Findings the cap did not keep, by rule and level.
type Dropped = BTreeMap<(String, Level), usize>;

/// Findings a comparison emitted that the cap did not keep.
type DroppedDelta = Vec<((String, Level), usize)>;

/// What one schema comparison depends on besides the schema pairs visited before it: the pair
/// (by pointers and direction), whether each side was viewed as nullable (a `{anyOf: [X, null]}`
/// wrapper views `X` nullable), the role, the property path and the depth.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct MemoKey {
    pair: u32,
    name: u32,
    depth: u32,
    role: Role,
    nullable: (bool, bool),
}

/// One finished comparison whose outcome did not depend on pairs visited before it: the pairs it
/// visited (a range of [`Memo::log`]) and the findings it emitted (a range of [`Differ::out`]).
/// Replaying it in another operation is exact as long as none of those pairs was visited there yet.
struct Entry {
    pairs: Range<usize>,
    findings: Range<usize>,
    /// Findings it emitted that the cap did not keep: counted again on replay.
    dropped: DroppedDelta,
}

/// A comparison in progress.
struct Frame {
    key: Option<MemoKey>,
    /// Stamp of its own pair: pairs stamped earlier were visited before it started.
    stamp: u64,
    pairs_start: usize,
    findings_start: usize,
    /// The cap's count of findings not kept when it started (empty until the cap is reached).
    dropped_before: Dropped,
    /// It met a pair visited before it started, so its outcome depends on that and is not kept.
    tainted: bool,
}

/// Each pair of shared schemas is compared once per direction, role and property path; later
/// operations reaching the same pair replay the findings under their own name.
#[derive(Default)]
pub(super) struct Memo {
    base_ptrs: HashMap<String, u32>,
    new_ptrs: HashMap<String, u32>,
    names: HashMap<String, u32>,
    pairs: HashMap<(u32, u32, Dir), u32>,
    /// Per pair: the operation (generation) that last visited it, and when.
    visited: Vec<(u64, u64)>,
    generation: u64,
    tick: u64,
    log: Vec<u32>,
    entries: HashMap<MemoKey, Entry>,
    frames: Vec<Frame>,
}

fn intern(map: &mut HashMap<String, u32>, s: &str) -> u32 {
    if let Some(&id) = map.get(s) {
        return id;
    }
    let id = u32::try_from(map.len()).unwrap_or(u32::MAX);
    map.insert(s.to_string(), id);
    id
}

impl Memo {
    fn pair(&mut self, b: &str, n: &str, dir: Dir) -> u32 {
        let key = (
            intern(&mut self.base_ptrs, b),
            intern(&mut self.new_ptrs, n),
            dir,
        );
        let next = u32::try_from(self.pairs.len()).unwrap_or(u32::MAX);
        let id = *self.pairs.entry(key).or_insert(next);
        if self.visited.len() <= id as usize {
            self.visited.resize(id as usize + 1, (0, 0));
        }
        id
    }

    /// Starts a new operation: nothing visited yet.
    pub(super) fn next_operation(&mut self) {
        self.generation += 1;
    }

    fn seen(&self, pair: u32) -> Option<u64> {
        let (generation, stamp) = self.visited[pair as usize];
        (generation == self.generation).then_some(stamp)
    }

    fn mark(&mut self, pair: u32) -> u64 {
        self.tick += 1;
        self.visited[pair as usize] = (self.generation, self.tick);
        self.tick
    }

    /// Logs a pair met by the comparisons in progress.
    fn met(&mut self, pair: u32) {
        if !self.frames.is_empty() {
            self.log.push(pair);
        }
    }

    /// Whether `pair` was compared earlier in this operation. If so, the comparisons in progress
    /// that started after it depend on it, so they are not remembered.
    fn revisit(&mut self, pair: u32) -> bool {
        let Some(stamp) = self.seen(pair) else {
            return false;
        };
        self.met(pair);
        for frame in self.frames.iter_mut().rev() {
            if frame.stamp <= stamp {
                break;
            }
            frame.tainted = true;
        }
        true
    }

    fn key(
        &mut self,
        pair: u32,
        name: &str,
        depth: usize,
        role: Role,
        nullable: (bool, bool),
    ) -> MemoKey {
        MemoKey {
            pair,
            name: intern(&mut self.names, name),
            depth: u32::try_from(depth).unwrap_or(u32::MAX),
            role,
            nullable,
        }
    }

    /// Starts comparing `pair`; `findings_start` is where its findings will begin.
    fn enter(&mut self, pair: u32, key: Option<MemoKey>, findings_start: usize, dropped: &Dropped) {
        let stamp = self.mark(pair);
        let pairs_start = self.log.len();
        self.log.push(pair);
        self.frames.push(Frame {
            key,
            stamp,
            pairs_start,
            findings_start,
            dropped_before: dropped.clone(),
            tainted: false,
        });
    }

    /// Ends the innermost comparison, its findings ending at `findings_end`; remembers it when
    /// its outcome depended on nothing visited before it.
    fn leave(&mut self, findings_end: usize, dropped: &Dropped) {
        if let Some(frame) = self.frames.pop()
            && !frame.tainted
            && let Some(key) = frame.key
        {
            let entry = Entry {
                pairs: frame.pairs_start..self.log.len(),
                findings: frame.findings_start..findings_end,
                dropped: dropped
                    .iter()
                    .filter_map(|(rule, &n)| {
                        let before = frame.dropped_before.get(rule).copied().unwrap_or(0);
                        (n > before).then(|| (rule.clone(), n - before))
                    })
                    .collect(),
            };
            self.entries.entry(key).or_insert(entry);
        }
    }

    /// The findings to replay for `key` in the current operation, its pairs marked visited; `None`
    /// when nothing is remembered or a pair it visited has been visited here already (the original
    /// would have been pruned differently).
    fn replayable(&mut self, key: MemoKey) -> Option<(Range<usize>, DroppedDelta)> {
        let entry = self.entries.get(&key)?;
        let (pairs, findings) = (entry.pairs.clone(), entry.findings.clone());
        let dropped = entry.dropped.clone();
        if self.log[pairs.clone()]
            .iter()
            .any(|&p| self.seen(p).is_some())
        {
            return None;
        }
        for i in pairs.clone() {
            let p = self.log[i];
            if self.seen(p).is_none() {
                self.mark(p);
            }
        }
        if !self.frames.is_empty() {
            self.log.extend_from_within(pairs);
        }
        Some((findings, dropped))
    }
}

impl<'a> Differ<'a> {
    /// Compares two schemas through the memo. `memoise` is false for views not read from their
    /// pointer alone (Swagger 2.0 forms), which are compared afresh every time.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn compare_schema_at(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        depth: usize,
        memoise: bool,
    ) {
        if depth > MAX_SCHEMA_DEPTH {
            return;
        }
        let pair = self.memo.pair(&b.pointer, &n.pointer, dir);
        if self.memo.revisit(pair) {
            return;
        }
        let key = memoise.then(|| {
            self.memo
                .key(pair, name, depth, role, (b.nullable, n.nullable))
        });
        if let Some(key) = key
            && self.replay(key)
        {
            return;
        }
        self.memo
            .enter(pair, key, self.out.len(), self.cap.dropped());
        self.compare_schema_body(dir, role, b, n, name, depth);
        self.memo.leave(self.out.len(), self.cap.dropped());
    }

    /// Replays a remembered comparison's findings under the current operation, if it may be,
    /// through the cap as if they were emitted again.
    fn replay(&mut self, key: MemoKey) -> bool {
        let Some((findings, dropped)) = self.memo.replayable(key) else {
            return false;
        };
        for ((id, level), n) in dropped {
            self.cap.drop_many(&id, level, n);
        }
        for i in findings {
            let f = &self.out[i];
            if !self.cap.admit(&f.id, f.level) {
                continue;
            }
            let copy = Finding {
                id: f.id.clone(),
                level: f.level,
                operation: self.operation.clone(),
                path: f.path.clone(),
                message: f.message.clone(),
            };
            self.out.push(copy);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::diff;
    use crate::spec::Document;

    /// Shared definitions are compared once and replayed per operation, but each operation still
    /// reports a schema only at its first place, as if compared afresh.
    #[test]
    fn shared_schemas_report_the_same_in_every_operation() {
        let doc = |t: &str| {
            let ops = |codes: &[(&str, &str)]| {
                let responses: serde_json::Map<String, Value> = codes
                    .iter()
                    .map(|(c, d)| {
                        let schema = serde_json::json!({"$ref": format!("#/definitions/{d}")});
                        (
                            (*c).to_string(),
                            serde_json::json!({"description": "", "schema": schema}),
                        )
                    })
                    .collect();
                serde_json::json!({"get": {"responses": responses}})
            };
            let value = serde_json::json!({
                "swagger": "2.0", "info": {"title": "t", "version": "1"},
                "paths": {
                    "/p1": ops(&[("200", "B"), ("201", "A")]),
                    "/p2": ops(&[("200", "B"), ("201", "A")]),
                    "/p3": ops(&[("201", "A")]),
                },
                "definitions": {
                    "A": {"type": "object", "properties": {"x": {"type": t}, "b": {"$ref": "#/definitions/B"}}},
                    "B": {"type": "object", "properties": {"y": {"type": t}}},
                }
            });
            Document::parse(value.to_string().as_bytes()).unwrap()
        };
        let findings = diff(&doc("string"), &doc("integer"));
        let of = |op: &str| {
            findings
                .iter()
                .filter(|f| f.operation.as_deref() == Some(op))
                .map(|f| (f.id.clone(), f.path.clone(), f.message.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(of("GET /p1"), of("GET /p2"));
        assert_eq!(of("GET /p1").len(), 2);
        assert!(!of("GET /p1").iter().any(|f| f.2.contains("`b/y`")));
        assert_eq!(of("GET /p3").len(), 2);
        assert!(of("GET /p3").iter().any(|f| f.2.contains("`b/y`")));
    }
}
