//! Deprecation and sunset, as oasdiff rules them: removing a deprecated operation or parameter
//! before its sunset date, deprecating without the sunset date a deprecation policy asks for or
//! with one too close, moving or deleting a sunset date, and `x-stability-level`.
//!
//! Modelled on oasdiff (Apache-2.0) at 4553c69d, `checker/`: `check_api_removed.go`,
//! `check_api_deprecation.go`, `check_api_sunset_changed.go`, `check_api_stability_level.go`,
//! `check_request_parameter_removed.go`, `check_request_parameter_deprecation.go`,
//! `check_request_parameter_sunset_changed.go`, `check_request_property_deprecation.go`,
//! `check_response_property_deprecation.go`, `deprecation.go` and `stability_level.go`; rule ids
//! and levels are oasdiff's (`rule-ids.txt` of the shared fixtures). Where this differs:
//!
//! - oasdiff has two policies, `--deprecation-days-beta` and `--deprecation-days-stable`; the
//!   gate has one, `deprecation-days`, for both (draft and alpha need none, as in oasdiff).
//! - Stability as oasdiff's default `--stability-level beta`: a removed draft or alpha operation
//!   is not reported, a changed one that is now draft or alpha is left out of every check, and a
//!   change of level is reported only from beta or stable (`check_api_stability_level.go` at
//!   7699bcb9).
//! - "Today" is the UTC date; oasdiff takes `civil.DateOf(time.Now())`, the machine's local date.
//!   UTC is deliberate: CI runners keep their clocks in UTC, and a verdict should not depend on
//!   the zone of the machine it runs on.
//! - oasdiff reports nothing when an operation or parameter is removed after its sunset date; the
//!   gate reports it as info (`api-removed-with-deprecation` and friends): the changelog lists
//!   every change.
//! - The sunset date of an operation is its `x-sunset` (oasdiff's extension) or, without one, the
//!   `Sunset` response header (RFC 8594) its responses document with a date as example, default or
//!   single enum value; of several the latest counts. Such a header also marks the operation
//!   deprecated: API Management's export keeps response headers but not `deprecated`.
//! - A deprecated operation without a sunset date may go `deprecation-days` after the deprecation
//!   was published; the live revision's release date stands for that (the baseline-spec file is
//!   taken as the document that revision was built from). oasdiff has no such rule; it is
//!   reported as `api-removed-before-sunset`. Only a baseline-spec file can show such a
//!   deprecation: API Management's export drops `deprecated`.
//! - Properties of a schema shared by operations of different stability get the policy of the
//!   first operation that reached it (the diff compares a shared schema once).

use jiff::civil::Date;
use serde_json::Value;

use super::super::refs::resolve;
use super::{Differ, Dir, Level, flag};

/// The deprecation policy of a comparison and the dates it is judged on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The day the check runs (UTC): sunset dates are compared with it.
    pub today: Date,
    /// Least number of days between a deprecation being published and the removal (the input
    /// `deprecation-days`; oasdiff's `--deprecation-days-stable` and `-beta`).
    pub deprecation_days: u32,
    /// When the base document was published (the live revision's release), if known: a
    /// deprecation without sunset date in it counts from that day.
    pub base_published: Option<Date>,
    /// Whether the base document can say what is deprecated. API Management's export cannot: it
    /// drops `deprecated` and every `x-` extension ("Custom extensions are ignored on import and
    /// aren't saved or preserved for export", Microsoft Learn, API import restrictions;
    /// `deprecated`: Azure/api-management-developer-portal#1216, #1620). Against it, a deprecation
    /// may be an old one, so a missing sunset date, or one closer than `deprecation_days`, is not
    /// held against it; its stability level is unknown, so a level in the new document is no
    /// change; and both documents are compared without the extensions APIM drops (`export_view`).
    pub base_shows_deprecation: bool,
}

impl Policy {
    /// Today from the machine's clock, in UTC (deliberately: oasdiff takes the local date of
    /// `time.Now()`; see the module doc).
    pub fn now(deprecation_days: u32) -> Policy {
        Policy {
            today: today(),
            deprecation_days,
            base_published: None,
            base_shows_deprecation: true,
        }
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy::now(0)
    }
}

/// Today's date in UTC, whatever the machine's time zone (the waivers' `until` uses it too).
pub fn today() -> Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

/// `x-stability-level`, oasdiff's extension: `draft < alpha < beta < stable` (none is stable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stability {
    Draft,
    Alpha,
    Beta,
    Stable,
}

impl Stability {
    fn as_str(self) -> &'static str {
        match self {
            Stability::Draft => "draft",
            Stability::Alpha => "alpha",
            Stability::Beta => "beta",
            Stability::Stable => "stable",
        }
    }
}

/// The stability an object declares; `Err` quotes what is not one of the four levels.
fn stability(v: &Value) -> Result<Stability, String> {
    match v.get("x-stability-level") {
        None | Some(Value::Null) => Ok(Stability::Stable),
        Some(Value::String(s)) => match s.as_str() {
            "draft" => Ok(Stability::Draft),
            "alpha" => Ok(Stability::Alpha),
            "beta" => Ok(Stability::Beta),
            "stable" => Ok(Stability::Stable),
            other => Err(format!(
                "value is not one of draft, alpha, beta or stable: {other:?}"
            )),
        },
        Some(other) => Err(format!("x-stability-level isn't a string: {other}")),
    }
}

/// A sunset date as a document gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Sunset {
    None,
    Date(Date),
    /// Present but not a date: what was found, and why.
    Invalid(String),
}

/// oasdiff's `getSunsetDate`: `YYYY-MM-DD` (`civil.ParseDate`), or an RFC 3339 timestamp
/// (`time.Parse(time.RFC3339, …)`; its date counts).
fn parse_sunset(v: &Value) -> Result<Date, String> {
    let Some(s) = v.as_str() else {
        return Err(format!("sunset value isn't a string: {v}"));
    };
    if let Ok(d) = s.parse::<Date>()
        && s.len() == 10
    {
        return Ok(d);
    }
    // An RFC 3339 time starts with its date as written, which is the one that counts (Go's
    // `civil.DateOf` keeps the time's own offset). jiff's parser takes more than Go's RFC 3339
    // layout (no seconds, `+02`, a space for `T`), so the shape is checked first.
    if go_rfc3339(s)
        && s.parse::<jiff::Timestamp>().is_ok()
        && let Some(Ok(d)) = s.get(..10).map(str::parse::<Date>)
    {
        return Ok(d);
    }
    Err(format!("sunset date doesn't conform with RFC3339: {s}"))
}

/// What Go's `time.Parse(time.RFC3339, s)` accepts, by shape and field ranges (Go's
/// `time/format_rfc3339.go`, `parseRFC3339`, then the general parser with the
/// `2006-01-02T15:04:05Z07:00` layout): `YYYY-MM-DDTHH:MM:SS`, an optional fraction of a second
/// (after `.`, or `,` which the general parser takes since Go 1.17), then `Z` or `±HH:MM`; hours
/// 0-23, minutes and seconds 0-59 (no leap second), an offset of at most 24 hours, an uppercase
/// `T` and `Z`. Stricter than Go in one corner: an offset of 60 minutes (jiff refuses it). The
/// day itself is left to the caller's date check.
fn go_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |from: usize, len: usize, max: u32| -> bool {
        b.get(from..from + len).is_some_and(|d| {
            d.iter().all(u8::is_ascii_digit)
                && d.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0')) <= max
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let date_time = num(0, 4, 9999)
        && at(4, b'-')
        && num(5, 2, 12)
        && at(7, b'-')
        && num(8, 2, 31)
        && at(10, b'T')
        && num(11, 2, 23)
        && at(13, b':')
        && num(14, 2, 59)
        && at(16, b':')
        && num(17, 2, 59);
    if !date_time {
        return false;
    }
    let mut i = 19;
    if (at(i, b'.') || at(i, b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    match b.get(i..) {
        Some(b"Z") => true,
        Some(zone) if zone.len() == 6 => {
            (zone[0] == b'+' || zone[0] == b'-')
                && num(i + 1, 2, 24)
                && at(i + 3, b':')
                && num(i + 4, 2, 59)
        }
        _ => false,
    }
}

/// An HTTP-date (RFC 9110 IMF-fixdate, what RFC 8594's `Sunset` header carries), or a date
/// `x-sunset` would take.
fn parse_header_date(v: &Value) -> Result<Date, String> {
    if let Some(s) = v.as_str()
        && let Ok(z) = jiff::fmt::rfc2822::parse(s)
    {
        return Ok(z.date());
    }
    parse_sunset(v)
}

/// `x-sunset` of an operation, parameter or property.
fn own_sunset(v: &Value) -> Sunset {
    match v.get("x-sunset") {
        None => Sunset::None,
        Some(s) => match parse_sunset(s) {
            Ok(d) => Sunset::Date(d),
            Err(e) => Sunset::Invalid(e),
        },
    }
}

/// An operation's sunset: its `x-sunset`, else the latest `Sunset` header date its responses
/// document.
fn operation_sunset(root: &Value, op: &Value) -> Sunset {
    match own_sunset(op) {
        Sunset::None => header_sunset(root, op),
        own => own,
    }
}

/// Whether an operation is deprecated: `deprecated: true`, or a `Sunset` header on its responses
/// (RFC 8594: the resource is announced to go). API Management drops `deprecated` and `x-`
/// extensions on import, so its export has neither (Azure/api-management-developer-portal#1216,
/// #1620; "Custom extensions are ignored on import and aren't saved or preserved for export",
/// Microsoft Learn, API import restrictions and known issues), while response headers
/// with their default, values and examples are part of its operation contract (2024-05-01
/// definitions.json: `ResponseContract.headers`, `ParameterContract` `defaultValue`, `values`,
/// `examples`): against the live API the header is what still says it.
fn operation_deprecated(root: &Value, op: &Value) -> bool {
    flag(op.get("deprecated")) || header_sunset(root, op) != Sunset::None
}

/// The latest date of the `Sunset` headers an operation's responses document.
fn header_sunset(root: &Value, op: &Value) -> Sunset {
    let mut found = Sunset::None;
    let Some(responses) = op.get("responses").and_then(Value::as_object) else {
        return found;
    };
    for response in responses.values() {
        let Some(r) = resolve(root, response, "") else {
            continue;
        };
        let Some(headers) = r.value.get("headers").and_then(Value::as_object) else {
            continue;
        };
        for (name, header) in headers {
            if !name.eq_ignore_ascii_case("sunset") {
                continue;
            }
            let Some(h) = resolve(root, header, "") else {
                continue;
            };
            for value in header_values(root, h.value) {
                match (parse_header_date(value), &found) {
                    (Ok(d), Sunset::Date(prev)) if d <= *prev => {}
                    (Ok(d), _) => found = Sunset::Date(d),
                    (Err(e), Sunset::None) => found = Sunset::Invalid(e),
                    (Err(_), _) => {}
                }
            }
        }
    }
    found
}

/// The values a header object documents: `example`, `default` or a single `enum` value, on the
/// header (Swagger 2.0) or its schema (OpenAPI 3), and OpenAPI 3 `examples`.
fn header_values<'a>(root: &'a Value, h: &'a Value) -> Vec<&'a Value> {
    let mut out = Vec::new();
    let schema = h
        .get("schema")
        .and_then(|s| resolve(root, s, ""))
        .map(|r| r.value);
    for v in [Some(h), schema].into_iter().flatten() {
        out.extend(v.get("example"));
        out.extend(v.get("default"));
        if let Some([one]) = v.get("enum").and_then(Value::as_array).map(Vec::as_slice) {
            out.push(one);
        }
    }
    if let Some(examples) = h.get("examples").and_then(Value::as_object) {
        out.extend(examples.values().filter_map(|e| e.get("value")));
    }
    out
}

/// What a removal of something deprecated amounts to.
enum Removal {
    /// Not deprecated: the caller's usual rule.
    NotDeprecated,
    /// Deprecated without sunset date, removed at or after the policy allows it.
    Deprecated,
    /// Deprecated, its sunset date passed.
    AfterSunset(Date),
    /// Deprecated, the sunset date (or the earliest day the policy allows) not reached.
    BeforeSunset(Date, &'static str),
    SunsetInvalid(String),
}

impl<'a> Differ<'a> {
    fn removal(&self, deprecated: bool, sunset: Sunset) -> Removal {
        if !deprecated {
            return Removal::NotDeprecated;
        }
        match sunset {
            Sunset::Invalid(e) => Removal::SunsetInvalid(e),
            Sunset::Date(d) if self.policy.today < d => Removal::BeforeSunset(d, "its sunset date"),
            Sunset::Date(d) => Removal::AfterSunset(d),
            Sunset::None => {
                let days = self.policy.deprecation_days;
                match self.policy.base_published {
                    Some(p) if days > 0 => match p.checked_add(jiff::Span::new().days(days)) {
                        Ok(earliest) if self.policy.today < earliest => Removal::BeforeSunset(
                            earliest,
                            "the earliest day deprecation-days allows (no sunset date: counted from the live revision's release)",
                        ),
                        _ => Removal::Deprecated,
                    },
                    _ => Removal::Deprecated,
                }
            }
        }
    }

    /// A removed operation (`path_gone`: its whole path went), judged by its deprecation and sunset.
    /// Returns false when the operation was not deprecated (the caller reports that).
    pub(super) fn report_removed_deprecated(
        &mut self,
        op: &Value,
        ptr: &str,
        path: &str,
        path_gone: bool,
    ) -> bool {
        match stability(op) {
            Err(e) => {
                self.invalid_stability(ptr, &e);
                return true;
            }
            // oasdiff's default `--stability-level beta` leaves draft and alpha out.
            Ok(Stability::Draft | Stability::Alpha) => return true,
            Ok(_) => {}
        }
        let sunset = operation_sunset(self.base.root, op);
        let what = if path_gone {
            format!("the deprecated path `{path}` was removed")
        } else {
            "the deprecated operation was removed".to_string()
        };
        let (with, before) = if path_gone {
            (
                "api-path-removed-with-deprecation",
                "api-path-removed-before-sunset",
            )
        } else {
            ("api-removed-with-deprecation", "api-removed-before-sunset")
        };
        match self.removal(operation_deprecated(self.base.root, op), sunset) {
            Removal::NotDeprecated => return false,
            Removal::Deprecated => self.emit(with, Level::Info, ptr, format!("{what}.")),
            Removal::AfterSunset(d) => self.emit(
                with,
                Level::Info,
                ptr,
                format!("{what}; its sunset date {d} has passed."),
            ),
            Removal::BeforeSunset(d, which) => self.emit(
                before,
                Level::Error,
                ptr,
                format!(
                    "{what} before {which}, {d}; clients were promised it until then and will get 404. \
                     Keep it until {d}."
                ),
            ),
            Removal::SunsetInvalid(e) => self.emit(
                "api-path-sunset-parse",
                Level::Error,
                ptr,
                format!(
                    "{what}, but its sunset date cannot be read ({e}), so whether it may go yet is \
                     unknown. Write x-sunset as YYYY-MM-DD."
                ),
            ),
        }
        true
    }

    fn invalid_stability(&mut self, ptr: &str, e: &str) {
        self.emit(
            "api-invalid-stability-level",
            Level::Error,
            &super::super::refs::join(ptr, "x-stability-level"),
            format!(
                "failed to parse stability level: {e}. Use draft, alpha, beta or stable (oasdiff's \
                 x-stability-level)."
            ),
        );
    }

    /// The deprecation-related changes of an operation in both documents. Returns the
    /// deprecation days its (new) stability asks for, for its parameters and properties, or
    /// `None` when the operation is now draft or alpha: oasdiff's default `--stability-level beta`
    /// then leaves it out of every other check (`filterBelowStabilityThreshold` in
    /// `check_api_stability_level.go`, which drops modified operations whose revision is below
    /// the threshold before the checks run).
    pub(super) fn compare_operation_lifecycle(
        &mut self,
        b: &Value,
        n: &Value,
        ptr: &str,
    ) -> Option<u32> {
        let bs = stability(b);
        let ns = stability(n);
        // oasdiff looks at the stability of modified operations only: a document compared with
        // itself stays silent.
        if b != n {
            for e in [&bs, &ns].into_iter().filter_map(|s| s.as_ref().err()) {
                self.invalid_stability(ptr, e);
            }
        }
        let (Ok(bs), Ok(ns)) = (bs, ns) else {
            return Some(self.policy.deprecation_days);
        };
        // oasdiff's `checkStabilityLevelChanged` gates on the level the operation leaves: a
        // change from draft or alpha is outside `--stability-level beta` and not reported (alpha
        // to draft, draft to stable), one from beta or stable is (stable to draft included).
        // API Management's export keeps no `x-stability-level`: what the live API promised is
        // unknown, so there only the new document's level counts (for the filter below).
        let reported = self.policy.base_shows_deprecation && bs >= Stability::Beta;
        if reported && ns < bs {
            self.emit(
                "api-stability-decreased",
                Level::Error,
                &super::super::refs::join(ptr, "x-stability-level"),
                format!(
                    "the stability level decreased from {} to {}; clients relying on its stability \
                     lose that promise. Keep it {}.",
                    bs.as_str(),
                    ns.as_str(),
                    bs.as_str()
                ),
            );
        } else if reported && ns > bs {
            self.emit(
                "api-stability-increased",
                Level::Info,
                &super::super::refs::join(ptr, "x-stability-level"),
                format!(
                    "the stability level increased from {} to {}.",
                    bs.as_str(),
                    ns.as_str()
                ),
            );
        }
        if ns < Stability::Beta {
            return None;
        }
        let days = self.policy.deprecation_days;
        let (bdep, ndep) = (
            operation_deprecated(self.base.root, b),
            operation_deprecated(self.new.root, n),
        );
        let dep_ptr = super::super::refs::join(ptr, "deprecated");
        let nsun = operation_sunset(self.new.root, n);
        if !bdep && ndep {
            let ids = Ids {
                missing: "api-deprecated-sunset-missing",
                plain: "endpoint-deprecated",
                invalid: "api-deprecated-sunset-parse",
                too_small: "api-sunset-date-too-small",
                with_sunset: "endpoint-deprecated-with-sunset",
            };
            self.report_deprecated(&ids, &dep_ptr, "the operation", days, nsun);
        } else if bdep && !ndep {
            self.emit(
                "endpoint-reactivated",
                Level::Info,
                ptr,
                "the operation is no longer deprecated.".to_string(),
            );
        } else if ndep {
            let bsun = operation_sunset(self.base.root, b);
            self.report_sunset_changed(
                (
                    "sunset-deleted",
                    "api-sunset-date-changed-too-small",
                    "api-path-sunset-parse",
                ),
                ptr,
                "the operation",
                days,
                bsun,
                nsun,
            );
        }
        Some(days)
    }

    /// Something newly deprecated: a sunset date is wanted when the policy asks for days, and
    /// must be at least that many days away.
    fn report_deprecated(&mut self, ids: &Ids, ptr: &str, what: &str, days: u32, sunset: Sunset) {
        match sunset {
            // Against API Management's export every deprecation looks new (it drops
            // `deprecated`), so an old one without sunset date would fail every run after it
            // was released: said, not held against it, as a close sunset date below.
            Sunset::None if days > 0 && !self.policy.base_shows_deprecation => self.emit(
                ids.plain,
                Level::Info,
                ptr,
                format!(
                    "{what} is deprecated without a sunset date, and deprecation-days is {days}; \
                     not held against it: the baseline is API Management's export, which drops \
                     `deprecated`, so this may be an earlier deprecation. Give the previous \
                     document as baseline-spec to check the notice it gives, and add x-sunset \
                     (YYYY-MM-DD) at least {days} days from now."
                ),
            ),
            Sunset::None if days > 0 => self.emit(
                ids.missing,
                Level::Error,
                ptr,
                format!(
                    "{what} was deprecated without a sunset date, and deprecation-days is {days}; \
                     clients cannot tell how long it stays. Add x-sunset (YYYY-MM-DD) at least \
                     {days} days from now."
                ),
            ),
            Sunset::None => self.emit(
                ids.plain,
                Level::Info,
                ptr,
                format!("{what} was deprecated."),
            ),
            Sunset::Invalid(e) => self.emit(
                ids.invalid,
                Level::Error,
                ptr,
                format!(
                    "{what} was deprecated with a sunset date that cannot be read ({e}). Write \
                     x-sunset as YYYY-MM-DD."
                ),
            ),
            Sunset::Date(d)
                if days_until(self.policy.today, d) < i64::from(days)
                    && !self.policy.base_shows_deprecation =>
            {
                self.emit(
                    ids.with_sunset,
                    Level::Info,
                    ptr,
                    format!(
                        "{what} is deprecated, with sunset date {d}, fewer than the {days} days \
                         deprecation-days asks for from today; not held against it: the baseline \
                         is API Management's export, which drops `deprecated` and `x-sunset`, so \
                         this may be an earlier deprecation. Give the previous document as \
                         baseline-spec to check the notice it gives."
                    ),
                )
            }
            Sunset::Date(d) if days_until(self.policy.today, d) < i64::from(days) => self.emit(
                ids.too_small,
                Level::Error,
                ptr,
                format!(
                    "{what} was deprecated with sunset date {d}, fewer than the {days} days \
                     deprecation-days asks for from today ({}); clients get too little notice. \
                     Move the sunset date to {} or later.",
                    self.policy.today,
                    add_days(self.policy.today, days)
                ),
            ),
            Sunset::Date(d) => self.emit(
                ids.with_sunset,
                Level::Info,
                ptr,
                format!("{what} was deprecated, with sunset date {d}."),
            ),
        }
    }

    /// A deprecated thing whose sunset date went away or moved closer than the policy allows.
    fn report_sunset_changed(
        &mut self,
        (deleted, too_small, parse): (&str, &str, &str),
        ptr: &str,
        what: &str,
        days: u32,
        bsun: Sunset,
        nsun: Sunset,
    ) {
        match (bsun, nsun) {
            (Sunset::None, _) => {}
            (_, Sunset::None) => self.emit(
                deleted,
                Level::Error,
                ptr,
                format!(
                    "{what} is deprecated and its sunset date was deleted; clients were told when it \
                     goes. Keep the sunset date."
                ),
            ),
            (b, n) if b == n => {}
            (Sunset::Invalid(e), _) | (_, Sunset::Invalid(e)) => self.emit(
                parse,
                Level::Error,
                ptr,
                format!("{what} has a sunset date that cannot be read ({e}). Write it as YYYY-MM-DD."),
            ),
            (Sunset::Date(b), Sunset::Date(n)) => {
                if b > n && days_until(self.policy.today, n) < i64::from(days) {
                    self.emit(
                        too_small,
                        Level::Error,
                        ptr,
                        format!(
                            "{what}'s sunset date moved from {b} to {n}, fewer than the {days} days \
                             deprecation-days asks for from today ({}); clients planned for {b}. \
                             Keep {b}, or a date from {} on.",
                            self.policy.today,
                            add_days(self.policy.today, days)
                        ),
                    );
                }
            }
        }
    }

    /// A parameter the new document no longer has (`what`: `query parameter `id``); false when
    /// it was not deprecated (the caller reports `request-parameter-removed`).
    pub(super) fn report_removed_deprecated_parameter(
        &mut self,
        raw: &Value,
        ptr: &str,
        what: &str,
    ) -> bool {
        match self.removal(flag(raw.get("deprecated")), own_sunset(raw)) {
            Removal::NotDeprecated => return false,
            Removal::Deprecated => self.emit(
                "request-parameter-removed-with-deprecation",
                Level::Info,
                ptr,
                format!("the deprecated {what} was removed."),
            ),
            Removal::AfterSunset(d) => self.emit(
                "request-parameter-removed-with-deprecation",
                Level::Info,
                ptr,
                format!("the deprecated {what} was removed; its sunset date {d} has passed."),
            ),
            Removal::BeforeSunset(d, which) => self.emit(
                "request-parameter-removed-before-sunset",
                Level::Error,
                ptr,
                format!(
                    "the deprecated {what} was removed before {which}, {d}; clients still \
                     sending it may be rejected. Keep it until {d}."
                ),
            ),
            Removal::SunsetInvalid(e) => self.emit(
                "request-parameter-sunset-parse",
                Level::Error,
                ptr,
                format!(
                    "the deprecated {what} was removed, but its sunset date cannot be read \
                     ({e}). Write x-sunset as YYYY-MM-DD."
                ),
            ),
        }
        true
    }

    /// A parameter in both documents: deprecated, reactivated, its sunset moved or deleted.
    pub(super) fn compare_parameter_lifecycle(
        &mut self,
        b: &Value,
        n: &Value,
        ptr: &str,
        describe: &str,
    ) {
        let days = self.op_days;
        let (bdep, ndep) = (flag(b.get("deprecated")), flag(n.get("deprecated")));
        let what = capitalised(describe);
        if !bdep && ndep {
            let ids = Ids {
                missing: "request-parameter-deprecated-sunset-missing",
                plain: "request-parameter-deprecated",
                invalid: "request-parameter-sunset-parse",
                too_small: "request-parameter-sunset-date-too-small",
                // oasdiff has no `-with-sunset` id for parameters.
                with_sunset: "request-parameter-deprecated",
            };
            self.report_deprecated(&ids, ptr, &what, days, own_sunset(n));
        } else if bdep && !ndep {
            self.emit(
                "request-parameter-reactivated",
                Level::Info,
                ptr,
                format!("{what} is no longer deprecated."),
            );
        } else if ndep {
            self.report_sunset_changed(
                (
                    "request-parameter-sunset-deleted",
                    "request-parameter-sunset-date-changed-too-small",
                    "request-parameter-sunset-parse",
                ),
                ptr,
                &what,
                days,
                own_sunset(b),
                own_sunset(n),
            );
        }
    }

    /// A property in both schemas: deprecated or reactivated (oasdiff's request- and
    /// response-property deprecation checks).
    pub(super) fn compare_property_lifecycle(
        &mut self,
        dir: Dir,
        b: &Value,
        n: &Value,
        ptr: &str,
        child: &str,
    ) {
        // OpenAPI 3.1 lets `deprecated` sit beside a `$ref` (Swashbuckle writes it there); 3.0
        // ignores a `$ref`'s siblings, so there it can only be on the referenced schema. A bare
        // `$ref` in 3.0 cannot say a property is deprecated: compared only when both sides can.
        let b_target = resolve(self.base.root, b, "").map_or(b, |r| r.value);
        let n_target = resolve(self.new.root, n, "").map_or(n, |r| r.value);
        let (Some(bdep), Some(ndep)) = (
            property_deprecated(self.base.root, b, b_target),
            property_deprecated(self.new.root, n, n_target),
        ) else {
            return;
        };
        let (side, ids) = match dir {
            Dir::Request => (
                "request",
                Ids {
                    missing: "request-property-deprecated-sunset-missing",
                    plain: "request-property-deprecated",
                    invalid: "request-property-deprecated-sunset-invalid",
                    too_small: "request-property-sunset-date-too-small",
                    with_sunset: "request-property-deprecated-with-sunset",
                },
            ),
            Dir::Response => (
                "response",
                Ids {
                    missing: "response-property-deprecated-sunset-missing",
                    plain: "response-property-deprecated",
                    invalid: "response-property-deprecated-sunset-invalid",
                    too_small: "response-property-sunset-date-too-small",
                    with_sunset: "response-property-deprecated-with-sunset",
                },
            ),
        };
        let what = format!("The {side} property `{child}`");
        if !bdep && ndep {
            let sunset = match own_sunset(n) {
                Sunset::None => own_sunset(n_target),
                s => s,
            };
            let days = self.op_days;
            self.report_deprecated(&ids, ptr, &what, days, sunset);
        } else if bdep && !ndep {
            let id = match dir {
                Dir::Request => "request-property-reactivated",
                Dir::Response => "response-property-reactivated",
            };
            self.emit(
                id,
                Level::Info,
                ptr,
                format!("{what} is no longer deprecated."),
            );
        }
    }
}

/// Whether a property (`raw`, `target` after `$ref`s) is deprecated; `None` when the document
/// cannot say (OpenAPI 3.0, a `$ref` whose target is not deprecated).
fn property_deprecated(root: &Value, raw: &Value, target: &Value) -> Option<bool> {
    let on_target = flag(target.get("deprecated"));
    if raw.get("$ref").is_none() || on_target {
        return Some(on_target);
    }
    let v31 = root
        .get("openapi")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("3.1"));
    v31.then(|| flag(raw.get("deprecated")))
}

/// Rule ids of one kind of thing being deprecated.
struct Ids {
    missing: &'static str,
    plain: &'static str,
    invalid: &'static str,
    too_small: &'static str,
    with_sunset: &'static str,
}

/// Days from `today` to `date` (negative when it passed), as Go's `civil.Date.DaysSince`.
fn days_until(today: Date, date: Date) -> i64 {
    today
        .until(date)
        .map(|s| i64::from(s.get_days()))
        .unwrap_or(i64::MIN)
}

fn add_days(d: Date, days: u32) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap_or(d)
}

/// `the query parameter x` → `The query parameter x`, to open a message.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sunset_dates_parse_as_oasdiff_and_rfc_8594() {
        let d = |s: &str| parse_sunset(&json!(s));
        assert_eq!(d("2026-08-10").unwrap().to_string(), "2026-08-10");
        assert_eq!(
            d("2026-08-10T23:30:00+02:00").unwrap().to_string(),
            "2026-08-10"
        );
        // The date as written, not the UTC one (2026-08-11T04:30Z).
        assert_eq!(
            d("2026-08-10T23:30:00-05:00").unwrap().to_string(),
            "2026-08-10"
        );
        assert!(d("invalid-date").unwrap_err().contains("RFC3339"));
        assert!(parse_sunset(&json!(20260810)).is_err());
        // Go's time.Parse(time.RFC3339, …), which oasdiff uses: fractions of a second are fine.
        for ok in [
            "2026-08-10T23:30:00Z",
            "2026-08-10T23:30:00.123456789Z",
            "2026-08-10T23:30:00.5+02:00",
            "2026-08-10T00:00:00-23:59",
            "2026-08-10T23:30:00,5Z",
            "2026-08-10T23:30:00+24:00",
        ] {
            assert_eq!(d(ok).unwrap().to_string(), "2026-08-10", "{ok}");
        }
        // What jiff would take but Go refuses: reported as a sunset that cannot be read, as
        // oasdiff reports it (`api-deprecated-sunset-parse` and friends).
        for bad in [
            "2026-08-10T23:30Z",
            "2026-08-10T23:30:00+02",
            "2026-08-10T23:30:00+0200",
            "2026-08-10 23:30:00Z",
            "2026-08-10t23:30:00Z",
            "2026-08-10T23:30:00z",
            "2026-08-10T23:30:60Z",
            "2026-08-10T24:00:00Z",
            "2026-08-10T23:30:00.Z",
            "2026-02-30T00:00:00Z",
            "2026-08-10T23:30:00+25:00",
            "2026-08-10T23:30:00",
        ] {
            assert!(d(bad).unwrap_err().contains("RFC3339"), "{bad}");
        }
        assert_eq!(
            parse_header_date(&json!("Sat, 31 Dec 2033 23:59:59 GMT"))
                .unwrap()
                .to_string(),
            "2033-12-31"
        );
    }

    #[test]
    fn stability_levels_are_oasdiffs_four() {
        assert_eq!(stability(&json!({})), Ok(Stability::Stable));
        assert_eq!(
            stability(&json!({"x-stability-level": "beta"})),
            Ok(Stability::Beta)
        );
        assert!(
            stability(&json!({"x-stability-level": "invalid"}))
                .unwrap_err()
                .contains("\"invalid\"")
        );
        assert!(Stability::Alpha < Stability::Beta);
    }

    #[test]
    fn the_sunset_header_counts_when_there_is_no_x_sunset() {
        let op = json!({"responses": {"200": {"description": "ok", "headers": {
            "Sunset": {"schema": {"type": "string", "example": "Wed, 11 Nov 2099 23:59:59 GMT"}}}}}});
        let root = json!({});
        assert_eq!(
            operation_sunset(&root, &op),
            Sunset::Date("2099-11-11".parse().unwrap())
        );
        let mut own = op.clone();
        own["x-sunset"] = json!("2098-01-01");
        assert_eq!(
            operation_sunset(&root, &own),
            Sunset::Date("2098-01-01".parse().unwrap())
        );
    }
}
