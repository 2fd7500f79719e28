//! Waivers, rule levels and the pull-request gate without a cluster (issue 17), through the binary
//! against the sandbox: a refused release let through by reviewed waivers (then refused again
//! once they expired), unused and malformed waivers, rule-level overrides, lint errors that no
//! waiver or override can touch, and `spec-file` + `dry-run` with no kubeconfig at all.

mod support;

use apim_gate::spec::waivers::Date;
use apim_sandbox::Config;
use serde_json::{Value, json};
use support::{Run, World, base_doc, bytes, without_path};

const API: &str = "svc-1";

fn config() -> Config {
    Config {
        retry_after: 0,
        ..Config::default()
    }
}

/// A world where rev 1 of the Swashbuckle fixture is live and the pod now serves it without
/// `/products` and `/orders` (two operations removed: breaking).
async fn breaking_world() -> (World, Value) {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &base);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let paths = base["paths"].as_object().unwrap();
    assert!(paths.contains_key("/products") && paths.contains_key("/orders"));
    let breaking = without_path(without_path(base.clone(), "/products"), "/orders");
    world.deploy(API, &breaking);
    (world, base)
}

/// The findings-file of a run, as JSON.
fn findings(world: &World, name: &str) -> Value {
    let text = std::fs::read_to_string(world.dir.path().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every error finding of a findings-file as (rule, operation).
fn errors(file: &Value) -> Vec<(String, String)> {
    file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "error")
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["operation"].as_str().unwrap_or("*").to_string(),
            )
        })
        .collect()
}

/// A waivers file covering each (rule, operation), until `until`, plus `extra` YAML entries.
fn waivers_yaml(covering: &[(String, String)], until: Date, extra: &str) -> String {
    let mut out = String::from("waivers:\n");
    for (rule, op) in covering {
        out.push_str(&format!(
            "  - rule: {rule}\n    operation: \"{op}\"\n    api-id: {API}\n    until: {until}\n    reason: \"reviewed in PR 42: clients moved to /v2\"\n"
        ));
    }
    out.push_str(extra);
    out
}

fn write_default_waivers(world: &World, text: &str) {
    let dir = world.dir.path().join(".apim-gate");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("waivers.yaml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn waivers_let_the_refused_release_out_and_the_report_lists_them() {
    let (world, _) = breaking_world().await;

    // Without waivers: refused, with the errors to waive.
    let run = world
        .gate(&[("APIM_GATE_FINDINGS_FILE", "refused.json")])
        .await;
    assert_eq!(run.code, 1, "{}", run.both());
    let covering = errors(&findings(&world, "refused.json"));
    assert!(covering.len() >= 2, "{covering:?}");
    assert!(
        covering
            .iter()
            .any(|(r, o)| r == "api-path-removed-without-deprecation" && o.contains("/products")),
        "{covering:?}"
    );

    // Every error waived until a future date, plus one waiver that covers nothing.
    let until = Date::today().plus_days(30);
    let unused = format!(
        "  - rule: request-parameter-removed\n    operation: GET /nothing/{{id}}\n    until: {until}\n    reason: left over\n"
    );
    write_default_waivers(&world, &waivers_yaml(&covering, until, &unused));
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[("APIM_GATE_FINDINGS_FILE", "waived.json")])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    // Released as the next revision.
    let (rev, ops, _, _) = world.apim(API).await.unwrap();
    assert_eq!(rev, 2);
    assert!(!ops.iter().any(|o| o.ends_with(" /products")), "{ops:?}");
    assert!(!world.writes_since(mark).is_empty());
    // The report's "Waived" section: each finding with its reason and expiry.
    assert!(
        run.stdout
            .contains(&format!("Waived ({}):", covering.len())),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("reviewed in PR 42: clients moved to /v2"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("until {until}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(".apim-gate/waivers.yaml entry 1"),
        "{}",
        run.stdout
    );
    // In the findings, the waived errors are info notes now, and the unused waiver is reported.
    let file = findings(&world, "waived.json");
    assert!(errors(&file).is_empty(), "{file:#}");
    let list = file["findings"].as_array().unwrap();
    let waived_notes = list
        .iter()
        .filter(|f| {
            f["level"] == "info"
                && f["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("Waived until {until}"))
        })
        .count();
    assert_eq!(waived_notes, covering.len(), "{file:#}");
    let unused: Vec<&Value> = list.iter().filter(|f| f["id"] == "waiver-unused").collect();
    assert_eq!(unused.len(), 1, "{file:#}");
    assert_eq!(unused[0]["level"], "info");
    assert_eq!(unused[0]["source"], "waiver");
    assert!(
        unused[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("entry {}", covering.len() + 1)),
        "{file:#}"
    );
    assert_eq!(file["breaking"], false);

    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_waivers_waive_nothing_and_the_refusal_says_so() {
    let (world, _) = breaking_world().await;
    let run = world.gate(&[("APIM_GATE_FINDINGS_FILE", "f.json")]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    let covering = errors(&findings(&world, "f.json"));
    let yesterday = Date::today().plus_days(-1);
    // Given by the input this time, not the default path.
    std::fs::write(
        world.dir.path().join("reviewed.yaml"),
        waivers_yaml(&covering, yesterday, ""),
    )
    .unwrap();
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[
            ("APIM_GATE_WAIVERS", "reviewed.yaml"),
            ("APIM_GATE_FINDINGS_FILE", "expired.json"),
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert_eq!(world.apim(API).await.unwrap().0, 1);
    // The refusal names the expired waivers; each is a warning of its own.
    assert!(
        run.stdout.contains("Expired waivers waive nothing"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("reviewed.yaml entry 1 (`{}`", covering[0].0)),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Waived ("), "{}", run.stdout);
    let file = findings(&world, "expired.json");
    assert_eq!(errors(&file), covering);
    let expired: Vec<&Value> = file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "waiver-expired")
        .collect();
    assert_eq!(expired.len(), covering.len(), "{file:#}");
    assert!(expired.iter().all(|f| f["level"] == "warning"));
    assert!(
        expired[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("it waives nothing after {yesterday}")),
        "{file:#}"
    );

    // A waiver for another API does not cover this one's findings, even in date.
    let other = waivers_yaml(&covering, Date::today().plus_days(5), "")
        .replace(&format!("api-id: {API}"), "api-id: another-api");
    std::fs::write(world.dir.path().join("reviewed.yaml"), other).unwrap();
    let run = world.gate(&[("APIM_GATE_WAIVERS", "reviewed.yaml")]).await;
    assert_eq!(run.code, 1, "{}", run.both());
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_waivers_are_exit_2_naming_entry_and_field() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    write_default_waivers(
        &world,
        "waivers:\n\
         - rule: api-path-removed-without-deprecation\n  operation: GET /products\n  until: 2030-01-01\n  reason: ok\n\
         - rule: api-path-removed-without-deprecation\n  operation: GET /products\n  until: 31.12.2030\n  reason: date\n\
         - rule: api-path-removd-without-deprecation\n  operation: GET /products\n  until: 2030-01-01\n  reason: typo\n\
         - rule: endpoint-added\n  operation: GET /products\n  until: 2030-01-01\n",
    );
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    let out = run.both();
    assert!(out.contains(".apim-gate/waivers.yaml"), "{out}");
    assert!(out.contains("entry 2, field `until`"), "{out}");
    assert!(
        out.contains("entry 3, field `rule`: unknown rule `api-path-removd-without-deprecation`"),
        "{out}"
    );
    assert!(
        out.contains("`api-path-removed-without-deprecation`"),
        "{out}"
    );
    assert!(out.contains("entry 4, field `reason`: missing"), "{out}");
    assert!(!out.contains("entry 1"), "{out}");
    // Nothing ran: no cluster, no sign-in.
    assert!(world.requests_since(0).is_empty());

    // Not YAML at all.
    write_default_waivers(&world, "waivers: [unclosed\n");
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(run.both().contains("not YAML"), "{}", run.both());
}

#[tokio::test(flavor = "multi_thread")]
async fn lint_errors_cannot_be_waived_or_relevelled_but_lint_warnings_can() {
    let world = World::start(config()).await;
    let mut doc = base_doc("Test API V1");
    // A cookie parameter: APIM drops it on import (lint warning apim-cookie-parameter).
    doc["paths"]["/session"] = json!({"get": {"operationId": "GetSession", "parameters": [
        {"name": "sid", "in": "cookie", "required": false, "type": "string"}
    ], "responses": {"200": {"description": "OK"}}}});
    world.deploy(API, &doc);
    let until = Date::today().plus_days(10);

    // A lint error in the file: refused before anything runs, saying why.
    write_default_waivers(
        &world,
        &format!(
            "- rule: apim-operation-id-collision\n  operation: '*'\n  until: {until}\n  reason: we know\n"
        ),
    );
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(
        run.both()
            .contains("`apim-operation-id-collision` cannot be waived"),
        "{}",
        run.both()
    );
    assert!(run.both().contains("APIM itself rejects"), "{}", run.both());
    // Nor can its level be changed.
    std::fs::remove_dir_all(world.dir.path().join(".apim-gate")).unwrap();
    let run = world
        .gate(&[("APIM_GATE_RULE_LEVELS", "apim-duplicate-operation=warning")])
        .await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(
        run.both()
            .contains("`apim-duplicate-operation` is a lint error"),
        "{}",
        run.both()
    );

    // The lint warning is reported, then waived.
    let run = world.gate(&[("APIM_GATE_FINDINGS_FILE", "w.json")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let file = findings(&world, "w.json");
    let cookie = |file: &Value| -> Vec<String> {
        file["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"] == "apim-cookie-parameter")
            .map(|f| f["level"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(cookie(&file), ["warning"]);
    write_default_waivers(
        &world,
        &format!(
            "- rule: apim-cookie-parameter\n  operation: get /session\n  until: {until}\n  reason: the gateway sets the cookie\n"
        ),
    );
    // Changed document (the API exists now): a compatible release with the warning waived.
    world.deploy(API, &support::with_new_operation(doc.clone(), "/health"));
    let run = world.gate(&[("APIM_GATE_FINDINGS_FILE", "w2.json")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(cookie(&findings(&world, "w2.json")), ["info"]);
    assert!(run.stdout.contains("Waived (1):"), "{}", run.stdout);
    assert!(
        run.stdout.contains("the gateway sets the cookie"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rule_levels_change_what_refuses() {
    let (world, _) = breaking_world().await;

    // Unknown rule: exit 2 with the close ids.
    let run = world
        .gate(&[(
            "APIM_GATE_RULE_LEVELS",
            "api-path-removed-without-deprecaton=warning",
        )])
        .await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(run.both().contains("rule-levels"), "{}", run.both());
    assert!(
        run.both()
            .contains("close ones: `api-path-removed-without-deprecation`"),
        "{}",
        run.both()
    );

    // The removal lowered to a warning: published, the findings reported as warnings.
    let run = world.gate(&[("APIM_GATE_FINDINGS_FILE", "f.json")]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    let refused: Vec<String> = errors(&findings(&world, "f.json"))
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let mut rules = refused.clone();
    rules.sort();
    rules.dedup();
    let levels: Vec<String> = rules.iter().map(|r| format!("{r}=warning")).collect();
    let run = world
        .gate(&[
            ("APIM_GATE_RULE_LEVELS", levels.join("\n").as_str()),
            ("APIM_GATE_FINDINGS_FILE", "g.json"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let file = findings(&world, "g.json");
    assert!(errors(&file).is_empty(), "{file:#}");
    let warned = file["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["level"] == "warning" && rules.contains(&f["id"].as_str().unwrap().to_string())
        })
        .count();
    assert_eq!(warned, refused.len(), "{file:#}");
    assert_eq!(world.apim(API).await.unwrap().0, 2);

    // And raised: a compatible change (an added operation, info) refused as an error.
    world.deploy(
        API,
        &support::with_new_operation(
            without_path(
                without_path(base_doc("Test API V1"), "/products"),
                "/orders",
            ),
            "/health",
        ),
    );
    let run = world
        .gate(&[("APIM_GATE_RULE_LEVELS", "endpoint-added=error")])
        .await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("endpoint-added"), "{}", run.stdout);
    assert_eq!(world.apim(API).await.unwrap().0, 2);
}

/// The sandbox's env file without the kubeconfig: with `KUBECONFIG` naming a file that does not
/// exist, no HOME and no in-cluster variables, there is no cluster at all.
fn without_cluster(world: &World) -> Vec<(&'static str, String)> {
    let text = std::fs::read_to_string(&world.file).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("APIM_GATE_KUBECONFIG="))
        .collect();
    std::fs::write(&world.file, kept.join("\n") + "\n").unwrap();
    let nowhere = world.dir.path().join("no-such-dir/kubeconfig");
    assert!(!nowhere.exists());
    vec![("KUBECONFIG", nowhere.to_str().unwrap().to_string())]
}

fn kube_requests(world: &World, since: usize) -> usize {
    world
        .requests_since(since)
        .iter()
        .filter(|r| r.emulator == "kube" || r.emulator == "pod")
        .count()
}

async fn gate_owned(world: &World, vars: &[(&str, String)]) -> Run {
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    world.gate(&pairs).await
}

#[tokio::test(flavor = "multi_thread")]
async fn spec_file_dry_run_needs_no_cluster_and_writes_nothing() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &base);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());

    let mut vars = without_cluster(&world);
    vars.push(("APIM_GATE_SPEC_FILE", "swagger.json".into()));
    vars.push(("APIM_GATE_DRY_RUN", "true".into()));
    vars.push(("APIM_GATE_FINDINGS_FILE", "pr.json".into()));

    // Without spec-file the same environment has no cluster: the run stops at its kubeconfig.
    let mark = world.sandbox.requests().len();
    let run = gate_owned(&world, &vars[..1]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(run.both().contains("kubeconfig"), "{}", run.both());
    assert_eq!(kube_requests(&world, mark), 0);

    // A breaking document from the build: refused, nothing written, no cluster contacted.
    let breaking = without_path(base.clone(), "/products");
    std::fs::write(world.dir.path().join("swagger.json"), bytes(&breaking)).unwrap();
    let mark = world.sandbox.requests().len();
    let run = gate_owned(&world, &vars).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout.contains("api-path-removed-without-deprecation"),
        "{}",
        run.stdout
    );
    assert!(run.both().contains("from spec-file"), "{}", run.both());
    assert!(
        run.both().contains("the address the live API calls now"),
        "{}",
        run.both()
    );
    assert_eq!(kube_requests(&world, mark), 0);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert_eq!(world.apim(API).await.unwrap().0, 1);
    assert_eq!(findings(&world, "pr.json")["breaking"], true);

    // The unchanged document: passes, and still nothing written, no cluster.
    std::fs::write(world.dir.path().join("swagger.json"), bytes(&base)).unwrap();
    let mark = world.sandbox.requests().len();
    let run = gate_owned(&world, &vars).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.both().contains("unchanged"), "{}", run.both());
    assert_eq!(kube_requests(&world, mark), 0);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());

    // A compatible change, with agent-ip and node-port as the address: passes as a dry run.
    std::fs::write(
        world.dir.path().join("swagger.json"),
        bytes(&support::with_new_operation(base.clone(), "/health")),
    )
    .unwrap();
    let mut with_address = vars.clone();
    with_address.push(("APIM_GATE_AGENT_IP", "10.224.0.9".into()));
    with_address.push(("APIM_GATE_NODE_PORT", "30081".into()));
    let mark = world.sandbox.requests().len();
    let run = gate_owned(&world, &with_address).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.both().contains("10.224.0.9:30081"), "{}", run.both());
    assert_eq!(kube_requests(&world, mark), 0);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert_eq!(world.apim(API).await.unwrap().0, 1);

    // A spec-file that is not there: exit 2 naming the input.
    let mut missing = vars.clone();
    missing[1] = ("APIM_GATE_SPEC_FILE", "bin/missing.json".into());
    let run = gate_owned(&world, &missing).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(run.both().contains("spec-file"), "{}", run.both());
    world.assert_no_secret_printed();
}

/// A live API published with `scheme: https`: the dry run from the same document points it at
/// the live serviceUrl with its scheme, so it is recognised as unchanged even though the
/// `scheme` input is left at its default (http); a lone agent-ip is said to be unused.
#[tokio::test(flavor = "multi_thread")]
async fn spec_file_dry_run_keeps_the_live_scheme() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &base);
    let run = world.gate(&[("APIM_GATE_SCHEME", "https")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let (_, _, url, _) = world.apim(API).await.unwrap();
    assert!(url.starts_with("https://"), "{url}");

    let mut vars = without_cluster(&world);
    std::fs::write(world.dir.path().join("swagger.json"), bytes(&base)).unwrap();
    vars.push(("APIM_GATE_SPEC_FILE", "swagger.json".into()));
    vars.push(("APIM_GATE_DRY_RUN", "true".into()));
    vars.push(("APIM_GATE_AGENT_IP", "10.224.0.9".into()));
    let mark = world.sandbox.requests().len();
    let run = gate_owned(&world, &vars).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.both().contains("unchanged"), "{}", run.both());
    assert!(
        run.both().contains("agent-ip 10.224.0.9 is not used"),
        "{}",
        run.both()
    );
    assert_eq!(kube_requests(&world, mark), 0);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    // The step is named for the file, not the cluster.
    assert!(
        run.both().contains("Document: spec-file and address"),
        "{}",
        run.both()
    );
    assert!(!run.both().contains("Cluster:"), "{}", run.both());

    // A file that is not an OpenAPI document is the input's problem: exit 2 naming spec-file.
    for bad in [
        &b"{\"info\": {\"title\": \"x\"}, \"paths\": {}}"[..],
        b"not json",
    ] {
        std::fs::write(world.dir.path().join("swagger.json"), bad).unwrap();
        let run = gate_owned(&world, &vars).await;
        assert_eq!(run.code, 2, "{}", run.both());
        assert!(run.both().contains("spec-file"), "{}", run.both());
        assert!(
            run.both().contains("Document: spec-file and address"),
            "{}",
            run.both()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn spec_file_without_dry_run_publishes_at_agent_ip_and_node_port() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    let mut vars = without_cluster(&world);
    std::fs::write(world.dir.path().join("swagger.json"), bytes(&base)).unwrap();
    vars.push(("APIM_GATE_SPEC_FILE", "swagger.json".into()));
    vars.push(("APIM_GATE_AGENT_IP", "10.224.0.9".into()));
    vars.push(("APIM_GATE_NODE_PORT", "30081".into()));
    let run = gate_owned(&world, &vars).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let (rev, _, url, _) = world.apim(API).await.unwrap();
    assert_eq!((rev, url.as_str()), (1, "http://10.224.0.9:30081"));
    assert_eq!(kube_requests(&world, 0), 0);

    // node-port without spec-file means nothing: exit 2 saying so.
    let run = world
        .gate(&[
            ("APIM_GATE_AGENT_IP", "10.224.0.9"),
            ("APIM_GATE_NODE_PORT", "30081"),
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(run.both().contains("node-port"), "{}", run.both());
}

/// Every rule id the checks give on real documents (oasdiff's pairs both ways, the Swashbuckle
/// and ASP.NET Core fixtures linted) is one that waivers and rule-levels accept, with the kind
/// its level says: lint errors are the ones nothing may touch.
#[test]
fn every_rule_the_checks_report_is_known_to_waivers_and_rule_levels() {
    use apim_gate::spec::waivers::rules::{RuleKind, kind};
    use apim_gate::spec::{Document, Level, diff, lint};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    let load = |p: &std::path::Path| Document::parse(&std::fs::read(p).unwrap()).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut pairs = 0;
    for entry in std::fs::read_dir(dir.join("oasdiff")).unwrap() {
        let base = entry.unwrap().path();
        let name = base.file_name().unwrap().to_str().unwrap().to_string();
        let Some(stem) = name.strip_suffix("-base.json") else {
            continue;
        };
        let revision = load(&dir.join(format!("oasdiff/{stem}-revision.json")));
        let base = load(&base);
        for f in diff::diff(&base, &revision)
            .into_iter()
            .chain(diff::diff(&revision, &base))
        {
            assert_eq!(
                kind(&f.id),
                Some(RuleKind::Breaking),
                "{} from pair {stem}",
                f.id
            );
            seen.insert(f.id);
        }
        pairs += 1;
    }
    assert!(pairs >= 15 && seen.len() >= 10, "{pairs} pairs, {seen:?}");
    let mut linted = 0;
    for folder in ["swashbuckle", "aspnetcore"] {
        for entry in std::fs::read_dir(dir.join(folder)).unwrap() {
            let doc = load(&entry.unwrap().path());
            for f in lint::lint(&doc) {
                let expected = if f.level == Level::Error {
                    RuleKind::LintError
                } else {
                    RuleKind::LintWarning
                };
                assert_eq!(kind(&f.id), Some(expected), "{}", f.id);
            }
            linted += 1;
        }
    }
    assert!(linted >= 10);
}

/// The pull-request examples give the gate only inputs it has, spelt as each platform spells
/// them, and set spec-file with dry-run (no cluster).
#[test]
fn pull_request_examples_use_real_inputs() {
    use apim_gate::inputs::table::find;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let read = |name: &str| -> Value {
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let gh = read("pull-request-github.yml");
    assert!(gh["on"].get("pull_request").is_some(), "{gh:#}");
    // A job skipped by `if:` reports success and blocks nothing, even as a required check: the
    // job always runs, and a fork's pull request fails in its first step, saying why.
    let job = &gh["jobs"]["api-contract"];
    assert!(job.get("if").is_none(), "{job:#}");
    let steps = job["steps"].as_array().unwrap();
    let fork = &steps[0];
    assert_eq!(
        fork["if"].as_str(),
        Some("github.event.pull_request.head.repo.full_name != github.repository"),
        "{fork:#}"
    );
    let says = fork["run"].as_str().unwrap();
    assert!(
        says.contains("::error") && says.trim_end().ends_with("exit 1"),
        "{says}"
    );
    assert!(
        steps[1..].iter().all(|s| s.get("if").is_none()),
        "{steps:#?}"
    );
    assert!(
        steps.iter().any(|s| s["run"]
            .as_str()
            .is_some_and(|r| r.contains("dotnet swagger tofile"))),
        "{steps:#?}"
    );
    let gate = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("apim-gate/apim-gate@"))
        })
        .unwrap();
    let with = gate["with"].as_object().unwrap();
    for name in with.keys() {
        let spec = find(name).unwrap_or_else(|| panic!("{name} is not an input"));
        assert_eq!(spec.name, name, "GitHub spells inputs in kebab-case");
    }
    assert_eq!(with["dry-run"], true);
    assert!(with.contains_key("spec-file") && !with.contains_key("kubeconfig"));

    let ado = read("pull-request-azure-pipelines.yml");
    let steps = ado["steps"].as_array().unwrap();
    let task = steps.iter().find(|s| s["task"] == "ApimGate@0").unwrap();
    let inputs = task["inputs"].as_object().unwrap();
    for name in inputs.keys() {
        let spec = find(name).unwrap_or_else(|| panic!("{name} is not an input"));
        assert_eq!(&spec.ado_name(), name, "task inputs are camelCase");
    }
    assert_eq!(inputs["dryRun"], true);
    assert!(inputs.contains_key("specFile") && !inputs.contains_key("kubeconfig"));
}

/// What the sandbox's GitHub holds: check runs and pull-request comments.
async fn github_state(world: &World) -> Value {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(world.sandbox.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
        .get(format!("{}/_sandbox/github", world.sandbox.urls.github))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A pull request's run on GitHub Actions without a cluster: the check run on the pull request's
/// head and the comment carry the verdict, the findings and the "Waived" section.
#[tokio::test(flavor = "multi_thread")]
async fn spec_file_dry_run_reports_to_the_pull_request() {
    let world = World::start(config()).await;
    let base = base_doc("Test API V1");
    world.deploy(API, &base);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());

    let mut vars = without_cluster(&world);
    let breaking = without_path(without_path(base.clone(), "/products"), "/orders");
    std::fs::write(world.dir.path().join("swagger.json"), bytes(&breaking)).unwrap();
    write_default_waivers(
        &world,
        &format!(
            "- rule: api-path-removed-without-deprecation\n  operation: POST /orders\n  until: {}\n  reason: orders moved to the orders service\n",
            Date::today().plus_days(7)
        ),
    );
    let event = world.dir.path().join("event.json");
    let head = "feedfacefeedfacefeedfacefeedfacefeedface";
    std::fs::write(
        &event,
        json!({"pull_request": {"number": 5, "head": {"sha": head}}}).to_string(),
    )
    .unwrap();
    let env = world.sandbox.env();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
    vars.extend([
        ("APIM_GATE_SPEC_FILE", "swagger.json".to_string()),
        ("APIM_GATE_DRY_RUN", "true".to_string()),
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_API_URL", get("SANDBOX_GITHUB_URL")),
        ("GITHUB_REPOSITORY", "acme/shop".to_string()),
        (
            "GITHUB_SHA",
            "0123456789abcdef0123456789abcdef01234567".to_string(),
        ),
        ("GITHUB_SERVER_URL", "https://github.com".to_string()),
        ("GITHUB_RUN_ID", "42".to_string()),
        ("GITHUB_EVENT_NAME", "pull_request".to_string()),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap().to_string()),
        ("INPUT_GITHUB-TOKEN", get("SANDBOX_GITHUB_TOKEN")),
        ("INPUT_PR-COMMENT", "true".to_string()),
    ]);
    let mark = world.sandbox.requests().len();
    let run = gate_owned(&world, &vars).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert_eq!(kube_requests(&world, mark), 0);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());

    let state = github_state(&world).await;
    let runs = state["check_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{state:#}");
    assert_eq!(runs[0]["head_sha"], head);
    assert_eq!(runs[0]["conclusion"], "failure");
    let summary = runs[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("### Waived (1)"), "{summary}");
    assert!(
        summary.contains("orders moved to the orders service"),
        "{summary}"
    );
    let comments = state["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{state:#}");
    let body = comments[0]["body"].as_str().unwrap();
    assert!(
        body.contains("api-path-removed-without-deprecation"),
        "{body}"
    );
    assert!(body.contains("### Waived (1)"), "{body}");
    assert!(body.contains("`POST /orders`"), "{body}");
    world.assert_no_secret_printed();
}
