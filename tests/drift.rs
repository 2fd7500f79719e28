//! The drift check against the sandbox, through the binary: in sync right after a publish; each
//! finding staged through the sandbox's controls (a node deleted, NotReady, cordoned, tainted by
//! the autoscaler; a nodePort changed; a new document in the pod; the API edited in APIM);
//! nothing written by a check; `--repair` fixing the address in place with no new revision and
//! refusing to publish a document; the `services` input.

mod support;

use apim_sandbox::cluster::{Topology, TrafficPolicy};
use apim_sandbox::{Config, ServiceType};
use serde_json::{Value, json};
use support::{Run, World, base_doc, with_new_operation};

const API: &str = "svc-1";
/// The node APIM calls after a publish in the default topology (the lowest name), and the other.
const NODE_0: &str = "aks-nodepool1-12345678-vmss000000";
const NODE_1: &str = "aks-nodepool1-12345678-vmss000001";

fn config() -> Config {
    Config {
        retry_after: 0,
        ..Config::default()
    }
}

/// `apim-gate check [args]` with the sandbox's inputs and `extra` variables.
async fn check(world: &World, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .arg("check")
        .args(args)
        .args(["--env-file", world.file.to_str().unwrap()])
        .current_dir(world.dir.path())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NO_COLOR", "1")
        .envs(extra.iter().copied())
        .output()
        .await
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    let mut printed = world.printed.lock().unwrap();
    printed.push_str(&run.stdout);
    printed.push_str(&run.stderr);
    run
}

fn client(world: &World) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(world.sandbox.ca_pem.as_bytes()).unwrap(),
        )
        .build()
        .unwrap()
}

/// A sandbox control request on the ARM listener; its status and JSON body.
async fn control(world: &World, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let r = client(world)
        .request(method, format!("{}{path}", world.sandbox.urls.arm))
        .bearer_auth(&world.sandbox.arm_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn put_node(world: &World, name: &str, body: Value) {
    let (status, answer) = control(
        world,
        reqwest::Method::PUT,
        &format!("/_sandbox/nodes/{name}"),
        body,
    )
    .await;
    assert!(status == 200 || status == 201, "{status} {answer}");
}

async fn delete_node(world: &World, name: &str) -> Value {
    let (status, answer) = control(
        world,
        reqwest::Method::DELETE,
        &format!("/_sandbox/nodes/{name}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// A world with `svc-1` published (revision 1, calling 10.224.0.4:30080).
async fn published() -> World {
    published_on(config()).await
}

async fn published_on(config: Config) -> World {
    let world = World::start(config).await;
    world.deploy(API, &base_doc("Drift API"));
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().2, "http://10.224.0.4:30080");
    world
}

/// Nothing but reads since `mark`, on ARM and on the cluster.
fn only_reads_since(world: &World, mark: usize) {
    let writes: Vec<String> = world
        .requests_since(mark)
        .iter()
        .filter(|r| r.emulator != "entra" && !matches!(r.method.as_str(), "GET" | "HEAD"))
        .map(|r| format!("{} {} {}", r.emulator, r.method, r.path))
        .collect();
    assert_eq!(writes, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_node_is_found_then_repaired_in_place() {
    let world = published().await;

    // Right after the publish: in sync.
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.stdout.contains("found no drift"), "{}", run.stdout);

    // The node APIM calls goes away (scale-down, node-image upgrade): its pod moves.
    let moved = delete_node(&world, NODE_0).await;
    assert_eq!(moved["moved"][0]["node"], NODE_1, "{moved}");
    assert_ne!(moved["moved"][0]["old"], moved["moved"][0]["new"]);
    let revisions = world.revision_count(API).await;
    let mark = world.sandbox.requests().len();
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-node-gone"), "{}", run.stdout);
    assert!(run.stdout.contains("10.224.0.4"), "{}", run.stdout);
    assert!(run.stdout.contains("found drift"), "{}", run.stdout);
    only_reads_since(&world, mark);
    assert_eq!(world.apim(API).await.unwrap().2, "http://10.224.0.4:30080");

    // --repair: the current revision now calls the Ready node, and no revision was added.
    let mark = world.sandbox.requests().len();
    let run = check(&world, &["--repair"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let (rev, _, url, _) = world.apim(API).await.unwrap();
    assert_eq!((rev, url.as_str()), (1, "http://10.224.0.5:30080"));
    assert_eq!(world.revision_count(API).await, revisions);
    let writes = world.writes_since(mark);
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].starts_with("PATCH "), "{writes:?}");

    // A second check (through the mode input, as a CI step runs it) is in sync.
    let run = world.gate(&[("APIM_GATE_MODE", "check")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    // And the gate still sees the document as unchanged: the record moved with the address.
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.both().contains("unchanged"), "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    world.assert_no_secret_printed();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_not_ready_cordoned_or_draining_node_is_named() {
    let world = published().await;
    for (body, says) in [
        (json!({"ready": false}), "NotReady"),
        (json!({"ready": true, "unschedulable": true}), "cordoned"),
        (
            json!({"unschedulable": false, "taints": [{"key": "ToBeDeletedByClusterAutoscaler", "value": "1767225600", "effect": "NoSchedule"}]}),
            "cluster autoscaler",
        ),
        // Karpenter (AKS node auto-provisioning) taints a node it disrupts before draining it.
        (
            json!({"taints": [{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]}),
            "Karpenter",
        ),
    ] {
        put_node(&world, NODE_0, body).await;
        let mark = world.sandbox.requests().len();
        let run = check(&world, &[], &[]).await;
        assert_eq!(run.code, 1, "{says}: {}", run.both());
        assert!(
            run.stdout.contains("drift-node-not-ready"),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(NODE_0), "{}", run.stdout);
        assert!(run.stdout.contains(says), "{says}: {}", run.stdout);
        only_reads_since(&world, mark);
    }
    // Back to normal: in sync again.
    put_node(&world, NODE_0, json!({"taints": []})).await;
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_node_port_is_found_and_repaired() {
    let world = published().await;
    let (status, answer) = control(
        &world,
        reqwest::Method::PUT,
        "/_sandbox/services/svc-1/nodeport",
        json!({"nodePort": 31555}),
    )
    .await;
    assert_eq!((status, answer["previous"].as_u64()), (200, Some(30080)));
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout.contains("drift-node-port-changed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("31555"), "{}", run.stdout);
    assert!(!run.stdout.contains("drift-node-gone"), "{}", run.stdout);

    let run = world
        .gate(&[("APIM_GATE_MODE", "check"), ("APIM_GATE_REPAIR", "true")])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().2, "http://10.224.0.4:31555");
    assert_eq!(world.revision_count(API).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_document_is_drift_the_repair_never_publishes() {
    let world = published().await;
    world.deploy(API, &with_new_operation(base_doc("Drift API"), "/health"));
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-document"), "{}", run.stdout);
    assert!(run.stdout.contains("GET /health"), "{}", run.stdout);

    let mark = world.sandbox.requests().len();
    let run = check(&world, &["--repair"], &[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-document"), "{}", run.stdout);
    only_reads_since(&world, mark);
    assert_eq!(world.revision_count(API).await, 1);
}

/// Someone re-imports a trimmed document into the current revision by hand (the portal, the
/// CLI), keeping its description: the live operations no longer match the recorded document.
#[tokio::test(flavor = "multi_thread")]
async fn an_edit_in_apim_is_operations_drift() {
    let world = published().await;
    let api_url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apis/{API}?api-version=2024-05-01",
        world.sandbox.urls.arm,
        world.sandbox.identity().subscription_id,
        world.sandbox.identity().resource_group,
        world.sandbox.identity().apim_service
    );
    let http = client(&world);
    let api: Value = http
        .get(&api_url)
        .bearer_auth(&world.sandbox.arm_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut trimmed = base_doc("Drift API");
    trimmed["host"] = json!("10.224.0.4:30080");
    trimmed["schemes"] = json!(["http"]);
    let first = trimmed["paths"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    trimmed["paths"].as_object_mut().unwrap().remove(&first);
    let r = http
        .put(&api_url)
        .bearer_auth(&world.sandbox.arm_token)
        .header("If-Match", "*")
        .json(&json!({"properties": {
            "format": "swagger-json",
            "value": trimmed.to_string(),
            "path": api["properties"]["path"],
            "apiRevisionDescription": api["properties"]["apiRevisionDescription"],
        }}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // Follow the import to its end, as a client does.
    if let Some(location) = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
    {
        for _ in 0..20 {
            let p = http
                .get(&location)
                .bearer_auth(&world.sandbox.arm_token)
                .send()
                .await
                .unwrap();
            if p.status().as_u16() == 200 {
                break;
            }
        }
    }
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-operations"), "{}", run.stdout);
    assert!(!run.stdout.contains("drift-document"), "{}", run.stdout);
    assert!(run.stdout.contains(&first), "{first}: {}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn services_are_checked_one_by_one() {
    let doc = support::bytes(&base_doc("Drift API"));
    let world = World::start(Config {
        specs: vec![doc.clone(), doc],
        ..config()
    })
    .await;
    let services = [("APIM_GATE_SERVICES", "svc-1, svc-2")];
    let run = world.gate(&services).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let run = check(&world, &[], &services).await;
    assert_eq!(run.code, 0, "{}", run.both());

    // svc-2's nodePort changes: only it drifts, and the run says which.
    let (status, _) = control(
        &world,
        reqwest::Method::PUT,
        "/_sandbox/services/svc-2/nodeport",
        json!({"nodePort": 31999}),
    )
    .await;
    assert_eq!(status, 200);
    let mark = world.sandbox.requests().len();
    let run = check(&world, &[], &services).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("svc-2"), "{}", run.stdout);
    assert!(run.stdout.contains("31999"), "{}", run.stdout);
    assert!(run.stdout.contains("found drift"), "{}", run.stdout);
    only_reads_since(&world, mark);

    let run = check(&world, &["--repair"], &services).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(
        world.apim("svc-2").await.unwrap().2,
        "http://10.224.0.4:31999"
    );
    assert_eq!(
        world.apim("svc-1").await.unwrap().2,
        "http://10.224.0.4:30080"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_api_is_drift() {
    let world = World::start(config()).await;
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-api-missing"), "{}", run.stdout);
}

/// On GitHub Actions the check reports like the gate: annotations, step outputs (`verdict:
/// drift`), the job summary, and a check run of its own name, so it never replaces the
/// release's on the same commit.
#[tokio::test(flavor = "multi_thread")]
async fn on_github_the_check_reports_outputs_summary_and_its_own_check_run() {
    let world = published().await;
    delete_node(&world, NODE_0).await;
    let env: std::collections::BTreeMap<String, String> = world.sandbox.env().into_iter().collect();
    let output = world.dir.path().join("output");
    let summary = world.dir.path().join("summary.md");
    let run = world
        .gate(&[
            ("APIM_GATE_MODE", "check"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_API_URL", env["SANDBOX_GITHUB_URL"].as_str()),
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_RUN_ID", "42"),
            ("INPUT_GITHUB-TOKEN", env["SANDBOX_GITHUB_TOKEN"].as_str()),
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("::error") && l.contains("drift-node-gone")),
        "{}",
        run.stdout
    );
    let outputs = std::fs::read_to_string(&output).unwrap();
    // `name<<DELIMITER`, the value, the delimiter: the value is the line after the name.
    let value = |name: &str| {
        let mut lines = outputs.lines();
        lines.find(|l| l.starts_with(&format!("{name}<<")));
        lines.next().unwrap_or("").to_string()
    };
    assert_eq!(value("verdict"), "drift", "{outputs}");
    assert_eq!(value("service-url"), "http://10.224.0.4:30080", "{outputs}");
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(
        md.contains("found drift") && md.contains("drift-node-gone"),
        "{md}"
    );
    let recorded: Value = client(&world)
        .get(format!("{}/_sandbox/github", world.sandbox.urls.github))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let runs = recorded["check_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{recorded:#}");
    assert_eq!(runs[0]["name"], "apim-gate check (default/svc-1)");
    assert_eq!(runs[0]["conclusion"], "failure");
    world.assert_no_secret_printed();
}

/// The backends APIM holds (`GET /_sandbox/apim`).
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

/// The members of the pool `svc-1-nodes`, by backend name.
async fn pool_members(world: &World) -> Vec<String> {
    let list = backends(world).await;
    let pool = list
        .iter()
        .find(|b| b["name"] == "svc-1-nodes")
        .unwrap_or_else(|| panic!("{list:?}"));
    let mut m: Vec<String> = pool["pool"]["services"]
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
        .collect();
    m.sort();
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_is_checked_against_the_ready_nodes_and_repaired() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Drift API"));
    let pool = [("APIM_GATE_BACKEND", "pool")];
    let run = world.gate(&pool).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let run = check(&world, &[], &pool).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let revisions = world.revision_count(API).await;

    // A new node: the pool misses it, a warning (every member still answers), exit 0.
    const NODE_2: &str = "aks-nodepool1-12345678-vmss000002";
    put_node(&world, NODE_2, json!({"internalIP": "10.224.0.6"})).await;
    let mark = world.sandbox.requests().len();
    let run = check(&world, &[], &pool).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.stdout.contains("drift-pool-members"), "{}", run.stdout);
    assert!(run.stdout.contains(NODE_2), "{}", run.stdout);
    only_reads_since(&world, mark);

    // The repair adds it.
    let run = check(&world, &["--repair"], &pool).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(
        pool_members(&world).await,
        [NODE_0, NODE_1, NODE_2].map(|n| format!("svc-1-{n}"))
    );

    // The first node goes: its member calls nowhere, an error naming it.
    delete_node(&world, NODE_0).await;
    let mark = world.sandbox.requests().len();
    let run = check(&world, &[], &pool).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-node-gone"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("svc-1-{NODE_0}")),
        "{}",
        run.stdout
    );
    only_reads_since(&world, mark);

    // Repaired: the member is out of the pool and removed, no revision added; then in sync.
    let run = check(&world, &["--repair"], &pool).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(
        pool_members(&world).await,
        [NODE_1, NODE_2].map(|n| format!("svc-1-{n}"))
    );
    assert!(
        !backends(&world)
            .await
            .iter()
            .any(|b| b["name"] == format!("svc-1-{NODE_0}"))
    );
    assert_eq!(world.revision_count(API).await, revisions);
    let run = check(&world, &[], &pool).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(!run.stdout.contains("drift-"), "{}", run.stdout);
}

const POLICY: &str = r#"<policies>
  <inbound>
    <base />
    <set-header name="X-Shop" exists-action="override">
      <value>one</value>
    </set-header>
  </inbound>
  <backend>
    <base />
  </backend>
  <outbound>
    <base />
  </outbound>
  <on-error>
    <base />
  </on-error>
</policies>
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_edited_in_apim_is_policy_drift_and_never_repaired() {
    let world = published().await;
    let file = world.dir.path().join("policy.xml");
    std::fs::write(&file, POLICY).unwrap();
    let policy = [("APIM_GATE_POLICY", file.to_str().unwrap())];
    // Published with the policy (in place: the document is unchanged, the policy is new).
    let run = world
        .gate(&[policy[0], ("APIM_GATE_REVISION", "in-place")])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    let run = check(&world, &[], &policy).await;
    assert_eq!(run.code, 0, "{}", run.both());
    // Re-indented in APIM: the same policy, no drift.
    let id = world.sandbox.identity();
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apis/{API}/policies/policy?api-version=2024-05-01",
        world.sandbox.urls.arm, id.subscription_id, id.resource_group, id.apim_service
    );
    let put = |value: String| {
        let http = client(&world);
        let url = url.clone();
        let token = world.sandbox.arm_token.clone();
        async move {
            let r = http
                .put(url)
                .bearer_auth(token)
                .json(&json!({"properties": {"format": "rawxml", "value": value}}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        }
    };
    put(POLICY.replace("\n  ", "\n")).await;
    let run = check(&world, &[], &policy).await;
    assert_eq!(run.code, 0, "{}", run.both());

    // Someone changes the header in the portal.
    put(POLICY.replace("<value>one</value>", "<value>two</value>")).await;
    let mark = world.sandbox.requests().len();
    let run = check(&world, &["--repair"], &policy).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-policy"), "{}", run.stdout);
    assert!(run.stdout.contains("two"), "{}", run.stdout);
    assert!(run.stdout.contains("policy.xml"), "{}", run.stdout);
    only_reads_since(&world, mark);
}

/// On Azure DevOps: the task fails, the `verdict` output variable says `drift`; dry-run keeps a
/// repair from writing.
#[tokio::test(flavor = "multi_thread")]
async fn on_azure_devops_the_check_fails_the_task_and_dry_run_keeps_the_repair_from_writing() {
    let world = published().await;
    let (status, _) = control(
        &world,
        reqwest::Method::PUT,
        "/_sandbox/services/svc-1/nodeport",
        json!({"nodePort": 31777}),
    )
    .await;
    assert_eq!(status, 200);
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[
            ("TF_BUILD", "True"),
            ("AGENT_TEMPDIRECTORY", world.dir.path().to_str().unwrap()),
            ("INPUT_MODE", "check"),
            ("INPUT_REPAIR", "true"),
            ("INPUT_DRYRUN", "true"),
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout.contains("##vso[task.complete result=Failed;]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(
            |l| l.starts_with("##vso[task.setvariable variable=verdict;") && l.ends_with("]drift")
        ),
        "{}",
        run.stdout
    );
    assert!(run.both().contains("dry-run is set"), "{}", run.both());
    only_reads_since(&world, mark);
    assert_eq!(world.apim(API).await.unwrap().2, "http://10.224.0.4:30080");
}

/// A Service that now has an internal load balancer, while APIM still calls a node: the address
/// the gate would choose is the load balancer's, so the API is told to move there.
#[tokio::test(flavor = "multi_thread")]
async fn an_internal_load_balancer_apim_does_not_call_is_address_drift() {
    let world = World::start(Config {
        service_type: apim_sandbox::ServiceType::LoadBalancer,
        ..config()
    })
    .await;
    world.deploy(API, &base_doc("Drift API"));
    let run = world.gate(&[("APIM_GATE_ADDRESS", "node-port")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().2, "http://10.224.0.4:30080");
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout.contains("drift-node-port-changed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("load balancer is 10.224.0.101:80"),
        "{}",
        run.stdout
    );
    let run = check(&world, &["--repair"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let url = world.apim(API).await.unwrap().2;
    assert!(url.starts_with("http://10.224.0.101"), "{url}");
    assert_eq!(world.revision_count(API).await, 1);
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
}

/// Sets the live API's serviceUrl as someone in the portal (or a script) would: a PATCH of the
/// API with `If-Match: *` (spec example ApiManagementUpdateApi).
async fn set_service_url(world: &World, url: &str) {
    let api_url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apis/{API}?api-version=2024-05-01",
        world.sandbox.urls.arm,
        world.sandbox.identity().subscription_id,
        world.sandbox.identity().resource_group,
        world.sandbox.identity().apim_service
    );
    let r = client(world)
        .patch(&api_url)
        .bearer_auth(&world.sandbox.arm_token)
        .header("If-Match", "*")
        .json(&json!({"properties": {"serviceUrl": url}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    assert_eq!(world.apim(API).await.unwrap().2, url);
}

/// With externalTrafficPolicy Local a nodePort answers only on nodes hosting a ready pod
/// (Kubernetes docs, "Create an External Load Balancer", preserving the client source IP): APIM
/// calling a Ready node without one, as after a rollout moved the pod, is drift.
#[tokio::test(flavor = "multi_thread")]
async fn a_local_service_s_node_without_its_pod_is_drift() {
    let mut topology = Topology::default_for(1, ServiceType::NodePort);
    topology.service_mut(API).unwrap().external_traffic_policy = TrafficPolicy::Local;
    let world = World::start(Config {
        cluster: Some(topology),
        specs: vec![support::bytes(&base_doc("Drift API"))],
        ..config()
    })
    .await;
    // Published to NODE_1 as when the pod ran there (the agent-ip input stands in for the
    // release's choice then); the pod runs on NODE_0 now, NODE_1 is Ready without it.
    let run = world.gate(&[("APIM_GATE_AGENT_IP", "10.224.0.5")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().2, "http://10.224.0.5:30080");
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stdout.contains("drift-node-not-ready"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(NODE_1), "{}", run.stdout);
    assert!(run.stdout.contains("hosts no ready pod"), "{}", run.stdout);

    let run = check(&world, &["--repair"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().2, "http://10.224.0.4:30080");
    assert_eq!(world.revision_count(API).await, 1);
}

/// A serviceUrl whose scheme or path was edited in the portal still names the right node and
/// nodePort, but every call goes elsewhere: address drift, set back by the repair.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_url_edited_in_apim_is_drift_and_repaired() {
    let world = published().await;
    for edited in ["http://10.224.0.4:30080/v2", "https://10.224.0.4:30080"] {
        set_service_url(&world, edited).await;
        let run = check(&world, &[], &[]).await;
        assert_eq!(run.code, 1, "{edited}: {}", run.both());
        assert!(run.stdout.contains("drift-service-url"), "{}", run.stdout);
        assert!(run.stdout.contains(edited), "{}", run.stdout);
    }
    let run = check(&world, &["--repair"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().2, "http://10.224.0.4:30080");
    assert_eq!(world.revision_count(API).await, 1);
    let run = check(&world, &[], &[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
}

/// A serviceUrl with a user part or a query (a password, a key) is never shown: not in the log,
/// the summary, the annotations or the outputs.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_url_s_credentials_never_reach_the_output() {
    let world = published().await;
    set_service_url(
        &world,
        "http://apim:s3cretpass@10.224.0.4:30080/?code=k3yvalue",
    )
    .await;
    let summary = world.dir.path().join("summary.md");
    let output = world.dir.path().join("output.txt");
    let run = world
        .gate(&[
            ("APIM_GATE_MODE", "check"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ])
        .await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-service-url"), "{}", run.stdout);
    let written = format!(
        "{}{}{}",
        run.both(),
        std::fs::read_to_string(&summary).unwrap_or_default(),
        std::fs::read_to_string(&output).unwrap_or_default()
    );
    for secret in ["s3cretpass", "k3yvalue"] {
        assert!(!written.contains(secret), "{secret}: {written}");
    }
}

/// An IPv6 agent-ip: APIM calls `[fd00::4]`, the input says `fd00::4`; the same host, so in
/// sync, and the repair writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_ipv6_agent_ip_is_in_sync() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Drift API"));
    let agent = [("APIM_GATE_AGENT_IP", "fd00::4")];
    let run = world.gate(&agent).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().2, "http://[fd00::4]:30080");
    let mark = world.sandbox.requests().len();
    let run = check(&world, &["--repair"], &agent).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.stdout.contains("found no drift"), "{}", run.stdout);
    only_reads_since(&world, mark);
}

/// The node APIM calls leaves and its pod's replacement stays Pending (the other node is
/// cordoned): no ready pod, no qualifying node, no document. The address is still checked and
/// named; the document is said to be not compared; the repair, with nowhere to point, writes
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn with_no_ready_pod_the_address_is_still_checked() {
    let world = published().await;
    put_node(&world, NODE_1, json!({"unschedulable": true})).await;
    let moved = delete_node(&world, NODE_0).await;
    assert_eq!(moved["moved"][0]["node"], Value::Null, "{moved}");
    let quick = [("APIM_GATE_POD_READY_TIMEOUT", "1s")];
    let run = check(&world, &[], &quick).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(run.stdout.contains("drift-node-gone"), "{}", run.stdout);
    assert!(run.stdout.contains("10.224.0.4"), "{}", run.stdout);
    assert!(run.both().contains("not compared"), "{}", run.both());

    let mark = world.sandbox.requests().len();
    let run = check(&world, &["--repair"], &quick).await;
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.both().contains("left the serviceUrl as it is"),
        "{}",
        run.both()
    );
    only_reads_since(&world, mark);
}

/// `repair: true` does nothing in a release; the gate says so rather than ignoring it.
#[tokio::test(flavor = "multi_thread")]
async fn repair_with_mode_release_is_warned_about() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Drift API"));
    let run = world.gate(&[("APIM_GATE_REPAIR", "true")]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.both().contains("repair applies only to mode: check"),
        "{}",
        run.both()
    );
}

/// With the pool and no policy input a release keeps the live API's own policy, routing added
/// (gate/run.rs); the check wants the same, so a hand-made policy is no drift.
#[tokio::test(flavor = "multi_thread")]
async fn a_hand_made_policy_routed_to_the_pool_is_no_drift() {
    let world = published().await;
    let id = world.sandbox.identity();
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apis/{API}/policies/policy?api-version=2024-05-01",
        world.sandbox.urls.arm, id.subscription_id, id.resource_group, id.apim_service
    );
    let r = client(&world)
        .put(url)
        .bearer_auth(&world.sandbox.arm_token)
        .json(&json!({"properties": {"format": "rawxml", "value": "<policies>\n  <inbound>\n    <base />\n    <rate-limit calls=\"7\" renewal-period=\"60\" />\n  </inbound>\n</policies>"}}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let pool = [("APIM_GATE_BACKEND", "pool")];
    let run = world.gate(&pool).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let run = check(&world, &[], &pool).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(!run.stdout.contains("drift-policy"), "{}", run.stdout);
}
