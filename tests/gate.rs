//! The whole gate against the sandbox, through the binary: first publish, a compatible change
//! released as a new revision, a breaking change refused with nothing written, warn mode, an
//! unchanged document, lint refusals, dry runs, baseline-spec, a failed import rolled back, and
//! secrets kept out of every output.

mod support;

use apim_sandbox::Config;
use serde_json::json;
use support::{World, base_doc, with_new_operation, without_path};

const API: &str = "svc-1";

fn config() -> Config {
    Config {
        retry_after: 0,
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_then_release_a_compatible_change_then_refuse_a_breaking_one() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &base);

    // 1. First publish: rev 1 is current at once.
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.stdout.contains("passed"), "{}", run.stdout);
    let (rev, ops, url, _) = world.apim(API).await.unwrap();
    assert_eq!(rev, 1);
    assert_eq!(url, "http://10.224.0.4:30080");
    let expected_ops = ops.len();
    assert!(expected_ops > 20);

    // 2. A compatible change (one more operation): released as rev 2.
    let compatible = with_new_operation(base.clone(), "/health");
    world.deploy(API, &compatible);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let (rev, ops, url, etag) = world.apim(API).await.unwrap();
    assert_eq!((rev, world.revision_count(API).await), (2, 2));
    assert_eq!(ops.len(), expected_ops + 1);
    assert!(ops.contains(&"GET /health".to_string()));
    assert_eq!(url, "http://10.224.0.4:30080");

    // 3. A breaking change (an operation removed): refused, nothing written, rev 2 untouched.
    world.deploy(API, &without_path(compatible, "/products"));
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout.contains("api-path-removed-without-deprecation"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("/products"), "{}", run.stdout);
    assert!(run.stdout.contains("refused"), "{}", run.stdout);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert_eq!(world.apim(API).await.unwrap(), (2, ops, url, etag));

    // 4. The same change with breaking-changes: warn is published, with the findings reported.
    let run = world.gate(&[("APIM_GATE_BREAKING_CHANGES", "warn")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.stdout.contains("api-path-removed-without-deprecation"));
    let (rev, ops, _, _) = world.apim(API).await.unwrap();
    assert_eq!(rev, 3);
    assert!(!ops.iter().any(|o| o.ends_with(" /products")), "{ops:?}");

    // 5. Unchanged: nothing written, no revision piles up.
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.both().contains("unchanged"), "{}", run.stdout);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert_eq!(world.apim(API).await.unwrap().0, 3);

    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lint_error_stops_the_gate_before_sign_in() {
    let world = World::start(config()).await;
    let mut doc = base_doc("Test API V1");
    // Two operations whose operationIds collide after APIM's normalisation.
    doc["paths"]["/a"] =
        json!({"get": {"operationId": "Get_Item", "responses": {"200": {"description": "OK"}}}});
    doc["paths"]["/b"] =
        json!({"get": {"operationId": "get-item", "responses": {"200": {"description": "OK"}}}});
    world.deploy(API, &doc);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout.contains("apim-operation-id-collision"),
        "{}",
        run.stdout
    );
    // The sign-in and the live contract are read beside the cluster side (issue 19), so they
    // may have gone out; nothing else reached ARM, and nothing was written.
    let arm: Vec<String> = world
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.emulator == "arm" && !r.path.starts_with("/_sandbox"))
        .filter(|r| {
            !(r.method == "GET"
                && r.path
                    .split('?')
                    .next()
                    .unwrap_or("")
                    .ends_with("/apis/svc-1"))
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(arm, Vec::<String>::new());
    assert!(world.apim(API).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing_and_output_spec_keeps_the_document() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &base);
    let out = world.dir.path().join("published.json");
    let run = world
        .gate(&[
            ("APIM_GATE_DRY_RUN", "true"),
            ("APIM_GATE_OUTPUT_SPEC", out.to_str().unwrap()),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.writes_since(0), Vec::<String>::new());
    assert!(world.apim(API).await.is_none());
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(written["host"], "10.224.0.4:30080");
    assert_eq!(written["paths"], base["paths"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn baseline_spec_is_compared_instead_of_the_live_api() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &without_path(base.clone(), "/products"));
    let baseline = world.dir.path().join("baseline.json");
    std::fs::write(&baseline, serde_json::to_vec(&base).unwrap()).unwrap();
    let run = world
        .gate(&[("APIM_GATE_BASELINE_SPEC", baseline.to_str().unwrap())])
        .await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("api-path-removed-without-deprecation"));
    assert!(world.apim(API).await.is_none(), "refused before any write");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_import_leaves_the_live_revision_as_it_was() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &base);
    assert_eq!(world.gate(&[]).await.code, 0);
    let before = world.apim(API).await.unwrap();
    world.sandbox.shared.faults.set("lro-fail", 1).unwrap();
    world.deploy(API, &with_new_operation(base, "/health"));
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 4, "{}", run.both());
    assert!(run.both().contains("ValidationError"), "{}", run.stdout);
    assert_eq!(world.apim(API).await.unwrap(), before);
    assert_eq!(
        world.revision_count(API).await,
        1,
        "the staged revision was deleted"
    );
    world.assert_no_secret_printed();
}

/// A real large document (Azure/Industrial-IoT's OPC Publisher API, 99 operations) as a service
/// that forgot most operationIds and takes a `formData` field everywhere (200 warnings), with one
/// operation whose path parameter is not declared: the error that refuses it.
fn large_refused_doc() -> serde_json::Value {
    let bytes = support::fixture("swashbuckle/opc-publisher-swagger2-large.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)).unwrap();
    let mut first = true;
    let mut broken = false;
    for (path, item) in doc["paths"].as_object_mut().unwrap() {
        for (method, op) in item.as_object_mut().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            if !first {
                op.as_object_mut().unwrap().remove("operationId");
            }
            first = false;
            let params = op
                .as_object_mut()
                .unwrap()
                .entry("parameters")
                .or_insert(json!([]));
            if !broken && path.contains('{') {
                params.as_array_mut().unwrap().retain(|p| p["in"] != "path");
                broken = true;
            }
            params
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "trace", "in": "formData", "type": "string"}));
        }
    }
    assert!(broken);
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_refused_run_reads_in_forty_lines_with_the_deciding_error_first() {
    let world = World::start(config()).await;
    world.deploy(API, &large_refused_doc());
    let findings_file = world.dir.path().join("out/findings.json");

    // Terminal: the deciding error in the first 10 lines, the whole report in about 40.
    let run = world
        .gate(&[("APIM_GATE_FINDINGS_FILE", findings_file.to_str().unwrap())])
        .await;
    assert_eq!(run.code, 1, "{}", run.both());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.len() <= 40, "{} lines:\n{}", lines.len(), run.stdout);
    assert!(
        lines
            .iter()
            .take(10)
            .any(|l| l.contains("apim-template-parameter-undeclared")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("apim-operation-id-missing ×98"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("and 95 more"), "{}", run.stdout);

    // The findings file keeps every finding, ungrouped.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&findings_file).unwrap()).unwrap();
    let all = file["findings"].as_array().unwrap();
    assert_eq!(all.len(), 201, "{file}");
    assert_eq!(all[0]["level"], "error");
    assert_eq!(file["verdict"], "refused");
    assert_eq!(
        all.iter()
            .filter(|f| f["id"] == "apim-operation-id-missing")
            .count(),
        98
    );

    // -v: every finding one by one.
    let verbose = world.gate(&[("APIM_GATE_VERBOSE", "true")]).await;
    assert_eq!(verbose.code, 1);
    assert_eq!(
        verbose
            .stdout
            .matches("apim-operation-id-missing [lint]")
            .count(),
        98,
        "{}",
        verbose.stdout
    );

    // GitHub: at most 10 annotations of each level, one notice of the rest, the grouped table
    // first in the job summary.
    let summary = world.dir.path().join("summary.md");
    let output = world.dir.path().join("output");
    let gh = world
        .gate(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ])
        .await;
    assert_eq!(gh.code, 1, "{}", gh.both());
    let count = |kind: &str| {
        gh.stdout
            .lines()
            .filter(|l| {
                l.starts_with(&format!("::{kind} ")) || l.starts_with(&format!("::{kind}::"))
            })
            .count()
    };
    assert!(count("error") >= 1 && count("error") <= 10, "{}", gh.stdout);
    assert!(count("warning") <= 10, "{}", gh.stdout);
    assert!(count("notice") <= 10, "{}", gh.stdout);
    let rest: Vec<&str> = gh
        .stdout
        .lines()
        .filter(|l| l.starts_with("::notice") && l.contains("without an annotation of their own"))
        .collect();
    assert_eq!(rest.len(), 1, "{}", gh.stdout);
    // The deciding error is annotated before any warning.
    let annotations: Vec<&str> = gh
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error") || l.starts_with("::warning"))
        .collect();
    let deciding = annotations
        .iter()
        .position(|l| l.contains("apim-template-parameter-undeclared"))
        .expect("the deciding error is annotated");
    assert!(
        annotations[..deciding]
            .iter()
            .all(|l| l.starts_with("::error"))
    );
    assert!(rest[0].contains("197 more findings"), "{}", rest[0]);
    let md = std::fs::read_to_string(&summary).unwrap();
    let first_table = md.lines().find(|l| l.starts_with("| ")).unwrap();
    assert_eq!(
        first_table, "| Level | Rule | Count | Message | Operations |",
        "{md}"
    );
    world.assert_no_secret_printed();
}

/// The sign-in runs beside the cluster side (issue 19). When it has finished and the cluster side
/// then fails, the run still ends as before: exit 3 with the cluster's message, nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_failure_after_a_finished_sign_in_still_exits_3_with_its_message() {
    let world = World::start(Config {
        // The pods stay unready far longer than the run waits for them.
        faults: vec!["pod-ready-after=3600".into()],
        ..config()
    })
    .await;
    world.deploy(API, &base_doc("Test API V1"));
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_POD_READY_TIMEOUT", "2s")]).await;
    assert_eq!(run.code, 3, "{}", run.both());
    let both = run.both();
    assert!(
        both.contains("no ready pod behind Service") && both.contains("pod-ready-timeout"),
        "{both}"
    );
    let log = world.requests_since(mark);
    let token = log
        .iter()
        .find(|r| r.emulator == "entra" && r.method == "POST")
        .expect("the sign-in started with the cluster side");
    assert_eq!(token.status, 200, "the sign-in succeeded");
    let last_kube = log
        .iter()
        .filter(|r| r.emulator == "kube")
        .map(|r| r.end_us)
        .max()
        .expect("the cluster side was read");
    assert!(
        token.end_us < last_kube,
        "the sign-in had finished while the cluster side still waited"
    );
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
}

/// Reads start early, writes do not (issue 19): in a release, every ARM write starts after the
/// document arrived from the pod and after every live read the breaking-change check compares
/// with (the live operations and the export) was answered.
#[tokio::test(flavor = "multi_thread")]
async fn no_arm_write_starts_before_the_document_was_linted_and_compared() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &base);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    world.deploy(API, &with_new_operation(base, "/health"));
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let log = world.requests_since(mark);
    let end_of = |f: &dyn Fn(&apim_sandbox::LoggedRequest) -> bool| {
        log.iter().filter(|r| f(r)).map(|r| r.end_us).max()
    };
    let document = end_of(&|r| r.emulator == "pod").expect("the document was fetched");
    let live_operations = end_of(&|r| {
        r.emulator == "arm" && r.method == "GET" && r.path.contains("/apis/svc-1/operations")
    })
    .expect("the live operations were read");
    let export = end_of(&|r| r.emulator == "blob").expect("the export was read");
    let writes: Vec<_> = log
        .iter()
        .filter(|r| r.emulator == "arm" && r.method != "GET")
        .collect();
    assert!(!writes.is_empty(), "the release wrote");
    for w in writes {
        assert!(
            w.start_us >= document && w.start_us >= live_operations && w.start_us >= export,
            "{} {} started before the checks' inputs were in",
            w.method,
            w.path
        );
    }
    // That the sign-in overlaps the cluster side is a matter of timing, not of order: it is
    // measured in benches/gate.rs (round trips), not asserted here, where a loaded machine may
    // serialise the two.
}
