//! Policies published with the revision (issue 14), through the binary against the sandbox: a
//! malformed policy and a missing named value stop the run with nothing written; the policy goes
//! to the staged revision and is live only once it is released; operation policies matched and
//! unmatched; an unchanged run writes nothing; in-place; the dry run's diff; a failure while
//! staging the policy leaves the live API and its policy as they were.

mod support;

use apim_sandbox::Config;
use serde_json::{Value, json};
use support::{World, base_doc};

const API: &str = "svc-1";

fn config() -> Config {
    Config {
        retry_after: 0,
        ..Config::default()
    }
}

fn example(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .unwrap()
}

/// A policy without named values: a rate limit whose key is an expression with quotes in a
/// quoted attribute (rawxml), `calls` as given.
fn rate_limit(calls: u32) -> String {
    format!(
        "<policies>\n  <inbound>\n    <base />\n    <rate-limit-by-key calls=\"{calls}\" renewal-period=\"60\" counter-key=\"@(context.Request.Headers.GetValueOrDefault(\"x-client\", context.Request.IpAddress))\" />\n  </inbound>\n  <backend>\n    <base />\n  </backend>\n  <outbound>\n    <base />\n  </outbound>\n  <on-error>\n    <base />\n  </on-error>\n</policies>\n"
    )
}

impl World {
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn service_url(&self, rest: &str) -> String {
        let var = |k: &str| {
            self.sandbox
                .env()
                .into_iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v)
                .unwrap()
        };
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}{rest}",
            self.sandbox.urls.arm,
            var("APIM_GATE_SUBSCRIPTION_ID"),
            var("APIM_GATE_RESOURCE_GROUP"),
            var("APIM_GATE_APIM_SERVICE"),
        )
    }

    /// A request to the sandbox's ARM, as any ARM client sends it.
    async fn arm(&self, method: reqwest::Method, rest: &str, body: Option<Value>) -> (u16, Value) {
        let sep = if rest.contains('?') { '&' } else { '?' };
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.sandbox.ca_pem.as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let mut req = client
            .request(
                method,
                format!("{}{sep}api-version=2024-05-01", self.service_url(rest)),
            )
            .bearer_auth(&self.sandbox.arm_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The live policy of the API (`None`: it has none), as rawxml.
    async fn live_policy(&self, operation: Option<&str>) -> Option<String> {
        let scope = match operation {
            None => format!("/apis/{API}/policies/policy?format=rawxml"),
            Some(op) => format!("/apis/{API}/operations/{op}/policies/policy?format=rawxml"),
        };
        let (status, body) = self.arm(reqwest::Method::GET, &scope, None).await;
        match status {
            200 => Some(body["properties"]["value"].as_str().unwrap().to_string()),
            404 => None,
            s => panic!("GET policy: {s} {body}"),
        }
    }

    /// A named value `id` that policies reach as `{{display}}`.
    async fn create_named_value(&self, id: &str, display: &str, value: &str) {
        let (status, body) = self
            .arm(
                reqwest::Method::PUT,
                &format!("/namedValues/{id}"),
                Some(json!({"properties": {"displayName": display, "value": value}})),
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {body}");
    }

    /// The ARM writes since `mark`, policy writes only.
    fn policy_writes_since(&self, mark: usize) -> Vec<String> {
        self.writes_since(mark)
            .into_iter()
            .filter(|w| w.contains("/policies/"))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_policy_exits_2_with_line_and_column_and_writes_nothing() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    let policy = world.write(
        "policy.xml",
        "<policies>\n  <inbound>\n    <base />\n  </outbound>\n</policies>\n",
    );
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(
        run.both()
            .contains("is not well-formed XML at line 4, column 3"),
        "{}",
        run.both()
    );
    assert!(run.both().contains("policy.xml"), "{}", run.both());
    assert_eq!(world.writes_since(0), Vec::<String>::new());
    assert!(world.apim(API).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_named_values_are_named_then_the_release_puts_the_policy_live() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    // Revision 1 without a policy, so the policy goes out with a staged revision.
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.live_policy(None).await, None);

    // The README's example policy uses {{tenant-id}} and {{orders-api-audience}}.
    let policy = world.write("policy.xml", &example("policy.xml"));
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    let said = run.both();
    assert!(
        said.contains("{{orders-api-audience}}, {{tenant-id}}"),
        "{said}"
    );
    assert!(said.contains("nothing was written"), "{said}");
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert_eq!(world.apim(API).await.unwrap().0, 1);

    // Once they exist, revision 2 carries the policy and is released with it. One has an id
    // other than its display name: policies name it by display name, so it counts.
    world
        .create_named_value(
            "tenant-id",
            "tenant-id",
            "00000000-0000-0000-0000-000000000001",
        )
        .await;
    world
        .create_named_value("nv-audience", "orders-api-audience", "api://orders")
        .await;
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.both().contains("with the API policy (verified)"),
        "{}",
        run.both()
    );
    assert_eq!(world.apim(API).await.unwrap().0, 2);
    let live = world.live_policy(None).await.expect("the API has a policy");
    assert!(live.contains("<validate-jwt"), "{live}");
    assert!(
        live.contains("counter-key=\"@(context.Request.Headers.GetValueOrDefault(\"Authorization\", \"\").AsJwt()?.Subject ?? context.Request.IpAddress)\""),
        "{live}"
    );
    // Written to the staged revision, never to the live API, and released after.
    let writes = world.writes_since(mark);
    let policy_put = writes
        .iter()
        .position(|w| {
            w.starts_with("PUT ") && w.contains(&format!("/apis/{API};rev=2/policies/policy"))
        })
        .unwrap_or_else(|| panic!("no policy PUT to ;rev=2: {writes:#?}"));
    let release = writes
        .iter()
        .position(|w| w.contains("/releases/"))
        .unwrap_or_else(|| panic!("no release: {writes:#?}"));
    assert!(policy_put < release, "{writes:#?}");
    assert!(
        !writes
            .iter()
            .any(|w| w.contains(&format!("/apis/{API}/policies/"))),
        "{writes:#?}"
    );
    world.assert_no_secret_printed();
}

/// A policy reaches a named value by its display name (Learn, "Use named values in Azure API
/// Management policies"); one whose id matches but whose display name differs is not found.
#[tokio::test(flavor = "multi_thread")]
async fn a_named_value_matched_only_by_id_counts_as_missing() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    world.create_named_value("key", "other", "v").await;
    let policy = world.write(
        "policy.xml",
        "<policies>\n  <inbound>\n    <base />\n    <set-header name=\"x-key\" exists-action=\"override\">\n      <value>{{key}}</value>\n    </set-header>\n  </inbound>\n  <backend><base /></backend>\n  <outbound><base /></outbound>\n  <on-error><base /></on-error>\n</policies>\n",
    );
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 2, "{}", run.both());
    assert!(run.both().contains("{{key}}"), "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
}

/// `{{body.a}}` in a Liquid set-body is Liquid, not a named value (Learn, "set-body" policy,
/// "Using Liquid templates with set-body"): the policy publishes without any named value.
#[tokio::test(flavor = "multi_thread")]
async fn a_liquid_set_body_publishes_without_named_values() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    let policy = world.write(
        "policy.xml",
        "<policies>\n  <inbound>\n    <base />\n  </inbound>\n  <backend><base /></backend>\n  <outbound>\n    <base />\n    <set-body template=\"liquid\">{\"a\": \"{{body.a}}\", \"method\": \"{{context.Request.Method}}\"}</set-body>\n  </outbound>\n  <on-error><base /></on-error>\n</policies>\n",
    );
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let live = world.live_policy(None).await.expect("the API has a policy");
    assert!(live.contains("{{body.a}}"), "{live}");
}

#[tokio::test(flavor = "multi_thread")]
async fn operation_policies_matched_by_operation_id_unmatched_ones_listed() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    let folder = world.dir.path().join("ops");
    world.write(
        "ops/CreateProduct.xml",
        &example("policy-operations/CreateProduct.xml"),
    );
    world.write("ops/NoSuchOperation.xml", &rate_limit(1));
    let run = world
        .gate(&[("APIM_GATE_OPERATION_POLICIES", folder.to_str().unwrap())])
        .await;
    assert_eq!(run.code, 2, "{}", run.both());
    let said = run.both();
    assert!(said.contains("NoSuchOperation.xml in"), "{said}");
    assert!(
        said.contains("CreateCart, CreateProduct, DeleteCart"),
        "{said}"
    );
    assert_eq!(world.writes_since(0), Vec::<String>::new());

    std::fs::remove_file(folder.join("NoSuchOperation.xml")).unwrap();
    let run = world
        .gate(&[("APIM_GATE_OPERATION_POLICIES", folder.to_str().unwrap())])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    // APIM names the operation from its operationId (lower case).
    let live = world
        .live_policy(Some("createproduct"))
        .await
        .expect("CreateProduct has a policy");
    assert!(live.contains("calls=\"10\""), "{live}");
    assert_eq!(world.live_policy(Some("getproduct")).await, None);
    assert_eq!(world.live_policy(None).await, None);

    // CreateProduct's file removed: a new revision copies its live policy (Learn, "Revisions in
    // API Management") and the gate never deletes one, so the run says it stays.
    std::fs::remove_file(folder.join("CreateProduct.xml")).unwrap();
    world.write("ops/GetProduct.xml", &rate_limit(3));
    let run = world
        .gate(&[("APIM_GATE_OPERATION_POLICIES", folder.to_str().unwrap())])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(world.live_policy(Some("createproduct")).await.is_some());
    let said = run.both();
    assert!(
        said.contains("operation(s) createproduct of API 'svc-1' keep a live policy"),
        "{said}"
    );
    assert!(!said.contains("getproduct"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_document_and_policies_write_nothing_a_changed_policy_is_released() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    let policy = world.write("policy.xml", &rate_limit(5));
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().0, 1);
    assert!(
        world
            .live_policy(None)
            .await
            .unwrap()
            .contains("calls=\"5\"")
    );

    // The same document and policy: nothing written.
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.both().contains("and these policies"), "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());

    // Only the layout changed (APIM's own tabs and attribute order): still nothing written.
    let relaid = rate_limit(5).replace("  ", "\t").replace(
        "calls=\"5\" renewal-period=\"60\"",
        "renewal-period=\"60\" calls=\"5\"",
    );
    world.write("policy.xml", &relaid);
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());

    // The same document with another policy: a new revision, released with it.
    world.write("policy.xml", &rate_limit(7));
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.apim(API).await.unwrap().0, 2);
    assert!(
        world
            .live_policy(None)
            .await
            .unwrap()
            .contains("calls=\"7\"")
    );
    assert_eq!(
        world.policy_writes_since(mark).len(),
        1,
        "{:#?}",
        world.writes_since(mark)
    );

    // Without the input the gate leaves the policy alone: the document is unchanged, so nothing.
    let mark = world.sandbox.requests().len();
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    assert!(
        world
            .live_policy(None)
            .await
            .unwrap()
            .contains("calls=\"7\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_place_writes_the_policy_to_the_current_api_and_verifies_it() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    let run = world.gate(&[]).await;
    assert_eq!(run.code, 0, "{}", run.both());

    let policy = world.write("policy.xml", &rate_limit(9));
    let in_place = [
        ("APIM_GATE_POLICY", policy.as_str()),
        ("APIM_GATE_REVISION", "in-place"),
    ];
    let mark = world.sandbox.requests().len();
    let run = world.gate(&in_place).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(
        (
            world.apim(API).await.unwrap().0,
            world.revision_count(API).await
        ),
        (1, 1)
    );
    assert!(
        world
            .live_policy(None)
            .await
            .unwrap()
            .contains("calls=\"9\"")
    );
    assert_eq!(
        world.policy_writes_since(mark),
        vec![
            format!(
                "PUT {}",
                world
                    .service_url(&format!("/apis/{API}/policies/policy"))
                    .trim_start_matches(world.sandbox.urls.arm.as_str())
            ) + "?api-version=2024-05-01"
        ]
    );

    // Recorded: the next in-place run with the same policy writes nothing.
    let mark = world.sandbox.requests().len();
    let run = world.gate(&in_place).await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_shows_the_policy_change_as_a_diff_and_writes_nothing() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    let policy = world.write("policy.xml", &rate_limit(5));
    // Before the API exists: the whole policy is new.
    let run = world
        .gate(&[("APIM_GATE_POLICY", &policy), ("APIM_GATE_DRY_RUN", "true")])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(run.both().contains("@@ -0,0 +1,15 @@"), "{}", run.both());
    assert_eq!(world.writes_since(0), Vec::<String>::new());
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 0, "{}", run.both());

    world.write("policy.xml", &rate_limit(6));
    let folder = world.dir.path().join("ops");
    world.write("ops/GetProduct.xml", &rate_limit(1));
    let mark = world.sandbox.requests().len();
    let run = world
        .gate(&[
            ("APIM_GATE_POLICY", &policy),
            ("APIM_GATE_OPERATION_POLICIES", folder.to_str().unwrap()),
            ("APIM_GATE_DRY_RUN", "true"),
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.both());
    assert_eq!(world.writes_since(mark), Vec::<String>::new());
    let out = run.both();
    assert!(out.contains("Policy change (unified diff"), "{out}");
    assert!(out.contains("--- APIM now: the API policy"), "{out}");
    assert!(out.contains("-    <rate-limit-by-key calls=\"5\""), "{out}");
    assert!(out.contains("+    <rate-limit-by-key calls=\"6\""), "{out}");
    assert!(
        out.contains(
            "Would write the API policy and 1 operation policy (GetProduct) to revision 2"
        ),
        "{out}"
    );
    // The operation has no policy yet: all of it is added.
    assert!(
        out.contains(
            "--- APIM now: the policy of operation GetProduct\n  +++ operation-policies: "
        ),
        "{out}"
    );
    assert!(
        world
            .live_policy(None)
            .await
            .unwrap()
            .contains("calls=\"5\"")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_while_staging_the_policy_leaves_the_live_api_and_policy_as_they_were() {
    let world = World::start(config()).await;
    world.deploy(API, &base_doc("Test API V1"));
    let policy = world.write("policy.xml", &rate_limit(5));
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 0, "{}", run.both());
    let before = world.apim(API).await.unwrap();
    let live_before = world.live_policy(None).await.unwrap();

    // Every policy PUT answers 500 (more than the client's retries).
    let (status, _) = world.arm(reqwest::Method::GET, "/apis", None).await;
    assert_eq!(status, 200);
    world.write("policy.xml", &rate_limit(6));
    fault(&world, json!({"arm-policy-500": 20})).await;
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_eq!(run.code, 4, "{}", run.both());
    let said = run.both();
    assert!(said.contains("Writing the API policy"), "{said}");
    assert!(said.contains("Revision 2 was deleted again"), "{said}");
    assert_eq!(world.apim(API).await.unwrap(), before);
    assert_eq!(world.revision_count(API).await, 1);
    assert_eq!(world.live_policy(None).await.unwrap(), live_before);

    // APIM refuses the policy itself (a backend that does not exist): the same roll back, and
    // APIM's words reach the user.
    fault(&world, json!({"arm-policy-500": 0})).await;
    world.write(
        "policy.xml",
        &rate_limit(6).replace(
            "<base />\n    <rate",
            "<base />\n    <set-backend-service backend-id=\"nope\" />\n    <rate",
        ),
    );
    let run = world.gate(&[("APIM_GATE_POLICY", &policy)]).await;
    assert_ne!(run.code, 0, "{}", run.both());
    let said = run.both();
    assert!(
        said.contains("Backend with id 'nope' could not be found"),
        "{said}"
    );
    assert!(said.contains("was deleted again"), "{said}");
    assert_eq!(world.apim(API).await.unwrap(), before);
    assert_eq!(world.revision_count(API).await, 1);
    assert_eq!(world.live_policy(None).await.unwrap(), live_before);
}

async fn fault(world: &World, faults: Value) {
    let r = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(world.sandbox.ca_pem.as_bytes()).unwrap(),
        )
        .build()
        .unwrap()
        .post(format!("{}/_sandbox/faults", world.sandbox.urls.arm))
        .bearer_auth(&world.sandbox.arm_token)
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}
