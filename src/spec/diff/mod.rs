//! Breaking-change detection between two documents: which consumers of `base` would `new` break.
//!
//! Operations are matched by method and path template with parameter names ignored
//! (`/pets/{id}` is `/pets/{petId}`), parameters by location and name (header names without case;
//! path parameters by their position in the template), request bodies and responses by media type,
//! and schemas recursively after `$ref`s are followed and `allOf` is merged. Rule ids and levels are
//! oasdiff's where the concept is the same, so API teams recognise them.
//!
//! Deliberately ignored: `host`, `schemes`, `basePath` and `servers`. Through APIM they only set the
//! backend's service URL; consumers call APIM's own URL (its API suffix plus the path templates), so
//! moving the backend never changes what consumers call. Descriptions, examples, tags and
//! extensions are ignored too.
//!
//! Termination: `$ref` chains are bounded (`refs::MAX_REF_HOPS`), each pair of schemas is compared
//! at most once per operation and direction (which also cuts reference cycles), and schema nesting
//! is followed to [`MAX_SCHEMA_DEPTH`] levels, so neither cycles nor deep documents recurse unboundedly.
//!
//! The map, in the order a diff runs:
//! - [`security`]: the document's and each operation's security requirements;
//! - [`operations`]: operations matched by method and template; removed, added, deprecated, renamed;
//! - [`parameters`]: each matched operation's parameters (not bodies);
//! - [`bodies`]: request bodies, Swagger 2.0 `body` and `formData` parameters included;
//! - [`responses`]: status codes, their media types and headers;
//! - [`media`]: what bodies and responses share: media types and the schema each carries;
//! - [`schemas`]: schemas compared recursively (properties, items, additional properties),
//!   [`keywords`]: the keywords that decide which values pass (type, enum, bounds...);
//! - [`memo`]: the schema pairs already compared, so shared schemas are compared once;
//! - [`deprecation`]: deprecation, sunset dates and stability levels of operations, parameters
//!   and properties, judged by a [`Policy`] (the day of the run, `deprecation-days`);
//! - [`export_view`]: against API Management's export, both documents without the custom
//!   extensions APIM drops.

mod bodies;
mod deprecation;
mod export_view;
mod keywords;
mod media;
mod memo;
mod operations;
mod parameters;
mod responses;
mod schemas;
mod security;

use serde_json::Value;

use super::Document;
use super::finding::{Cap, Finding, Level, Report, sort_findings};
use memo::Memo;

pub use deprecation::{Policy, today};
pub(crate) use operations::template_params;

/// Schema nesting compared below a body or parameter; deeper differences go unreported.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// The diff's report: `{"breaking": bool, "findings": [...]}`.
pub type DiffReport = Report;

/// Findings of `new` against `base`: errors first, then by operation and location. Sunset dates
/// are judged against today, with no deprecation policy (`deprecation-days` 0).
pub fn diff(base: &Document, new: &Document) -> Vec<Finding> {
    diff_with(base, new, &Policy::default())
}

/// [`diff`] under a deprecation policy.
pub fn diff_with(base: &Document, new: &Document, policy: &Policy) -> Vec<Finding> {
    // Against API Management's export, an extension the export cannot show is no change.
    let kept = (!policy.base_shows_deprecation).then(|| {
        (
            export_view::as_apim_keeps(base.value()),
            export_view::as_apim_keeps(new.value()),
        )
    });
    let (base_root, new_root) = match &kept {
        Some((b, n)) => (b, n),
        None => (base.value(), new.value()),
    };
    let mut differ = Differ {
        policy: *policy,
        op_days: policy.deprecation_days,
        base: Side::of(base, base_root),
        new: Side::of(new, new_root),
        out: Vec::new(),
        operation: None,
        memo: Memo::default(),
        media_seen: Vec::new(),
        cap: Cap::default(),
    };
    differ.run();
    let mut out = differ.out;
    out.extend(differ.cap.notes());
    sort_findings(&mut out);
    out
}

/// [`diff`] wrapped in the report the CLI prints.
pub fn diff_report(base: &Document, new: &Document) -> DiffReport {
    Report::new(diff(base, new))
}

/// [`diff_with`] wrapped in the report the CLI prints.
pub fn diff_report_with(base: &Document, new: &Document, policy: &Policy) -> DiffReport {
    Report::new(diff_with(base, new, policy))
}

/// One of the two documents, with what the comparisons need to know about it.
#[derive(Clone, Copy)]
struct Side<'a> {
    root: &'a Value,
    swagger2: bool,
}

impl<'a> Side<'a> {
    /// `root`: the document's value, or what of it a comparison looks at.
    fn of(doc: &Document, root: &'a Value) -> Side<'a> {
        Side {
            root,
            swagger2: doc.version().is_swagger2(),
        }
    }
}

/// Which way data flows: what clients send may only widen, what they receive may only narrow.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Dir {
    Request,
    Response,
}

/// What a schema comparison is about: decides rule ids and the wording of messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Parameter,
    Body,
    Property,
}

/// The comparison in progress: both sides, the findings so far and the operation they belong to.
struct Differ<'a> {
    policy: Policy,
    /// Deprecation days the current operation's stability asks for (its parameters and
    /// properties are judged by it, as oasdiff does).
    op_days: u32,
    base: Side<'a>,
    new: Side<'a>,
    out: Vec<Finding>,
    operation: Option<String>,
    /// Schema pairs already compared in the current operation, and comparisons remembered across
    /// operations.
    memo: Memo,
    /// Media schemas (by direction and where they are) already compared in the current operation:
    /// the media types of one body or response usually share one schema, and comparing it again
    /// would only find its pair already visited.
    media_seen: Vec<(Dir, bool, String, String)>,
    /// At most [`super::finding::MAX_FINDINGS_PER_RULE`] of each rule are kept: a schema shared
    /// by many operations is reported once per operation, so findings can grow with operations
    /// times properties.
    cap: Cap,
}

impl Differ<'_> {
    fn emit(&mut self, id: &str, level: Level, path: &str, message: String) {
        if !self.cap.admit(id, level) {
            return;
        }
        self.out.push(Finding {
            id: id.to_string(),
            level,
            operation: self.operation.clone(),
            path: path.to_string(),
            message,
        });
    }

    fn run(&mut self) {
        self.compare_security(
            self.base.root.get("security"),
            self.new.root.get("security"),
            "/security",
            "api-global-security",
        );
        self.compare_operations();
        self.operation = None;
    }
}

fn flag(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}
