//! Deprecation and sunset rules against oasdiff's own test documents (tests/data/oasdiff, see its
//! README): each pair gives the rule ids oasdiff's tests expect, at oasdiff's levels. Dates that
//! oasdiff's tests set relative to today are set the same way here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use apim_gate::spec::diff::{Policy, diff_with, today};
use apim_gate::spec::{Document, Finding, Level};
use serde_json::{Value, json};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oasdiff")
        .join(name)
}

fn value(name: &str) -> Value {
    let path = data(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Document::parse(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .value()
        .clone()
}

fn doc(v: &Value) -> Document {
    Document::parse(v.to_string().as_bytes()).unwrap()
}

/// oasdiff's levels by rule id, from the shared fixtures' rule-ids.txt.
fn oasdiff_levels() -> BTreeMap<String, Level> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/oasdiff/rule-ids.txt");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let level = match cols[1] {
                "ERR" => Level::Error,
                "WARN" => Level::Warning,
                _ => Level::Info,
            };
            (cols[0].to_string(), level)
        })
        .collect()
}

fn summary(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {} {} {:?}: {}", f.level, f.id, f.operation, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

fn policy(days: u32) -> Policy {
    Policy::now(days)
}

fn run(base: &Value, new: &Value, policy: &Policy) -> Vec<Finding> {
    let findings = diff_with(&doc(base), &doc(new), policy);
    let levels = oasdiff_levels();
    for f in &findings {
        if let Some(l) = levels.get(&f.id) {
            assert_eq!(*l, f.level, "{} has oasdiff level {l}: {f:?}", f.id);
        }
    }
    findings
}

/// The pair gives `id` (at oasdiff's level, checked in `run`).
#[track_caller]
fn gives(base: &Value, new: &Value, policy: &Policy, id: &str) -> Vec<Finding> {
    let findings = run(base, new, policy);
    assert!(
        findings.iter().any(|f| f.id == id),
        "expected {id}, got:\n{}",
        summary(&findings)
    );
    assert!(
        oasdiff_levels().contains_key(id),
        "{id} is not one of oasdiff's rule ids"
    );
    findings
}

/// oasdiff's `require.Empty` on a breaking-change check: nothing at warning or above.
#[track_caller]
fn not_breaking(base: &Value, new: &Value, policy: &Policy) -> Vec<Finding> {
    let findings = run(base, new, policy);
    assert!(
        findings.iter().all(|f| f.level == Level::Info),
        "expected no breaking finding, got:\n{}",
        summary(&findings)
    );
    findings
}

fn in_days(n: i64) -> String {
    let d = today().checked_add(jiff::Span::new().days(n)).unwrap();
    d.to_string()
}

fn set_get_sunset(v: &mut Value, date: &str) {
    v["paths"]["/api/test"]["get"]["x-sunset"] = json!(date);
}

#[test]
fn removing_operations_and_paths_before_and_after_their_sunset() {
    // check_api_removed_test.go
    let sunset = value("deprecation/sunset.yaml");
    let f = gives(
        &value("deprecation/deprecated-future.yaml"),
        &sunset,
        &policy(0),
        "api-removed-before-sunset",
    );
    let e = f
        .iter()
        .find(|f| f.id == "api-removed-before-sunset")
        .unwrap();
    assert_eq!(e.level, Level::Error);
    assert_eq!(e.operation.as_deref(), Some("GET /api/test"));
    assert!(e.message.contains("9999-08-10"), "{}", e.message);

    // After the sunset date oasdiff reports nothing breaking; the changelog lists it as info.
    let f = not_breaking(
        &value("deprecation/deprecated-past.yaml"),
        &sunset,
        &policy(0),
    );
    let e = f
        .iter()
        .find(|f| f.id == "api-removed-with-deprecation")
        .unwrap();
    assert!(e.message.contains("2022-08-10 has passed"), "{}", e.message);

    let f = gives(
        &value("deprecation/deprecated-no-sunset.yaml"),
        &sunset,
        &policy(0),
        "api-removed-with-deprecation",
    );
    assert!(f.iter().all(|f| f.level == Level::Info));

    gives(
        &value("deprecation/deprecated-invalid.yaml"),
        &sunset,
        &policy(0),
        "api-path-sunset-parse",
    );

    let sunset_path = value("deprecation/sunset-path.yaml");
    let f = gives(
        &value("deprecation/deprecated-path-mixed.yaml"),
        &sunset_path,
        &policy(0),
        "api-path-removed-before-sunset",
    );
    assert_eq!(
        f.iter()
            .filter(|f| f.level == Level::Error)
            .map(|f| f.operation.as_deref().unwrap_or(""))
            .collect::<Vec<_>>(),
        ["POST /api/test"],
        "only the operation whose sunset is ahead blocks:\n{}",
        summary(&f)
    );
    not_breaking(
        &value("deprecation/deprecated-path-past.yaml"),
        &sunset_path,
        &policy(0),
    );
    let f = gives(
        &value("deprecation/deprecated-path-no-sunset.yaml"),
        &sunset_path,
        &policy(0),
        "api-path-removed-with-deprecation",
    );
    assert_eq!(
        f.iter()
            .filter(|f| f.id == "api-path-removed-with-deprecation")
            .count(),
        2
    );
    gives(
        &value("deprecation/base-alpha-stability.yaml"),
        &sunset_path,
        &policy(0),
        "api-path-removed-without-deprecation",
    );
}

#[test]
fn alpha_and_draft_operations_may_go_without_deprecation() {
    // TestBreaking_RemovedPathForAlpha / ForDraft: oasdiff sets the level on both operations.
    for level in ["alpha", "draft"] {
        let mut base = value("deprecation/base-alpha-stability.yaml");
        base["paths"]["/api/test"]["get"]["x-stability-level"] = json!(level);
        base["paths"]["/api/test"]["post"]["x-stability-level"] = json!(level);
        let mut new = base.clone();
        new["paths"].as_object_mut().unwrap().remove("/api/test");
        let f = run(&base, &new, &policy(0));
        assert!(f.is_empty(), "{level}:\n{}", summary(&f));
    }
}

#[test]
fn deprecating_an_operation() {
    // check_api_deprecation_test.go
    let base = value("deprecation/base.yaml");
    gives(
        &base,
        &value("deprecation/deprecated-with-invalid-sunset.yaml"),
        &policy(0),
        "api-deprecated-sunset-parse",
    );
    gives(
        &base,
        &value("deprecation/deprecated-with-invalid-stability.yaml"),
        &policy(0),
        "api-invalid-stability-level",
    );
    let no_sunset = value("deprecation/deprecated-no-sunset.yaml");
    let f = not_breaking(&base, &no_sunset, &policy(0));
    assert!(f.iter().any(|f| f.id == "endpoint-deprecated"));
    gives(
        &base,
        &no_sunset,
        &policy(30),
        "api-deprecated-sunset-missing",
    );
    // Alpha needs no sunset date whatever the policy.
    not_breaking(
        &value("deprecation/base-alpha-stability.yaml"),
        &value("deprecation/deprecated-no-sunset-alpha-stability.yaml"),
        &policy(30),
    );

    // TestBreaking_DeprecationWithEarlySunset / WithProperSunset: 9 days against 10 is too few.
    let mut early = value("deprecation/deprecated-future.yaml");
    set_get_sunset(&mut early, &in_days(9));
    let f = gives(&base, &early, &policy(10), "api-sunset-date-too-small");
    assert!(
        f.iter()
            .any(|f| f.message.contains(&in_days(9)) && f.message.contains("10 days")),
        "{}",
        summary(&f)
    );
    let mut proper = early.clone();
    set_get_sunset(&mut proper, &in_days(10));
    let f = not_breaking(&base, &proper, &policy(10));
    assert!(f.iter().any(|f| f.id == "endpoint-deprecated-with-sunset"));

    gives(
        &value("deprecation/deprecated-future.yaml"),
        &base,
        &policy(0),
        "endpoint-reactivated",
    );
    gives(
        &value("deprecation/invalid-stability.yaml"),
        &value("deprecation/base-alpha-stability.yaml"),
        &policy(0),
        "api-invalid-stability-level",
    );
}

#[test]
fn moving_or_deleting_a_sunset_date() {
    // check_api_sunset_changed_test.go
    gives(
        &value("deprecation/deprecated-with-sunset.yaml"),
        &value("deprecation/deprecated-no-sunset.yaml"),
        &policy(0),
        "sunset-deleted",
    );
    gives(
        &value("deprecation/deprecated-future.yaml"),
        &value("deprecation/deprecated-past.yaml"),
        &policy(180),
        "api-sunset-date-changed-too-small",
    );
    gives(
        &value("deprecation/deprecated-future.yaml"),
        &value("deprecation/deprecated-invalid.yaml"),
        &policy(0),
        "api-path-sunset-parse",
    );
    gives(
        &value("deprecation/deprecated-invalid.yaml"),
        &value("deprecation/deprecated-future.yaml"),
        &policy(0),
        "api-path-sunset-parse",
    );
    for (base, new) in [
        (
            "deprecated-with-other-extension.yaml",
            "deprecated-no-sunset.yaml",
        ),
        ("deprecated-future.yaml", "deprecated-future-2.yaml"),
    ] {
        let f = run(
            &value(&format!("deprecation/{base}")),
            &value(&format!("deprecation/{new}")),
            &policy(180),
        );
        // oasdiff runs only its sunset check here; the pair changes other things too.
        assert!(
            f.iter().all(|f| !f.id.contains("sunset")),
            "{base} -> {new}:\n{}",
            summary(&f)
        );
    }
}

#[test]
fn parameters() {
    // check_request_parameter_removed_test.go
    let sunset = value("param-deprecation/sunset.yaml");
    let base = value("param-deprecation/base.yaml");
    gives(&base, &sunset, &policy(0), "request-parameter-removed");
    let f = gives(
        &value("param-deprecation/deprecated-future.yaml"),
        &sunset,
        &policy(0),
        "request-parameter-removed-before-sunset",
    );
    assert!(f.iter().any(|f| f.message.contains("9999-08-10")));
    not_breaking(
        &value("param-deprecation/deprecated-past.yaml"),
        &sunset,
        &policy(0),
    );
    not_breaking(
        &value("param-deprecation/deprecated-no-sunset.yaml"),
        &sunset,
        &policy(0),
    );
    gives(
        &value("param-deprecation/deprecated-invalid.yaml"),
        &sunset,
        &policy(0),
        "request-parameter-sunset-parse",
    );

    // check_request_parameter_deprecation_test.go
    gives(
        &base,
        &value("param-deprecation/deprecated-invalid.yaml"),
        &policy(0),
        "request-parameter-sunset-parse",
    );
    let no_sunset = value("param-deprecation/deprecated-no-sunset.yaml");
    let f = not_breaking(&base, &no_sunset, &policy(0));
    assert!(f.iter().any(|f| f.id == "request-parameter-deprecated"));
    gives(
        &base,
        &no_sunset,
        &policy(30),
        "request-parameter-deprecated-sunset-missing",
    );
    not_breaking(
        &value("param-deprecation/base-alpha-stability.yaml"),
        &value("param-deprecation/deprecated-no-sunset-alpha-stability.yaml"),
        &policy(30),
    );
    let mut early = value("param-deprecation/deprecated-future.yaml");
    early["components"]["parameters"]["id"]["x-sunset"] = json!(in_days(9));
    gives(
        &base,
        &early,
        &policy(10),
        "request-parameter-sunset-date-too-small",
    );
    early["components"]["parameters"]["id"]["x-sunset"] = json!(in_days(10));
    let f = not_breaking(&base, &early, &policy(10));
    assert!(f.iter().any(|f| f.id == "request-parameter-deprecated"));
    gives(
        &value("param-deprecation/deprecated-future.yaml"),
        &base,
        &policy(0),
        "request-parameter-reactivated",
    );
}

#[test]
fn request_and_response_properties() {
    // check_request_property_deprecation_test.go, check_response_property_deprecation_test.go
    let f = gives(
        &value("deprecation/request_property_deprecation_base.yaml"),
        &value("deprecation/request_property_deprecation_spec.yaml"),
        &policy(0),
        "request-property-deprecated-with-sunset",
    );
    assert!(f.iter().any(|f| f.message.contains("oldField")));
    gives(
        &value("deprecation/response_property_deprecation_base.yaml"),
        &value("deprecation/response_property_deprecation_spec.yaml"),
        &policy(0),
        "response-property-deprecated-with-sunset",
    );
    for side in ["request", "response"] {
        gives(
            &value(&format!(
                "deprecation/{side}_property_deprecation_allof_base.yaml"
            )),
            &value(&format!(
                "deprecation/{side}_property_deprecation_allof_spec.yaml"
            )),
            &policy(0),
            &format!("{side}-property-deprecated-with-sunset"),
        );
    }

    let stable = value("deprecation/property_base_stable.yaml");
    let no_sunset = value("deprecation/property_deprecated_no_sunset.yaml");
    gives(
        &stable,
        &no_sunset,
        &policy(30),
        "request-property-deprecated-sunset-missing",
    );
    gives(
        &stable,
        &no_sunset,
        &policy(30),
        "response-property-deprecated-sunset-missing",
    );
    not_breaking(
        &value("deprecation/property_base_alpha.yaml"),
        &value("deprecation/property_deprecated_no_sunset_alpha.yaml"),
        &policy(30),
    );
    gives(
        &value("deprecation/property_base.yaml"),
        &value("deprecation/property_deprecated_no_sunset_no_stability.yaml"),
        &policy(0),
        "request-property-deprecated",
    );
    gives(
        &stable,
        &value("deprecation/property_deprecated_invalid_sunset.yaml"),
        &policy(0),
        "request-property-deprecated-sunset-invalid",
    );

    let mut early = value("deprecation/property_deprecated_future.yaml");
    let schemas = &mut early["components"]["schemas"];
    schemas["TestRequest"]["properties"]["oldField"]["x-sunset"] = json!(in_days(9));
    schemas["TestResponse"]["properties"]["legacyField"]["x-sunset"] = json!(in_days(9));
    gives(
        &stable,
        &early,
        &policy(10),
        "request-property-sunset-date-too-small",
    );
    gives(
        &stable,
        &early,
        &policy(10),
        "response-property-sunset-date-too-small",
    );
    let schemas = &mut early["components"]["schemas"];
    schemas["TestRequest"]["properties"]["oldField"]["x-sunset"] = json!(in_days(10));
    schemas["TestResponse"]["properties"]["legacyField"]["x-sunset"] = json!(in_days(10));
    not_breaking(&stable, &early, &policy(10));

    gives(
        &value("deprecation/property_deprecated_future.yaml"),
        &stable,
        &policy(0),
        "request-property-reactivated",
    );
    gives(
        &value("deprecation/property_deprecated.yaml"),
        &stable,
        &policy(0),
        "response-property-reactivated",
    );
}

#[test]
fn the_sunset_response_header_dates_an_operation_without_x_sunset() {
    // RFC 8594's Sunset header, documented with an example HTTP-date on the operation's response.
    let mut base = value("deprecation/deprecated-no-sunset.yaml");
    let date = today().checked_add(jiff::Span::new().days(40)).unwrap();
    let http_date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&date.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp())
        .unwrap();
    base["paths"]["/api/test"]["get"]["responses"]["200"]["headers"] =
        json!({"Sunset": {"schema": {"type": "string", "example": http_date}}});
    let sunset = value("deprecation/sunset.yaml");
    let f = gives(&base, &sunset, &policy(0), "api-removed-before-sunset");
    assert!(f.iter().any(|f| f.message.contains(&date.to_string())));
    // Once the header's date is past, removal is info.
    let past = "Mon, 01 Jan 2001 00:00:00 GMT";
    base["paths"]["/api/test"]["get"]["responses"]["200"]["headers"]["Sunset"]["schema"]["example"] =
        json!(past);
    not_breaking(&base, &sunset, &policy(0));
}

#[test]
fn without_a_sunset_date_the_live_revisions_release_date_counts() {
    let base = value("deprecation/deprecated-no-sunset.yaml");
    let new = value("deprecation/sunset.yaml");
    let published = |days_ago: i64| Policy {
        base_published: Some(
            today()
                .checked_sub(jiff::Span::new().days(days_ago))
                .unwrap(),
        ),
        ..Policy::now(30)
    };
    let f = gives(&base, &new, &published(10), "api-removed-before-sunset");
    assert!(
        f.iter().any(|f| f.message.contains(&in_days(20))),
        "the earliest day is the release plus 30 days:\n{}",
        summary(&f)
    );
    not_breaking(&base, &new, &published(30));
    // No release date known: nothing to count from, as oasdiff.
    not_breaking(&base, &new, &Policy::now(30));
}
