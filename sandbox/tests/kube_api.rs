//! The Kubernetes side of the sandbox, checked with the real kube-rs client: typed lists and gets
//! (k8s-openapi refuses any shape a real apiserver would not send), Status errors, watch, the
//! WebSocket port-forward carrying HTTP/1.1 to the pods, and the kube faults.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apim_sandbox::cluster::{
    Node, Pod, PodPhase, Service, ServiceKind, ServicePort, Topology, TrafficPolicy,
};
use apim_sandbox::{Config, Sandbox, ServiceType};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{
    Endpoints, Namespace, Node as KNode, Pod as KPod, Service as KService,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};

const SWAGGER: &str = "/swagger/v1/swagger.json";

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(relative)
}

fn read_fixture(relative: &str) -> Vec<u8> {
    std::fs::read(fixture(relative)).expect("shared fixtures are present")
}

async fn client_from_yaml(yaml: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(yaml).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    Client::try_from(config).expect("client builds")
}

async fn start(config: Config) -> (Sandbox, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    let kubeconfig = Kubeconfig::read_from(&sandbox.kubeconfig).expect("kubeconfig was written");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    let client = Client::try_from(config).expect("client builds");
    (sandbox, client)
}

fn default_config(specs: &[&str]) -> Config {
    Config {
        specs: specs.iter().map(|s| read_fixture(s)).collect(),
        ..Config::default()
    }
}

struct Fetched {
    status: u16,
    content_type: Option<String>,
    body: Result<Vec<u8>, String>,
    /// What `Portforwarder::join` returned (it must return at all: a hang fails the test).
    joined: Result<(), String>,
}

/// GET `path` from `pod`'s container port `port` over kube-rs port-forward with a hyper HTTP/1.1
/// client, then closes everything the way kube-rs' examples do.
async fn fetch(pods: &Api<KPod>, pod: &str, port: u16, path: &str) -> Fetched {
    let mut pf = pods
        .portforward(pod, &[port])
        .await
        .expect("port-forward upgrades");
    let stream = pf.take_stream(port).expect("stream for the port");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake over the stream");
    let connection = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("Host", "localhost")
        .body(Empty::<Bytes>::new())
        .expect("request builds");
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("the pod answers in time")
        .expect("response head arrives");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .map_err(|e| e.to_string());
    drop(sender);
    let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
    let joined = tokio::time::timeout(Duration::from_secs(10), pf.join())
        .await
        .expect("Portforwarder::join returns once the stream is dropped")
        .map_err(|e| e.to_string());
    Fetched {
        status,
        content_type,
        body,
        joined,
    }
}

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> Box<kube::core::Status> {
    match result {
        Err(kube::Error::Api(status)) => status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn condition(pod: &KPod, kind: &str) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| c.status.clone())
}

#[tokio::test]
async fn default_cluster_lists_like_aks() {
    let (sandbox, client) = start(default_config(&[
        "swashbuckle/basic-swagger2.json",
        "swashbuckle/basic-openapi30.json",
    ]))
    .await;
    assert_eq!(sandbox.services, ["svc-1", "svc-2"]);

    let version = client.apiserver_version().await.expect("/version");
    assert_eq!(version.major, "1");

    let services: Api<KService> = Api::default_namespaced(client.clone());
    let list = services
        .list(&ListParams::default())
        .await
        .expect("list services");
    let names: Vec<String> = list.items.iter().map(|s| s.name_any()).collect();
    assert_eq!(names, ["kubernetes", "svc-1", "svc-2"]);
    assert!(list.metadata.resource_version.is_some());
    let svc1 = services.get("svc-1").await.expect("get svc-1");
    let spec = svc1.spec.expect("spec");
    assert_eq!(spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Cluster"));
    assert_eq!(
        spec.selector
            .expect("selector")
            .get("app")
            .map(String::as_str),
        Some("svc-1")
    );
    let port = &spec.ports.expect("ports")[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.node_port),
        (Some("http"), 80, Some(30080))
    );
    assert_eq!(port.target_port, Some(IntOrString::Int(8080)));
    let svc2 = services.get("svc-2").await.expect("get svc-2");
    assert_eq!(svc2.spec.unwrap().ports.unwrap()[0].node_port, Some(30081));
    let everywhere: Api<KService> = Api::all(client.clone());
    assert_eq!(
        everywhere
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );

    let nodes: Api<KNode> = Api::all(client.clone());
    let nodes = nodes
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    let mut internal = Vec::new();
    for node in &nodes.items {
        let status = node.status.as_ref().expect("node status");
        let ready = status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        assert_eq!(ready.status, "True");
        for a in status.addresses.as_ref().unwrap() {
            if a.type_ == "InternalIP" {
                internal.push(a.address.clone());
            }
        }
    }
    assert_eq!(internal, ["10.224.0.4", "10.224.0.5"]);

    let pods: Api<KPod> = Api::default_namespaced(client.clone());
    let selected = pods
        .list(&ListParams::default().labels("app=svc-2"))
        .await
        .expect("list pods by label");
    assert_eq!(selected.items.len(), 1);
    let pod = &selected.items[0];
    assert!(pod.name_any().starts_with("svc-2-"));
    assert_eq!(condition(pod, "Ready").as_deref(), Some("True"));
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    let node = pod
        .spec
        .as_ref()
        .unwrap()
        .node_name
        .clone()
        .expect("scheduled");
    let by_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .expect("field selector");
    assert!(by_node.items.iter().any(|p| p.name_any() == pod.name_any()));
    assert!(
        by_node
            .items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(&node))
    );
    let all_pods: Api<KPod> = Api::all(client.clone());
    assert_eq!(
        all_pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );

    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let slices = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=svc-2"))
        .await
        .expect("list endpointslices");
    assert_eq!(slices.items.len(), 1);
    let slice = &slices.items[0];
    assert_eq!(slice.address_type, "IPv4");
    let endpoint = &slice.endpoints[0];
    assert_eq!(endpoint.conditions.as_ref().unwrap().ready, Some(true));
    assert_eq!(endpoint.node_name.as_deref(), Some(node.as_str()));
    assert_eq!(
        endpoint.target_ref.as_ref().unwrap().name.as_deref(),
        Some(pod.name_any().as_str())
    );
    assert_eq!(
        endpoint.addresses,
        [pod.status.as_ref().unwrap().pod_ip.clone().unwrap()]
    );
    let port = &slice.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http"), Some(8080))
    );

    let endpoints: Api<Endpoints> = Api::default_namespaced(client.clone());
    let ep = endpoints.get("svc-1").await.expect("get endpoints");
    assert_eq!(ep.subsets.unwrap()[0].addresses.as_ref().unwrap().len(), 1);

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let default = namespaces.get("default").await.expect("namespace default");
    assert_eq!(default.status.unwrap().phase.as_deref(), Some("Active"));

    let paged = services
        .list(&ListParams::default().limit(2))
        .await
        .expect("first page");
    assert_eq!(paged.items.len(), 2);
    let token = paged.metadata.continue_.clone().expect("continue token");
    let rest = services
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("second page");
    assert_eq!(
        rest.items.iter().map(|s| s.name_any()).collect::<Vec<_>>(),
        ["svc-2"]
    );

    let log = sandbox.requests();
    assert!(log.iter().any(|r| {
        r.emulator == "kube"
            && r.path
                .starts_with("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices")
            && r.status == 200
    }));
}

#[tokio::test]
async fn errors_are_status_objects() {
    let (sandbox, client) = start(Config::default()).await;
    let services: Api<KService> = Api::default_namespaced(client.clone());
    let status = api_error(services.get("nope").await);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "services \"nope\" not found");
    let details = status.details.expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("nope", "services")
    );

    let pods: Api<KPod> = Api::default_namespaced(client.clone());
    let status = api_error(
        pods.list(&ListParams::default().labels("app in svc-1"))
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
    let status = api_error(
        pods.list(&ListParams::default().fields("spec.color=red"))
            .await,
    );
    assert_eq!(status.message, "field label not supported: spec.color");

    let yaml = std::fs::read_to_string(&sandbox.kubeconfig).unwrap();
    let token = &sandbox.identity().kube_token;
    let wrong = client_from_yaml(&yaml.replace(token.as_str(), "kube-not-the-token")).await;
    let status = api_error(
        Api::<KService>::default_namespaced(wrong)
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    let anonymous =
        client_from_yaml(&yaml.replace(&format!("user:\n    token: {token}"), "user: {}")).await;
    let status = api_error(
        Api::<KNode>::all(anonymous.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(status.code, 401);
    // /version is public information, as on a real apiserver.
    assert!(anonymous.apiserver_version().await.is_ok());
}

#[tokio::test]
async fn port_forward_serves_the_swagger_document() {
    let (sandbox, client) = start(default_config(&["swashbuckle/basic-swagger2.json"])).await;
    let pods: Api<KPod> = Api::default_namespaced(client.clone());
    let pod = pods
        .list(&ListParams::default().labels("app=svc-1"))
        .await
        .unwrap()
        .items[0]
        .name_any();

    let fetched = fetch(&pods, &pod, 8080, SWAGGER).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(
        fetched.content_type.as_deref(),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(
        fetched.body.expect("whole body"),
        read_fixture("swashbuckle/basic-swagger2.json")
    );
    assert_eq!(fetched.joined, Ok(()));

    let missing = fetch(&pods, &pod, 8080, "/swagger/v2/swagger.json").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body.as_deref().map(<[u8]>::len), Ok(0));

    // A new deployment of the app: the pods serve the new document.
    let new_doc = read_fixture("swashbuckle/redoc-swagger2.json");
    assert!(sandbox.shared.set_document("svc-1", new_doc.clone()));
    assert_eq!(
        fetch(&pods, &pod, 8080, SWAGGER).await.body.unwrap(),
        new_doc
    );

    // Nothing listens on 9999 in the pod: kubelet reports it on the port's error channel.
    let mut pf = pods
        .portforward(&pod, &[9999])
        .await
        .expect("upgrade still succeeds");
    let error = pf.take_error(9999).expect("error future");
    let message = tokio::time::timeout(Duration::from_secs(5), error)
        .await
        .expect("the error arrives")
        .expect("an error message");
    assert!(
        message.starts_with("error forwarding port 9999 to pod "),
        "{message}"
    );
    assert!(message.contains("connect: connection refused"), "{message}");
    let _ = tokio::time::timeout(Duration::from_secs(5), pf.join())
        .await
        .expect("join returns");

    let status = api_error(pods.portforward("no-such-pod", &[8080]).await.map(|_| ()));
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));

    let log = sandbox.requests();
    assert!(
        log.iter()
            .any(|r| r.emulator == "kube" && r.path.contains("/portforward?") && r.status == 101)
    );
    assert!(
        log.iter()
            .any(|r| r.emulator == "pod" && r.path == SWAGGER && r.status == 200)
    );
}

#[tokio::test]
async fn portforward_cut_truncates_the_first_streams() {
    let (sandbox, client) = start(Config {
        faults: vec!["portforward-cut=1".into()],
        ..default_config(&["swashbuckle/basic-swagger2.json"])
    })
    .await;
    let pods: Api<KPod> = Api::default_namespaced(client);
    let pod = pods.list(&ListParams::default()).await.unwrap().items[0].name_any();
    let cut = fetch(&pods, &pod, 8080, SWAGGER).await;
    assert_eq!(cut.status, 200, "the head arrives before the cut");
    assert!(cut.body.is_err(), "the body must be cut short");
    let whole = fetch(&pods, &pod, 8080, SWAGGER).await;
    assert_eq!(
        whole.body.unwrap(),
        read_fixture("swashbuckle/basic-swagger2.json")
    );

    // pod-latency delays every answer of the app, armed at runtime like the other faults.
    sandbox.shared.faults.set("pod-latency", 400).unwrap();
    let started = Instant::now();
    assert_eq!(fetch(&pods, &pod, 8080, SWAGGER).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn pods_become_ready_after_the_fault_delay() {
    let (sandbox, client) = start(Config {
        faults: vec!["pod-ready-after=2".into()],
        ..Config::default()
    })
    .await;
    let started = Instant::now();
    let pods: Api<KPod> = Api::default_namespaced(client.clone());
    let pod = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(condition(&pod, "Ready").as_deref(), Some("False"));
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let slice = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=svc-1"))
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        slice.endpoints[0].conditions.as_ref().unwrap().ready,
        Some(false)
    );
    // Running but not Ready pods are still reachable through port-forward.
    assert_eq!(
        fetch(&pods, &pod.name_any(), 8080, SWAGGER).await.status,
        200
    );

    let params = WatchParams::default()
        .fields(&format!("metadata.name={}", pod.name_any()))
        .timeout(10);
    let version = pod.resource_version().unwrap();
    let mut events = pods.watch(&params, &version).await.expect("watch").boxed();
    let ready = loop {
        match tokio::time::timeout(Duration::from_secs(8), events.next()).await {
            Ok(Some(Ok(WatchEvent::Modified(p))))
                if condition(&p, "Ready").as_deref() == Some("True") =>
            {
                break p;
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("no Ready event: {other:?}"),
        }
    };
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "ready too early"
    );
    assert!(
        ready.resource_version().unwrap().parse::<u64>().unwrap() > version.parse::<u64>().unwrap()
    );
    let slice = slices.get(&slice.name_any()).await.unwrap();
    assert_eq!(
        slice.endpoints[0].conditions.as_ref().unwrap().ready,
        Some(true)
    );

    // Re-arming the fault at runtime is a new rollout: unready again, then Ready after the delay.
    sandbox.shared.faults.set("pod-ready-after", 1).unwrap();
    let rearmed = Instant::now();
    let pod = pods.get(&pod.name_any()).await.unwrap();
    assert_eq!(condition(&pod, "Ready").as_deref(), Some("False"));
    while condition(&pods.get(&pod.name_any()).await.unwrap(), "Ready").as_deref() != Some("True") {
        assert!(
            rearmed.elapsed() < Duration::from_secs(5),
            "never Ready again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rearmed.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn kube_5xx_fails_then_recovers() {
    let (sandbox, client) = start(Config {
        faults: vec!["kube-5xx=2".into()],
        ..Config::default()
    })
    .await;
    let services: Api<KService> = Api::default_namespaced(client);
    // kube-rs retries 503 on its own (RetryPolicy::server_retry); the 500 that follows reaches us.
    let failed = api_error(services.get("svc-1").await);
    assert_eq!(
        (failed.code, failed.reason.as_str()),
        (500, "InternalError")
    );
    assert!(services.get("svc-1").await.is_ok());
    // Armed at runtime, a single 503 is invisible to kube-rs callers.
    sandbox.shared.faults.set("kube-5xx", 1).unwrap();
    assert!(services.get("svc-1").await.is_ok());
    let statuses: Vec<u16> = sandbox
        .requests()
        .iter()
        .filter(|r| r.emulator == "kube")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [503, 500, 200, 503, 200]);
}

#[tokio::test]
async fn default_load_balancers_are_internal() {
    let (_sandbox, client) = start(Config {
        service_type: ServiceType::LoadBalancer,
        ..default_config(&[
            "swashbuckle/basic-swagger2.json",
            "swashbuckle/basic-openapi30.json",
        ])
    })
    .await;
    let services: Api<KService> = Api::default_namespaced(client);
    for (name, ip, node_port) in [
        ("svc-1", "10.224.0.101", 30080),
        ("svc-2", "10.224.0.102", 30081),
    ] {
        let svc = services.get(name).await.unwrap();
        let ingress = svc.status.unwrap().load_balancer.unwrap().ingress.unwrap();
        assert_eq!(ingress[0].ip.as_deref(), Some(ip));
        let spec = svc.spec.unwrap();
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        assert_eq!(spec.ports.unwrap()[0].node_port, Some(node_port));
    }
}

#[tokio::test]
async fn custom_topology() {
    let orders = Service::new("orders", ServiceKind::LoadBalancer)
        .namespace("shop")
        .port(ServicePort::new("http", 80, "web"))
        .port(ServicePort::new("metrics", 9090, 9090))
        .traffic_policy(TrafficPolicy::Local)
        .internal_lb("10.224.0.50")
        .document(read_fixture("swashbuckle/basic-openapi30.json"));
    let billing =
        Service::new("billing", ServiceKind::ClusterIP).port(ServicePort::new("http", 8080, 5000));
    let legacy = Service::new(
        "legacy",
        ServiceKind::ExternalName("legacy.contoso.com".into()),
    )
    .port(ServicePort::new("http", 80, 80));
    let pending_lb =
        Service::new("pending", ServiceKind::LoadBalancer).port(ServicePort::new("http", 80, 8080));
    let html = b"<!DOCTYPE html><html><body>Oops</body></html>".to_vec();
    let topology = Topology::new()
        .node(
            Node::new("aks-nodepool1-12345678-vmss000002", "10.224.0.6")
                .not_ready()
                .cordoned(),
        )
        .pod(
            Pod::for_service(&orders, 0, "aks-nodepool1-12345678-vmss000000").route(
                "/boom",
                500,
                Some("text/html; charset=utf-8"),
                html.clone(),
            ),
        )
        .pod(Pod::for_service(&orders, 1, "aks-nodepool1-12345678-vmss000001").never_ready())
        .pod(
            Pod::for_service(&billing, 0, "aks-nodepool1-12345678-vmss000001")
                .document_path("/openapi/v1.json"),
        )
        .pod(Pod::for_service(&billing, 1, "aks-nodepool1-12345678-vmss000000").unscheduled())
        .pod(
            Pod::for_service(&billing, 2, "aks-nodepool1-12345678-vmss000000")
                .phase(PodPhase::Pending),
        )
        .service(orders)
        .service(billing)
        .service(legacy)
        .service(pending_lb);
    let (sandbox, client) = start(Config {
        specs: vec![read_fixture("aspnetcore/openapi31-v1.json")],
        cluster: Some(topology),
        ..Config::default()
    })
    .await;
    // orders brings its own document; billing takes the first spec; the others serve none.
    assert_eq!(sandbox.services, ["billing", "orders"]);

    let shop_services: Api<KService> = Api::namespaced(client.clone(), "shop");
    let orders = shop_services.get("orders").await.expect("orders");
    let spec = orders.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Local"));
    assert!(spec.health_check_node_port.is_some());
    let ports = spec.ports.unwrap();
    assert_eq!(
        ports[0].target_port,
        Some(IntOrString::String("web".into()))
    );
    assert!(
        ports
            .iter()
            .all(|p| p.node_port.is_some_and(|n| (30000..=32767).contains(&n)))
    );
    let ingress = orders
        .status
        .unwrap()
        .load_balancer
        .unwrap()
        .ingress
        .unwrap();
    assert_eq!(ingress[0].ip.as_deref(), Some("10.224.0.50"));
    assert_eq!(
        orders.metadata.annotations.unwrap()["service.beta.kubernetes.io/azure-load-balancer-internal"],
        "true"
    );

    let services: Api<KService> = Api::default_namespaced(client.clone());
    let billing = services.get("billing").await.unwrap().spec.unwrap();
    assert_eq!(billing.type_.as_deref(), Some("ClusterIP"));
    assert!(billing.external_traffic_policy.is_none());
    assert!(billing.ports.unwrap()[0].node_port.is_none());
    let legacy = services.get("legacy").await.unwrap().spec.unwrap();
    assert_eq!(legacy.external_name.as_deref(), Some("legacy.contoso.com"));
    assert!(legacy.cluster_ip.is_none() && legacy.selector.is_none());
    let pending = services.get("pending").await.unwrap();
    assert!(
        pending
            .status
            .unwrap()
            .load_balancer
            .unwrap()
            .ingress
            .is_none()
    );

    // The named target port resolves to each pod's container port, in the EndpointSlice.
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "shop");
    let slice = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=orders"))
        .await
        .unwrap()
        .items
        .remove(0);
    let mut ports: Vec<(String, i32)> = slice
        .ports
        .unwrap()
        .into_iter()
        .map(|p| (p.name.unwrap(), p.port.unwrap()))
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        [("http".to_string(), 8080), ("metrics".to_string(), 9090)]
    );
    let mut ready: Vec<bool> = slice
        .endpoints
        .iter()
        .map(|e| e.conditions.as_ref().unwrap().ready.unwrap())
        .collect();
    ready.sort();
    assert_eq!(ready, [false, true]);
    let legacy_slices = Api::<EndpointSlice>::default_namespaced(client.clone())
        .list(&ListParams::default().labels("kubernetes.io/service-name=legacy"))
        .await
        .unwrap();
    assert!(legacy_slices.items.is_empty());

    let nodes: Api<KNode> = Api::all(client.clone());
    let sick = nodes
        .get("aks-nodepool1-12345678-vmss000002")
        .await
        .unwrap();
    assert_eq!(sick.spec.as_ref().unwrap().unschedulable, Some(true));
    let ready = sick
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status, "Unknown");
    let schedulable = nodes
        .list(&ListParams::default().fields("spec.unschedulable=false"))
        .await
        .unwrap();
    assert_eq!(schedulable.items.len(), 2);

    // The orders pod serves its own document behind the named port, and a canned HTML error.
    let shop_pods: Api<KPod> = Api::namespaced(client.clone(), "shop");
    let ready_pod = shop_pods
        .list(&ListParams::default().labels("app=orders"))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|p| condition(p, "Ready").as_deref() == Some("True"))
        .expect("one Ready orders pod");
    let web_port = ready_pod.spec.as_ref().unwrap().containers[0]
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name.as_deref() == Some("web"))
        .unwrap()
        .container_port as u16;
    let doc = fetch(&shop_pods, &ready_pod.name_any(), web_port, SWAGGER).await;
    assert_eq!(
        doc.body.unwrap(),
        read_fixture("swashbuckle/basic-openapi30.json")
    );
    let boom = fetch(&shop_pods, &ready_pod.name_any(), web_port, "/boom").await;
    assert_eq!(
        (boom.status, boom.content_type.as_deref()),
        (500, Some("text/html; charset=utf-8"))
    );
    assert_eq!(boom.body.unwrap(), html);

    // billing's pods: one serving at a custom path, one never scheduled, one still creating.
    let pods: Api<KPod> = Api::default_namespaced(client.clone());
    let billing_pods = pods
        .list(&ListParams::default().labels("app=billing"))
        .await
        .unwrap()
        .items;
    assert_eq!(billing_pods.len(), 3);
    let running = billing_pods
        .iter()
        .find(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running"))
        .unwrap();
    let served = fetch(&pods, &running.name_any(), 5000, "/openapi/v1.json").await;
    assert_eq!(
        served.body.unwrap(),
        read_fixture("aspnetcore/openapi31-v1.json")
    );
    let unscheduled = billing_pods
        .iter()
        .find(|p| p.spec.as_ref().unwrap().node_name.is_none())
        .unwrap();
    let status = api_error(
        pods.portforward(&unscheduled.name_any(), &[5000])
            .await
            .map(|_| ()),
    );
    assert_eq!(status.code, 400);
    assert!(
        status.message.contains("does not have a host assigned"),
        "{}",
        status.message
    );
    let creating = billing_pods
        .iter()
        .find(|p| {
            p.spec.as_ref().unwrap().node_name.is_some()
                && p.status.as_ref().unwrap().phase.as_deref() == Some("Pending")
        })
        .unwrap();
    assert!(
        pods.portforward(&creating.name_any(), &[5000])
            .await
            .is_err()
    );
    let endpoints = Api::<Endpoints>::default_namespaced(client.clone())
        .get("billing")
        .await
        .unwrap();
    let subsets = endpoints.subsets.unwrap();
    assert_eq!(subsets.len(), 1, "pods without an IP are not endpoints");
    assert_eq!(subsets[0].addresses.as_ref().unwrap().len(), 1);
}

async fn start_with(
    topology: Topology,
    kube: apim_sandbox::cluster::KubeSettings,
) -> (Sandbox, Client) {
    start(Config {
        specs: vec![read_fixture("swashbuckle/todoapp.json")],
        cluster: Some(topology),
        kube,
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn rbac_denials_are_worded_as_the_api_server_words_them() {
    let (sandbox, client) = start_with(
        Topology::default_for(1, ServiceType::NodePort),
        apim_sandbox::cluster::KubeSettings {
            deny: vec![
                "list:nodes".into(),
                "get:pods/portforward".into(),
                "list:endpointslices".into(),
            ],
            ..Default::default()
        },
    )
    .await;
    let status = api_error(
        Api::<KNode>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        r#"nodes is forbidden: User "sandbox-admin" cannot list resource "nodes" in API group "" at the cluster scope"#
    );
    assert_eq!(status.details.expect("details").kind, "nodes");
    // Get is another verb: still allowed.
    let node = "aks-nodepool1-12345678-vmss000000";
    assert!(Api::<KNode>::all(client.clone()).get(node).await.is_ok());
    let status = api_error(
        Api::<EndpointSlice>::default_namespaced(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        status.message,
        r#"endpointslices.discovery.k8s.io is forbidden: User "sandbox-admin" cannot list resource "endpointslices" in API group "discovery.k8s.io" in the namespace "default""#
    );
    let pods: Api<KPod> = Api::default_namespaced(client.clone());
    let pod = pods.list(&ListParams::default()).await.unwrap().items[0].name_any();
    let status = match pods.portforward(&pod, &[8080]).await {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    };
    assert_eq!(
        status.message,
        format!(
            r#"pods "{pod}" is forbidden: User "sandbox-admin" cannot get resource "pods/portforward" in API group "" in the namespace "default""#
        )
    );
    // Authorisation comes before the lookup: a missing pod is 403 too.
    assert!(
        matches!(pods.portforward("nope", &[8080]).await, Err(kube::Error::Api(s)) if s.code == 403)
    );
    drop(sandbox);
}

/// responsewriters `Forbidden` appends the authorizer's reason after `: `; the 1.35 create check
/// (ensureAuthorizedForVerb) puts it where RBAC's empty reason was.
#[tokio::test]
async fn an_authorizer_reason_follows_the_message() {
    let reason = r#"RBAC: clusterrole.rbac.authorization.k8s.io "reader" not found"#;
    let (_sandbox, client) = start_with(
        Topology::default_for(1, ServiceType::NodePort)
            .deny("list", "nodes")
            .deny("create", "pods/portforward")
            .version("v1.35.0")
            .deny_reason(reason),
        Default::default(),
    )
    .await;
    let status = api_error(
        Api::<KNode>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        status.message,
        format!(
            r#"nodes is forbidden: User "sandbox-admin" cannot list resource "nodes" in API group "" at the cluster scope: {reason}"#
        )
    );
    let pods: Api<KPod> = Api::default_namespaced(client.clone());
    let pod = pods.list(&ListParams::default()).await.unwrap().items[0].name_any();
    match pods.portforward(&pod, &[8080]).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.message, format!(r#"pods "{pod}" is forbidden: {reason}"#))
        }
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn websocket_port_forward_needs_create_from_1_35() {
    for (version, allowed) in [("v1.34.2", true), ("v1.35.0", false)] {
        let (_sandbox, client) = start_with(
            Topology::default_for(1, ServiceType::NodePort),
            apim_sandbox::cluster::KubeSettings {
                deny: vec!["create:pods/portforward".into()],
                version: Some(version.into()),
                lb_ip_after: None,
            },
        )
        .await;
        let reported = client.apiserver_version().await.unwrap();
        assert_eq!(reported.git_version, version);
        let pods: Api<KPod> = Api::default_namespaced(client.clone());
        let pod = pods.list(&ListParams::default()).await.unwrap().items[0].name_any();
        if allowed {
            let fetched = fetch(&pods, &pod, 8080, SWAGGER).await;
            assert_eq!(fetched.status, 200);
        } else {
            // subresources.go ensureAuthorizedForVerb: NewForbidden with RBAC's empty reason.
            match pods.portforward(&pod, &[8080]).await {
                Err(kube::Error::Api(s)) => {
                    assert_eq!(s.code, 403);
                    assert_eq!(s.reason, "Forbidden");
                    assert_eq!(s.message, format!(r#"pods "{pod}" is forbidden: "#));
                }
                other => panic!("expected a 403, got {:?}", other.map(|_| ())),
            }
        }
    }
}

#[tokio::test]
async fn nodes_carry_autoscaler_taints_virtual_labels_and_both_families() {
    let mut topology = Topology::new().node(Node::virtual_kubelet(
        "virtual-node-aci-linux",
        "10.241.0.4",
    ));
    topology.nodes[0] = topology.nodes[0]
        .clone()
        .to_be_deleted()
        .dual_stack("fd00:10:224::4");
    topology.nodes[1] = topology.nodes[1].clone().deletion_candidate();
    let (_sandbox, client) = start_with(topology, Default::default()).await;
    let nodes = Api::<KNode>::all(client)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let taints = |n: &KNode| -> Vec<(String, String)> {
        n.spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.effect))
            .collect()
    };
    assert_eq!(
        taints(&nodes[0]),
        [(
            "ToBeDeletedByClusterAutoscaler".to_string(),
            "NoSchedule".to_string()
        )]
    );
    assert_eq!(
        taints(&nodes[1]),
        [(
            "DeletionCandidateOfClusterAutoscaler".to_string(),
            "PreferNoSchedule".to_string()
        )]
    );
    assert_eq!(
        taints(&nodes[2]),
        [(
            "virtual-kubelet.io/provider".to_string(),
            "NoSchedule".to_string()
        )]
    );
    assert_eq!(
        nodes[2].labels().get("type").map(String::as_str),
        Some("virtual-kubelet")
    );
    let internal: Vec<String> = nodes[0]
        .status
        .as_ref()
        .unwrap()
        .addresses
        .as_ref()
        .unwrap()
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .map(|a| a.address.clone())
        .collect();
    assert_eq!(internal, ["fd00:10:224::4", "10.224.0.4"]);
}

#[tokio::test]
async fn endpoint_slices_carry_serving_and_terminating() {
    let service = Service::new("orders", ServiceKind::NodePort)
        .port(ServicePort::new("http", 80, 8080))
        .publish_not_ready_addresses();
    let plain =
        Service::new("billing", ServiceKind::NodePort).port(ServicePort::new("http", 80, 8080));
    let starting_pod =
        Pod::for_service(&service, 0, "aks-nodepool1-12345678-vmss000000").never_ready();
    let leaving_pod =
        Pod::for_service(&service, 1, "aks-nodepool1-12345678-vmss000001").terminating();
    let old_pod = Pod::for_service(&plain, 0, "aks-nodepool1-12345678-vmss000001").terminating();
    let (starting, leaving, old) = (
        starting_pod.name.clone(),
        leaving_pod.name.clone(),
        old_pod.name.clone(),
    );
    let topology = Topology::new()
        .pod(starting_pod)
        .pod(leaving_pod)
        .pod(old_pod)
        .service(service)
        .service(plain);
    let (_sandbox, client) = start_with(topology, Default::default()).await;
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let list = slices.list(&ListParams::default()).await.unwrap();
    let conditions = |name: &str| {
        list.items
            .iter()
            .flat_map(|s| s.endpoints.clone())
            .find(|e| e.target_ref.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .and_then(|e| e.conditions)
            .map(|c| (c.ready, c.serving, c.terminating))
    };
    // publishNotReadyAddresses forces ready; serving is the pod's readiness.
    assert_eq!(
        conditions(&starting),
        Some((Some(true), Some(false), Some(false)))
    );
    assert_eq!(
        conditions(&leaving),
        Some((Some(true), Some(true), Some(true)))
    );
    // Without it, a terminating pod that still serves is not ready.
    assert_eq!(
        conditions(&old),
        Some((Some(false), Some(true), Some(true)))
    );
    let pod = Api::<KPod>::default_namespaced(client)
        .get(&old)
        .await
        .unwrap();
    assert!(pod.metadata.deletion_timestamp.is_some());
}

#[tokio::test]
async fn a_load_balancer_ip_arrives_late() {
    let service = Service::new("orders", ServiceKind::LoadBalancer)
        .port(ServicePort::new("http", 80, 8080))
        .internal_lb("10.224.0.60")
        .lb_ip_after(Duration::from_secs(1));
    let (_sandbox, client) = start_with(Topology::new().service(service), Default::default()).await;
    let services: Api<KService> = Api::default_namespaced(client);
    let ingress = |s: &KService| {
        s.status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.clone())
            .unwrap_or_default()
    };
    let before = services.get("orders").await.unwrap();
    assert!(ingress(&before).is_empty());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = services.get("orders").await.unwrap();
    assert_eq!(ingress(&after)[0].ip.as_deref(), Some("10.224.0.60"));
    assert_ne!(before.resource_version(), after.resource_version());
}

#[tokio::test]
async fn kube_503_and_429_faults_answer_as_the_api_server() {
    // kube 5 retries 429/503 itself by default (client/retry.rs, RetryPolicy::server_retry): turn
    // that off to see the answers.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(Config {
        faults: vec!["kube-503=1".into(), "kube-429=1".into()],
        ..Config::default()
    })
    .await
    .unwrap();
    let kubeconfig = Kubeconfig::read_from(&sandbox.kubeconfig).unwrap();
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
    config.default_retry = false;
    let client = Client::try_from(config.clone()).unwrap();
    let services: Api<KService> = Api::default_namespaced(client);
    let status = api_error(services.list(&ListParams::default()).await);
    assert_eq!(
        (status.code, status.reason.as_str()),
        (503, "ServiceUnavailable")
    );
    assert_eq!(status.details.expect("details").retry_after_seconds, 1);
    let status = api_error(services.list(&ListParams::default()).await);
    assert_eq!(status.code, 429);
    assert_eq!(status.message, "Too many requests, please try again later.");
    assert!(services.list(&ListParams::default()).await.is_ok());
    // With its default retry, kube rides out both by itself.
    sandbox.shared.faults.set("kube-503", 1).unwrap();
    sandbox.shared.faults.set("kube-429", 1).unwrap();
    config.default_retry = true;
    let services: Api<KService> = Api::default_namespaced(Client::try_from(config).unwrap());
    assert!(services.list(&ListParams::default()).await.is_ok());
}

/// A sandbox control request on the ARM listener: status and JSON body.
async fn control(
    sb: &Sandbox,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(sb.ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
        .request(method, format!("{}{path}", sb.urls.arm))
        .bearer_auth(&sb.arm_token)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn nodes_and_node_ports_change_at_runtime_as_the_api_server_shows_them() {
    let (sb, client) = start(default_config(&["swashbuckle/basic-swagger2.json"])).await;
    let nodes: Api<KNode> = Api::all(client.clone());
    let pods: Api<KPod> = Api::default_namespaced(client.clone());
    let services: Api<KService> = Api::default_namespaced(client.clone());
    let slices: Api<EndpointSlice> = Api::default_namespaced(client.clone());
    let before = pods.list(&ListParams::default()).await.unwrap().items;
    let old_pod = before[0].name_any();
    assert_eq!(
        before[0].spec.as_ref().unwrap().node_name.as_deref(),
        Some("aks-nodepool1-12345678-vmss000000")
    );
    let old_rv = nodes
        .get("aks-nodepool1-12345678-vmss000001")
        .await
        .unwrap()
        .resource_version();

    // A new node, then a cordon and an autoscaler taint on another.
    let put = reqwest::Method::PUT;
    let (status, _) = control(
        &sb,
        put.clone(),
        "/_sandbox/nodes/aks-nodepool1-12345678-vmss000002",
        r#"{"internalIP": "10.224.0.6"}"#,
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = control(&sb, put.clone(), "/_sandbox/nodes/aks-nodepool1-12345678-vmss000001", r#"{"unschedulable": true, "taints": [{"key": "ToBeDeletedByClusterAutoscaler", "value": "1", "effect": "NoSchedule"}]}"#).await;
    assert_eq!(status, 200);
    let n1 = nodes
        .get("aks-nodepool1-12345678-vmss000001")
        .await
        .unwrap();
    assert_ne!(
        n1.resource_version(),
        old_rv,
        "a change is a new resourceVersion"
    );
    let spec = n1.spec.unwrap();
    assert_eq!(spec.unschedulable, Some(true));
    let keys: Vec<String> = spec.taints.unwrap().into_iter().map(|t| t.key).collect();
    assert!(
        keys.contains(&"node.kubernetes.io/unschedulable".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"ToBeDeletedByClusterAutoscaler".to_string()),
        "{keys:?}"
    );
    assert_eq!(
        nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    // A new node needs an address; a bad body says what it must be.
    let (status, _) = control(&sb, put.clone(), "/_sandbox/nodes/x", r#"{"ready": true}"#).await;
    assert_eq!(status, 400);
    let (status, e) = control(
        &sb,
        put.clone(),
        "/_sandbox/nodes/x",
        r#"{"internalIp": "1.2.3.4"}"#,
    )
    .await;
    assert_eq!(status, 400, "{e}");

    // Deleting the pod's node drains it: a new pod, on the one node that takes pods, in the slice.
    let (status, moved) = control(
        &sb,
        reqwest::Method::DELETE,
        "/_sandbox/nodes/aks-nodepool1-12345678-vmss000000",
        "",
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    let after = pods.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(after.len(), 1);
    let new_pod = after[0].name_any();
    assert_ne!(new_pod, old_pod);
    assert_eq!(moved["moved"][0]["new"], new_pod.as_str());
    assert_eq!(
        after[0].spec.as_ref().unwrap().node_name.as_deref(),
        Some("aks-nodepool1-12345678-vmss000002")
    );
    let status_of = after[0].status.as_ref().unwrap();
    assert_eq!(status_of.host_ip.as_deref(), Some("10.224.0.6"));
    assert_ne!(status_of.pod_ip, before[0].status.as_ref().unwrap().pod_ip);
    let slice_pods: Vec<String> = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=svc-1"))
        .await
        .unwrap()
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter_map(|e| e.target_ref.as_ref().and_then(|r| r.name.clone()))
        .collect();
    assert_eq!(slice_pods, vec![new_pod.clone()]);
    assert!(
        nodes
            .get_opt("aks-nodepool1-12345678-vmss000000")
            .await
            .unwrap()
            .is_none()
    );
    // The new pod serves the document through a port-forward; the old one is gone.
    assert_eq!(fetch(&pods, &new_pod, 8080, SWAGGER).await.status, 200);
    assert!(pods.get_opt(&old_pod).await.unwrap().is_none());
    let (status, _) = control(
        &sb,
        reqwest::Method::DELETE,
        "/_sandbox/nodes/aks-nodepool1-12345678-vmss000000",
        "",
    )
    .await;
    assert_eq!(status, 404);

    // A nodePort changes as a re-created Service's does, within the range.
    let (status, answer) = control(
        &sb,
        put.clone(),
        "/_sandbox/services/svc-1/nodeport",
        r#"{"nodePort": 31234}"#,
    )
    .await;
    assert_eq!((status, answer["previous"].as_u64()), (200, Some(30080)));
    let svc = services.get("svc-1").await.unwrap();
    assert_eq!(svc.spec.unwrap().ports.unwrap()[0].node_port, Some(31234));
    let (status, e) = control(
        &sb,
        put.clone(),
        "/_sandbox/services/svc-1/nodeport",
        r#"{"nodePort": 29999}"#,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("30000-32767"),
        "{e}"
    );
    let (status, _) = control(
        &sb,
        put,
        "/_sandbox/services/nope/nodeport",
        r#"{"nodePort": 31000}"#,
    )
    .await;
    assert_eq!(status, 404);
}

/// A nodePort change is refused as kube-apiserver refuses it: the port's own index in the field
/// path, `Service "NAME" is invalid: ` first, a port another port of the same Service has
/// (validation's Duplicate value), and a healthCheckNodePort (same allocator) as allocated.
#[tokio::test]
async fn a_node_port_change_is_refused_as_the_api_server_refuses_it() {
    let two = Service::new("two", ServiceKind::NodePort)
        .port(ServicePort::new("http", 80, 8080).node_port(30080))
        .port(ServicePort::new("https", 443, 8443).node_port(30443));
    let orders = Service::new("orders", ServiceKind::LoadBalancer)
        .port(ServicePort::new("http", 80, 8080).node_port(30500))
        .internal_lb("10.224.0.120")
        .traffic_policy(TrafficPolicy::Local);
    let (sb, client) = start_with(
        Topology::new().service(two).service(orders),
        Default::default(),
    )
    .await;
    let services: Api<KService> = Api::default_namespaced(client);
    let hc = services
        .get("orders")
        .await
        .unwrap()
        .spec
        .unwrap()
        .health_check_node_port
        .unwrap();
    let put = |body: String| {
        let sb = &sb;
        async move {
            control(
                sb,
                reqwest::Method::PUT,
                "/_sandbox/services/two/nodeport",
                &body,
            )
            .await
        }
    };
    let message = |e: &serde_json::Value| e["error"]["message"].as_str().unwrap().to_string();

    let (status, e) = put(r#"{"nodePort": 30443, "port": "http"}"#.into()).await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(
        message(&e),
        r#"Service "two" is invalid: spec.ports[0].nodePort: Duplicate value: 30443"#
    );
    let (status, e) = put(format!(r#"{{"nodePort": {hc}, "port": "https"}}"#)).await;
    assert_eq!(status, 422, "{e}");
    assert_eq!(
        message(&e),
        format!(
            r#"Service "two" is invalid: spec.ports[1].nodePort: Invalid value: {hc}: provided port is already allocated"#
        )
    );
    let (status, e) = put(r#"{"nodePort": 29999, "port": 443}"#.into()).await;
    assert_eq!(status, 422, "{e}");
    assert!(
        message(&e).starts_with(
            r#"Service "two" is invalid: spec.ports[1].nodePort: Invalid value: 29999"#
        ),
        "{e}"
    );
    let (status, answer) = put(r#"{"nodePort": 31555, "port": "https"}"#.into()).await;
    assert_eq!((status, answer["previous"].as_u64()), (200, Some(30443)));
    let ports = services
        .get("two")
        .await
        .unwrap()
        .spec
        .unwrap()
        .ports
        .unwrap();
    assert_eq!(
        (ports[0].node_port, ports[1].node_port),
        (Some(30080), Some(31555))
    );
}
