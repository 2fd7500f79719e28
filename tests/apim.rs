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
    assert!(w[2].contains("/releases/"), "{w:?}");
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
    assert_eq!(err.cleanup(), Some(&Cleanup::DeletedApi));
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
    // The import's last poll is the revision's contract; verify does not GET it again.
    let plain_reads = since
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains(";rev=2?") && !r.path.contains("asyncId="))
        .count();
    assert_eq!(plain_reads, 0, "{since:?}");
    let cur = apim::current_api(&signed.arm, &t).await.unwrap().unwrap();
    assert_eq!(cur.revision, 2);
    assert_eq!(cur.operations.len(), ops);
    assert_eq!(cur.service_url.as_deref(), Some("http://10.224.0.4:30080"));
}
