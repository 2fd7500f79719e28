//! Deprecation and sunset rules against oasdiff's own test documents (tests/data/oasdiff, see its
//! README): each pair gives the rule ids oasdiff's tests expect, at oasdiff's levels. Dates that
//! oasdiff's tests set relative to today are set the same way here. Then the changelog: `diff
//! --all` and, through the gate against the sandbox, the summary's "All changes" section and the
//! release notes.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

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
    // An unquoted YAML date as x-sunset (TestBreaking_DeprecationPathMixed_RFC3339Sunset).
    let f = gives(
        &value("deprecation/deprecated-path-mixed-rfc3339-sunset.yaml"),
        &sunset_path,
        &policy(0),
        "api-path-removed-before-sunset",
    );
    assert_eq!(f.iter().filter(|f| f.level == Level::Error).count(), 1);
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
    // Against API Management's export the message says how a deprecation can still be seen.
    let export = Policy {
        base_shows_deprecation: false,
        ..policy(0)
    };
    let f = gives(
        &value("deprecation/base.yaml"),
        &sunset,
        &export,
        "api-removed-without-deprecation",
    );
    assert!(
        f.iter()
            .any(|f| f.message.contains("`Sunset` response header")),
        "{}",
        summary(&f)
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

/// oasdiff's `--stability-level beta` (its default): a stability change counts only when the
/// operation leaves beta or stable, and an operation that is now draft or alpha is left out of
/// every other check (`filterBelowStabilityThreshold`, `checkStabilityLevelChanged`).
#[test]
fn draft_and_alpha_operations_are_outside_the_checks() {
    let base = value("deprecation/base.yaml");
    let at = |doc: &Value, get: Option<&str>, post: Option<&str>| {
        let mut doc = doc.clone();
        for (method, level) in [("get", get), ("post", post)] {
            if let Some(level) = level {
                doc["paths"]["/api/test"][method]["x-stability-level"] = json!(level);
            }
        }
        doc
    };
    // A breaking change in an alpha operation (a new required parameter) and in a stable one.
    let required =
        json!([{"name": "tenant", "in": "query", "required": true, "schema": {"type": "string"}}]);
    let mut breaking = at(&base, Some("alpha"), None);
    breaking["paths"]["/api/test"]["get"]["parameters"] = required.clone();
    breaking["paths"]["/api/test"]["post"]["parameters"] = required;
    let f = run(&at(&base, Some("alpha"), None), &breaking, &policy(0));
    assert!(
        f.iter().any(|f| f.id == "new-required-request-parameter"
            && f.operation.as_deref() == Some("POST /api/test")),
        "{}",
        summary(&f)
    );
    assert!(
        f.iter()
            .all(|f| f.operation.as_deref() != Some("GET /api/test")),
        "{}",
        summary(&f)
    );
    // Changes between draft and alpha, or out of them, are not reported; out of beta or stable
    // they are.
    for (from, to) in [("alpha", "draft"), ("draft", "stable"), ("alpha", "beta")] {
        let f = run(
            &at(&base, Some(from), None),
            &at(&base, Some(to), None),
            &policy(0),
        );
        assert!(f.is_empty(), "{from} to {to}:\n{}", summary(&f));
    }
    gives(
        &at(&base, Some("stable"), None),
        &at(&base, Some("draft"), None),
        &policy(0),
        "api-stability-decreased",
    );
    gives(
        &at(&base, Some("beta"), None),
        &at(&base, Some("alpha"), None),
        &policy(0),
        "api-stability-decreased",
    );
    let f = run(
        &at(&base, Some("beta"), None),
        &at(&base, None, None),
        &policy(0),
    );
    assert!(
        f.iter().any(|f| f.id == "api-stability-increased"),
        "{}",
        summary(&f)
    );
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
    // Against API Management's export, which drops `deprecated` and `x-sunset`, the deprecation
    // may be an old one: the close sunset date is reported, not held against it.
    let export = Policy {
        base_shows_deprecation: false,
        ..policy(10)
    };
    let f = not_breaking(&base, &early, &export);
    assert!(
        f.iter()
            .any(|f| f.id == "endpoint-deprecated-with-sunset"
                && f.message.contains("baseline-spec")),
        "{}",
        summary(&f)
    );
    // So is a deprecation without sunset date: against the export it would fail every run
    // after its release, looking newly deprecated each time.
    let f = not_breaking(
        &base,
        &no_sunset,
        &Policy {
            base_shows_deprecation: false,
            ..policy(30)
        },
    );
    assert!(
        f.iter().any(|f| f.id == "endpoint-deprecated"
            && f.level == Level::Info
            && f.message.contains("baseline-spec")),
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
    // Unchanged, an invalid level is not a change (a document never breaks itself).
    let invalid = value("deprecation/invalid-stability.yaml");
    let f = run(&invalid, &invalid, &policy(30));
    assert!(f.is_empty(), "{}", summary(&f));
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
    // API Management's export drops `deprecated` but keeps response headers: the header alone
    // announces the removal.
    let mut exported = value("deprecation/base.yaml");
    exported["paths"]["/api/test"]["get"]["responses"]["200"]["headers"] =
        base["paths"]["/api/test"]["get"]["responses"]["200"]["headers"].clone();
    gives(&exported, &sunset, &policy(0), "api-removed-before-sunset");
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

#[test]
fn the_shared_fixtures_deprecation_pairs_give_oasdiffs_ids() {
    // ../shared/fixtures/oasdiff holds pairs from oasdiff's data/deprecation and
    // data/param-deprecation, converted to JSON, with the ids oasdiff's tests expect.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/oasdiff");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut checked = 0;
    for pair in expected.as_array().unwrap() {
        let source = pair["source_base"].as_str().unwrap();
        if !source.contains("deprecation/") {
            continue;
        }
        let read = |k: &str| {
            Document::parse(&std::fs::read(dir.join(pair[k].as_str().unwrap())).unwrap())
                .unwrap()
                .value()
                .clone()
        };
        let level: Level = pair["level"].as_str().unwrap().parse().unwrap();
        for id in pair["expected_rules"].as_array().unwrap() {
            let f = gives(
                &read("base"),
                &read("revision"),
                &policy(0),
                id.as_str().unwrap(),
            );
            assert!(
                f.iter()
                    .any(|f| f.id == id.as_str().unwrap() && f.level == level)
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "the shared fixtures hold deprecation pairs");
}

fn swashbuckle() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/swashbuckle/basic-openapi30.json");
    Document::parse(&std::fs::read(path).unwrap())
        .unwrap()
        .value()
        .clone()
}

/// The Swashbuckle fixture with one operation added and one optional query parameter added.
fn compatible_change(doc: &Value) -> Value {
    let mut new = doc.clone();
    new["paths"]["/health"] =
        json!({"get": {"operationId": "Health", "responses": {"200": {"description": "OK"}}}});
    let item = new["paths"]
        .as_object_mut()
        .unwrap()
        .iter_mut()
        .find(|(path, item)| item.get("get").is_some() && path.as_str() != "/products")
        .map(|(_, i)| i)
        .unwrap();
    let get = &mut item["get"];
    if get.get("parameters").is_none() {
        get["parameters"] = json!([]);
    }
    get["parameters"].as_array_mut().unwrap().push(
        json!({"name": "verbose", "in": "query", "required": false, "schema": {"type": "boolean"}}),
    );
    new
}

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .args(args)
        .env_clear()
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn diff_all_lists_every_change_with_oasdiffs_ids() {
    let dir = tempfile::tempdir().unwrap();
    let base = swashbuckle();
    let new = compatible_change(&base);
    let (b, n) = (dir.path().join("base.json"), dir.path().join("new.json"));
    std::fs::write(&b, base.to_string()).unwrap();
    std::fs::write(&n, new.to_string()).unwrap();
    let (b, n) = (b.to_str().unwrap(), n.to_str().unwrap());

    // Without --all: nothing breaking to list, the compatible changes counted.
    let (code, text) = cli(&["diff", b, n]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("endpoint-added"), "{text}");
    assert!(
        text.contains("2 compatible changes not listed; --all lists every change."),
        "{text}"
    );

    let (code, text) = cli(&["diff", b, n, "--all"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("2 changes: 0 breaking, 0 possibly breaking, 2 compatible\n"),
        "{text}"
    );
    assert!(text.contains("endpoint-added  GET /health"), "{text}");
    assert!(text.contains("new-optional-request-parameter"), "{text}");

    let (_, md) = cli(&["diff", b, n, "--all", "--format", "markdown"]);
    assert!(md.starts_with("### All changes (2)\n"), "{md}");
    assert!(
        md.contains("| info | `endpoint-added` | `GET /health` |"),
        "{md}"
    );

    let (_, json) = cli(&["diff", b, n, "--all", "--format", "json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{json}");
    assert!(ids.contains(&"endpoint-added") && ids.contains(&"new-optional-request-parameter"));
    let levels = oasdiff_levels();
    for id in ids {
        assert_eq!(
            levels.get(id),
            Some(&Level::Info),
            "{id} is oasdiff's, info"
        );
    }
    let (_, json) = cli(&["diff", b, n, "--format", "json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["findings"].as_array().unwrap().len(), 0, "{json}");
}

#[test]
fn diff_deprecation_days_asks_for_a_sunset_date() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("base.yaml");
    let n = dir.path().join("new.yaml");
    std::fs::copy(data("deprecation/base.yaml"), &b).unwrap();
    std::fs::copy(data("deprecation/deprecated-no-sunset.yaml"), &n).unwrap();
    let (b, n) = (b.to_str().unwrap(), n.to_str().unwrap());
    let (code, text) = cli(&["diff", b, n]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = cli(&["diff", b, n, "--deprecation-days", "30"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("api-deprecated-sunset-missing"), "{text}");
    assert!(text.contains("deprecation-days is 30"), "{text}");
}

/// The gate against the sandbox with `baseline-spec`: a deprecated operation removed before its
/// sunset date is refused; once the date has passed it goes out, and the summary and the APIM
/// release notes list the changes.
#[tokio::test(flavor = "multi_thread")]
async fn the_gate_refuses_a_removal_before_sunset_and_lists_every_change() {
    use support::{World, bytes};
    let world = World::start(apim_sandbox::Config {
        retry_after: 0,
        ..apim_sandbox::Config::default()
    })
    .await;
    let api = "svc-1";
    let mut base = swashbuckle();
    let removed = "/products";
    assert!(base["paths"].get(removed).is_some());
    world.deploy(api, &base);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());

    // The baseline (the previous build's document) deprecates /products until 40 days from now.
    let deprecate = |doc: &mut Value, sunset: &str| {
        for op in doc["paths"][removed].as_object_mut().unwrap().values_mut() {
            op["deprecated"] = json!(true);
            op["x-sunset"] = json!(sunset);
        }
    };
    deprecate(&mut base, &in_days(40));
    let baseline = world.dir.path().join("baseline.json");
    std::fs::write(&baseline, bytes(&base)).unwrap();
    let mut new = compatible_change(&base);
    new["paths"].as_object_mut().unwrap().remove(removed);
    world.deploy(api, &new);
    let summary = world.dir.path().join("summary.md");
    let inputs = [
        ("APIM_GATE_BASELINE_SPEC", baseline.to_str().unwrap()),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let mark = world.sandbox.requests().len();
    let run = world.gate(&inputs).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout.contains("api-path-removed-before-sunset"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&in_days(40)), "{}", run.stdout);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("<details><summary>All changes ("), "{md}");
    assert!(md.contains("`endpoint-added`"), "{md}");
    assert!(md.contains("`api-path-removed-before-sunset`"), "{md}");

    // The sunset date passed: the removal is a compatible change, released with its notes.
    deprecate(&mut base, "2001-01-01");
    std::fs::write(&baseline, bytes(&base)).unwrap();
    std::fs::remove_file(&summary).unwrap();
    let run = world.gate(&inputs).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let md = std::fs::read_to_string(&summary).unwrap();
    let all = md
        .split("<details><summary>All changes (")
        .nth(1)
        .expect("the All changes section");
    assert!(all.contains("`api-path-removed-with-deprecation`"), "{md}");
    assert!(all.contains("`endpoint-added`"), "{md}");
    assert!(all.contains("`new-optional-request-parameter`"), "{md}");
    let state = world.apim_state().await;
    let notes: Vec<String> = state["apis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == api)
        .unwrap()["releases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["notes"].as_str().map(str::to_string))
        .collect();
    let latest = notes
        .iter()
        .find(|n| n.contains("Changes: "))
        .unwrap_or_else(|| panic!("release notes with a changelog: {notes:?}"));
    assert!(latest.encode_utf16().count() <= 256, "{latest}");
    assert!(latest.contains("endpoint-added GET /health"), "{latest}");

    // The live revision's release date, which dates a deprecation without sunset: the revisions
    // list gives the current revision's updatedDateTime, set by today's release.
    let env = apim_gate::inputs::Env::from_pairs(world.sandbox.env());
    let inputs = apim_gate::inputs::Inputs::load(&env, apim_gate::inputs::Need::Run).unwrap();
    let signed = apim_gate::azure::sign_in(&inputs, &env).await.unwrap();
    let target = apim_gate::apim::ApiTarget::from_inputs(
        &inputs,
        &world.sandbox.services[0],
        &signed.subscription_id,
    )
    .unwrap();
    let (highest, updated) = apim_gate::apim::revisions_overview(&signed.arm, &target)
        .await
        .unwrap();
    assert_eq!(highest, 2);
    let updated: jiff::Timestamp = updated.expect("updatedDateTime").parse().unwrap();
    // Today's, or yesterday's when the run crossed midnight UTC.
    let released = updated.to_zoned(jiff::tz::TimeZone::UTC).date();
    assert!(
        released == today() || released.tomorrow().unwrap() == today(),
        "{released}"
    );
    world.assert_no_secret_printed();
}

/// The gate against the sandbox with `baseline-spec`: an operation the previous document
/// deprecated without a sunset date may go `deprecation-days` after the live revision's release
/// (today's here), so its removal is refused now, in either revision mode; with no days asked
/// for it goes.
#[tokio::test(flavor = "multi_thread")]
async fn the_gate_dates_a_deprecation_without_sunset_by_the_live_release() {
    use support::{World, bytes};
    let world = World::start(apim_sandbox::Config {
        retry_after: 0,
        ..apim_sandbox::Config::default()
    })
    .await;
    let api = "svc-1";
    let mut base = swashbuckle();
    let removed = "/products";
    world.deploy(api, &base);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());

    for op in base["paths"][removed].as_object_mut().unwrap().values_mut() {
        op["deprecated"] = json!(true);
    }
    let baseline = world.dir.path().join("baseline.json");
    std::fs::write(&baseline, bytes(&base)).unwrap();
    let mut new = base.clone();
    new["paths"].as_object_mut().unwrap().remove(removed);
    world.deploy(api, &new);
    for revision in ["staged", "in-place"] {
        let inputs = [
            ("APIM_GATE_BASELINE_SPEC", baseline.to_str().unwrap()),
            ("APIM_GATE_DEPRECATION_DAYS", "30"),
            ("APIM_GATE_REVISION", revision),
        ];
        let mark = world.sandbox.requests().len();
        let run = world.gate(&inputs).await;
        assert_eq!(run.code, 1, "{revision}: {}", run.both());
        assert!(
            run.stdout.contains("api-path-removed-before-sunset"),
            "{revision}: {}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("counted from the live revision's release"),
            "{revision}: {}",
            run.stdout
        );
        // The release today plus 30 days (or yesterday's, when the run crossed midnight UTC).
        let earliest = [in_days(30), in_days(29)];
        assert!(
            earliest.iter().any(|d| run.stdout.contains(d.as_str())),
            "{revision}: {}",
            run.stdout
        );
        assert_eq!(world.writes_since(mark), Vec::<String>::new());
    }
    let run = world
        .gate(&[("APIM_GATE_BASELINE_SPEC", baseline.to_str().unwrap())])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        !run.stdout.contains("api-path-removed-before-sunset"),
        "{}",
        run.stdout
    );
    world.assert_no_secret_printed();
}

#[test]
fn every_oasdiff_deprecation_document_against_itself_is_silent() {
    let mut n = 0;
    for dir in ["deprecation", "param-deprecation"] {
        for entry in std::fs::read_dir(data(dir)).unwrap() {
            let name = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
            let v = value(&name);
            let f = run(&v, &v, &policy(30));
            assert!(f.is_empty(), "{name}:\n{}", summary(&f));
            n += 1;
        }
    }
    assert!(n > 60, "{n} documents");
}

/// `doc` without any `x-nullable`, as API Management's export gives a Swagger 2.0 document it
/// imported (custom extensions are not kept).
fn without_x_nullable(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("x-nullable");
            m.values_mut().for_each(without_x_nullable);
        }
        Value::Array(a) => a.iter_mut().for_each(without_x_nullable),
        _ => {}
    }
}

/// Against API Management's export, which keeps no custom extension, an extension of the new
/// document is no change: Swashbuckle's `x-nullable` is not read as properties becoming
/// nullable, and an `x-stability-level` is not read as the level going down. Against a
/// baseline-spec both are.
#[test]
fn against_apims_export_extensions_are_no_change() {
    let export = Policy {
        base_shows_deprecation: false,
        ..policy(0)
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/swashbuckle/basic-swagger2.json");
    let swashbuckle = Document::parse(&std::fs::read(path).unwrap())
        .unwrap()
        .value()
        .clone();
    let mut exported = swashbuckle.clone();
    without_x_nullable(&mut exported);
    assert_ne!(exported, swashbuckle, "the fixture has x-nullable");
    gives(
        &exported,
        &swashbuckle,
        &policy(0),
        "response-property-became-nullable",
    );
    not_breaking(&exported, &swashbuckle, &export);

    let base = value("deprecation/base.yaml");
    let mut beta = base.clone();
    beta["paths"]["/api/test"]["get"]["x-stability-level"] = json!("beta");
    gives(&base, &beta, &policy(0), "api-stability-decreased");
    let f = run(&base, &beta, &export);
    assert!(
        !f.iter().any(|f| f.id.starts_with("api-stability")),
        "{}",
        summary(&f)
    );
    // The new document's own lifecycle is still read: deprecated without the sunset date the
    // policy asks for is said, but as info, since against the export (which drops
    // `deprecated`) every deprecation looks new and an old one would fail every run.
    let mut deprecated = beta.clone();
    deprecated["paths"]["/api/test"]["get"]["deprecated"] = json!(true);
    let f = not_breaking(
        &base,
        &deprecated,
        &Policy {
            base_shows_deprecation: false,
            ..policy(30)
        },
    );
    assert!(
        f.iter()
            .any(|f| f.id == "endpoint-deprecated" && f.message.contains("baseline-spec")),
        "{}",
        summary(&f)
    );
    gives(
        &base,
        &deprecated,
        &policy(30),
        "api-deprecated-sunset-missing",
    );
}

/// The gate against the live API, no baseline-spec: APIM's export keeps neither `deprecated` nor
/// `x-sunset`, but keeps the `Sunset` response header, so removing the operation before that
/// date is refused. Without the header, the same removal is refused as one without deprecation,
/// and the message says how to keep the deprecation visible.
#[tokio::test(flavor = "multi_thread")]
async fn the_gate_refuses_a_removal_before_the_sunset_header_date_against_the_live_api() {
    use support::World;
    let world = World::start(apim_sandbox::Config {
        retry_after: 0,
        ..apim_sandbox::Config::default()
    })
    .await;
    let api = "svc-1";
    let removed = "/products";
    let date = today().checked_add(jiff::Span::new().days(40)).unwrap();
    let http_date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&date.to_zoned(jiff::tz::TimeZone::UTC).unwrap().timestamp())
        .unwrap();
    let deprecate = |doc: &mut Value, header: bool| {
        for op in doc["paths"][removed].as_object_mut().unwrap().values_mut() {
            op["deprecated"] = json!(true);
            op["x-sunset"] = json!(date.to_string());
            if header {
                op["responses"]["200"]["headers"] = json!({"Sunset": {
                    "description": "RFC 8594: when this operation goes",
                    "schema": {"type": "string", "example": http_date}
                }});
            }
        }
    };

    for header in [true, false] {
        let mut base = swashbuckle();
        deprecate(&mut base, header);
        world.deploy(api, &base);
        let run = world.gate(&[]).await;
        assert_eq!(run.code, 0, "{}", run.both());

        let mut new = base.clone();
        new["paths"].as_object_mut().unwrap().remove(removed);
        world.deploy(api, &new);
        let mark = world.sandbox.requests().len();
        let run = world.gate(&[]).await;
        assert_eq!(run.code, 1, "{}", run.both());
        assert_eq!(world.writes_since(mark), Vec::<String>::new());
        if header {
            assert!(
                run.stdout.contains("api-path-removed-before-sunset"),
                "{}",
                run.stdout
            );
            assert!(run.stdout.contains(&date.to_string()), "{}", run.stdout);
        } else {
            assert!(
                run.stdout.contains("api-path-removed-without-deprecation"),
                "{}",
                run.stdout
            );
            assert!(
                run.stdout.contains("`Sunset` response header"),
                "{}",
                run.stdout
            );
            assert!(!run.stdout.contains("before-sunset"), "{}", run.stdout);
        }
    }
    world.assert_no_secret_printed();
}
