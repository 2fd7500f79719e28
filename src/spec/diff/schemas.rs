//! Schemas compared recursively: the keywords of each ([`super::keywords`]), then additional
//! properties, properties (added, removed, required or not, then each one's schema) and items.
//! `readOnly` properties are not part of a request, `writeOnly` ones not part of a response.

use serde_json::Value;

use super::super::refs::join;
use super::super::schema::{Additional, Property, View};
use super::{Differ, Dir, Level, Role};

impl<'a> Differ<'a> {
    /// Compares two schemas in a request or a response. `name` is the property path below the
    /// body (`pet/tags/items`), empty for the body itself.
    fn compare_schema(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        depth: usize,
    ) {
        self.compare_schema_at(dir, role, b, n, name, depth, true);
    }

    /// What one comparison does once the memo let it through.
    pub(super) fn compare_schema_body(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        depth: usize,
    ) {
        let what = describe(dir, role, name);
        self.compare_keywords(dir, role, b, n, &what);
        self.compare_additional(dir, role, b, n, name, &what, depth);
        self.compare_properties(dir, b, n, name, depth);
        if let (Some(bi), Some(ni)) = (&b.items, &n.items)
            && let (Some(bv), Some(nv)) = (
                View::of(self.base.root, bi.1, &bi.0),
                View::of(self.new.root, ni.1, &ni.0),
            )
        {
            let child = child_name(name, "items");
            self.compare_schema(dir, Role::Property, &bv, &nv, &child, depth + 1);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_additional(
        &mut self,
        dir: Dir,
        role: Role,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        what: &str,
        depth: usize,
    ) {
        let prefix = prefix(dir, role);
        match (&b.additional, &n.additional) {
            (Additional::Schema(bp, bs), Additional::Schema(np, ns)) => {
                if let (Some(bv), Some(nv)) = (
                    View::of(self.base.root, bs, bp),
                    View::of(self.new.root, ns, np),
                ) {
                    let child = child_name(name, "additionalProperties");
                    self.compare_schema(dir, Role::Property, &bv, &nv, &child, depth + 1);
                }
            }
            (Additional::Allowed | Additional::Schema(..), Additional::Forbidden)
                if dir == Dir::Request =>
            {
                self.emit(
                    &format!("{prefix}-additional-properties-disallowed"),
                    Level::Error,
                    &join(&n.pointer, "additionalProperties"),
                    format!(
                        "{what} no longer accepts additional properties; requests carrying extra members \
                         will be rejected. Keep additionalProperties allowed."
                    ),
                );
            }
            (Additional::Forbidden, Additional::Allowed | Additional::Schema(..))
                if dir == Dir::Request =>
            {
                self.emit(
                    &format!("{prefix}-additional-properties-allowed"),
                    Level::Info,
                    &n.pointer,
                    format!("{what} now accepts additional properties."),
                );
            }
            _ => {}
        }
    }

    fn compare_properties(
        &mut self,
        dir: Dir,
        b: &View<'a>,
        n: &View<'a>,
        name: &str,
        depth: usize,
    ) {
        if !b.has_properties() && !n.has_properties() {
            return;
        }
        for np in &n.properties {
            if b.property(&np.name).is_none() {
                self.report_added_property(dir, n, np, name);
            }
        }
        for bp in &b.properties {
            if n.property(&bp.name).is_none() {
                self.report_removed_property(dir, b, bp, name);
            }
        }
        for np in &n.properties {
            if let Some(bp) = b.property(&np.name) {
                self.compare_property(dir, (b, bp), (n, np), name, depth);
            }
        }
    }

    fn report_added_property(&mut self, dir: Dir, n: &View<'a>, np: &Property<'a>, name: &str) {
        if hidden(dir, view_of(self.new.root, np).as_ref()) {
            return;
        }
        let child = child_name(name, &np.name);
        let required = n.required.contains(&np.name);
        match (dir, required) {
            (Dir::Request, true) => self.emit(
                "new-required-request-property",
                Level::Error,
                &np.pointer,
                format!(
                    "the required request property `{child}` was added; existing clients don't send it \
                     and will be rejected. Make it optional."
                ),
            ),
            (Dir::Request, false) => self.emit(
                "new-optional-request-property",
                Level::Info,
                &np.pointer,
                format!("the optional request property `{child}` was added."),
            ),
            (Dir::Response, true) => self.emit(
                "response-required-property-added",
                Level::Info,
                &np.pointer,
                format!("the required response property `{child}` was added."),
            ),
            (Dir::Response, false) => self.emit(
                "response-optional-property-added",
                Level::Info,
                &np.pointer,
                format!("the optional response property `{child}` was added."),
            ),
        }
    }

    fn report_removed_property(&mut self, dir: Dir, b: &View<'a>, bp: &Property<'a>, name: &str) {
        if hidden(dir, view_of(self.base.root, bp).as_ref()) {
            return;
        }
        let child = child_name(name, &bp.name);
        match dir {
            Dir::Request => self.emit(
                "request-property-removed",
                Level::Warning,
                &bp.pointer,
                format!(
                    "the request property `{child}` was removed; clients that still send it may be \
                     rejected or see it ignored."
                ),
            ),
            Dir::Response if b.required.contains(&bp.name) => self.emit(
                "response-required-property-removed",
                Level::Error,
                &bp.pointer,
                format!(
                    "the required response property `{child}` was removed; clients reading it will break. \
                     Keep returning it."
                ),
            ),
            Dir::Response => self.emit(
                "response-optional-property-removed",
                Level::Warning,
                &bp.pointer,
                format!(
                    "the optional response property `{child}` was removed; clients that use it lose it."
                ),
            ),
        }
    }

    /// A property on both sides: whether it became required or optional, then its schema.
    fn compare_property(
        &mut self,
        dir: Dir,
        (b, bp): (&View<'a>, &Property<'a>),
        (n, np): (&View<'a>, &Property<'a>),
        name: &str,
        depth: usize,
    ) {
        let (Some(bv), Some(nv)) = (view_of(self.base.root, bp), view_of(self.new.root, np)) else {
            return;
        };
        if hidden(dir, Some(&nv)) {
            return;
        }
        let child = child_name(name, &np.name);
        let (was, is) = (b.required.contains(&np.name), n.required.contains(&np.name));
        match (dir, was, is) {
            (Dir::Request, false, true) => self.emit(
                "request-property-became-required",
                Level::Error,
                &np.pointer,
                format!(
                    "the request property `{child}` became required; clients that omit it will be \
                     rejected. Keep it optional."
                ),
            ),
            (Dir::Request, true, false) => self.emit(
                "request-property-became-optional",
                Level::Info,
                &np.pointer,
                format!("the request property `{child}` became optional."),
            ),
            (Dir::Response, true, false) => self.emit(
                "response-property-became-optional",
                Level::Error,
                &np.pointer,
                format!(
                    "the response property `{child}` became optional; clients that expect it will \
                     break when it is missing. Keep it required."
                ),
            ),
            (Dir::Response, false, true) => self.emit(
                "response-property-became-required",
                Level::Info,
                &np.pointer,
                format!("the response property `{child}` became required."),
            ),
            _ => {}
        }
        self.compare_property_lifecycle(dir, bp.value, np.value, &np.pointer, &child);
        self.compare_schema(dir, Role::Property, &bv, &nv, &child, depth + 1);
    }
}

fn view_of<'a>(root: &'a Value, p: &Property<'a>) -> Option<View<'a>> {
    View::of(root, p.value, &p.pointer)
}

/// A property the server sets (readOnly) is never sent by clients, one clients set (writeOnly)
/// never returned; either way it is not part of that direction's contract.
fn hidden(dir: Dir, v: Option<&View<'_>>) -> bool {
    v.is_some_and(|v| match dir {
        Dir::Request => v.read_only,
        Dir::Response => v.write_only,
    })
}

/// The rule-id prefix of a comparison: `request-property`, `response-body`...
pub(super) fn prefix(dir: Dir, role: Role) -> &'static str {
    match (dir, role) {
        (Dir::Request, Role::Parameter) => "request-parameter",
        (Dir::Request, Role::Body) => "request-body",
        (Dir::Request, Role::Property) => "request-property",
        (Dir::Response, Role::Body | Role::Parameter) => "response-body",
        (Dir::Response, Role::Property) => "response-property",
    }
}

fn describe(dir: Dir, role: Role, name: &str) -> String {
    let side = match dir {
        Dir::Request => "request",
        Dir::Response => "response",
    };
    match role {
        Role::Body | Role::Parameter => format!("the {side} body"),
        Role::Property => format!("the {side} property `{name}`"),
    }
}

fn child_name(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}/{child}")
    }
}
