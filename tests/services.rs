//! Several services in one run: the `services` input (list and manifest), one session shared by
//! all (one Kubernetes client, one token), `parallelism`, one failure not stopping the others,
//! and ARM throttling slowing every service down together.

mod support;

use std::path::Path;

use apim_gate::gate::services::{ServiceSpec, parse};
use apim_gate::inputs::BreakingChanges;
use apim_sandbox::Config;
use support::{World, base_doc, bytes, with_new_operation, without_path};

#[test]
fn a_list_takes_lines_commas_ports_api_ids_and_the_default_namespace() {
    let s = parse(
        "shop/orders:http=orders-v1, cart\n\n# a comment\nshop/web:8080\n",
        "default",
        Path::new("."),
    )
    .unwrap();
    let got: Vec<(String, Option<&str>, &str)> = s
        .iter()
        .map(|s| (s.label(), s.service_port.as_deref(), s.api_id()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("shop/orders".to_string(), Some("http"), "orders-v1"),
            ("default/cart".to_string(), None, "cart"),
            ("shop/web".to_string(), Some("8080"), "web"),
        ]
    );
}

#[test]
fn list_errors_name_the_line() {
    let e = parse("shop/orders\nshop/Bad_Name", "default", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2"), "{e}");
    assert!(e.contains("Bad_Name"), "{e}");
    let e = parse("a:=x", "default", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("port"), "{e}");
    let e = parse("a=,b", "default", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(e.contains("api-id"), "{e}");
    let e = parse(" \n# only a comment", "default", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(e.contains("names no service"), "{e}");
    // Two services on one API would overwrite each other.
    let e = parse("a=x, b=x", "default", Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(e.contains("entry 2") && e.contains("api-id 'x'"), "{e}");
}

#[test]
fn a_yaml_manifest_carries_per_service_overrides() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("services.yaml"),
        "namespace: shop\nservices:\n  - service: orders\n    service-port: 8080\n    api-id: orders-v1\n    api-path: shop/orders\n    api-display-name: Orders\n    products: [starter, unlimited]\n    swagger-path: /openapi.json\n    breaking-changes: warn\n  - name: cart\n    namespace: other\n    products: a, b\n  - \"web:http=web-api\"\n",
    )
    .unwrap();
    let s = parse("services.yaml", "default", dir.path()).unwrap();
    assert_eq!(
        s[0],
        ServiceSpec {
            namespace: "shop".into(),
            service: "orders".into(),
            service_port: Some("8080".into()),
            api_id: Some("orders-v1".into()),
            api_path: Some("shop/orders".into()),
            api_display_name: Some("Orders".into()),
            products: Some(vec!["starter".into(), "unlimited".into()]),
            swagger_path: Some("/openapi.json".into()),
            breaking_changes: Some(BreakingChanges::Warn),
            versioning: Default::default(),
        }
    );
    assert_eq!(s[1].label(), "other/cart");
    assert_eq!(s[1].products, Some(vec!["a".into(), "b".into()]));
    assert_eq!(
        (s[2].label().as_str(), s[2].api_id()),
        ("shop/web", "web-api")
    );

    // JSON, as a bare list.
    std::fs::write(
        dir.path().join("s.json"),
        r#"[{"service": "a"}, {"service": "b", "api-id": "b2"}]"#,
    )
    .unwrap();
    let s = parse("s.json", "ns", dir.path()).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!((s[1].label().as_str(), s[1].api_id()), ("ns/b", "b2"));
}

#[test]
fn manifest_errors_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let write = |text: &str| std::fs::write(dir.path().join("m.yaml"), text).unwrap();
    let err = |text: &str| {
        write(text);
        parse("m.yaml", "default", dir.path())
            .unwrap_err()
            .to_string()
    };
    let e = err("services:\n  - service: a\n  - service: b\n    api-idd: x\n");
    assert!(
        e.contains("services[1] (b)") && e.contains("api-idd"),
        "{e}"
    );
    let e = err("services:\n  - service: a\n    breaking-changes: sometimes\n");
    assert!(
        e.contains("services[0] (a)") && e.contains("sometimes"),
        "{e}"
    );
    let e = err("services:\n  - api-id: x\n");
    assert!(e.contains("services[0]") && e.contains("service"), "{e}");
    let e = err("servicez: []\n");
    assert!(e.contains("servicez"), "{e}");
    let e = err("services: [\n");
    assert!(e.contains("not YAML or JSON"), "{e}");
    let e = parse("missing.yaml", "default", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing.yaml") && e.contains("cannot read"),
        "{e}"
    );
}

fn three_docs() -> Vec<Vec<u8>> {
    (1..=3)
        .map(|i| bytes(&base_doc(&format!("Service {i}"))))
        .collect()
}

/// Which services' requests overlap: for each, the span of request numbers that name it.
fn max_overlap(world: &World, since: usize, services: &[&str]) -> usize {
    let log = world.requests_since(since);
    let spans: Vec<(u64, u64)> = services
        .iter()
        .map(|s| {
            let kube = format!("/services/{s}");
            let arm = format!("/apis/{s}");
            let seqs: Vec<u64> = log
                .iter()
                .filter(|r| {
                    let p = r.path.split('?').next().unwrap_or("");
                    p.ends_with(&kube)
                        || p.contains(&format!("{arm};"))
                        || p.contains(&format!("{arm}/"))
                        || p.ends_with(&arm)
                })
                .map(|r| r.seq)
                .collect();
            (*seqs.iter().min().unwrap(), *seqs.iter().max().unwrap())
        })
        .collect();
    spans
        .iter()
        .map(|(a, _)| spans.iter().filter(|(s, e)| s <= a && a <= e).count())
        .max()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_services_one_refused_the_others_published_on_one_session() {
    let world = World::start(Config {
        specs: three_docs(),
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let list = "default/svc-1, default/svc-2\ndefault/svc-3";

    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_SERVICES", list)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    for s in ["svc-1", "svc-2", "svc-3"] {
        assert_eq!(world.apim(s).await.unwrap().0, 1, "{s}");
    }
    assert!(
        run.stdout
            .contains("3 services, 3 passed, 0 refused, 0 failed"),
        "{}",
        run.stdout
    );
    // One sign-in for the whole run.
    assert_eq!(world.token_posts_since(mark), 1);

    // svc-2 breaks its consumers; svc-1 and svc-3 ship a compatible change.
    world.deploy("svc-1", &with_new_operation(base_doc("Service 1"), "/one"));
    world.deploy("svc-2", &without_path(base_doc("Service 2"), "/products"));
    world.deploy(
        "svc-3",
        &with_new_operation(base_doc("Service 3"), "/three"),
    );
    let before = world.apim("svc-2").await.unwrap();
    let summary = world.dir.path().join("summary.md");
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[("APIM_GATE_SERVICES", list), ("APIM_GATE_PARALLELISM", "3")])
        .await;
    let _ = summary;
    assert_eq!(run.code, 1, "{}", run.both());
    assert_eq!(world.apim("svc-2").await.unwrap(), before);
    assert_eq!(world.apim("svc-1").await.unwrap().0, 2);
    assert_eq!(world.apim("svc-3").await.unwrap().0, 2);
    assert!(
        world
            .apim("svc-1")
            .await
            .unwrap()
            .1
            .contains(&"GET /one".to_string())
    );
    let table: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Services:"))
        .collect();
    assert!(
        table
            .iter()
            .any(|l| l.contains("default/svc-2") && l.contains("refused")),
        "{table:?}"
    );
    assert!(
        table
            .iter()
            .any(|l| l.contains("default/svc-1") && l.contains("passed")),
        "{table:?}"
    );
    assert!(
        run.stdout.contains(
            "apim-gate refused the release: 3 services, 2 passed, 1 refused, 0 failed (exit 1)"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("api-path-removed-without-deprecation"));
    assert_eq!(world.token_posts_since(mark), 1);
    // Every service started before the first finished: they ran concurrently.
    assert_eq!(max_overlap(&world, mark, &["svc-1", "svc-2", "svc-3"]), 3);
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn parallelism_bounds_how_many_services_run_at_once() {
    let docs: Vec<Vec<u8>> = (1..=4)
        .map(|i| bytes(&base_doc(&format!("Service {i}"))))
        .collect();
    let world = World::start(Config {
        specs: docs,
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let names = ["svc-1", "svc-2", "svc-3", "svc-4"];
    let list = names.join(",");
    for (parallelism, expected) in [("1", 1), ("2", 2)] {
        let mark = world.sandbox.requests().len();
        let run = world
            .gate(&[
                ("APIM_GATE_SERVICES", list.as_str()),
                ("APIM_GATE_PARALLELISM", parallelism),
            ])
            .await;
        assert_eq!(run.code, 0, "{}", run.both());
        assert_eq!(
            max_overlap(&world, mark, &names),
            expected,
            "parallelism {parallelism}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_service_does_not_stop_the_others_and_the_worst_exit_wins() {
    let world = World::start(Config {
        specs: three_docs(),
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let run = world
        .gate(&[("APIM_GATE_SERVICES", "svc-1, no-such-service, svc-3")])
        .await;
    assert_eq!(run.code, 3, "{}", run.both());
    assert_eq!(world.apim("svc-1").await.unwrap().0, 1);
    assert_eq!(world.apim("svc-3").await.unwrap().0, 1);
    assert!(run.stdout.contains("no-such-service"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("2 passed, 0 refused, 1 failed (exit 3)"),
        "{}",
        run.stdout
    );
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn github_outputs_and_summary_have_a_row_per_service_and_the_totals() {
    let world = World::start(Config {
        specs: three_docs(),
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let out = world.dir.path().join("output");
    let summary = world.dir.path().join("summary.md");
    let run = world
        .gate(&[
            ("GITHUB_ACTIONS", "true"),
            ("APIM_GATE_SERVICES", "svc-1,svc-2=second,svc-3"),
            ("GITHUB_OUTPUT", out.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let outputs = std::fs::read_to_string(&out).unwrap();
    assert!(outputs.contains("verdict<<"), "{outputs}");
    assert!(outputs.contains("services-passed<<"), "{outputs}");
    let json_line = outputs
        .lines()
        .find(|l| l.starts_with("[{"))
        .expect("the services output");
    let services: serde_json::Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(services.as_array().unwrap().len(), 3);
    assert_eq!(services[1]["api-id"], "second");
    assert_eq!(services[1]["verdict"], "passed");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("apim-gate passed: 3 services"), "{md}");
    assert!(
        md.contains("| default/svc-2 | passed | 0 | second |"),
        "{md}"
    );
    assert!(
        run.stdout.contains("::group::default/svc-1"),
        "{}",
        run.stdout
    );
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_slows_every_service_down_together() {
    // Retry-After: 1 so the shared back-off shows in the request log's timings.
    let world = World::start(Config {
        specs: three_docs(),
        retry_after: 1,
        faults: vec!["arm-429=3".into()],
        ..Config::default()
    })
    .await;
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[("APIM_GATE_SERVICES", "svc-1,svc-2,svc-3")])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    for s in ["svc-1", "svc-2", "svc-3"] {
        assert_eq!(world.apim(s).await.unwrap().0, 1, "{s}");
    }
    let log = world.requests_since(mark);
    let arm: Vec<_> = log.iter().filter(|r| r.emulator == "arm").collect();
    let throttled: Vec<u64> = arm
        .iter()
        .filter(|r| r.status == 429)
        .map(|r| r.at_ms)
        .collect();
    assert_eq!(throttled.len(), 3, "{arm:#?}");
    // While ARM said to wait, no service sent anything (beyond requests already on the wire).
    for t in &throttled {
        let during: Vec<_> = arm
            .iter()
            .filter(|r| r.status != 429 && r.at_ms > t + 150 && r.at_ms < t + 850)
            .collect();
        assert!(
            during.is_empty(),
            "sent while throttled at {t} ms: {during:#?}"
        );
    }
    assert!(run.stderr.contains("429"), "{}", run.stderr);
    world.assert_no_secret_printed();
}
