//! Versioned APIs (`api-versions`): a service's documents become one APIM version set with an
//! API per version, each version gated on its own; `auto` reads the list from the pod's
//! Swagger UI; the query and header schemes; versions left out are kept with a warning;
//! OpenAPI 3.2 is refused with the setting to change; the same keys in a `services` manifest.

mod support;

use apim_gate::apim::VersioningScheme;
use apim_gate::gate::services::parse;
use apim_gate::gate::versions::{VersionList, Versioning};
use apim_sandbox::cluster::Topology;
use apim_sandbox::{Config, MoreSpec, ServiceType};
use serde_json::{Value, json};
use support::{World, base_doc, bytes, fixture};

const V1: &str = "/swagger/v1/swagger.json";
const V2: &str = "/swagger/v2/swagger.json";
const BOTH: &str = "v1=/swagger/v1/swagger.json, v2=/swagger/v2/swagger.json";

fn parse_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).unwrap()
}

/// Swashbuckle's MultipleVersions sample, its `2.0` document (an Asp.Versioning-style app:
/// every operation takes `api-version`).
fn multiple_versions_v2() -> Value {
    parse_json(&fixture("swashbuckle/multipleversions-v2.json"))
}

/// One service `svc-1` serving `v1` at /swagger/v1/swagger.json and `v2` at /swagger/v2/swagger.json.
fn two_versions(v1: &Value, v2: &Value) -> Config {
    Config {
        specs: vec![bytes(v1)],
        more_specs: vec![MoreSpec {
            service: "svc-1".into(),
            path: V2.into(),
            document: bytes(v2),
        }],
        retry_after: 0,
        ..Config::default()
    }
}

fn client(world: &World) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(world.sandbox.ca_pem.as_bytes()).unwrap(),
        )
        .build()
        .unwrap()
}

async fn state(world: &World) -> Value {
    client(world)
        .get(format!("{}/_sandbox/apim", world.sandbox.urls.arm))
        .bearer_auth(&world.sandbox.arm_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The current revision's properties of API `name`.
async fn api_props(world: &World, name: &str) -> Option<Value> {
    let s = state(world).await;
    let api = s["apis"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)?
        .clone();
    let current = api["current"].as_u64()?.to_string();
    api["revisions"]
        .as_array()?
        .iter()
        .find(|r| r["apiRevision"] == current.as_str())
        .map(|r| r["properties"].clone())
}

async fn version_set(world: &World, name: &str) -> Option<Value> {
    state(world).await["apiVersionSets"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["properties"].clone())
}

/// The ARM path of the sandbox's APIM service.
fn service_path(world: &World) -> String {
    let env: std::collections::HashMap<String, String> = world.sandbox.env().into_iter().collect();
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}",
        env["APIM_GATE_SUBSCRIPTION_ID"],
        env["APIM_GATE_RESOURCE_GROUP"],
        env["APIM_GATE_APIM_SERVICE"]
    )
}

/// `PUT {service}{path}` on the sandbox's ARM, as another client (the portal, a script) would.
async fn arm_put(world: &World, path: &str, body: Value) -> (u16, Value) {
    let r = client(world)
        .put(format!(
            "{}{}{path}?api-version=2024-05-01",
            world.sandbox.urls.arm,
            service_path(world)
        ))
        .bearer_auth(&world.sandbox.arm_token)
        .header("If-Match", "*")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `PUT /_sandbox/services/{svc}/spec?path=PATH`: the pod serves `doc` at PATH from now on.
async fn deploy_at(world: &World, service: &str, path: &str, doc: &Value) {
    let r = client(world)
        .put(format!(
            "{}/_sandbox/services/{service}/spec?path={path}",
            world.sandbox.urls.arm
        ))
        .bearer_auth(&world.sandbox.arm_token)
        .body(bytes(doc))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

/// "METHOD /template" of every operation of `doc`, sorted, as APIM lists them.
fn operations_of(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| m.as_str() != "parameters")
                .map(move |m| format!("{} {path}", m.to_ascii_uppercase()))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn v1_and_v2_become_a_segment_version_set_and_a_breaking_v2_is_refused_alone() {
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let world = World::start(two_versions(&v1, &v2)).await;

    let run = world
        .gate(&[
            ("APIM_GATE_API_VERSIONS", BOTH),
            ("APIM_GATE_API_DISPLAY_NAME", "Orders"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let set = version_set(&world, "svc-1")
        .await
        .expect("version set svc-1");
    assert_eq!(set["versioningScheme"], "Segment");
    assert_eq!(set["displayName"], "Orders");
    for (name, version, doc) in [("svc-1-v1", "v1", &v1), ("svc-1-v2", "v2", &v2)] {
        let p = api_props(&world, name)
            .await
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(p["apiVersion"], version, "{name}");
        assert_eq!(p["path"], "svc-1", "{name}");
        assert!(
            p["apiVersionSetId"]
                .as_str()
                .unwrap()
                .ends_with("/apiVersionSets/svc-1"),
            "{p}"
        );
        assert_eq!(p["apiVersionSet"]["versioningScheme"], "Segment");
        assert_eq!(
            world.apim(name).await.unwrap().1,
            operations_of(doc),
            "{name}"
        );
    }
    // A row per version.
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Services:"))
        .collect();
    for (label, api) in [
        ("default/svc-1 v1", "svc-1-v1"),
        ("default/svc-1 v2", "svc-1-v2"),
    ] {
        assert!(
            rows.iter()
                .any(|l| l.contains(label) && l.contains(api) && l.contains("passed")),
            "{rows:?}"
        );
    }

    // v2 drops an operation: refused, naming it; neither version changes.
    let before = (
        world.apim("svc-1-v1").await.unwrap(),
        world.apim("svc-1-v2").await.unwrap(),
    );
    let mut broken = v2.clone();
    assert!(
        broken["paths"]
            .as_object_mut()
            .unwrap()
            .remove("/Products/{id}")
            .is_some()
    );
    deploy_at(&world, "svc-1", V2, &broken).await;
    let run = world.gate(&[("APIM_GATE_API_VERSIONS", BOTH)]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("/Products/{id}"), "{}", run.stdout);
    assert!(run.stdout.contains("1 refused"), "{}", run.stdout);
    let after = (
        world.apim("svc-1-v1").await.unwrap(),
        world.apim("svc-1-v2").await.unwrap(),
    );
    assert_eq!(after, before);

    // A compatible v2 goes through a staged revision of svc-1-v2 alone, still in the set.
    deploy_at(
        &world,
        "svc-1",
        V2,
        &support::with_new_operation(v2.clone(), "/Orders"),
    )
    .await;
    let run = world.gate(&[("APIM_GATE_API_VERSIONS", BOTH)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let (revision, operations, ..) = world.apim("svc-1-v2").await.unwrap();
    assert_eq!(revision, 2);
    assert!(
        operations.contains(&"GET /Orders".to_string()),
        "{operations:?}"
    );
    assert_eq!(world.apim("svc-1-v1").await.unwrap(), before.0);
    // The import re-sent apiVersion and apiVersionSetId: APIM does not carry them over, an
    // import without them takes the API out of its set (Azure/apiops#759).
    let in_set = |p: &Value| {
        (
            p["apiVersion"].as_str().map(str::to_string),
            p["path"].as_str().map(str::to_string),
            p["apiVersionSetId"]
                .as_str()
                .is_some_and(|id| id.ends_with("/apiVersionSets/svc-1")),
        )
    };
    let p = api_props(&world, "svc-1-v2").await.unwrap();
    assert_eq!(in_set(&p), (Some("v2".into()), Some("svc-1".into()), true));
    // An import into the current revision (revision: in-place) keeps it in the set too.
    deploy_at(
        &world,
        "svc-1",
        V2,
        &support::with_new_operation(support::with_new_operation(v2.clone(), "/Orders"), "/Carts"),
    )
    .await;
    let run = world
        .gate(&[
            ("APIM_GATE_API_VERSIONS", BOTH),
            ("APIM_GATE_REVISION", "in-place"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.revision_count("svc-1-v2").await, 2);
    let p = api_props(&world, "svc-1-v2").await.unwrap();
    assert_eq!(in_set(&p), (Some("v2".into()), Some("svc-1".into()), true));
    assert_eq!(p["apiVersionSet"]["versioningScheme"], "Segment");
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_finds_both_documents_in_the_swagger_ui_page() {
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let world = World::start(two_versions(&v1, &v2)).await;
    // A dry run finds them too, and writes nothing: no version set, no API.
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[
            ("APIM_GATE_API_VERSIONS", "auto"),
            ("APIM_GATE_DRY_RUN", "true"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.stdout.contains("svc-1-v2"), "{}", run.stdout);
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert!(version_set(&world, "svc-1").await.is_none());

    let run = world.gate(&[("APIM_GATE_API_VERSIONS", "auto")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim("svc-1-v1").await.unwrap().1, operations_of(&v1));
    assert_eq!(world.apim("svc-1-v2").await.unwrap().1, operations_of(&v2));
    // It read the page and the script the page loads, as a browser would.
    let pod_paths: Vec<String> = world
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.emulator == "pod")
        .map(|r| r.path.clone())
        .collect();
    assert!(
        pod_paths.iter().any(|p| p == "/swagger/index.html"),
        "{pod_paths:?}"
    );
    assert!(
        pod_paths.iter().any(|p| p == "/swagger/index.js"),
        "{pod_paths:?}"
    );

    // The control endpoint swaps only a document the service serves.
    let r = client(&world)
        .put(format!(
            "{}/_sandbox/services/svc-1/spec?path=/swagger/v9/swagger.json",
            world.sandbox.urls.arm
        ))
        .bearer_auth(&world.sandbox.arm_token)
        .body(bytes(&v2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_warns_about_a_second_document_with_the_same_version_name() {
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let mut config = two_versions(&v1, &v2);
    // The same app also maps Microsoft.AspNetCore.OpenApi's /openapi/v1.json, listed in the UI:
    // named v1 as well.
    config.more_specs.push(MoreSpec {
        service: "svc-1".into(),
        path: "/openapi/v1.json".into(),
        document: bytes(&v1),
    });
    let world = World::start(config).await;
    let run = world.gate(&[("APIM_GATE_API_VERSIONS", "auto")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.stdout.contains("lists /openapi/v1.json")
            && run
                .stdout
                .contains("only /swagger/v1/swagger.json is published as version v1"),
        "{}",
        run.stdout
    );
    assert!(world.apim("svc-1-v1").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_reads_a_ui_at_the_root_and_its_document_urls_route() {
    // Microsoft.AspNetCore.OpenApi documents with Swashbuckle's UI at the root
    // (`RoutePrefix = ""`): the page and its script at /index.html and /index.js, relative urls
    // read against /.
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let mut topology = Topology::default_for(1, ServiceType::NodePort);
    let page = br#"<div id="swagger-ui"></div>
<script src="./swagger-ui-bundle.js" charset="utf-8"></script>
<script src="index.js" charset="utf-8"></script>"#;
    let script = br#"window.onload = function () {
    var configObject = JSON.parse('{"urls":[{"url":"openapi/v1.json","name":"v1"},{"url":"openapi/v2.json","name":"v2"}]}');
}"#;
    for pod in &mut topology.pods {
        *pod = pod
            .clone()
            .document_path("/openapi/v1.json")
            .route(
                "/index.html",
                200,
                Some("text/html;charset=utf-8"),
                page.to_vec(),
            )
            .route(
                "/index.js",
                200,
                Some("application/javascript;charset=utf-8"),
                script.to_vec(),
            );
    }
    let world = World::start(Config {
        specs: vec![bytes(&v1)],
        more_specs: vec![MoreSpec {
            service: "svc-1".into(),
            path: "/openapi/v2.json".into(),
            document: bytes(&v2),
        }],
        cluster: Some(topology),
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let run = world.gate(&[("APIM_GATE_API_VERSIONS", "auto")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim("svc-1-v1").await.unwrap().1, operations_of(&v1));
    assert_eq!(world.apim("svc-1-v2").await.unwrap().1, operations_of(&v2));

    // The documentUrls route (ExposeSwaggerDocumentUrlsRoute) when the page lists nothing.
    let mut topology = Topology::default_for(1, ServiceType::NodePort);
    for pod in &mut topology.pods {
        *pod = pod.clone().document_path("/openapi/v1.json").route(
            "/swagger/documentUrls",
            200,
            Some("application/javascript;charset=utf-8"),
            br#"[{"url":"/openapi/v1.json","name":"v1"},{"url":"/openapi/v2.json","name":"v2"}]"#
                .to_vec(),
        );
    }
    let world = World::start(Config {
        specs: vec![bytes(&v1)],
        more_specs: vec![MoreSpec {
            service: "svc-1".into(),
            path: "/openapi/v2.json".into(),
            document: bytes(&v2),
        }],
        cluster: Some(topology),
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let run = world
        .gate(&[
            ("APIM_GATE_API_VERSIONS", "auto"),
            ("APIM_GATE_DRY_RUN", "true"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.stdout.contains("svc-1-v1") && run.stdout.contains("svc-1-v2"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_without_a_swagger_ui_names_the_paths_tried_and_asks_for_the_list() {
    // Microsoft.AspNetCore.OpenApi serves /openapi/v1.json and no UI.
    let mut topology = Topology::default_for(1, ServiceType::NodePort);
    for pod in &mut topology.pods {
        pod.document_path = "/openapi/v1.json".into();
    }
    let world = World::start(Config {
        specs: vec![fixture("aspnetcore/openapi31-v1.json")],
        cluster: Some(topology),
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_API_VERSIONS", "auto")]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    for needle in [
        "/swagger/index.html (404)",
        "/swagger/index.js (404)",
        "/swagger/documentUrls (404)",
        "/index.html (404)",
        "/documentUrls (404)",
        "api-versions",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
    assert!(world.writes_since(mark).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn query_and_header_schemes_name_their_parameter() {
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let world = World::start(two_versions(&v1, &v2)).await;
    let run = world
        .gate(&[
            ("APIM_GATE_API_VERSIONS", BOTH),
            ("APIM_GATE_API_ID", "orders-q"),
            ("APIM_GATE_API_PATH", "orders-q"),
            ("APIM_GATE_VERSIONING_SCHEME", "query"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let set = version_set(&world, "orders-q").await.unwrap();
    assert_eq!(set["versioningScheme"], "Query");
    assert_eq!(set["versionQueryName"], "api-version");
    assert!(set.get("versionHeaderName").is_none());
    assert_eq!(
        api_props(&world, "orders-q-v2").await.unwrap()["apiVersionSet"]["versionQueryName"],
        "api-version"
    );

    let run = world
        .gate(&[
            ("APIM_GATE_API_VERSIONS", BOTH),
            ("APIM_GATE_API_ID", "orders-h"),
            ("APIM_GATE_API_PATH", "orders-h"),
            ("APIM_GATE_VERSIONING_SCHEME", "Header"),
            ("APIM_GATE_VERSION_HEADER_NAME", "x-api-version"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let set = version_set(&world, "orders-h").await.unwrap();
    assert_eq!(set["versioningScheme"], "Header");
    assert_eq!(set["versionHeaderName"], "x-api-version");
    assert_eq!(
        api_props(&world, "orders-h-v1").await.unwrap()["apiVersion"],
        "v1"
    );

    // Bad values stop the run before anything, naming the input.
    for (name, value, input) in [
        (
            "APIM_GATE_VERSION_HEADER_NAME",
            "x api",
            "version-header-name",
        ),
        ("APIM_GATE_API_VERSIONS", "v1", "api-versions"),
        ("APIM_GATE_VERSIONING_SCHEME", "path", "versioning-scheme"),
    ] {
        let mark = world.sandbox.requests().len();
        let run = world
            .gate(&[("APIM_GATE_API_VERSIONS", BOTH), (name, value)])
            .await;
        assert_eq!(run.code, 2, "{name}: {}", run.both());
        assert!(run.both().contains(input), "{name}: {}", run.both());
        assert!(world.writes_since(mark).is_empty(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheme_change_is_a_breaking_change_written_only_after_every_version_passed() {
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let world = World::start(two_versions(&v1, &v2)).await;
    let header = [
        ("APIM_GATE_API_VERSIONS", BOTH),
        ("APIM_GATE_API_ID", "orders-h"),
        ("APIM_GATE_API_PATH", "orders-h"),
        ("APIM_GATE_VERSIONING_SCHEME", "header"),
    ];
    let run = world.gate(&header).await;
    assert_eq!(run.code, 0, "{}", run.both());
    // Someone gives the set a description in the portal.
    let mut props = version_set(&world, "orders-h").await.unwrap();
    props["description"] = json!("Orders of the shop");
    let (status, body) = arm_put(
        &world,
        "/apiVersionSets/orders-h",
        json!({ "properties": props }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let before = version_set(&world, "orders-h").await.unwrap();

    let query = |more: &[(&'static str, &'static str)]| {
        let mut v = vec![
            ("APIM_GATE_API_VERSIONS", BOTH),
            ("APIM_GATE_API_ID", "orders-h"),
            ("APIM_GATE_API_PATH", "orders-h"),
            ("APIM_GATE_VERSIONING_SCHEME", "query"),
            ("APIM_GATE_VERSION_QUERY_NAME", "v"),
        ];
        v.extend_from_slice(more);
        v
    };
    // breaking-changes fail (the default): refused before anything is written, naming both
    // schemes and the versions whose callers would break.
    let mark = world.sandbox.requests().len();
    let run = world.gate(&query(&[])).await;
    assert_eq!(run.code, 1, "{}", run.both());
    for needle in [
        "from Header (header 'api-version') to Query (query parameter 'v')",
        "v1 (API orders-h-v1), v2 (API orders-h-v2)",
        "breaking-changes",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert_eq!(version_set(&world, "orders-h").await.unwrap(), before);

    // A dry run under warn shows the change and writes nothing.
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&query(&[
            ("APIM_GATE_BREAKING_CHANGES", "warn"),
            ("APIM_GATE_DRY_RUN", "true"),
        ]))
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.stdout
            .contains("dry run: would update version set 'orders-h' after every version passed: callers choose a version by Query (query parameter 'v'), no longer by Header (header 'api-version')"),
        "{}",
        run.stdout
    );
    assert_eq!(world.writes_since(mark), Vec::<String>::new());

    // Under warn with a version that fails, the set keeps its scheme: callers of v1 keep theirs.
    let mut v32 = v2.clone();
    v32["openapi"] = json!("3.2.0");
    deploy_at(&world, "svc-1", V2, &v32).await;
    let run = world
        .gate(&query(&[("APIM_GATE_BREAKING_CHANGES", "warn")]))
        .await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(
        run.stdout
            .contains("version set 'orders-h' was left as it is (Header (header 'api-version')): versions v2 did not pass"),
        "{}",
        run.stdout
    );
    assert_eq!(version_set(&world, "orders-h").await.unwrap(), before);

    // Every version passes: the set changes after them, keeping its description.
    deploy_at(&world, "svc-1", V2, &v2).await;
    let run = world
        .gate(&query(&[("APIM_GATE_BREAKING_CHANGES", "warn")]))
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let set = version_set(&world, "orders-h").await.unwrap();
    assert_eq!(set["versioningScheme"], "Query");
    assert_eq!(set["versionQueryName"], "v");
    assert_eq!(set["description"], "Orders of the shop");
    assert_eq!(set["displayName"], before["displayName"]);
    assert!(
        run.stdout
            .contains("updated version set 'orders-h' (Query versioning): callers choose a version by Query (query parameter 'v')"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unversioned_api_on_the_path_stops_the_versions_before_anything_is_written() {
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let world = World::start(two_versions(&v1, &v2)).await;
    // The service was published unversioned before: API svc-1 at path svc-1.
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());

    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_API_VERSIONS", BOTH)]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    for needle in [
        "API 'svc-1'",
        "already serves path 'svc-1'",
        "give api-path another path",
        "apiVersion \"\"",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
    }
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert!(version_set(&world, "svc-1").await.is_none());

    // Another path: the versions go there, the old API stays.
    let run = world
        .gate(&[
            ("APIM_GATE_API_VERSIONS", BOTH),
            ("APIM_GATE_API_ID", "orders"),
            ("APIM_GATE_API_PATH", "orders"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(
        api_props(&world, "orders-v2").await.unwrap()["path"],
        "orders"
    );
    assert_eq!(api_props(&world, "svc-1").await.unwrap()["path"], "svc-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_left_out_of_the_list_is_kept_with_a_warning() {
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let world = World::start(two_versions(&v1, &v2)).await;
    let run = world.gate(&[("APIM_GATE_API_VERSIONS", BOTH)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let v1_before = world.apim("svc-1-v1").await.unwrap();

    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[("APIM_GATE_API_VERSIONS", "v2=/swagger/v2/swagger.json")])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.stdout.contains("version-not-published") && run.stdout.contains("svc-1-v1"),
        "{}",
        run.stdout
    );
    assert_eq!(world.apim("svc-1-v1").await.unwrap(), v1_before);
    assert!(
        !world
            .writes_since(mark)
            .iter()
            .any(|w| w.starts_with("DELETE")),
        "{:?}",
        world.writes_since(mark)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_31_publishes_as_it_is_and_32_is_refused_with_the_setting() {
    let v1 = parse_json(&fixture("aspnetcore/openapi31-v1.json"));
    let mut v2 = v1.clone();
    v2["openapi"] = json!("3.2.0");
    let world = World::start(two_versions(&v1, &v2)).await;
    let run = world.gate(&[("APIM_GATE_API_VERSIONS", BOTH)]).await;
    // The 3.1 version is published; the 3.2 one is a bad input, so the run exits 2.
    assert_eq!(run.code, 2, "{}", run.both());
    assert_eq!(world.apim("svc-1-v1").await.unwrap().1, operations_of(&v1));
    assert_eq!(
        api_props(&world, "svc-1-v1").await.unwrap()["apiVersion"],
        "v1"
    );
    assert!(world.apim("svc-1-v2").await.is_none());
    assert!(
        run.stdout
            .contains("options.OpenApiVersion = Microsoft.OpenApi.OpenApiSpecVersion.OpenApi3_1"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("AddOpenApi"), "{}", run.stdout);
}

#[test]
fn a_services_manifest_carries_the_versioning_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("services.yaml"),
        "services:\n  - service: orders\n    api-versions: v1=/swagger/v1/swagger.json, v2=/swagger/v2/swagger.json\n    versioning-scheme: header\n    version-header-name: x-api-version\n  - service: cart\n    api-versions: auto\n",
    )
    .unwrap();
    let specs = parse("services.yaml", "default", dir.path()).unwrap();
    assert_eq!(
        specs[0].versioning.versioning_scheme,
        Some(VersioningScheme::Header)
    );
    assert_eq!(
        specs[0].versioning.version_header_name.as_deref(),
        Some("x-api-version")
    );
    assert_eq!(specs[1].versioning.api_versions.as_deref(), Some("auto"));

    // The entry's keys become that service's inputs.
    let env =
        apim_gate::inputs::Env::from_pairs([("APIM_GATE_SERVICES".to_string(), "x".to_string())]);
    let base = apim_gate::inputs::Inputs::load(&env, apim_gate::inputs::Need::Nothing).unwrap();
    let versioning = Versioning::from_inputs(&specs[0].inputs(&base))
        .unwrap()
        .unwrap();
    assert_eq!(versioning.scheme, VersioningScheme::Header);
    assert_eq!(versioning.header_name, "x-api-version");
    assert!(matches!(&versioning.list, VersionList::Listed(l) if l.len() == 2));
    let cart = Versioning::from_inputs(&specs[1].inputs(&base))
        .unwrap()
        .unwrap();
    assert_eq!(cart.list, VersionList::Auto);

    // A bad list names the entry and the key.
    std::fs::write(
        dir.path().join("bad.yaml"),
        "services:\n  - service: orders\n    api-versions: v1\n",
    )
    .unwrap();
    let e = parse("bad.yaml", "default", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("services[0] (orders)") && e.contains("api-versions"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_entry_publishes_its_versions_with_its_scheme() {
    let v1 = base_doc("Orders");
    let v2 = multiple_versions_v2();
    let world = World::start(two_versions(&v1, &v2)).await;
    std::fs::write(
        world.dir.path().join("services.yaml"),
        "services:\n  - service: svc-1\n    api-id: orders\n    api-versions: auto\n    versioning-scheme: header\n",
    )
    .unwrap();
    let run = world.gate(&[("APIM_GATE_SERVICES", "services.yaml")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let set = version_set(&world, "orders").await.unwrap();
    assert_eq!(set["versioningScheme"], "Header");
    assert_eq!(set["versionHeaderName"], "api-version");
    assert_eq!(
        api_props(&world, "orders-v2").await.unwrap()["path"],
        "svc-1"
    );
}

#[test]
fn the_sandbox_reads_file_at_path_specs() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    std::fs::write(&a, b"{}").unwrap();
    std::fs::write(&b, b"[]").unwrap();
    let arg = |s: String| std::path::PathBuf::from(s);
    let (specs, more) =
        apim_sandbox::read_spec_args(&[a.clone(), arg(format!("{}@{V2}", b.display()))]).unwrap();
    assert_eq!(specs, vec![b"{}".to_vec()]);
    assert_eq!(
        (
            more[0].service.as_str(),
            more[0].path.as_str(),
            more[0].document.as_slice()
        ),
        ("svc-1", V2, b"[]".as_slice())
    );
    // A further document needs a service before it, and a path of its own.
    assert!(apim_sandbox::read_spec_args(&[arg(format!("{}@{V2}", b.display()))]).is_err());
    assert!(
        apim_sandbox::read_spec_args(&[a.clone(), arg(format!("{}@{V1}", b.display()))]).is_err()
    );
}
