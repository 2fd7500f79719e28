//! `backend: pool` against the sandbox, through the binary: one Pool backend over one backend per
//! Ready node (each with its circuit breaker) and the live API's policy routing to the pool; a
//! node that left loses its backend on the next run; a user policy that sets a backend refused;
//! an internal load balancer as one backend without a pool; a failure before the release leaving
//! the live API's routing as it was.

mod support;

use apim_sandbox::cluster::{Node, Topology};
use apim_sandbox::{Config, ServiceType};
use serde_json::Value;
use support::{World, base_doc, with_new_operation};

const API: &str = "svc-1";
const N0: &str = "aks-nodepool1-12345678-vmss000000";
const N1: &str = "aks-nodepool1-12345678-vmss000001";
const NOT_READY: &str = "aks-nodepool1-12345678-vmss000002";
const CORDONED: &str = "aks-nodepool1-12345678-vmss000003";

/// The default cluster (two Ready nodes, svc-1's pod on the first) with a NotReady node and a
/// cordoned one.
fn four_nodes() -> Config {
    let topology = Topology::default_for(1, ServiceType::NodePort)
        .node(Node::new(NOT_READY, "10.224.0.6").not_ready())
        .node(Node::new(CORDONED, "10.224.0.7").cordoned());
    Config {
        retry_after: 0,
        specs: vec![support::bytes(&base_doc("Pool API"))],
        cluster: Some(topology),
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

/// The backends APIM holds, by name.
async fn backends(world: &World) -> Vec<Value> {
    let state: Value = client(world)
        .get(format!("{}/_sandbox/apim", world.sandbox.urls.arm))
        .bearer_auth(&world.sandbox.arm_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    state["backends"].as_array().cloned().unwrap_or_default()
}

fn named<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|b| b["name"] == name)
}

/// Names of a pool's members (the last segment of each resource id).
fn members(pool: &Value) -> Vec<String> {
    pool["pool"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["id"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The live API's policy, as APIM serves it (`format=rawxml`).
async fn live_policy(world: &World) -> Option<String> {
    let id = world.sandbox.identity();
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apis/{API}/policies/policy?api-version=2024-05-01&format=rawxml",
        world.sandbox.urls.arm, id.subscription_id, id.resource_group, id.apim_service
    );
    let r = client(world)
        .get(url)
        .bearer_auth(&world.sandbox.arm_token)
        .send()
        .await
        .unwrap();
    if r.status() == 404 {
        return None;
    }
    let body: Value = r.json().await.unwrap();
    body["properties"]["value"].as_str().map(str::to_string)
}

fn pool_inputs() -> [(&'static str, &'static str); 1] {
    [("APIM_GATE_BACKEND", "pool")]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_over_the_ready_nodes_and_the_live_policy_routes_to_it_then_a_node_leaves() {
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));

    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let list = backends(&world).await;
    let node_backend = |n: &str| format!("{API}-{n}");
    for (node, ip) in [(N0, "10.224.0.4"), (N1, "10.224.0.5")] {
        let b = named(&list, &node_backend(node)).unwrap_or_else(|| panic!("{list:?}"));
        assert_eq!(b["url"], format!("http://{ip}:30080"));
        let rule = &b["circuitBreaker"]["rules"][0];
        assert_eq!(rule["failureCondition"]["count"], 3);
        assert_eq!(rule["failureCondition"]["interval"], "PT1M");
        assert_eq!(rule["failureCondition"]["statusCodeRanges"][0]["min"], 500);
        assert_eq!(rule["tripDuration"], "PT30S");
    }
    for skipped in [NOT_READY, CORDONED] {
        assert!(named(&list, &node_backend(skipped)).is_none(), "{list:?}");
    }
    let pool = named(&list, "svc-1-nodes").unwrap();
    assert_eq!(pool["type"], "Pool");
    assert_eq!(members(pool), [node_backend(N0), node_backend(N1)]);
    let policy = live_policy(&world)
        .await
        .expect("the live API has a policy");
    assert!(
        policy.contains(r#"<set-backend-service backend-id="svc-1-nodes" />"#),
        "{policy}"
    );
    // The serviceUrl stays the first node, for the portal.
    let (_, _, url, _) = world.apim(API).await.unwrap();
    assert_eq!(url, "http://10.224.0.4:30080");
    // The report says which nodes and why.
    assert!(
        run.stdout
            .contains("Backend pool: svc-1-nodes over 2 of 4 node(s)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("- {NOT_READY}: skipped, NotReady")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("- {CORDONED}: skipped, cordoned")),
        "{}",
        run.stdout
    );

    // A node leaves; the document is unchanged: its backend goes, the pool shrinks.
    world.sandbox.shared.remove_node(N1);
    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let list = backends(&world).await;
    assert!(named(&list, &node_backend(N1)).is_none(), "{list:?}");
    assert_eq!(
        members(named(&list, "svc-1-nodes").unwrap()),
        [node_backend(N0)]
    );
    assert!(
        run.stdout
            .contains(&format!("removed backend '{}'", node_backend(N1))),
        "{}",
        run.stdout
    );
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_before_the_release_leaves_the_live_routing_working() {
    let world = World::start(four_nodes()).await;
    let base = base_doc("Pool API");
    world.deploy(API, &base);
    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let (rev, ..) = world.apim(API).await.unwrap();

    // A node leaves and a new document fails to import: nothing is released.
    world.sandbox.shared.remove_node(N1);
    world.deploy(API, &with_new_operation(base, "/health"));
    world.sandbox.shared.faults.set("lro-fail", 1).unwrap();
    let run = world.gate(&pool_inputs()).await;
    assert_ne!(run.code, 0, "{}", run.both());
    let (after, ..) = world.apim(API).await.unwrap();
    assert_eq!(after, rev);
    // The live API still routes to the pool, and every member of the pool exists and is a Ready
    // node; the left node's backend is kept until a release is done.
    let policy = live_policy(&world).await.unwrap();
    assert!(policy.contains(r#"backend-id="svc-1-nodes""#), "{policy}");
    let list = backends(&world).await;
    let pool = named(&list, "svc-1-nodes").unwrap();
    for m in members(pool) {
        assert!(named(&list, &m).is_some(), "{m} missing: {list:?}");
    }
    assert_eq!(members(pool), [format!("{API}-{N0}")]);
    assert!(named(&list, &format!("{API}-{N1}")).is_some(), "{list:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_internal_load_balancer_is_one_backend_without_a_pool() {
    let world = World::start(Config {
        retry_after: 0,
        service_type: ServiceType::LoadBalancer,
        ..Config::default()
    })
    .await;
    world.deploy(API, &base_doc("LB API"));
    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let list = backends(&world).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "svc-1-lb");
    assert_eq!(list[0]["url"], "http://10.224.0.101:80");
    assert_ne!(list[0]["type"], "Pool");
    let policy = live_policy(&world).await.unwrap();
    assert!(policy.contains(r#"backend-id="svc-1-lb""#), "{policy}");
    assert!(
        run.stdout
            .contains("Backend: svc-1-lb (one address, no pool)"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backend_input_takes_url_or_pool() {
    let world = World::start(Config {
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let run = world.gate(&[("APIM_GATE_BACKEND", "pools")]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(run.both().contains("backend"), "{}", run.both());
    assert!(backends(&world).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backend_someone_else_made_is_neither_overwritten_nor_removed() {
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));
    let id = world.sandbox.identity();
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/backends/svc-1-nodes?api-version=2024-05-01",
        world.sandbox.urls.arm, id.subscription_id, id.resource_group, id.apim_service
    );
    let made = client(&world)
        .put(url)
        .bearer_auth(&world.sandbox.arm_token)
        .json(&serde_json::json!({"properties": {"url": "http://10.0.0.99", "protocol": "http", "description": "hand-made"}}))
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());
    let mark = world.sandbox.requests().len();
    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(
        run.both().contains("not made by apim-gate"),
        "{}",
        run.both()
    );
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    let list = backends(&world).await;
    assert_eq!(
        named(&list, "svc-1-nodes").unwrap()["url"],
        "http://10.0.0.99"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_policy_that_sets_a_backend_is_refused_before_any_write() {
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));
    let file = world.dir.path().join("policy.xml");
    std::fs::write(
        &file,
        "<policies>\n  <inbound>\n    <base />\n    <set-backend-service base-url=\"http://elsewhere\" />\n  </inbound>\n  <backend><base /></backend>\n  <outbound><base /></outbound>\n  <on-error><base /></on-error>\n</policies>\n",
    )
    .unwrap();
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[
            ("APIM_GATE_BACKEND", "pool"),
            ("APIM_GATE_POLICY", file.to_str().unwrap()),
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(
        run.both()
            .contains("policy: the policy already sets a backend"),
        "{}",
        run.both()
    );
    assert!(run.both().contains("line 4"), "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert!(backends(&world).await.is_empty());

    // The same policy with backend url is the user's to keep.
    let run = world
        .gate(&[("APIM_GATE_POLICY", file.to_str().unwrap())])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(backends(&world).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_says_which_backends_it_would_write_and_writes_none() {
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[("APIM_GATE_BACKEND", "pool"), ("APIM_GATE_DRY_RUN", "true")])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert!(
        run.stdout.contains(&format!(
            "would create backend '{API}-{N0}' (http://10.224.0.4:30080)"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("would create pool 'svc-1-nodes' over 2 backend(s)"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_github_and_azure_devops_summaries_show_the_pool() {
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));
    let summary = world.dir.path().join("summary.md");
    let output = world.dir.path().join("output");
    let gh = world
        .gate(&[
            ("APIM_GATE_BACKEND", "pool"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ])
        .await;
    assert_eq!(gh.code, 0, "{}", gh.both());
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.contains("**Backend pool:** `svc-1-nodes`"), "{md}");
    assert!(md.contains("| Node | In the pool | Why |"), "{md}");
    assert!(md.contains(&format!("| `{N1}` | ✅ yes |")), "{md}");
    assert!(
        md.contains(&format!("| `{NOT_READY}` | ⏭️ skipped | NotReady |")),
        "{md}"
    );

    // Azure DevOps: the same table in the uploaded summary (a second run: the pool is as wanted).
    let temp = world.dir.path().join("agent-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let ado = world
        .gate(&[
            ("APIM_GATE_BACKEND", "pool"),
            ("TF_BUILD", "True"),
            ("AGENT_TEMPDIRECTORY", temp.to_str().unwrap()),
        ])
        .await;
    assert_eq!(ado.code, 0, "{}", ado.both());
    let uploaded = ado
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("##vso[task.uploadsummary]"))
        .unwrap_or_else(|| panic!("{}", ado.stdout));
    let md = std::fs::read_to_string(uploaded).unwrap();
    assert!(
        md.contains(&format!("| `{CORDONED}` | ⏭️ skipped | cordoned")),
        "{md}"
    );
    assert!(md.contains(&format!("| `{N0}` | ✅ yes |")), "{md}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_refuses_backend_ids_azure_refuses() {
    let world = World::start(Config {
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let id = world.sandbox.identity();
    let put = |name: &str| {
        let url = format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/backends/{name}?api-version=2024-05-01",
            world.sandbox.urls.arm, id.subscription_id, id.resource_group, id.apim_service
        );
        client(&world)
            .put(url)
            .bearer_auth(&world.sandbox.arm_token)
            .json(&serde_json::json!({"properties": {"url": "http://10.0.0.4:30080", "protocol": "http"}}))
            .send()
    };
    for bad in ["svc_1.node", "1node", "node-", &"n".repeat(81)] {
        let r = put(bad).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["details"][0]["target"], "backendId", "{body}");
    }
    assert_eq!(put("svc-1-aks-node0").await.unwrap().status(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn in_place_routes_the_current_api_to_the_pool_too() {
    let world = World::start(four_nodes()).await;
    let base = base_doc("Pool API");
    world.deploy(API, &base);
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(backends(&world).await.is_empty());
    world.deploy(API, &with_new_operation(base, "/health"));
    let run = world
        .gate(&[
            ("APIM_GATE_BACKEND", "pool"),
            ("APIM_GATE_REVISION", "in-place"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let (rev, ..) = world.apim(API).await.unwrap();
    assert_eq!(rev, 1);
    let policy = live_policy(&world).await.unwrap();
    assert!(policy.contains(r#"backend-id="svc-1-nodes""#), "{policy}");
    assert_eq!(
        members(named(&backends(&world).await, "svc-1-nodes").unwrap()).len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_services_each_keep_their_own_pool() {
    let world = World::start(Config {
        specs: vec![
            support::bytes(&base_doc("Service 1")),
            support::bytes(&base_doc("Service 2")),
        ],
        retry_after: 0,
        ..Config::default()
    })
    .await;
    let run = world
        .gate(&[
            ("APIM_GATE_BACKEND", "pool"),
            ("APIM_GATE_SERVICES", "default/svc-1, default/svc-2"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let list = backends(&world).await;
    assert_eq!(list.len(), 6, "{list:?}");
    for (svc, port) in [("svc-1", 30080), ("svc-2", 30081)] {
        let pool = named(&list, &format!("{svc}-nodes")).unwrap();
        assert_eq!(
            members(pool),
            [format!("{svc}-{N0}"), format!("{svc}-{N1}")]
        );
        assert_eq!(
            named(&list, &format!("{svc}-{N1}")).unwrap()["url"],
            format!("http://10.224.0.5:{port}")
        );
    }
}

/// Issue 14: a missing named value stops the run with nothing written, the pool's backends
/// included (they used to be written before the check).
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_named_value_with_a_pool_writes_no_backend() {
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));
    let file = world.dir.path().join("policy.xml");
    std::fs::write(
        &file,
        "<policies>\n  <inbound>\n    <base />\n    <set-header name=\"x-key\" exists-action=\"override\">\n      <value>{{not-there}}</value>\n    </set-header>\n  </inbound>\n  <backend><base /></backend>\n  <outbound><base /></outbound>\n  <on-error><base /></on-error>\n</policies>\n",
    )
    .unwrap();
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[
            ("APIM_GATE_BACKEND", "pool"),
            ("APIM_GATE_POLICY", file.to_str().unwrap()),
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(run.both().contains("{{not-there}}"), "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert!(backends(&world).await.is_empty());
}

/// A new revision copies the live API's policy (Learn, "Revisions in API Management"): without
/// a policy input the pool's routing is added to the one kept by hand, not put in its place;
/// the next run finds its own routing there and keeps it; another backend there is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_hand_made_live_policy_survives_a_pool_release_with_the_routing_added() {
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let id = world.sandbox.identity();
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apis/{API}/policies/policy?api-version=2024-05-01",
        world.sandbox.urls.arm, id.subscription_id, id.resource_group, id.apim_service
    );
    let put = |value: &str| {
        client(&world)
            .put(&url)
            .bearer_auth(&world.sandbox.arm_token)
            .json(&serde_json::json!({"properties": {"format": "rawxml", "value": value}}))
            .send()
    };
    let by_hand = "<policies>\n  <inbound>\n    <base />\n    <rate-limit calls=\"7\" renewal-period=\"60\" />\n  </inbound>\n  <backend>\n    <base />\n  </backend>\n  <outbound>\n    <base />\n  </outbound>\n  <on-error>\n    <base />\n  </on-error>\n</policies>";
    let r = put(by_hand).await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let live = live_policy(&world)
        .await
        .expect("the live API has a policy");
    assert!(live.contains("<rate-limit calls=\"7\""), "{live}");
    assert!(
        live.contains(r#"<set-backend-service backend-id="svc-1-nodes" />"#),
        "{live}"
    );

    // The next run: its own routing is accepted as is.
    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(live_policy(&world).await.as_deref(), Some(live.as_str()));

    // A backend set by hand is not overridden.
    let r = put(&by_hand.replace(
        "<base />\n    <rate-limit",
        "<base />\n    <set-backend-service base-url=\"http://elsewhere\" />\n    <rate-limit",
    ))
    .await
    .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let mark = world.sandbox.requests().len();
    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(
        run.both().contains("the live API's policy"),
        "{}",
        run.both()
    );
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
}

/// An operation's policy is evaluated inside the API's (Learn, "Policies in Azure API
/// Management", scopes): its own set-backend-service would take that operation off the pool.
#[tokio::test(flavor = "multi_thread")]
async fn an_operation_policy_that_sets_a_backend_is_refused_with_the_pool() {
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));
    let folder = world.dir.path().join("ops");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("CreateProduct.xml"),
        "<policies>\n  <inbound>\n    <base />\n    <set-backend-service base-url=\"http://elsewhere\" />\n  </inbound>\n  <backend><base /></backend>\n  <outbound><base /></outbound>\n  <on-error><base /></on-error>\n</policies>\n",
    )
    .unwrap();
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[
            ("APIM_GATE_BACKEND", "pool"),
            ("APIM_GATE_OPERATION_POLICIES", folder.to_str().unwrap()),
        ])
        .await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(
        run.both()
            .contains("the policy of operation CreateProduct sets a backend"),
        "{}",
        run.both()
    );
    assert!(run.both().contains("line 4, column 5"), "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert!(backends(&world).await.is_empty());
}

/// Issue 14: "a new node joins the pool on the next run". The node arrives between two runs (the
/// sandbox's `PUT /_sandbox/nodes/{name}`, as the autoscaler or an upgrade adds one); the document
/// is unchanged, so no revision is made, yet the pool takes the new node with its own backend.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_ready_node_joins_the_pool_on_the_next_run() {
    const NEW: &str = "aks-nodepool1-12345678-vmss000009";
    let world = World::start(four_nodes()).await;
    world.deploy(API, &base_doc("Pool API"));
    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let node_backend = |n: &str| format!("{API}-{n}");
    assert!(named(&backends(&world).await, &node_backend(NEW)).is_none());

    let r = client(&world)
        .put(format!("{}/_sandbox/nodes/{NEW}", world.sandbox.urls.arm))
        .bearer_auth(&world.sandbox.arm_token)
        .json(&serde_json::json!({
            "internalIP": "10.224.0.9",
            "ready": true,
            "unschedulable": false,
            "taints": []
        }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let run = world.gate(&pool_inputs()).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let list = backends(&world).await;
    let joined = named(&list, &node_backend(NEW)).unwrap_or_else(|| panic!("{list:?}"));
    assert_eq!(joined["url"], "http://10.224.0.9:30080");
    assert_eq!(
        joined["circuitBreaker"]["rules"][0]["tripDuration"],
        "PT30S"
    );
    assert_eq!(
        members(named(&list, "svc-1-nodes").unwrap()),
        [node_backend(N0), node_backend(N1), node_backend(NEW)]
    );
    // Still one revision: the pool changed, the document did not.
    let (revision, ..) = world.apim(API).await.unwrap();
    assert_eq!(revision, 1, "{}", run.both());
    world.assert_no_secret_printed();
}
