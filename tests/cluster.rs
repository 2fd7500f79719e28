//! The cluster side against the sandbox's Kubernetes API, through `apim-gate fetch` as users run
//! it: each case asserts the exit code, the message, and on success the exact host in the document.

use std::path::{Path, PathBuf};
use std::time::Duration;

use apim_sandbox::cluster::{
    DEFAULT_NODES, KubeSettings, Node, Pod, Service, ServiceKind, ServicePort, Topology,
    TrafficPolicy,
};
use apim_sandbox::{Config, Sandbox, ServiceType};
use serde_json::Value;

const NODE0: &str = DEFAULT_NODES[0].0;
const NODE1: &str = DEFAULT_NODES[1].0;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/fixtures")
            .join(name),
    )
    .unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn document(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stderr))
    }

    fn assert_host(&self, host: &str) {
        assert_eq!(self.code, 0, "{}", self.stderr);
        let doc = self.document();
        match doc.get("swagger") {
            Some(_) => {
                assert_eq!(doc["host"], host);
                assert_eq!(doc["schemes"], serde_json::json!(["http"]));
            }
            None => assert_eq!(doc["servers"][0]["url"], format!("http://{host}")),
        }
        assert!(
            self.stderr.contains(&format!("address: {host}")),
            "{}",
            self.stderr
        );
    }

    fn assert_fails(&self, code: i32, needles: &[&str]) {
        assert_eq!(self.code, code, "stderr: {}", self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "{n:?} not in: {}", self.stderr);
        }
        assert!(self.stdout.is_empty());
    }
}

struct Env {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    file: PathBuf,
}

async fn start(config: Config) -> Env {
    let sandbox = Sandbox::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sandbox.env");
    sandbox.write_env(&file).unwrap();
    Env {
        sandbox,
        _dir: dir,
        file,
    }
}

async fn topology(t: Topology, specs: Vec<Vec<u8>>) -> Env {
    start(Config {
        specs,
        cluster: Some(t),
        ..Config::default()
    })
    .await
}

async fn fetch(env: &Env, extra: &[(&str, &str)]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_apim-gate"))
        .args(["fetch", "--env-file", env.file.to_str().unwrap()])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(extra.iter().copied())
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn svc(kind: ServiceKind) -> Service {
    Service::new("orders", kind).port(ServicePort::new("http", 80, 8080u16).node_port(31000))
}

#[tokio::test(flavor = "multi_thread")]
async fn nodeport_numeric_target_port_uses_the_node_hosting_the_pod() {
    let env = start(Config::default()).await;
    let run = fetch(&env, &[]).await;
    // svc-1's pod runs on the first node; nodePort 30080.
    run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
    assert!(
        run.stderr
            .contains("on node aks-nodepool1-12345678-vmss000000"),
        "{}",
        run.stderr
    );
    // The rest of the document is what the pod served.
    let served: Value = serde_json::from_slice(
        fixture("swashbuckle/basic-swagger2.json")
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(run.document()["paths"], served["paths"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn named_target_port_is_resolved_through_the_endpoint_slice() {
    let service = Service::new("orders", ServiceKind::NodePort)
        .port(ServicePort::new("http", 80, "web").node_port(31001));
    let pod = Pod::for_service(&service, 0, NODE1);
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/basic-openapi30.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    // The pod runs on node 1, but with policy Cluster any node answers: the lowest name is stable.
    run.assert_host(&format!("{}:31001", DEFAULT_NODES[0].1));
}

#[tokio::test(flavor = "multi_thread")]
async fn traffic_policy_local_only_picks_nodes_with_a_ready_pod() {
    // Lowest name would be node 0, but only node 1 hosts the pod.
    let service = svc(ServiceKind::NodePort).traffic_policy(TrafficPolicy::Local);
    let pod = Pod::for_service(&service, 0, NODE1);
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[1].1));
    assert!(
        run.stderr.contains("externalTrafficPolicy Local"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn load_balancer_uses_the_internal_ip_unless_node_port_is_asked() {
    let env = start(Config {
        service_type: ServiceType::LoadBalancer,
        ..Config::default()
    })
    .await;
    let run = fetch(&env, &[]).await;
    run.assert_host("10.224.0.101:80");
    assert!(
        run.stderr.contains("internal load balancer"),
        "{}",
        run.stderr
    );
    let run = fetch(&env, &[("APIM_GATE_ADDRESS", "node-port")]).await;
    run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_ip_is_refused_with_the_node_port_explanation() {
    let env = start(Config {
        service_type: ServiceType::ClusterIP,
        ..Config::default()
    })
    .await;
    let run = fetch(&env, &[]).await;
    run.assert_fails(
        3,
        &[
            "type ClusterIP",
            "APIM cannot reach",
            "type: NodePort",
            "azure-load-balancer-internal",
        ],
    );
    // Refused before any port-forward or wait.
    assert!(
        !env.sandbox
            .requests()
            .iter()
            .any(|r| r.path.contains("portforward"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_ports_need_service_port() {
    let service = Service::new("orders", ServiceKind::NodePort)
        .port(ServicePort::new("http", 80, 8080u16).node_port(31080))
        .port(ServicePort::new("metrics", 9090, 9090u16).node_port(31090));
    let pod = Pod::for_service(&service, 0, NODE0);
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_fails(
        2,
        &[
            "several ports",
            "http (80)",
            "metrics (9090)",
            "service-port",
        ],
    );
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_SERVICE", "orders"),
            ("APIM_GATE_SERVICE_PORT", "http"),
        ],
    )
    .await;
    run.assert_host(&format!("{}:31080", DEFAULT_NODES[0].1));
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_SERVICE", "orders"),
            ("APIM_GATE_SERVICE_PORT", "80"),
        ],
    )
    .await;
    run.assert_host(&format!("{}:31080", DEFAULT_NODES[0].1));
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_SERVICE", "orders"),
            ("APIM_GATE_SERVICE_PORT", "grpc"),
        ],
    )
    .await;
    run.assert_fails(
        2,
        &[
            "no port named or numbered 'grpc'",
            "http (80), metrics (9090)",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_ready_late_is_waited_for() {
    let service = svc(ServiceKind::NodePort);
    let pod = Pod::for_service(&service, 0, NODE0).ready_after(Duration::from_secs(2));
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[0].1));
    assert!(
        run.stderr
            .contains("waiting for a ready pod behind default/orders"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_never_ready_times_out_with_its_status() {
    let service = svc(ServiceKind::NodePort);
    let pod = Pod::for_service(&service, 0, NODE0).never_ready();
    let name = pod.name.clone();
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_SERVICE", "orders"),
            ("APIM_GATE_POD_READY_TIMEOUT", "2s"),
        ],
    )
    .await;
    run.assert_fails(
        3,
        &[
            "no ready pod behind Service default/orders after waiting 2s",
            &name,
            "Ready=False",
            "pod-ready-timeout",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_port_forward_is_retried() {
    let env = start(Config {
        faults: vec!["portforward-cut=1".into()],
        ..Config::default()
    })
    .await;
    let run = fetch(&env, &[]).await;
    run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
    assert!(run.stderr.contains("retrying"), "{}", run.stderr);
    let forwards = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.path.contains("/portforward"))
        .count();
    assert_eq!(forwards, 2, "one cut stream, one retry");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_swagger_path_lists_every_path_tried() {
    let env = start(Config::default()).await;
    let run = fetch(
        &env,
        &[("APIM_GATE_SWAGGER_PATH", "/swagger/v2/swagger.json")],
    )
    .await;
    run.assert_fails(
        3,
        &[
            "no OpenAPI document found",
            "/swagger/v2/swagger.json (404)",
            "swagger-path",
        ],
    );

    // A .NET 9 service serves /openapi/v1.json only: the default search finds it second.
    let service = svc(ServiceKind::NodePort);
    let pod = Pod::for_service(&service, 0, NODE0).document_path("/openapi/v1.json");
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("aspnetcore/openapi31-v1.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[0].1));
    assert!(
        run.stderr.contains("document: /openapi/v1.json"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_at_either_default_path_lists_both() {
    let service = svc(ServiceKind::NodePort);
    let pod = Pod::for_service(&service, 0, NODE0).document_path("/docs/api.json");
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_fails(
        3,
        &["/swagger/v1/swagger.json (404)", "/openapi/v1.json (404)"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_body_is_reported_with_its_first_bytes() {
    let service = svc(ServiceKind::NodePort);
    let html = b"<!DOCTYPE html><html><head><title>Swagger UI</title></head></html>".to_vec();
    let pod = Pod::for_service(&service, 0, NODE0).route(
        "/swagger/v1/swagger.json",
        200,
        Some("text/html; charset=utf-8"),
        html,
    );
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_fails(
        3,
        &[
            "not an OpenAPI document",
            "HTML page",
            "Swagger UI",
            "text/html",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_is_reported_with_status_and_body() {
    let service = svc(ServiceKind::NodePort);
    let pod = Pod::for_service(&service, 0, NODE0).route(
        "/swagger/v1/swagger.json",
        500,
        Some("text/plain"),
        b"System.InvalidOperationException: Ambiguous HTTP method for action".to_vec(),
    );
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_fails(3, &["HTTP 500", "Ambiguous HTTP method"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_body_is_refused_at_the_cap() {
    let service = svc(ServiceKind::NodePort);
    let mut body = b"{\"swagger\":\"2.0\",\"x\":\"".to_vec();
    body.resize(33 * 1024 * 1024, b'a');
    body.extend_from_slice(b"\"}");
    let pod = Pod::for_service(&service, 0, NODE0).route(
        "/swagger/v1/swagger.json",
        200,
        Some("application/json"),
        body,
    );
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_fails(
        3,
        &["larger than the 32 MB limit", "/swagger/v1/swagger.json"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_is_explained() {
    let env = start(Config::default()).await;
    let bad =
        apim_sandbox::kubeconfig_yaml(&env.sandbox.urls.kube, &env.sandbox.ca_pem, "not-the-token");
    let run = fetch(&env, &[("APIM_GATE_KUBECONFIG", bad.as_str())]).await;
    run.assert_fails(
        3,
        &[
            "401 Unauthorized",
            "sandbox-admin",
            "az aks get-credentials",
        ],
    );
    assert!(!run.stderr.contains("not-the-token"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_exec_plugin_is_named() {
    let env = start(Config::default()).await;
    let config = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: aks\n  cluster:\n    server: {}\n\
         contexts:\n- name: aks\n  context:\n    cluster: aks\n    user: clusterUser_rg_aks\n\
         current-context: aks\nusers:\n- name: clusterUser_rg_aks\n  user:\n    exec:\n\
         \x20     apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n\
         \x20     args: [get-token, --login, azurecli, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n",
        env.sandbox.urls.kube
    );
    let run = fetch(&env, &[("APIM_GATE_KUBECONFIG", config.as_str())]).await;
    run.assert_fails(
        3,
        &[
            "`kubelogin`",
            "clusterUser_rg_aks",
            "az aks install-cli",
            "convert-kubeconfig",
        ],
    );
    // Refused before any request.
    assert!(!env.sandbox.requests().iter().any(|r| r.emulator == "kube"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_kubeconfig_file_is_an_input_error() {
    let env = start(Config::default()).await;
    let run = fetch(
        &env,
        &[("APIM_GATE_KUBECONFIG", "/nonexistent/dir/kubeconfig")],
    )
    .await;
    run.assert_fails(2, &["/nonexistent/dir/kubeconfig", "does not exist"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn base64_kubeconfig_and_agent_ip_override() {
    use base64::Engine;
    let env = start(Config::default()).await;
    let yaml = std::fs::read(&env.sandbox.kubeconfig).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(yaml);
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_KUBECONFIG", b64.as_str()),
            ("APIM_GATE_AGENT_IP", "10.240.0.99"),
        ],
    )
    .await;
    run.assert_host("10.240.0.99:30080");
    assert!(
        run.stderr.contains("agent-ip 10.240.0.99 given"),
        "{}",
        run.stderr
    );
    let run = fetch(&env, &[("APIM_GATE_AGENT_IP", "10.0.0.1/api")]).await;
    run.assert_fails(2, &["agent-ip"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_api_errors_are_retried() {
    let env = start(Config {
        faults: vec!["kube-5xx=3".into()],
        ..Config::default()
    })
    .await;
    let run = fetch(&env, &[]).await;
    run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
    let failed = env
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.emulator == "kube" && r.status >= 500)
        .count();
    assert_eq!(failed, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_service_lists_what_the_namespace_has() {
    let env = start(Config::default()).await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "ordres")]).await;
    run.assert_fails(
        3,
        &[
            "Service 'ordres' was not found in namespace 'default'",
            "svc-1",
        ],
    );
}

/// A kubeconfig as `az aks get-credentials` writes it for a cluster with Entra ID: the user runs
/// `kubelogin get-token` with `args` (and `env`), interactiveMode IfAvailable.
fn entra_kubeconfig(server: &str, ca_pem: &str, args: &str, env: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: aks\n  cluster:\n    server: {server}\n\
         \x20   certificate-authority-data: {ca}\n\
         contexts:\n- name: aks\n  context:\n    cluster: aks\n    user: clusterUser_rg_aks\n\
         current-context: aks\nusers:\n- name: clusterUser_rg_aks\n  user:\n    exec:\n\
         \x20     apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n\
         \x20     args: [{args}]\n      env: {env}\n      interactiveMode: IfAvailable\n\
         \x20     provideClusterInfo: false\n"
    )
}

/// A directory holding an executable `kubelogin` with `body`, to put first on PATH.
fn fake_kubelogin(body: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubelogin");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

const AKS_ARGS: &str = "get-token, --environment, AzurePublicCloud, --server-id, \
     6dae42f8-4368-4678-94ff-3960e28e3630, --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, \
     --tenant-id, 72f988bf-86f1-41af-91ab-2d7cd011db47";

/// The devicecode login `az aks get-credentials` writes would wait in a pipeline for a person
/// (and print the code into the log): refused at once, naming the fix, and kubelogin (which would
/// sleep for ever here) never started. Also when AAD_LOGIN_METHOD asks for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_device_code_kubeconfig_is_refused_before_kubelogin_starts() {
    let env = start(Config::default()).await;
    let bin = fake_kubelogin("touch \"$(dirname \"$0\")/started\"\nexec sleep 600");
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let marker = bin.path().join("started");
    let server = env.sandbox.urls.kube.clone();
    for (args, env_list, inherited) in [
        (format!("{AKS_ARGS}, --login, devicecode"), "[]", None),
        (format!("{AKS_ARGS}, -l=interactive"), "[]", None),
        (AKS_ARGS.to_string(), "null", None),
        (
            format!("{AKS_ARGS}, --login, azurecli"),
            "[{name: AAD_LOGIN_METHOD, value: devicecode}]",
            None,
        ),
        (
            format!("{AKS_ARGS}, --login, azurecli"),
            "[]",
            Some("devicecode"),
        ),
    ] {
        let config = entra_kubeconfig(&server, &env.sandbox.ca_pem, &args, env_list);
        let mut extra = vec![
            ("APIM_GATE_KUBECONFIG", config.as_str()),
            ("PATH", path.as_str()),
        ];
        if let Some(v) = inherited {
            extra.push(("AAD_LOGIN_METHOD", v));
        }
        let run = fetch(&env, &extra).await;
        run.assert_fails(
            3,
            &[
                "clusterUser_rg_aks",
                "kubelogin convert-kubeconfig -l azurecli",
                "use-kubelogin: true",
            ],
        );
        assert!(
            run.stderr.contains("devicecode") || run.stderr.contains("interactive"),
            "{}",
            run.stderr
        );
        assert!(!marker.exists(), "kubelogin was started for {args}");
    }
    assert!(!env.sandbox.requests().iter().any(|r| r.emulator == "kube"));
}

/// A credential plugin that never answers is stopped at the limit (pod-ready-timeout here) and
/// named; one that answers is used as kubectl would, its token reaching the API server.
#[tokio::test(flavor = "multi_thread")]
async fn exec_plugins_run_under_a_time_limit() {
    let env = start(Config::default()).await;
    let server = env.sandbox.urls.kube.clone();
    let config = entra_kubeconfig(
        &server,
        &env.sandbox.ca_pem,
        &format!("{AKS_ARGS}, --login, azurecli"),
        "[]",
    );

    let hangs = fake_kubelogin("exec sleep 600");
    let path = format!("{}:/usr/bin:/bin", hangs.path().display());
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_KUBECONFIG", config.as_str()),
            ("PATH", path.as_str()),
            ("APIM_GATE_POD_READY_TIMEOUT", "1s"),
        ],
    )
    .await;
    run.assert_fails(
        3,
        &[
            "`kubelogin`",
            "clusterUser_rg_aks",
            "no credentials within 1s",
            "pod-ready-timeout",
        ],
    );

    let fails = fake_kubelogin("echo 'AADSTS70043: The refresh token has expired' >&2\nexit 1");
    let path = format!("{}:/usr/bin:/bin", fails.path().display());
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_KUBECONFIG", config.as_str()),
            ("PATH", path.as_str()),
        ],
    )
    .await;
    run.assert_fails(3, &["`kubelogin`", "exit status: 1", "AADSTS70043"]);
    // The plugin's arguments (which can hold a client secret) are not quoted.
    assert!(!run.stderr.contains("6dae42f8"), "{}", run.stderr);

    let token = &env.sandbox.identity().kube_token;
    let works = fake_kubelogin(&format!(
        "echo '{{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"status\":{{\"token\":\"{token}\",\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}}}'"
    ));
    let path = format!("{}:/usr/bin:/bin", works.path().display());
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_KUBECONFIG", config.as_str()),
            ("PATH", path.as_str()),
        ],
    )
    .await;
    run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
    assert!(!run.stderr.contains(token.as_str()));
}

/// The plugin gets the run's environment, env file included, as client-go gives it its own
/// (exec.go: `env := append(a.environ(), a.env...)`): AAD_LOGIN_METHOD=azurecli in the env file
/// both passes the devicecode check and reaches kubelogin, which would otherwise wait for a code.
#[tokio::test(flavor = "multi_thread")]
async fn exec_plugins_get_the_env_file() {
    use std::io::Write;
    let env = start(Config::default()).await;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&env.file)
        .unwrap()
        .write_all(b"\nAAD_LOGIN_METHOD=azurecli\n")
        .unwrap();
    let config = entra_kubeconfig(
        &env.sandbox.urls.kube,
        &env.sandbox.ca_pem,
        &format!("{AKS_ARGS}, --login, devicecode"),
        "[]",
    );
    let token = &env.sandbox.identity().kube_token;
    let bin = fake_kubelogin(&format!(
        "[ \"$AAD_LOGIN_METHOD\" = azurecli ] || {{ echo \"login method '$AAD_LOGIN_METHOD': would wait for a device code\" >&2; exit 1; }}\n\
         echo '{{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"status\":{{\"token\":\"{token}\"}}}}'"
    ));
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_KUBECONFIG", config.as_str()),
            ("PATH", path.as_str()),
        ],
    )
    .await;
    run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
}

/// Credentials that expire before the fetch step are fetched again before it, as client-go runs
/// the plugin again once `expirationTimestamp` has passed; credentials that last are not.
#[tokio::test(flavor = "multi_thread")]
async fn expiring_exec_credentials_are_renewed_before_the_fetch() {
    let env = start(Config::default()).await;
    let config = entra_kubeconfig(
        &env.sandbox.urls.kube,
        &env.sandbox.ca_pem,
        &format!("{AKS_ARGS}, --login, azurecli"),
        "[]",
    );
    let token = &env.sandbox.identity().kube_token;
    for (expires, runs) in [("2020-01-01T00:00:00Z", 2), ("2099-01-01T00:00:00Z", 1)] {
        let bin = fake_kubelogin(&format!(
            "echo run >> \"$(dirname \"$0\")/runs\"\n\
             echo '{{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"status\":{{\"token\":\"{token}\",\"expirationTimestamp\":\"{expires}\"}}}}'"
        ));
        let path = format!("{}:/usr/bin:/bin", bin.path().display());
        let run = fetch(
            &env,
            &[
                ("APIM_GATE_KUBECONFIG", config.as_str()),
                ("PATH", path.as_str()),
            ],
        )
        .await;
        run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
        let count = std::fs::read_to_string(bin.path().join("runs"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(count, runs, "expiring {expires}");
    }
}

/// KUBECONFIG lists are split with the platform's separator (`std::env::split_paths`, `:` here)
/// and a listed file that does not exist is skipped with a warning, as kubectl does.
#[tokio::test(flavor = "multi_thread")]
async fn a_kubeconfig_list_skips_missing_files_like_kubectl() {
    let env = start(Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-there.yaml");
    let list = std::env::join_paths([missing.as_path(), env.sandbox.kubeconfig.as_path()]).unwrap();
    let list = list.to_str().unwrap();
    let run = fetch(&env, &[("APIM_GATE_KUBECONFIG", list)]).await;
    run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
    assert!(
        run.stderr.contains("not-there.yaml") && run.stderr.contains("skipped"),
        "{}",
        run.stderr
    );
    // None of the list exists: an input error naming the first.
    let other = dir.path().join("neither.yaml");
    let none = std::env::join_paths([missing.as_path(), other.as_path()]).unwrap();
    let run = fetch(&env, &[("APIM_GATE_KUBECONFIG", none.to_str().unwrap())]).await;
    run.assert_fails(2, &["not-there.yaml", "does not exist"]);
}

fn kube_requests(env: &Env, status: u16) -> usize {
    env.sandbox
        .requests()
        .iter()
        .filter(|r| r.emulator == "kube" && r.status == status)
        .count()
}

async fn denied(deny: &[&str], version: Option<&str>) -> Env {
    start(Config {
        kube: KubeSettings {
            deny: deny.iter().map(|d| d.to_string()).collect(),
            version: version.map(str::to_string),
            lb_ip_after: None,
        },
        ..Config::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_node_list_names_verb_resource_and_the_cluster_role() {
    let env = denied(&["list:nodes"], None).await;
    let run = fetch(&env, &[]).await;
    run.assert_fails(
        3,
        &[
            "403 Forbidden",
            "it may not list nodes (at the cluster scope)",
            r#"cannot list resource "nodes" in API group "" at the cluster scope"#,
            "ClusterRole",
            "agent-ip",
        ],
    );
    // A 403 is not retried.
    assert_eq!(kube_requests(&env, 403), 1);
}

/// The authorizer's reason after the scope (responsewriters `Forbidden`) keeps the namespace
/// and the Role advice, and is shown.
#[tokio::test(flavor = "multi_thread")]
async fn a_denial_with_an_authorizer_reason_keeps_the_namespace() {
    let reason = r#"RBAC: clusterrole.rbac.authorization.k8s.io "apim-gate-reader" not found"#;
    let env = start(Config {
        cluster: Some(
            Topology::default_for(1, ServiceType::NodePort)
                .deny("get", "services")
                .deny_reason(reason),
        ),
        ..Config::default()
    })
    .await;
    fetch(&env, &[("APIM_GATE_SERVICE", "svc-1")]).await.assert_fails(
        3,
        &[
            "it may not get services (in the namespace \"default\"; the authorizer's reason: RBAC: clusterrole",
            "Role in namespace default",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_port_forward_names_verb_resource_and_the_role() {
    let env = denied(&["get:pods/portforward"], None).await;
    let run = fetch(&env, &[]).await;
    run.assert_fails(
        3,
        &[
            "it may not get pods/portforward",
            r#"cannot get resource "pods/portforward" in API group "" in the namespace "default""#,
            "Role in namespace default",
            "from Kubernetes 1.35 `create` too",
        ],
    );
    assert_eq!(kube_requests(&env, 403), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_on_port_forward_is_needed_from_kubernetes_1_35() {
    let env = denied(&["create:pods/portforward"], Some("v1.34.2")).await;
    fetch(&env, &[])
        .await
        .assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
    let env = denied(&["create:pods/portforward"], Some("v1.35.0")).await;
    fetch(&env, &[]).await.assert_fails(
        3,
        &[
            "it may not create pods/portforward (in the namespace \"default\")",
            // What the API server says (subresources.go ensureAuthorizedForVerb) names no verb.
            r#"The API server said: pods "svc-1-"#,
            "is forbidden:",
            "Role in namespace default",
            r#"verbs: ["get", "create"]"#,
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_balancer_ip_assigned_while_waiting_for_the_pod_is_used() {
    let service = Service::new("orders", ServiceKind::LoadBalancer)
        .port(ServicePort::new("http", 80, 8080u16).node_port(31000))
        .internal_lb("10.224.0.60")
        .lb_ip_after(Duration::from_secs(1));
    let pod = Pod::for_service(&service, 0, NODE0).ready_after(Duration::from_secs(2));
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host("10.224.0.60:80");
}

/// cloud-provider-azure requires the annotation to be exactly "true"; "True" is public.
#[tokio::test(flavor = "multi_thread")]
async fn an_internal_annotation_in_another_case_is_public() {
    let service = Service::new("orders", ServiceKind::LoadBalancer)
        .port(ServicePort::new("http", 80, 8080u16).node_port(31000))
        .internal_annotation("True", "20.81.3.8");
    let pod = Pod::for_service(&service, 0, NODE0);
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[0].1));
    assert!(
        run.stderr.contains("its IP 20.81.3.8 is public")
            && run.stderr.contains(r#"it has "True""#),
        "{}",
        run.stderr
    );
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_SERVICE", "orders"),
            ("APIM_GATE_ADDRESS", "load-balancer"),
        ],
    )
    .await;
    run.assert_fails(3, &["public IP (20.81.3.8)", r#"it has "True""#]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_load_balancer_is_not_called_internal() {
    let service = Service::new("orders", ServiceKind::LoadBalancer)
        .port(ServicePort::new("http", 80, 8080u16).node_port(31000))
        .public_lb("20.81.3.7");
    let pod = Pod::for_service(&service, 0, NODE0);
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[0].1));
    assert!(
        run.stderr.contains("its IP 20.81.3.7 is public"),
        "{}",
        run.stderr
    );
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_SERVICE", "orders"),
            ("APIM_GATE_ADDRESS", "load-balancer"),
        ],
    )
    .await;
    run.assert_fails(
        3,
        &[
            "public IP (20.81.3.7)",
            "service.beta.kubernetes.io/azure-load-balancer-internal",
        ],
    );
}

/// Karpenter (AKS node auto-provisioning) taints a node it removes `karpenter.sh/disrupted`
/// (v1) or `karpenter.sh/disruption=disrupting` (v1beta1): skipped like the autoscaler's.
#[tokio::test(flavor = "multi_thread")]
async fn nodes_karpenter_removes_are_skipped() {
    for v1beta1 in [false, true] {
        let service = svc(ServiceKind::NodePort);
        let mut t = Topology::new();
        t.nodes[0] = t.nodes[0].clone().karpenter_disrupted(v1beta1);
        let pod = Pod::for_service(&service, 0, NODE0);
        let env = topology(
            t.service(service).pod(pod),
            vec![fixture("swashbuckle/todoapp.json")],
        )
        .await;
        let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
        run.assert_host(&format!("{}:31000", DEFAULT_NODES[1].1));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_the_autoscaler_removes_and_virtual_nodes_are_skipped() {
    let service = svc(ServiceKind::NodePort);
    let mut t = Topology::new().node(Node::virtual_kubelet(
        "virtual-node-aci-linux",
        "10.241.0.4",
    ));
    t.nodes[0] = t.nodes[0].clone().to_be_deleted();
    // Today's only pod runs on the virtual node.
    let pod = Pod::for_service(&service, 0, "virtual-node-aci-linux");
    let env = topology(
        t.service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[1].1));

    // Policy Local: the only pod is on a virtual node, so no node can answer.
    let service = svc(ServiceKind::NodePort).traffic_policy(TrafficPolicy::Local);
    let pod = Pod::for_service(&service, 0, "virtual-node-aci-linux");
    let env = topology(
        Topology::new()
            .node(Node::virtual_kubelet(
                "virtual-node-aci-linux",
                "10.241.0.4",
            ))
            .service(service)
            .pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    fetch(&env, &[("APIM_GATE_SERVICE", "orders")])
        .await
        .assert_fails(3, &["virtual-node-aci-linux (Ready, a virtual node"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scale_down_candidate_is_used_only_when_nothing_else_answers() {
    let service = svc(ServiceKind::NodePort);
    let mut t = Topology::new();
    t.nodes[0] = t.nodes[0].clone().deletion_candidate();
    let pod = Pod::for_service(&service, 0, NODE0);
    let env = topology(
        t.service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[1].1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dual_stack_node_gives_its_ipv4_address_to_an_ipv4_service() {
    let service = svc(ServiceKind::NodePort);
    let mut t = Topology::new();
    t.nodes[0] = t.nodes[0].clone().dual_stack("fd00:10:224::4");
    let pod = Pod::for_service(&service, 0, NODE0);
    let env = topology(
        t.service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[0].1));
}

#[tokio::test(flavor = "multi_thread")]
async fn with_policy_cluster_the_host_does_not_follow_the_pod() {
    // After a rollout the pod moved to node 1; the published host stays node 0.
    let service = svc(ServiceKind::NodePort);
    let pod = Pod::for_service(&service, 0, NODE1);
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[0].1));
    assert!(
        run.stderr.contains("stable across rollouts"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_publish_not_ready_addresses_only_a_serving_pod_is_fetched() {
    let service = svc(ServiceKind::NodePort).publish_not_ready_addresses();
    // The unready pod is on the node APIM will call, and still starting: it answers 503.
    let starting = Pod::for_service(&service, 0, NODE0).never_ready().route(
        "/swagger/v1/swagger.json",
        503,
        Some("text/plain"),
        b"starting".to_vec(),
    );
    let ready = Pod::for_service(&service, 1, NODE1);
    let ready_name = ready.name.clone();
    let env = topology(
        Topology::new().service(service).pod(starting).pod(ready),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(&env, &[("APIM_GATE_SERVICE", "orders")]).await;
    run.assert_host(&format!("{}:31000", DEFAULT_NODES[0].1));
    assert!(run.stderr.contains(&ready_name), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_target_port_the_pods_lack_is_not_replaced_by_another_port() {
    let service = Service::new("orders", ServiceKind::NodePort)
        .port(ServicePort::new("http", 80, "web").node_port(31000))
        .port(ServicePort::new("metrics", 9090, 9090u16).node_port(31001));
    let mut pod = Pod::for_service(&service, 0, NODE0);
    // This version of the app does not declare the `web` port.
    pod.ports.retain(|p| p.name.as_deref() != Some("web"));
    let env = topology(
        Topology::new().service(service).pod(pod),
        vec![fixture("swashbuckle/todoapp.json")],
    )
    .await;
    let run = fetch(
        &env,
        &[
            ("APIM_GATE_SERVICE", "orders"),
            ("APIM_GATE_SERVICE_PORT", "http"),
            ("APIM_GATE_POD_READY_TIMEOUT", "2s"),
        ],
    )
    .await;
    run.assert_fails(
        3,
        &[
            "none with Service port http 80 → targetPort web",
            "'web' as a containerPort name",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_unavailability_are_waited_out() {
    let env = start(Config {
        faults: vec!["kube-503=2".into(), "kube-429=2".into()],
        ..Config::default()
    })
    .await;
    let run = fetch(&env, &[]).await;
    run.assert_host(&format!("{}:30080", DEFAULT_NODES[0].1));
    assert_eq!(kube_requests(&env, 503), 2);
    assert_eq!(kube_requests(&env, 429), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_that_does_not_end_names_the_status() {
    let env = start(Config {
        faults: vec!["kube-429=50".into()],
        ..Config::default()
    })
    .await;
    let run = fetch(&env, &[]).await;
    run.assert_fails(
        3,
        &[
            "HTTP 429 Too Many Requests",
            "Too many requests, please try again later.",
            "after 5 attempts",
        ],
    );
    assert_eq!(kube_requests(&env, 429), 5);
}
