//! The APIM side against the in-process sandbox: every sign-in, publish kinds, faults, roll back.

use std::sync::Mutex;
use std::time::Duration;

use apim_gate::apim::{
    self, ApiTarget, ApimError, Cleanup, Event, Observer, PublishKind, PublishRequest,
};
use apim_gate::azure::{self, ArmRequest, AzureError, RetryPolicy, SignedIn};
use apim_gate::exit::Exit;
use apim_gate::inputs::{Env, Inputs, Need, Platform, RevisionMode, table};
use apim_gate::spec::rewrite::Scheme;
use apim_gate::spec::{Document, RewriteOptions};
use apim_sandbox::{Config, LoggedRequest, Sandbox};
use serde_json::{Value, json};

const ADDRESS: &str = "10.224.0.4:30080";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../shared/fixtures/swashbuckle/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn start(faults: &[&str]) -> Sandbox {
    apim_gate::install_crypto_provider();
    Sandbox::start(Config {
        retry_after: 0,
        lro_polls: 2,
        faults: faults.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    })
    .await
    .expect("sandbox starts")
}

fn sandbox_var(sb: &Sandbox, name: &str) -> String {
    sb.env()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("sandbox env has no {name}"))
}

/// The sandbox's inputs, minus `remove`, plus `extra`; the process PATH unless `extra` sets one.
fn env_with(sb: &Sandbox, remove: &[&str], extra: &[(&str, String)]) -> Env {
    let mut pairs: Vec<(String, String)> = sb
        .env()
        .into_iter()
        .filter(|(k, _)| !remove.contains(&k.as_str()))
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .collect();
    if !extra.iter().any(|(k, _)| *k == "PATH") {
        pairs.push(("PATH".into(), std::env::var("PATH").unwrap_or_default()));
    }
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    as_step_inputs(pairs)
}

/// On GitHub Actions and Azure DevOps the inputs that decide where credentials go are read only
/// from the step's own input variable (as action.yml and the task set them): the sandbox's
/// `APIM_GATE_*` spelling of those becomes that variable.
fn as_step_inputs(pairs: Vec<(String, String)>) -> Env {
    let platform = Platform::detect(&Env::from_pairs(pairs.clone()));
    let pairs = pairs.into_iter().map(|(k, v)| {
        let step = k
            .strip_prefix("APIM_GATE_")
            .and_then(table::find)
            .filter(|spec| table::ROUTING.contains(&spec.name))
            .and_then(|spec| platform.step_var(spec));
        (step.unwrap_or(k), v)
    });
    // The task gets the names of the pipeline's public variables, as the real agent gives them.
    let public = (platform == Platform::AzureDevops).then(|| {
        (
            apim_gate::inputs::PUBLIC_VARIABLES.to_string(),
            r#"["agent.jobstatus","build.sourceVersion","system.debug"]"#.to_string(),
        )
    });
    Env::from_pairs(pairs.chain(public))
}

fn inputs(env: &Env) -> Inputs {
    Inputs::load(env, Need::Run).unwrap_or_else(|e| panic!("inputs: {e}"))
}

async fn sign_in(env: &Env) -> Result<SignedIn, AzureError> {
    azure::sign_in(&inputs(env), env).await
}

fn fast(signed: SignedIn) -> SignedIn {
    SignedIn {
        arm: signed.arm.with_policy(RetryPolicy {
            base_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        }),
        ..signed
    }
}

fn rewritten(bytes: &[u8]) -> (Document, String) {
    let out = apim_gate::spec::rewrite(
        bytes,
        &RewriteOptions {
            address: ADDRESS.parse().expect("address"),
            schemes: vec![Scheme::Http],
            compact: false,
        },
    )
    .expect("rewrite");
    (out.document().expect("parse"), out.service_url)
}

/// The Swagger 2.0 fixture without its first path: a changed deployment.
fn changed_swagger() -> Vec<u8> {
    let raw = fixture("basic-swagger2.json");
    let text = String::from_utf8_lossy(&raw);
    let mut v: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
    let paths = v["paths"].as_object_mut().unwrap();
    let first = paths.keys().next().unwrap().clone();
    paths.remove(&first);
    serde_json::to_vec(&v).unwrap()
}

fn target(sb: &Sandbox, signed: &SignedIn) -> ApiTarget {
    let env = env_with(sb, &[], &[]);
    ApiTarget::from_inputs(&inputs(&env), &sb.services[0], &signed.subscription_id).unwrap()
}

fn request<'a>(
    target: &'a ApiTarget,
    document: &'a Document,
    service_url: &'a str,
) -> PublishRequest<'a> {
    PublishRequest {
        target,
        document,
        service_url,
        revision: RevisionMode::Staged,
        dry_run: false,
        release_notes: None,
        commit: Some("0123456789abcdef".into()),
        current: None,
        policies: None,
    }
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Observer for Recorder {
    fn event(&self, event: Event) {
        self.0.lock().unwrap().push(format!("{event:?}"));
    }
}

impl Recorder {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn arm_since(sb: &Sandbox, mark: usize) -> Vec<LoggedRequest> {
    sb.requests()
        .into_iter()
        .skip(mark)
        .filter(|r| r.emulator == "arm")
        .collect()
}

fn writes(reqs: &[LoggedRequest]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

async fn revisions(signed: &SignedIn, t: &ApiTarget) -> Vec<(u32, bool)> {
    let r = signed
        .arm
        .send(
            ArmRequest::get(format!("{}/revisions", t.api_url(None))),
            &|_| {},
        )
        .await
        .unwrap();
    let mut out: Vec<(u32, bool)> = r.json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["apiRevision"].as_str().unwrap().parse().unwrap(),
                v["isCurrent"].as_bool().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn arm_fault(sb: &Sandbox, faults: Value) {
    let http = azure::http_client(Some(&sb.ca_file)).unwrap();
    let r = http
        .post(format!("{}/_sandbox/faults", sb.urls.arm))
        .bearer_auth(&sb.arm_token)
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

// ---------------------------------------------------------------- sign-in

#[tokio::test]
async fn client_secret_signs_in_and_arm_accepts_the_token() {
    let sb = start(&[]).await;
    let env = env_with(&sb, &[], &[]);
    let signed = sign_in(&env).await.expect("client secret accepted");
    assert!(
        signed.method.contains("client secret of app"),
        "{}",
        signed.method
    );
    let t = target(&sb, &signed);
    assert!(apim::current_api(&signed.arm, &t).await.unwrap().is_none());
    let shown = format!("{signed:?}");
    assert!(!shown.contains(&sb.identity().client_secret), "{shown}");
    let token_posts = sb
        .requests()
        .iter()
        .filter(|r| r.emulator == "entra" && r.method == "POST")
        .count();
    assert_eq!(token_posts, 1);
}

#[tokio::test]
async fn wrong_secret_shows_the_aadsts_error_and_not_the_secret() {
    let sb = start(&[]).await;
    let wrong = "sbx~definitely-not-it-1234";
    let env = env_with(&sb, &[], &[("APIM_GATE_CLIENT_SECRET", wrong.to_string())]);
    let err = sign_in(&env).await.expect_err("wrong secret refused");
    let text = err.to_string();
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(
        text.contains("not its Secret ID"),
        "the fix is named: {text}"
    );
    assert!(
        !text.contains(wrong) && !format!("{err:?}").contains(wrong),
        "{text}"
    );
    assert_eq!(err.exit(), Exit::Azure);
}

#[tokio::test]
async fn github_oidc_exchanges_the_runner_token() {
    let sb = start(&[]).await;
    let env = env_with(
        &sb,
        &["APIM_GATE_CLIENT_SECRET", "APIM_GATE_AUTH"],
        &[
            ("GITHUB_ACTIONS", "true".into()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                sandbox_var(&sb, "SANDBOX_GITHUB_OIDC_URL"),
            ),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
                sandbox_var(&sb, "SANDBOX_GITHUB_OIDC_REQUEST_TOKEN"),
            ),
        ],
    );
    let signed = sign_in(&env).await.expect("GitHub OIDC accepted");
    assert!(signed.method.contains("GitHub OIDC"), "{}", signed.method);
    assert!(signed.method.contains("auth auto"), "{}", signed.method);
    let t = target(&sb, &signed);
    assert!(apim::current_api(&signed.arm, &t).await.unwrap().is_none());
    assert!(
        sb.requests()
            .iter()
            .any(|r| r.path.starts_with("/_oidc/github/token") && r.status == 200)
    );

    // Without `id-token: write` the runner has no request URL: the fix is named.
    let env = env_with(
        &sb,
        &["APIM_GATE_CLIENT_SECRET"],
        &[
            ("APIM_GATE_AUTH", "oidc".into()),
            ("GITHUB_ACTIONS", "true".into()),
        ],
    );
    let err = sign_in(&env).await.expect_err("no ID token");
    assert!(err.to_string().contains("id-token: write"), "{err}");
    assert_eq!(err.exit(), Exit::Input);
}

#[tokio::test]
async fn federated_token_file_signs_in() {
    let sb = start(&[]).await;
    let env = env_with(
        &sb,
        &["APIM_GATE_CLIENT_SECRET"],
        &[
            ("APIM_GATE_AUTH", "oidc".into()),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                sandbox_var(&sb, "SANDBOX_FEDERATED_TOKEN_FILE"),
            ),
        ],
    );
    let signed = sign_in(&env).await.expect("federated token accepted");
    assert!(
        signed.method.contains("federated token file"),
        "{}",
        signed.method
    );
}

fn ado_env(sb: &Sandbox, scheme: &str, extra: Vec<(&'static str, String)>) -> Env {
    let id = sb.identity();
    let conn = id.ado_service_connection_id.clone();
    let up = conn.to_ascii_uppercase();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut vars: Vec<(&str, String)> = vec![
        ("TF_BUILD", "True".into()),
        ("APIM_GATE_AUTH", "azure-pipelines".into()),
        ("APIM_GATE_AZURE_SERVICE_CONNECTION", conn.clone()),
        (leak(format!("ENDPOINT_AUTH_SCHEME_{up}")), scheme.into()),
        (
            leak(format!("ENDPOINT_AUTH_PARAMETER_{up}_SERVICEPRINCIPALID")),
            id.client_id.clone(),
        ),
        (
            leak(format!("ENDPOINT_AUTH_PARAMETER_{up}_TENANTID")),
            id.tenant_id.clone(),
        ),
        (
            leak(format!("ENDPOINT_DATA_{up}_SUBSCRIPTIONID")),
            id.subscription_id.clone(),
        ),
    ];
    vars.extend(extra);
    env_with(
        sb,
        &[
            "APIM_GATE_CLIENT_SECRET",
            "APIM_GATE_CLIENT_ID",
            "APIM_GATE_TENANT_ID",
            "APIM_GATE_SUBSCRIPTION_ID",
        ],
        &vars,
    )
}

#[tokio::test]
async fn azure_devops_workload_identity_federation() {
    let sb = start(&[]).await;
    let env = ado_env(
        &sb,
        "WorkloadIdentityFederation",
        vec![
            (
                "SYSTEM_OIDCREQUESTURI",
                sandbox_var(&sb, "SANDBOX_ADO_OIDC_URL"),
            ),
            (
                "SYSTEM_ACCESSTOKEN",
                sandbox_var(&sb, "SANDBOX_ADO_ACCESS_TOKEN"),
            ),
        ],
    );
    let signed = sign_in(&env).await.expect("ADO WIF accepted");
    assert!(
        signed.method.contains("workload identity federation"),
        "{}",
        signed.method
    );
    assert_eq!(signed.subscription_id, sb.identity().subscription_id);
    let t = target(&sb, &signed);
    assert!(apim::current_api(&signed.arm, &t).await.unwrap().is_none());
    assert!(sb.requests().iter().any(|r| r.method == "POST"
        && r.path.contains("/_oidc/ado/oidctoken")
        && r.path.contains("serviceConnectionId=")
        && r.status == 200));

    // Without System.AccessToken mapped into the step, the fix is named.
    let env = ado_env(
        &sb,
        "WorkloadIdentityFederation",
        vec![(
            "SYSTEM_OIDCREQUESTURI",
            sandbox_var(&sb, "SANDBOX_ADO_OIDC_URL"),
        )],
    );
    let err = sign_in(&env).await.expect_err("no access token");
    assert!(err.to_string().contains("SYSTEM_ACCESSTOKEN"), "{err}");
    assert_eq!(err.exit(), Exit::Input);
}

#[tokio::test]
async fn azure_devops_service_principal_connection() {
    let sb = start(&[]).await;
    let up = sb.identity().ado_service_connection_id.to_ascii_uppercase();
    let key: &'static str =
        Box::leak(format!("ENDPOINT_AUTH_PARAMETER_{up}_SERVICEPRINCIPALKEY").into_boxed_str());
    let env = ado_env(
        &sb,
        "ServicePrincipal",
        vec![(key, sb.identity().client_secret.clone())],
    );
    let signed = sign_in(&env).await.expect("service principal accepted");
    assert!(
        signed.method.contains("service principal"),
        "{}",
        signed.method
    );
    assert!(!format!("{signed:?}").contains(&sb.identity().client_secret));
}

#[tokio::test]
async fn access_token_is_used_as_is() {
    let sb = start(&[]).await;
    let env = env_with(
        &sb,
        &["APIM_GATE_CLIENT_SECRET", "APIM_GATE_AUTH"],
        &[("APIM_GATE_ACCESS_TOKEN", sb.arm_token.clone())],
    );
    let signed = sign_in(&env).await.expect("token accepted");
    assert!(signed.method.contains("access-token"), "{}", signed.method);
    let t = target(&sb, &signed);
    assert!(apim::current_api(&signed.arm, &t).await.unwrap().is_none());
    assert!(!sb.requests().iter().any(|r| r.emulator == "entra"));
    assert!(!format!("{signed:?}").contains(&sb.arm_token));
}

#[cfg(unix)]
#[tokio::test]
async fn azure_cli_is_found_on_the_path_of_the_environment() {
    use std::os::unix::fs::PermissionsExt;
    let sb = start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args");
    let script = format!(
        "#!/bin/sh\necho \"$@\" > '{}'\necho '{{\"accessToken\":\"{}\",\"expires_on\":{},\"tokenType\":\"Bearer\"}}'\n",
        args_file.display(),
        sb.arm_token,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600
    );
    let az = dir.path().join("az");
    std::fs::write(&az, script).unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = env_with(
        &sb,
        &["APIM_GATE_CLIENT_SECRET"],
        &[("APIM_GATE_AUTH", "azure-cli".into()), ("PATH", path)],
    );
    let signed = sign_in(&env).await.expect("az stub token accepted");
    assert!(signed.method.contains("Azure CLI"), "{}", signed.method);
    let t = target(&sb, &signed);
    assert!(apim::current_api(&signed.arm, &t).await.unwrap().is_none());
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert!(
        args.contains("account get-access-token --resource https://management.azure.com/"),
        "{args}"
    );

    let empty = tempfile::tempdir().unwrap();
    let env = env_with(
        &sb,
        &["APIM_GATE_CLIENT_SECRET"],
        &[
            ("APIM_GATE_AUTH", "azure-cli".into()),
            ("PATH", empty.path().display().to_string()),
        ],
    );
    let err = sign_in(&env).await.expect_err("no az");
    assert!(err.to_string().contains("not on PATH"), "{err}");
    assert_eq!(err.exit(), Exit::Input);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed() {
    let sb = start(&["token-ttl=2"]).await;
    let env = env_with(&sb, &[], &[]);
    let signed = sign_in(&env).await.unwrap();
    let t = target(&sb, &signed);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(apim::current_api(&signed.arm, &t).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(apim::current_api(&signed.arm, &t).await.unwrap().is_none());
    let reqs = sb.requests();
    assert!(reqs.iter().filter(|r| r.emulator == "entra").count() >= 3);
    assert!(!reqs.iter().any(|r| r.status == 401), "{reqs:?}");
}

// ---------------------------------------------------------------- publish

#[tokio::test]
async fn first_publish_then_unchanged_then_a_changed_document_becomes_revision_2() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = ApiTarget {
        products: vec!["starter".into()],
        ..target(&sb, &signed)
    };
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    let rec = Recorder::default();
    let out = apim::publish(&signed.arm, &request(&t, &doc, &url), &rec)
        .await
        .expect("first publish");
    assert_eq!(out.kind, PublishKind::Created);
    assert_eq!(out.revision, Some(1));
    assert!(out.changed);
    assert_eq!(out.service_url, "http://10.224.0.4:30080");
    assert_eq!(out.operations, doc.operations().len());
    assert_eq!(out.products, ["starter"]);
    assert!(out.portal_url.contains("/apim-apis"), "{}", out.portal_url);
    let cur = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert_eq!(cur.revision, 1);
    assert_eq!(cur.service_url.as_deref(), Some("http://10.224.0.4:30080"));
    assert_eq!(cur.operations.len(), doc.operations().len());
    assert_eq!(cur.sha256.as_deref(), Some(doc.sha256().as_str()));
    assert!(
        rec.all().iter().any(|e| e.starts_with("Verified")),
        "{:?}",
        rec.all()
    );

    // The same document again: nothing is written, no revision piles up.
    let mark = sb.requests().len();
    let out = apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .unwrap();
    assert_eq!(out.kind, PublishKind::Unchanged);
    assert!(!out.changed);
    assert_eq!(out.revision, Some(1));
    let since = arm_since(&sb, mark);
    assert!(writes(&since).is_empty(), "{:?}", writes(&since));
    assert_eq!(since.len(), 1, "one GET of the API");

    // A changed document: revision 2 is staged, verified and released.
    let (doc2, url2) = rewritten(&changed_swagger());
    let mark = sb.requests().len();
    let out = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &apim::Quiet)
        .await
        .expect("second publish");
    assert_eq!(out.kind, PublishKind::Staged);
    assert_eq!(out.revision, Some(2));
    assert_eq!(out.previous_revision, Some(1));
    assert!(out.release_id.is_some());
    let w = writes(&arm_since(&sb, mark));
    assert_eq!(w.len(), 4, "create, import, release, product: {w:?}");
    assert!(w[0].contains(";rev=2"), "{w:?}");
    assert!(w[2].contains("/releases/apim-gate-rev2-"), "{w:?}");
    // On the bare API, the revision named in the body (azure-cli, APIOps).
    assert!(!w[2].contains(";rev="), "{w:?}");
    let cur = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert_eq!(cur.revision, 2);
    assert_eq!(cur.operations.len(), doc2.operations().len());
    assert!(cur.operations.len() < doc.operations().len());
    assert_eq!(revisions(&signed, &t).await, [(1, false), (2, true)]);

    // The baseline export is APIM's view of the current revision.
    let exported = apim::export_current(&signed.arm, &t)
        .await
        .unwrap()
        .unwrap();
    let exported = Document::parse(&exported).unwrap();
    assert_eq!(exported.operations().len(), doc2.operations().len());
}

#[tokio::test]
async fn in_place_imports_into_the_current_revision() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .unwrap();
    let (doc2, url2) = rewritten(&changed_swagger());
    let out = apim::publish(
        &signed.arm,
        &PublishRequest {
            revision: RevisionMode::InPlace,
            ..request(&t, &doc2, &url2)
        },
        &apim::Quiet,
    )
    .await
    .unwrap();
    assert_eq!(out.kind, PublishKind::InPlace);
    assert_eq!(out.revision, Some(1));
    let cur = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert_eq!(cur.operations.len(), doc2.operations().len());
    assert_eq!(revisions(&signed, &t).await, [(1, true)]);
}

#[tokio::test]
async fn a_failed_import_leaves_revision_1_current_and_untouched() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .unwrap();
    let before = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();

    arm_fault(&sb, json!({"lro-fail": 1})).await;
    let (doc2, url2) = rewritten(&changed_swagger());
    let err = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &apim::Quiet)
        .await
        .expect_err("the import fails");
    assert_eq!(err.exit(), Exit::Azure);
    assert_eq!(err.cleanup(), Some(&Cleanup::DeletedRevision(2)));
    let text = err.to_string();
    assert!(text.contains("ValidationError"), "{text}");
    assert!(
        text.contains("lro-fail"),
        "the poll's error is reported: {text}"
    );
    assert!(text.contains("untouched"), "{text}");

    let after = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert_eq!(
        after, before,
        "same revision, ETag, operations and serviceUrl"
    );
    assert_eq!(revisions(&signed, &t).await, [(1, true)]);
}

#[tokio::test]
async fn throttling_unavailability_and_conflicts_are_survived() {
    let sb = start(&["arm-429=2", "arm-5xx=2", "arm-409=2"]).await;
    let signed = fast(sign_in(&env_with(&sb, &[], &[])).await.unwrap());
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    let rec = Recorder::default();
    apim::publish(&signed.arm, &request(&t, &doc, &url), &rec)
        .await
        .expect("first publish survives the faults");
    arm_fault(&sb, json!({"arm-429": 1, "arm-5xx": 1, "arm-409": 1})).await;
    let (doc2, url2) = rewritten(&changed_swagger());
    let out = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &rec)
        .await
        .expect("staged publish survives the faults");
    assert_eq!(out.revision, Some(2));
    let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
    for s in [429, 503, 409] {
        assert!(statuses.contains(&s), "{s} was injected: {statuses:?}");
    }
    let retries = rec
        .all()
        .into_iter()
        .filter(|e| e.starts_with("Retrying"))
        .count();
    assert!(retries >= 9, "{:?}", rec.all());
}

#[tokio::test]
async fn openapi3_service_url_left_empty_is_set_and_verified() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-openapi30.json"));
    let mark = sb.requests().len();
    let out = apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("publish");
    assert!(
        out.notes.iter().any(|n| n.contains("empty")),
        "{:?}",
        out.notes
    );
    assert!(
        writes(&arm_since(&sb, mark))
            .iter()
            .any(|w| w.starts_with("PATCH"))
    );
    let cur = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert_eq!(cur.service_url.as_deref(), Some("http://10.224.0.4:30080"));
}

#[tokio::test]
async fn swagger_without_schemes_fails_with_the_reason_and_leaves_nothing() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let doc = Document::parse(&fixture("basic-swagger2.json")).unwrap();
    let err = apim::publish(
        &signed.arm,
        &request(&t, &doc, "http://10.224.0.4:30080"),
        &apim::Quiet,
    )
    .await
    .expect_err("no schemes");
    let text = err.to_string();
    assert!(text.contains("Cannot infer scheme"), "{text}");
    assert!(text.contains("schemes"), "{text}");
    // APIM refused the create outright, so there was no API to delete (a clean-up deletes only
    // what exists and carries this run's marker).
    assert_eq!(err.cleanup(), Some(&Cleanup::Nothing));
    assert!(apim::current_api(&signed.arm, &t).await.unwrap().is_none());
}

#[tokio::test]
async fn a_5_mb_document_is_refused_before_any_call() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let big = json!({
        "swagger": "2.0",
        "info": {"title": "big", "version": "1", "description": "x".repeat(5 * 1024 * 1024)},
        "host": ADDRESS,
        "schemes": ["http"],
        "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}
    });
    let doc = Document::parse(big.to_string().as_bytes()).unwrap();
    let mark = sb.requests().len();
    let err = apim::publish(
        &signed.arm,
        &request(&t, &doc, "http://10.224.0.4:30080"),
        &apim::Quiet,
    )
    .await
    .expect_err("too large");
    assert!(matches!(err, ApimError::TooLarge { .. }));
    assert_eq!(err.exit(), Exit::Input);
    assert!(err.to_string().contains("5.0 MB"), "{err}");
    assert!(sb.requests().len() == mark, "no request was sent");
}

#[tokio::test]
async fn dry_run_sends_no_write() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    let mark = sb.requests().len();
    let out = apim::publish(
        &signed.arm,
        &PublishRequest {
            dry_run: true,
            ..request(&t, &doc, &url)
        },
        &apim::Quiet,
    )
    .await
    .unwrap();
    let plan = out.dry_run_plan.expect("a plan");
    assert!(plan.contains("would create"), "{plan}");
    assert!(!out.changed);
    let since = arm_since(&sb, mark);
    assert!(writes(&since).is_empty(), "{:?}", writes(&since));

    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .unwrap();
    let (doc2, url2) = rewritten(&changed_swagger());
    let mark = sb.requests().len();
    let out = apim::publish(
        &signed.arm,
        &PublishRequest {
            dry_run: true,
            ..request(&t, &doc2, &url2)
        },
        &apim::Quiet,
    )
    .await
    .unwrap();
    let plan = out.dry_run_plan.expect("a plan");
    assert!(plan.contains("revision 2"), "{plan}");
    assert!(plan.contains("not in the document"), "{plan}");
    let all_since: Vec<LoggedRequest> = sb.requests().into_iter().skip(mark).collect();
    assert!(
        all_since
            .iter()
            .all(|r| r.method == "GET" || (r.emulator == "entra" && r.method == "POST")),
        "{all_since:?}"
    );
    assert_eq!(revisions(&signed, &t).await, [(1, true)]);
}

#[tokio::test]
async fn a_dead_authority_or_arm_fails_in_seconds() {
    let sb = start(&[]).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("https://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let env = env_with(&sb, &[], &[("APIM_GATE_AUTHORITY_HOST", dead.clone())]);
    let started = std::time::Instant::now();
    let err = sign_in(&env).await.expect_err("nobody listens");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.exit(), Exit::Azure);
    let text = err.to_string();
    assert!(text.contains("client secret of app"), "{text}");
    assert!(text.contains(&format!("Entra ID at {dead}")), "{text}");

    let env = env_with(
        &sb,
        &["APIM_GATE_CLIENT_SECRET", "APIM_GATE_AUTH"],
        &[
            ("APIM_GATE_ACCESS_TOKEN", sb.arm_token.clone()),
            ("APIM_GATE_ARM_ENDPOINT", dead.clone()),
        ],
    );
    let signed = fast(sign_in(&env).await.unwrap());
    let t = target(&sb, &signed);
    let started = std::time::Instant::now();
    let err = apim::current_api(&signed.arm, &t)
        .await
        .expect_err("dead ARM");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.to_string()
            .contains("cannot reach Azure Resource Manager"),
        "{err}"
    );
    assert_eq!(err.exit(), Exit::Azure);
}

#[tokio::test]
async fn a_staged_release_reads_every_page_of_operations_and_the_revision_once() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("first publish");

    let (doc2, url2) = rewritten(&changed_swagger());
    let ops = doc2.operations().len();
    assert!(ops > 10, "more operations than one sandbox page: {ops}");
    let mark = sb.requests().len();
    let out = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &apim::Quiet)
        .await
        .expect("staged release");
    assert_eq!(out.kind, PublishKind::Staged);
    assert_eq!(out.operations, ops);
    let since = arm_since(&sb, mark);
    let pages: Vec<&str> = since
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains(";rev=2/operations"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        pages.len(),
        ops.div_ceil(10),
        "every nextLink followed: {pages:?}"
    );
    assert!(pages[1..].iter().all(|p| p.contains("$skip=")), "{pages:?}");
    // The import's last poll is the revision's contract; verify does not GET it again. (The one
    // 404 is the re-check that revision 2 does not exist yet, right before creating it.)
    let plain_reads = since
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains(";rev=2?") && !r.path.contains("asyncId="))
        .filter(|r| r.status != 404)
        .count();
    assert_eq!(plain_reads, 0, "{since:?}");
    let cur = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert_eq!(cur.revision, 2);
    assert_eq!(cur.operations.len(), ops);
    assert_eq!(cur.service_url.as_deref(), Some("http://10.224.0.4:30080"));
}

// ------------------------------------------- real APIM behaviour (issue 12, issue 13 item 7)

/// The API's properties as ARM returns them (current revision).
async fn api_properties(signed: &SignedIn, t: &ApiTarget) -> Value {
    let r = signed
        .arm
        .send(ArmRequest::get(t.api_url(None)), &|_| {})
        .await
        .unwrap();
    r.json()["properties"].clone()
}

/// The basic Swagger 2.0 fixture with `info` changed and its first path removed.
fn retitled_swagger(title: &str, description: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&changed_swagger()).unwrap();
    v["info"]["title"] = json!(title);
    v["info"]["description"] = json!(description);
    serde_json::to_vec(&v).unwrap()
}

fn sorted_protocols(p: &Value) -> Vec<String> {
    let mut v: Vec<String> = p["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// An observer that runs `hook` on every event, in line (so a test can act between two of the
/// gate's requests, as a concurrent run would).
struct Hook<F: Fn(&Event) + Send + Sync>(F);

impl<F: Fn(&Event) + Send + Sync> Observer for Hook<F> {
    fn event(&self, event: Event) {
        (self.0)(&event)
    }
}

/// Runs `fut` to its end from inside a synchronous observer (multi-thread runtime only).
fn block_on<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(fut))
}

fn is_writing(e: &Event, needle: &str) -> bool {
    matches!(e, Event::Writing { what } if what.contains(needle))
}

fn is_found(e: &Event, needle: &str) -> bool {
    matches!(e, Event::Found { what } if what.contains(needle))
}

#[tokio::test]
async fn a_changed_title_description_and_gateway_settings_go_out_as_the_next_revision() {
    // Real APIM locks these on a non-current revision (Learn, "Revisions"; apiops#285,
    // #436; azure-powershell#9270): the gate stages with the current values and sets the new
    // ones once the revision is current.
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("first publish");
    let before = api_properties(&signed, &t).await;
    assert_eq!(sorted_protocols(&before), ["https"]);

    let (doc2, url2) = rewritten(&retitled_swagger("Pets, renamed", "New words for the API"));
    let changed = ApiTarget {
        protocols: vec!["https".into(), "http".into()],
        subscription_required: false,
        ..t.clone()
    };
    let rec = Recorder::default();
    let out = apim::publish(&signed.arm, &request(&changed, &doc2, &url2), &rec)
        .await
        .unwrap_or_else(|e| panic!("a retitled document is released: {e}"));
    assert_eq!(out.kind, PublishKind::Staged);
    assert_eq!(out.revision, Some(2));
    assert_eq!(revisions(&signed, &t).await, [(1, false), (2, true)]);
    let after = api_properties(&signed, &t).await;
    assert_eq!(after["displayName"], "Pets, renamed");
    assert_eq!(after["description"], "New words for the API");
    assert_eq!(sorted_protocols(&after), ["http", "https"]);
    assert_eq!(after["subscriptionRequired"], false);
    assert!(
        rec.all()
            .iter()
            .any(|e| e.contains("(revision 2 is current)")),
        "{:?}",
        rec.all()
    );

    // A changed api-display-name alone goes out the same way.
    let (doc3, url3) = rewritten(&fixture("basic-swagger2.json"));
    let named = ApiTarget {
        display_name: Some("Shown name".into()),
        ..changed.clone()
    };
    apim::publish(&signed.arm, &request(&named, &doc3, &url3), &apim::Quiet)
        .await
        .unwrap_or_else(|e| panic!("a new display name is released: {e}"));
    let last = api_properties(&signed, &t).await;
    assert_eq!(last["displayName"], "Shown name");
    assert_eq!(last["apiRevision"], "3");
}

#[tokio::test]
async fn swagger2_http_schemes_keep_the_gateway_on_https_in_every_import() {
    // The rewrite writes `schemes: ["http"]` (how APIM calls the backend); APIM takes a Swagger
    // 2.0 document's schemes as the gateway's protocols unless the import sends `protocols`.
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    assert_eq!(doc.value()["schemes"], json!(["http"]));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("create");
    assert_eq!(
        sorted_protocols(&api_properties(&signed, &t).await),
        ["https"]
    );

    let (doc2, url2) = rewritten(&changed_swagger());
    let in_place = PublishRequest {
        revision: RevisionMode::InPlace,
        ..request(&t, &doc2, &url2)
    };
    let out = apim::publish(&signed.arm, &in_place, &apim::Quiet)
        .await
        .expect("in-place");
    assert_eq!(out.kind, PublishKind::InPlace);
    let p = api_properties(&signed, &t).await;
    assert_eq!(sorted_protocols(&p), ["https"]);
    assert_eq!(p["subscriptionRequired"], true);
    assert_eq!(p["serviceUrl"], "http://10.224.0.4:30080");

    let (doc3, url3) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc3, &url3), &apim::Quiet)
        .await
        .expect("staged");
    assert_eq!(
        sorted_protocols(&api_properties(&signed, &t).await),
        ["https"]
    );
}

#[tokio::test]
async fn an_import_answered_422_and_a_409_while_it_runs_are_waited_out() {
    // Azure/apiops#497, #689, #141: the import goes on behind both answers.
    let sb = start(&["arm-import-422=1", "arm-409=1"]).await;
    let signed = fast(sign_in(&env_with(&sb, &[], &[])).await.unwrap());
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    let out = apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .unwrap_or_else(|e| panic!("the first publish waits them out: {e}"));
    assert_eq!(out.kind, PublishKind::Created);
    let statuses: Vec<u16> = sb.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&422), "{statuses:?}");
    assert!(statuses.contains(&409), "{statuses:?}");
    assert!(!sb.requests().iter().any(|r| r.method == "DELETE"));

    arm_fault(&sb, json!({"arm-import-422": 1, "arm-409": 1})).await;
    let (doc2, url2) = rewritten(&changed_swagger());
    let out = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &apim::Quiet)
        .await
        .unwrap_or_else(|e| panic!("a staged publish waits them out: {e}"));
    assert_eq!(out.revision, Some(2));
    assert_eq!(revisions(&signed, &t).await, [(1, false), (2, true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_delete_that_meets_409_is_retried() {
    let sb = start(&[]).await;
    let signed = fast(sign_in(&env_with(&sb, &[], &[])).await.unwrap());
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("first publish");
    sb.shared.faults.set("lro-fail", 1).unwrap();
    let shared = sb.shared.clone();
    let hook = Hook(move |e: &Event| {
        if is_writing(e, "DELETE revision 2") {
            shared.faults.set("arm-409", 2).unwrap();
        }
    });
    let (doc2, url2) = rewritten(&changed_swagger());
    let err = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &hook)
        .await
        .expect_err("the import fails");
    assert_eq!(err.cleanup(), Some(&Cleanup::DeletedRevision(2)), "{err}");
    let deletes: Vec<u16> = sb
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.status)
        .collect();
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    assert_eq!(deletes[..2], [409, 409], "{deletes:?}");
    assert!(
        (200..300).contains(&deletes[2]),
        "went through: {deletes:?}"
    );
    assert_eq!(revisions(&signed, &t).await, [(1, true)]);
}

#[tokio::test]
async fn trace_operations_are_not_expected_in_apim() {
    // Learn, "API import restrictions": APIM does not import TRACE.
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let mut v: Value = serde_json::from_slice(&changed_swagger()).unwrap();
    v["paths"]["/diagnostics"] = json!({"trace": {"operationId": "Trace",
        "responses": {"200": {"description": "ok"}}}});
    let (doc, url) = rewritten(&serde_json::to_vec(&v).unwrap());
    let out = apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .unwrap_or_else(|e| panic!("verify does not call TRACE missing: {e}"));
    assert_eq!(out.operations, doc.operations().len() - 1);
    let cur = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert!(cur.operations.iter().all(|o| o.method != "TRACE"));
    let lint = apim_gate::spec::lint::lint(&doc);
    assert!(
        lint.iter().any(|f| f.id == "apim-trace-dropped"),
        "{lint:?}"
    );
}

#[tokio::test]
async fn polling_stops_at_the_timeout_input_and_says_so() {
    // Retry-After 30 on every poll: the first wait would pass a 1-second deadline.
    apim_gate::install_crypto_provider();
    let sb = Sandbox::start(Config {
        retry_after: 30,
        lro_polls: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let signed = SignedIn {
        arm: signed.arm.with_deadline(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        ),
        ..signed
    };
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    let err = apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect_err("out of time");
    let text = err.to_string();
    assert!(text.contains("the timeout input is 1s"), "{text}");
    assert_eq!(err.exit(), Exit::Azure);
    let polls = sb
        .requests()
        .iter()
        .filter(|r| r.path.contains("asyncId="))
        .count();
    assert_eq!(polls, 0, "no poll was sent past the deadline");
}

#[tokio::test]
async fn arm_api_version_is_an_input() {
    let sb = start(&[]).await;
    let env = env_with(
        &sb,
        &[],
        &[("APIM_GATE_ARM_API_VERSION", "2022-08-01".to_string())],
    );
    let signed = sign_in(&env).await.unwrap();
    assert_eq!(signed.arm.api_version(), "2022-08-01");
    let t = target(&sb, &signed);
    let mark = sb.requests().len();
    let _ = apim::current_contract(&signed.arm, &t).await;
    let sent = arm_since(&sb, mark);
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|r| r.path.contains("api-version=2022-08-01")),
        "{sent:?}"
    );

    let bad = env_with(
        &sb,
        &[],
        &[("APIM_GATE_ARM_API_VERSION", "latest".to_string())],
    );
    let e = sign_in(&bad).await.unwrap_err();
    assert_eq!(e.exit(), Exit::Input);
    assert!(e.to_string().contains("arm-api-version"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_another_run_creates_meanwhile_is_a_conflict_and_left_alone() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let other = ArmRequest::put(
        t.api_url(None),
        json!({"properties": {"displayName": "Other run", "path": "other", "protocols": ["https"]}}),
    );
    let arm = &signed.arm;
    let hook = Hook(|e: &Event| {
        if is_found(e, "does not exist yet") {
            block_on(arm.send(other.clone(), &|_| {})).expect("the other run creates the API");
        }
    });
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    let mark = sb.requests().len();
    let err = apim::publish(&signed.arm, &request(&t, &doc, &url), &hook)
        .await
        .expect_err("a conflict");
    assert!(matches!(err, ApimError::Conflict { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Azure);
    let ours: Vec<String> = writes(&arm_since(&sb, mark))
        .into_iter()
        .skip(1) // the other run's PUT
        .collect();
    assert!(ours.is_empty(), "nothing written or deleted: {ours:?}");
    assert_eq!(
        api_properties(&signed, &t).await["displayName"],
        "Other run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revision_another_run_creates_meanwhile_is_a_conflict_and_left_alone() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("first publish");
    let other = ArmRequest::put(
        t.api_url(Some(2)),
        json!({"properties": {"sourceApiId": t.resource_id(None),
            "apiRevisionDescription": "another run's revision"}}),
    );
    let arm = &signed.arm;
    let hook = Hook(|e: &Event| {
        if is_found(e, "next revision") {
            block_on(arm.send(other.clone(), &|_| {})).expect("the other run stages revision 2");
        }
    });
    let (doc2, url2) = rewritten(&changed_swagger());
    let mark = sb.requests().len();
    let err = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &hook)
        .await
        .expect_err("a conflict");
    assert!(matches!(err, ApimError::Conflict { .. }), "{err}");
    assert_eq!(err.exit(), Exit::Azure);
    assert!(err.to_string().contains("revision 2"), "{err}");
    let ours: Vec<String> = writes(&arm_since(&sb, mark)).into_iter().skip(1).collect();
    assert!(ours.is_empty(), "nothing written or deleted: {ours:?}");
    assert_eq!(revisions(&signed, &t).await, [(1, true), (2, false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_up_deletes_only_what_carries_this_runs_marker() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("first publish");
    sb.shared.faults.set("lro-fail", 1).unwrap();
    // Another run takes revision 2 over after this run's import failed, before its clean-up.
    let take_over = ArmRequest::patch(
        t.api_url(Some(2)),
        json!({"properties": {"apiRevisionDescription": "another run's revision"}}),
        None,
    );
    let arm = &signed.arm;
    let hook = Hook(|e: &Event| {
        if is_writing(e, "DELETE revision 2") {
            block_on(arm.send(take_over.clone(), &|_| {})).expect("the other run writes");
        }
    });
    let (doc2, url2) = rewritten(&changed_swagger());
    let err = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &hook)
        .await
        .expect_err("the import fails");
    assert_eq!(
        err.cleanup(),
        Some(&Cleanup::NotOurs { revision: Some(2) }),
        "{err}"
    );
    assert!(err.to_string().contains("another run"), "{err}");
    assert!(!sb.requests().iter().any(|r| r.method == "DELETE"));
    assert_eq!(revisions(&signed, &t).await, [(1, true), (2, false)]);
}

#[tokio::test]
async fn resource_ids_in_bodies_are_literal_for_any_resource_group_name() {
    // sourceApiId and a release's apiId are compared as written (spec example
    // ApiManagementCreateApiRevisionFromExistingApi), while the URL path is percent-encoded.
    for rg in ["rg.contoso_(prod)", "rg-müller-østergård"] {
        apim_gate::install_crypto_provider();
        let sb = Sandbox::start(Config {
            retry_after: 0,
            resource_group: rg.to_string(),
            ..Default::default()
        })
        .await
        .unwrap();
        let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
        let t = target(&sb, &signed);
        assert_eq!(t.resource_group, rg);
        let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
        apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
            .await
            .unwrap_or_else(|e| panic!("{rg}: create: {e}"));
        let (doc2, url2) = rewritten(&changed_swagger());
        let out = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &apim::Quiet)
            .await
            .unwrap_or_else(|e| panic!("{rg}: staged: {e}"));
        assert_eq!(out.revision, Some(2), "{rg}");
        assert_eq!(
            revisions(&signed, &t).await,
            [(1, false), (2, true)],
            "{rg}"
        );
    }
}

#[tokio::test]
async fn the_export_link_gets_no_token_and_an_unreachable_link_falls_back_to_the_inline_export() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("publish");

    // The link is on the storage origin, which refuses a bearer token: the download succeeds
    // only because none is sent.
    let mark = sb.requests().len();
    let linked = apim::export_current(&signed.arm, &t)
        .await
        .unwrap()
        .expect("exported");
    let blob: Vec<LoggedRequest> = sb
        .requests()
        .into_iter()
        .skip(mark)
        .filter(|r| r.emulator == "blob")
        .collect();
    assert_eq!(blob.len(), 1, "{blob:?}");
    assert_eq!(blob[0].status, 200, "{blob:?}");

    // An agent whose proxy lets ARM through but not storage: the inline export is used.
    let blob_port = reqwest::Url::parse(&sb.urls.blob).unwrap().port();
    let ca = reqwest::Certificate::from_pem(sb.ca_pem.as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_merge([ca])
        .proxy(reqwest::Proxy::custom(move |u| {
            (u.port() == blob_port).then(|| "http://127.0.0.1:9".to_string())
        }))
        .build()
        .unwrap();
    let arm = azure::ArmClient::with_token(
        http,
        &sb.urls.arm,
        apim_gate::inputs::Secret::new(sb.arm_token.clone()),
    )
    .unwrap();
    let mark = sb.requests().len();
    let inline = apim::export_current(&arm, &t)
        .await
        .unwrap_or_else(|e| panic!("falls back: {e}"))
        .expect("exported");
    let since = arm_since(&sb, mark);
    assert!(
        since
            .iter()
            .any(|r| r.path.contains("format=openapi%2Bjson&")),
        "{since:?}"
    );
    let (a, b) = (
        Document::parse(&linked).unwrap(),
        Document::parse(&inline).unwrap(),
    );
    assert_eq!(a.operations().len(), b.operations().len());
    assert_eq!(a.operations().len(), doc.operations().len());
}

#[tokio::test]
async fn changed_inputs_on_an_unchanged_document_are_set_on_the_current_api() {
    let sb = start(&[]).await;
    let signed = sign_in(&env_with(&sb, &[], &[])).await.unwrap();
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("first publish");
    let changed = ApiTarget {
        display_name: Some("Shown name".into()),
        protocols: vec!["http".into(), "https".into()],
        subscription_required: false,
        ..t.clone()
    };
    let dry = PublishRequest {
        dry_run: true,
        ..request(&changed, &doc, &url)
    };
    let mark = sb.requests().len();
    let plan = apim::publish(&signed.arm, &dry, &apim::Quiet)
        .await
        .unwrap();
    assert!(writes(&arm_since(&sb, mark)).is_empty());
    assert!(
        plan.dry_run_plan
            .as_deref()
            .unwrap_or("")
            .contains("Shown name"),
        "{plan:?}"
    );
    let out = apim::publish(&signed.arm, &request(&changed, &doc, &url), &apim::Quiet)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.kind, PublishKind::Unchanged);
    assert!(out.changed);
    assert_eq!(revisions(&signed, &t).await, [(1, true)], "no new revision");
    let p = api_properties(&signed, &t).await;
    assert_eq!(p["displayName"], "Shown name");
    assert_eq!(sorted_protocols(&p), ["http", "https"]);
    assert_eq!(p["subscriptionRequired"], false);
}

#[tokio::test]
async fn a_link_export_answered_500_falls_back_to_the_inline_export() {
    let sb = start(&[]).await;
    let signed = fast(sign_in(&env_with(&sb, &[], &[])).await.unwrap());
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("publish");
    // APIM fails the -link export itself, every time (Azure/apiops#223).
    arm_fault(&sb, json!({"arm-export-link-500": 100})).await;
    let mark = sb.requests().len();
    let inline = apim::export_current(&signed.arm, &t)
        .await
        .unwrap_or_else(|e| panic!("falls back to the inline export: {e}"))
        .expect("exported");
    let since = arm_since(&sb, mark);
    assert!(
        since
            .iter()
            .any(|r| r.path.contains("format=openapi%2Bjson-link") && r.status == 500),
        "{since:?}"
    );
    assert!(
        since
            .iter()
            .any(|r| r.path.contains("format=openapi%2Bjson&") && r.status == 200),
        "{since:?}"
    );
    assert!(!since.iter().any(|r| r.path.contains("swagger-json")));
    assert_eq!(
        Document::parse(&inline).unwrap().operations().len(),
        doc.operations().len()
    );
}

#[tokio::test]
async fn a_release_applied_whose_answer_is_lost_is_not_rolled_back() {
    let sb = start(&[]).await;
    let signed = fast(sign_in(&env_with(&sb, &[], &[])).await.unwrap());
    let t = target(&sb, &signed);
    let (doc, url) = rewritten(&fixture("basic-swagger2.json"));
    let first = apim::publish(&signed.arm, &request(&t, &doc, &url), &apim::Quiet)
        .await
        .expect("first publish");
    // Every release PUT is applied, and answered 504 (past the client's retries).
    arm_fault(&sb, json!({"arm-release-lost": 100})).await;
    let (doc2, url2) = rewritten(&changed_swagger());
    let mark = sb.requests().len();
    let out = apim::publish(&signed.arm, &request(&t, &doc2, &url2), &apim::Quiet)
        .await
        .unwrap_or_else(|e| panic!("the applied release is recognised: {e}"));
    assert_eq!(out.revision, Some(2));
    let since = arm_since(&sb, mark);
    assert!(
        since
            .iter()
            .any(|r| r.path.contains("/releases/") && r.status == 504),
        "{since:?}"
    );
    assert!(!since.iter().any(|r| r.method == "DELETE"), "{since:?}");
    let cur = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert_eq!(cur.revision, 2);
    assert_eq!(revisions(&signed, &t).await, [(1, false), (2, true)]);
    assert_eq!(first.revision, Some(1));
}
