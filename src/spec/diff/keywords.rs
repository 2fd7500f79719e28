//! The keywords that decide which values pass: type and format, nullable, enum, pattern, numeric
//! bounds, lengths and item counts. A request may only accept more than before, a response may
//! only return less.

use std::collections::BTreeSet;

use serde_json::Value;

use super::super::refs::join;
use super::super::schema::{Bound, View};
use super::schemas::prefix;
use super::{Differ, Dir, Level, Role};

/// A length or count keyword on both sides.
#[derive(Clone, Copy)]
struct Length<'k> {
    keyword: &'k str,
    /// The rule-id word: `max-length`, `min-items`...
    word: &'k str,
    old: Option<f64>,
    new: Option<f64>,
}

impl<'a> Differ<'a> {
    /// Type, format, nullable, enum, pattern and bounds: the keywords that decide which values pass.
    pub(super) fn compare_keywords(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        what: &str,
    ) {
        let prefix = prefix(dir, role);
        self.compare_types(dir, prefix, b, n, what);
        self.compare_nullable(dir, prefix, b, n, what);
        self.compare_enum(dir, role, prefix, b, n, what);
        self.compare_pattern(dir, role, prefix, b, n, what);
        self.compare_bounds(dir, prefix, b, n, what);
        self.compare_lengths(dir, prefix, b, n, what);
    }

    fn compare_types(&mut self, dir: Dir, prefix: &str, b: &View<'a>, n: &View<'a>, what: &str) {
        let (Some(bt), Some(nt)) = (&b.types, &n.types) else {
            return;
        };
        let (bf, nf) = (constraining(b.format), constraining(n.format));
        if bt == nt && bf == nf {
            return;
        }
        let widened = accepts_all(bt, bf, nt, nf);
        let narrowed = accepts_all(nt, nf, bt, bf);
        let change = format!("from {} to {}", b.type_text(), n.type_text());
        let ptr = join(&n.pointer, if bt == nt { "format" } else { "type" });
        match dir {
            Dir::Request if widened => self.emit(
                &format!("{prefix}-type-generalized"),
                Level::Info,
                &ptr,
                format!("{what}'s type was generalized {change}."),
            ),
            Dir::Request => self.emit(
                &format!("{prefix}-type-changed"),
                Level::Error,
                &ptr,
                format!(
                    "{what}'s type changed {change}; values clients send today may be rejected. \
                     Keep the old type or add a new field."
                ),
            ),
            Dir::Response if narrowed => self.emit(
                &format!("{prefix}-type-specialized"),
                Level::Info,
                &ptr,
                format!("{what}'s type was narrowed {change}."),
            ),
            Dir::Response if widened => self.emit(
                &format!("{prefix}-type-generalized"),
                Level::Error,
                &ptr,
                format!(
                    "{what}'s type was widened {change}; clients parsing the old type may break. \
                     Keep the old type or add a new field."
                ),
            ),
            Dir::Response => self.emit(
                &format!("{prefix}-type-changed"),
                Level::Error,
                &ptr,
                format!(
                    "{what}'s type changed {change}; clients parsing the old type will break. \
                     Keep the old type or add a new field."
                ),
            ),
        }
    }

    fn compare_nullable(&mut self, dir: Dir, prefix: &str, b: &View<'a>, n: &View<'a>, what: &str) {
        if b.nullable == n.nullable {
            return;
        }
        let ptr = n.pointer.clone();
        match (dir, n.nullable) {
            (Dir::Request, false) => self.emit(
                &format!("{prefix}-became-not-nullable"),
                Level::Error,
                &ptr,
                format!("{what} is no longer nullable; clients that send null will be rejected. Keep it nullable."),
            ),
            (Dir::Request, true) => self.emit(
                &format!("{prefix}-became-nullable"),
                Level::Info,
                &ptr,
                format!("{what} became nullable."),
            ),
            (Dir::Response, true) => self.emit(
                &format!("{prefix}-became-nullable"),
                Level::Error,
                &ptr,
                format!("{what} became nullable; clients that don't expect null will break. Keep it non-null."),
            ),
            (Dir::Response, false) => self.emit(
                &format!("{prefix}-became-not-nullable"),
                Level::Info,
                &ptr,
                format!("{what} is no longer nullable."),
            ),
        }
    }

    fn compare_enum(
        &mut self,
        dir: Dir,
        role: Role,
        prefix: &str,
        b: &View<'a>,
        n: &View<'a>,
        what: &str,
    ) {
        let ptr = join(&n.pointer, "enum");
        match (&b.enum_values, &n.enum_values) {
            (None, Some(values)) if dir == Dir::Request => self.emit(
                &format!("{prefix}-became-enum"),
                Level::Error,
                &ptr,
                format!(
                    "{what} became an enum of {}; other values clients send today will be rejected.",
                    list(values)
                ),
            ),
            (Some(bv), Some(nv)) => {
                let added: Vec<&Value> = nv.iter().filter(|v| !bv.contains(v)).copied().collect();
                let removed: Vec<&Value> = bv.iter().filter(|v| !nv.contains(v)).copied().collect();
                match dir {
                    Dir::Request => self.request_enum_changed(prefix, &ptr, what, &added, &removed),
                    Dir::Response => {
                        self.response_enum_changed(role == Role::Body, &ptr, what, &added, &removed)
                    }
                }
            }
            _ => {}
        }
    }

    fn request_enum_changed(
        &mut self,
        prefix: &str,
        ptr: &str,
        what: &str,
        added: &[&Value],
        removed: &[&Value],
    ) {
        if !removed.is_empty() {
            self.emit(
                &format!("{prefix}-enum-value-removed"),
                Level::Error,
                ptr,
                format!(
                    "{what} no longer accepts {}; clients sending it will be rejected. Keep the value.",
                    list(removed)
                ),
            );
        }
        if !added.is_empty() {
            self.emit(
                &format!("{prefix}-enum-value-added"),
                Level::Info,
                ptr,
                format!("{what} now also accepts {}.", list(added)),
            );
        }
    }

    fn response_enum_changed(
        &mut self,
        body: bool,
        ptr: &str,
        what: &str,
        added: &[&Value],
        removed: &[&Value],
    ) {
        if !added.is_empty() {
            let id = if body {
                "response-mediatype-enum-value-added"
            } else {
                "response-property-enum-value-added"
            };
            self.emit(
                id,
                Level::Warning,
                ptr,
                format!(
                    "{what} may now return {}; clients that switch over the known values \
                     may not handle it.",
                    list(added)
                ),
            );
        }
        if !removed.is_empty() {
            let id = if body {
                "response-mediatype-enum-value-removed"
            } else {
                "response-property-enum-value-removed"
            };
            self.emit(
                id,
                Level::Info,
                ptr,
                format!("{what} no longer returns {}.", list(removed)),
            );
        }
    }

    fn compare_pattern(
        &mut self,
        dir: Dir,
        role: Role,
        prefix: &str,
        b: &View<'a>,
        n: &View<'a>,
        what: &str,
    ) {
        if b.pattern == n.pattern || (dir == Dir::Response && role == Role::Body) {
            return;
        }
        let ptr = join(&n.pointer, "pattern");
        let level = |request: Level| match dir {
            Dir::Request => request,
            Dir::Response => Level::Info,
        };
        match (b.pattern, n.pattern) {
            (None, Some(p)) => self.emit(
                &format!("{prefix}-pattern-added"),
                level(Level::Error),
                &ptr,
                format!("{what} must now match the pattern `{p}`; values that don't are rejected."),
            ),
            (Some(p), None) => self.emit(
                &format!("{prefix}-pattern-removed"),
                Level::Info,
                &n.pointer,
                format!("{what} no longer has to match the pattern `{p}`."),
            ),
            (Some(old), Some(p)) => self.emit(
                &format!("{prefix}-pattern-changed"),
                level(Level::Warning),
                &ptr,
                format!(
                    "{what}'s pattern changed from `{old}` to `{p}`; check that every value matching the \
                     old pattern still matches."
                ),
            ),
            (None, None) => {}
        }
    }

    fn compare_bounds(&mut self, dir: Dir, prefix: &str, b: &View<'a>, n: &View<'a>, what: &str) {
        self.compare_bound(dir, prefix, true, (b.max, n.max), n, what);
        self.compare_bound(dir, prefix, false, (b.min, n.min), n, what);
    }

    /// `maximum` (`upper`) or `minimum`, in either spelling of exclusive.
    fn compare_bound(
        &mut self,
        dir: Dir,
        prefix: &str,
        upper: bool,
        (bb, nb): (Option<Bound>, Option<Bound>),
        n: &View<'a>,
        what: &str,
    ) {
        let word = if upper { "max" } else { "min" };
        let keyword = match (upper, nb.is_some_and(|x| x.exclusive)) {
            (true, false) => "maximum",
            (true, true) => "exclusiveMaximum",
            (false, false) => "minimum",
            (false, true) => "exclusiveMinimum",
        };
        let ex = |x: Option<Bound>| {
            if x.is_some_and(|x| x.exclusive) {
                "exclusive-"
            } else {
                ""
            }
        };
        let ptr = join(&n.pointer, keyword);
        let stricter = |old: Bound, new: Bound| {
            let tighter = if upper {
                new.value < old.value
            } else {
                new.value > old.value
            };
            tighter || (new.value == old.value && new.exclusive && !old.exclusive)
        };
        match (dir, bb, nb) {
            (Dir::Request, None, Some(x)) => self.emit(
                &format!("{prefix}-{}{word}-set", ex(nb)),
                Level::Warning,
                &ptr,
                format!(
                    "{what} now has a {keyword} of {}; {} values clients send today are rejected.",
                    x.value,
                    if upper { "larger" } else { "smaller" }
                ),
            ),
            (Dir::Request, Some(o), Some(x)) if stricter(o, x) => {
                let dirword = if upper { "decreased" } else { "increased" };
                self.emit(
                    &format!("{prefix}-{}{word}-{dirword}", ex(nb)),
                    Level::Error,
                    &ptr,
                    format!(
                        "{what}'s {keyword} {dirword} from {} to {}; values clients send today may be rejected.",
                        o.value, x.value
                    ),
                )
            }
            (Dir::Request, Some(o), Some(x)) if stricter(x, o) => {
                let dirword = if upper { "increased" } else { "decreased" };
                self.emit(
                    &format!("{prefix}-{}{word}-{dirword}", ex(nb)),
                    Level::Info,
                    &ptr,
                    format!(
                        "{what}'s {keyword} {dirword} from {} to {}.",
                        o.value, x.value
                    ),
                )
            }
            (Dir::Response, Some(o), x) if x.is_none_or(|x| stricter(x, o)) => {
                let dirword = if upper { "increased" } else { "decreased" };
                let change = match x {
                    Some(x) => format!("from {} to {}", o.value, x.value),
                    None => format!("from {} to unbounded", o.value),
                };
                self.emit(
                    &format!("{prefix}-{}{word}-{dirword}", ex(Some(o))),
                    Level::Error,
                    &n.pointer,
                    format!(
                        "{what}'s {word}imum {dirword} {change}; clients sized for the old range may break."
                    ),
                )
            }
            _ => {}
        }
    }

    fn compare_lengths(&mut self, dir: Dir, prefix: &str, b: &View<'a>, n: &View<'a>, what: &str) {
        let length = |keyword, word, old, new| Length {
            keyword,
            word,
            old,
            new,
        };
        self.compare_upper_length(
            dir,
            prefix,
            length("maxLength", "max-length", b.max_length, n.max_length),
            n,
            what,
        );
        self.compare_lower_length(
            dir,
            prefix,
            length("minLength", "min-length", b.min_length, n.min_length),
            n,
            what,
        );
        self.compare_upper_length(
            dir,
            prefix,
            length("maxItems", "max-items", b.max_items, n.max_items),
            n,
            what,
        );
        self.compare_lower_length(
            dir,
            prefix,
            length("minItems", "min-items", b.min_items, n.min_items),
            n,
            what,
        );
    }

    /// `maxLength` or `maxItems`.
    fn compare_upper_length(
        &mut self,
        dir: Dir,
        prefix: &str,
        l: Length<'_>,
        n: &View<'a>,
        what: &str,
    ) {
        let Length {
            keyword,
            word,
            old,
            new,
        } = l;
        let ptr = join(&n.pointer, keyword);
        match (dir, old, new) {
            (Dir::Request, None, Some(x)) => self.emit(
                &format!("{prefix}-{word}-set"),
                Level::Warning,
                &ptr,
                format!("{what} now has a {keyword} of {x}; longer values clients send today are rejected."),
            ),
            (Dir::Request, Some(o), Some(x)) if x < o => self.emit(
                &format!("{prefix}-{word}-decreased"),
                Level::Error,
                &ptr,
                format!("{what}'s {keyword} decreased from {o} to {x}; longer values are now rejected."),
            ),
            (Dir::Request, Some(o), Some(x)) if x > o => self.emit(
                &format!("{prefix}-{word}-increased"),
                Level::Info,
                &ptr,
                format!("{what}'s {keyword} increased from {o} to {x}."),
            ),
            (Dir::Response, Some(o), Some(x)) if x > o => self.emit(
                &format!("{prefix}-{word}-increased"),
                Level::Error,
                &ptr,
                format!("{what}'s {keyword} increased from {o} to {x}; clients sized for the old limit may break."),
            ),
            (Dir::Response, Some(o), None) => self.emit(
                &format!("{prefix}-{word}-unset"),
                Level::Error,
                &n.pointer,
                format!("{what}'s {keyword} of {o} was removed; clients sized for it may break."),
            ),
            _ => {}
        }
    }

    /// `minLength` or `minItems`; an absent minimum is 0.
    fn compare_lower_length(
        &mut self,
        dir: Dir,
        prefix: &str,
        l: Length<'_>,
        n: &View<'a>,
        what: &str,
    ) {
        let Length {
            keyword,
            word,
            old,
            new,
        } = l;
        let ptr = join(&n.pointer, keyword);
        match (dir, old, new) {
            (Dir::Request, None, Some(x)) if word == "min-items" => self.emit(
                &format!("{prefix}-{word}-set"),
                Level::Warning,
                &ptr,
                format!("{what} now has a {keyword} of {x}; shorter values clients send today are rejected."),
            ),
            (Dir::Request, o, Some(x)) if x > o.unwrap_or(0.0) => self.emit(
                &format!("{prefix}-{word}-increased"),
                Level::Error,
                &ptr,
                format!(
                    "{what}'s {keyword} increased from {} to {x}; shorter values are now rejected.",
                    o.unwrap_or(0.0)
                ),
            ),
            (Dir::Request, Some(o), x) if x.unwrap_or(0.0) < o => self.emit(
                &format!("{prefix}-{word}-decreased"),
                Level::Info,
                &n.pointer,
                format!("{what}'s {keyword} decreased from {o} to {}.", x.unwrap_or(0.0)),
            ),
            (Dir::Response, Some(o), None) if word == "min-items" => self.emit(
                &format!("{prefix}-{word}-unset"),
                Level::Error,
                &n.pointer,
                format!("{what}'s {keyword} of {o} was removed; clients that rely on it may break."),
            ),
            (Dir::Response, Some(o), x) if x.unwrap_or(0.0) < o => self.emit(
                &format!("{prefix}-{word}-decreased"),
                Level::Error,
                &n.pointer,
                format!(
                    "{what}'s {keyword} decreased from {o} to {}; clients that rely on it may break.",
                    x.unwrap_or(0.0)
                ),
            ),
            _ => {}
        }
    }
}

/// A format that restricts values; `binary` and `password` only describe them (2.0 generators
/// often write a file as a plain string where OpenAPI 3 says `format: binary`).
fn constraining(format: Option<&str>) -> Option<&str> {
    format.filter(|f| !matches!(*f, "binary" | "password"))
}

/// Whether every value of type `old`/`old_format` is also a value of `new`/`new_format`.
fn accepts_all(
    old: &BTreeSet<String>,
    old_format: Option<&str>,
    new: &BTreeSet<String>,
    new_format: Option<&str>,
) -> bool {
    let types_ok = old
        .iter()
        .all(|t| new.contains(t) || (t == "integer" && new.contains("number")));
    let format_ok = match (old_format, new_format) {
        (_, None) => true,
        (Some(o), Some(n)) => o == n || matches!((o, n), ("int32", "int64") | ("float", "double")),
        (None, Some(_)) => false,
    };
    types_ok && format_ok
}

fn list(values: &[&Value]) -> String {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_widening() {
        let s = |t: &[&str]| t.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert!(accepts_all(
            &s(&["integer"]),
            Some("int32"),
            &s(&["number"]),
            None
        ));
        assert!(accepts_all(
            &s(&["integer"]),
            Some("int32"),
            &s(&["integer"]),
            Some("int64")
        ));
        assert!(!accepts_all(&s(&["integer"]), None, &s(&["string"]), None));
        assert!(!accepts_all(
            &s(&["string"]),
            None,
            &s(&["string"]),
            Some("uuid")
        ));
    }
}
