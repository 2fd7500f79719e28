"""Replays every official APIM example (Azure/azure-rest-api-specs, 2024-05-01) against the emulator.

Each example is matched to its operation through the spec's own `x-ms-examples` table, its path
parameters are mapped onto the sandbox's subscription, resource group and service (and unknown
products onto `starter`, the sandbox having only `starter` and `unlimited`), the state it assumes
is created first, and the answer must carry one of the example's status codes, the example's
response headers, and every member of the example's body with the same JSON type, recursively.
Link imports point at a document the sandbox serves (an export link), as it has no network.
"""

import json
import pathlib
import re
import time

import pytest
import requests

APIM = pathlib.Path(__file__).resolve().parent / "../../../../shared/fixtures/apim"
EXAMPLES = sorted((APIM / "examples").glob("*.json"))
SWASHBUCKLE = APIM / "../swashbuckle"


def _operations_by_example():
    spec = json.loads((APIM / "apimapis.json").read_text(encoding="utf-8"))
    table = {}
    for section in ("paths", "x-ms-paths"):
        for template, item in spec.get(section, {}).items():
            for method, op in item.items():
                if not isinstance(op, dict):
                    continue
                for ref in op.get("x-ms-examples", {}).values():
                    name = pathlib.Path(ref["$ref"]).name
                    table[name] = (method.upper(), template, op["operationId"])
    return table


SERVICE = (
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
    "Microsoft.ApiManagement/service/{serviceName}"
)

# Operations of the other spec files of the same folder (Azure/azure-rest-api-specs,
# specification/apimanagement/resource-manager/Microsoft.ApiManagement/stable/2024-05-01/), whose
# examples the fixtures hold but whose files they do not: each row is the file, the method, the
# path template and operationId as that file spells them, and the examples its x-ms-examples lists.
OTHER_SPEC_FILES = [
    ("apimnamedvalues.json", "PUT", "/namedValues/{namedValueId}", "NamedValue_CreateOrUpdate",
     ["ApiManagementCreateNamedValue", "ApiManagementCreateNamedValueWithKeyVault"]),
    ("apimbackends.json", "PUT", "/backends/{backendId}", "Backend_CreateOrUpdate",
     ["ApiManagementCreateBackendProxyBackend", "ApiManagementCreateBackendWithSimpleLoadBalancer",
      "ApiManagementCreateBackendWithPriorityBasedLoadBalancer"]),
    ("apimapiversionsets.json", "PUT", "/apiVersionSets/{versionSetId}",
     "ApiVersionSet_CreateOrUpdate", ["ApiManagementCreateApiVersionSet"]),
    ("apimproducts.json", "PUT", "/products/{productId}/apis/{apiId}", "ProductApi_CreateOrUpdate",
     ["ApiManagementCreateProductApi"]),
]


def _all_operations():
    table = _operations_by_example()
    for _file, method, template, operation_id, examples in OTHER_SPEC_FILES:
        for name in examples:
            table.setdefault(name + ".json", (method, SERVICE + template, operation_id))
    return table


OPERATIONS = _all_operations()


class Arm:
    def __init__(self, sandbox):
        self.base = sandbox["SANDBOX_ARM_URL"]
        self.verify = sandbox["SANDBOX_CA_FILE"]
        self.headers = {"Authorization": "Bearer " + sandbox["SANDBOX_TOKEN"]}
        self.sub = sandbox["APIM_GATE_SUBSCRIPTION_ID"]
        self.rg = sandbox["APIM_GATE_RESOURCE_GROUP"]
        self.svc = sandbox["APIM_GATE_APIM_SERVICE"]
        self.service_id = (
            f"/subscriptions/{self.sub}/resourceGroups/{self.rg}"
            f"/providers/Microsoft.ApiManagement/service/{self.svc}"
        )

    def request(self, method, url, body=None):
        if not url.startswith("https://"):
            sep = "&" if "?" in url else "?"
            url = f"{self.base}{self.service_id}{url}{sep}api-version=2024-05-01"
        return requests.request(
            method, url, json=body, headers=self.headers, verify=self.verify, timeout=30
        )

    def wait(self, accepted):
        assert accepted.status_code in (200, 201), accepted.text
        for _ in range(20):
            r = self.request("GET", accepted.headers["Location"])
            if r.status_code != 202:
                assert r.status_code in (200, 201), r.text
                return r.json()
            time.sleep(int(r.headers.get("Retry-After", "1")))
        raise AssertionError("import never completed")

    def ensure_api(self, api_id, properties=None):
        """Creates or updates `api_id` with `properties`."""
        props = {"displayName": api_id, "path": api_id, "protocols": ["https"]}
        props.update(properties or {})
        r = self.request("PUT", f"/apis/{api_id}", {"properties": props})
        assert r.status_code in (200, 201), r.text

    def ensure_imported(self, api_id):
        doc = (SWASHBUCKLE / "todoapp.json").read_text(encoding="utf-8-sig")
        accepted = self.request(
            "PUT",
            f"/apis/{api_id}",
            {"properties": {"format": "openapi+json", "value": doc, "path": api_id}},
        )
        self.wait(accepted)

    def ensure_operation(self, api_id, operation_id):
        """Imports `api_id` with one operation whose operationId is `operation_id`."""
        doc = {
            "openapi": "3.0.1",
            "info": {"title": api_id, "version": "1"},
            "servers": [{"url": "https://backend.example.com"}],
            "paths": {"/items": {"get": {
                "operationId": operation_id,
                "responses": {"200": {"description": "OK"}},
            }}},
        }
        accepted = self.request(
            "PUT",
            f"/apis/{api_id}",
            {"properties": {"format": "openapi+json", "value": json.dumps(doc), "path": api_id}},
        )
        self.wait(accepted)

    def ensure_policy(self, api_id, value):
        r = self.request(
            "PUT", f"/apis/{api_id}/policies/policy",
            {"properties": {"format": "xml", "value": value}},
        )
        assert r.status_code in (200, 201), r.text

    def ensure_backend(self, backend_id):
        r = self.request(
            "PUT", f"/backends/{backend_id}",
            {"properties": {"url": f"https://{backend_id}.example.com", "protocol": "http"}},
        )
        assert r.status_code in (200, 201), r.text

    def ensure_version_set(self, set_id, properties):
        r = self.request("PUT", f"/apiVersionSets/{set_id}", {"properties": properties})
        assert r.status_code in (200, 201), r.text

    def export_link(self, fmt):
        """A link the sandbox serves, to a document with a title, description and server."""
        doc = (SWASHBUCKLE / "basic-openapi30.json").read_text(encoding="utf-8-sig")
        self.wait(
            self.request(
                "PUT",
                "/apis/example-seed",
                {"properties": {"format": "openapi+json", "value": doc, "path": "seed"}},
            )
        )
        encoded = fmt.replace("+", "%2B")
        r = self.request("GET", f"/apis/example-seed?format={encoded}&export=true")
        assert r.status_code == 200, r.text
        return r.json()["value"]["link"]


@pytest.fixture(scope="module")
def arm(sandbox):
    return Arm(sandbox)


def _example_service_id(params):
    return (
        f"/subscriptions/{params['subscriptionId']}/resourceGroups/{params['resourceGroupName']}"
        f"/providers/Microsoft.ApiManagement/service/{params['serviceName']}"
    )


def _rebase(value, old, new):
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_rebase(v, old, new) for v in value]
    if isinstance(value, dict):
        return {k: _rebase(v, old, new) for k, v in value.items()}
    return value


def _type(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def same_shape(example, actual, where="body"):
    """Every member of `example` is in `actual` with the same type; array items match the
    example's first item. Returns a list of differences."""
    problems = []
    if example is None:
        return problems
    if _type(example) != _type(actual):
        return [f"{where}: example has {_type(example)}, emulator has {_type(actual)}"]
    if isinstance(example, dict):
        for key, value in example.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems += same_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(example, list) and example:
        if not actual:
            problems.append(f"{where}: example has items, emulator has none")
        for i, item in enumerate(actual):
            problems += same_shape(example[0], item, f"{where}[{i}]")
    return problems


def _prepare(arm, example_name, operation_id, params, body):
    """Creates the state the example assumes; returns the (possibly rewritten) request body."""
    api_id = params.get("apiId")
    if operation_id == "Api_CreateOrUpdate":
        props = body["properties"]
        fmt = props.get("format", "")
        if fmt.endswith("-link") or fmt.startswith("swagger-link"):
            export_format = "swagger-link" if fmt.startswith("swagger") else "openapi+json-link"
            props["value"] = arm.export_link(export_format)
        if ";rev=" in api_id:
            arm.request("DELETE", f"/apis/{api_id}")
        else:
            # Each replay creates its API afresh, as the examples' 201 answers assume.
            arm.request("DELETE", f"/apis/{api_id}")
        if "apiVersionSetId" in props:
            set_id = props["apiVersionSetId"].rsplit("/apiVersionSets/", 1)[1]
            arm.ensure_version_set(set_id, _version_set(example_name))
        if "sourceApiId" in props:
            source = props["sourceApiId"].rsplit("/apis/", 1)[1]
            existing = {"displayName": "Echo API", "path": props.get("path", source)}
            if "apiVersionSetId" in props:
                # "a new Version using Existing Version Set": the source is the set's original
                # version (no apiVersion); two APIs share a path only within one set.
                existing["apiVersionSetId"] = props["apiVersionSetId"]
            arm.ensure_api(source, existing)
    elif operation_id == "ApiOperation_ListByApi":
        arm.ensure_imported(api_id)
    elif operation_id.startswith("ApiOperationPolicy_"):
        arm.ensure_operation(api_id, params["operationId"])
    elif operation_id in ("ApiPolicy_Get", "ApiPolicy_GetEntityTag"):
        arm.ensure_api(api_id)
        arm.ensure_policy(api_id, _policy_value(example_name))
    elif operation_id == "Backend_CreateOrUpdate":
        # A pool's members must exist: create them as the Single backends they name.
        for service in (body["properties"].get("pool") or {}).get("services", []):
            member = service["id"].rsplit("/backends/", 1)[1]
            arm.ensure_backend(member)
    elif api_id is not None:
        # The API the example reads or links, created with the properties its answer shows.
        arm.ensure_api(api_id, _api_properties(example_name))
    return body


def _api_properties(example_name):
    keep = (
        "displayName", "serviceUrl", "path", "protocols", "authenticationSettings",
        "subscriptionKeyParameterNames", "type", "description",
    )
    for response in _responses(example_name).values():
        body = response.get("body", {})
        if body.get("type") == "Microsoft.ApiManagement/service/apis":
            return {k: v for k, v in body["properties"].items() if k in keep}
    return {}


def _policy_value(example_name):
    """The policy the example reads back, or a minimal one when it shows none (HEAD)."""
    for response in _responses(example_name).values():
        value = response.get("body", {}).get("properties", {}).get("value")
        if value:
            return value
    return "<policies><inbound><base /></inbound></policies>"


def _version_set(example_name):
    """The version set the example's answer shows for its API: display name and scheme."""
    for response in _responses(example_name).values():
        shown = response.get("body", {}).get("properties", {}).get("apiVersionSet")
        if shown:
            return {"displayName": shown["name"], "versioningScheme": shown["versioningScheme"]}
    return {"displayName": "versions", "versioningScheme": "Segment"}


def _responses(example_name):
    return json.loads((APIM / "examples" / example_name).read_text(encoding="utf-8"))["responses"]


def test_every_example_maps_to_an_operation_of_the_spec():
    assert EXAMPLES, f"no examples under {APIM}"
    missing = [p.name for p in EXAMPLES if p.name not in OPERATIONS]
    assert missing == [], missing


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_replays(arm, path):
    example = json.loads(path.read_text(encoding="utf-8"))
    params = dict(example["parameters"])
    method, template, operation_id = OPERATIONS[path.name]
    if params.get("productId") not in (None, "starter", "unlimited"):
        params["productId"] = "starter"
    body = params.get("parameters")
    if body is not None:
        body = _rebase(body, _example_service_id(params), arm.service_id)
    body = _prepare(arm, path.name, operation_id, params, body)

    mapping = {
        "subscriptionId": arm.sub,
        "resourceGroupName": arm.rg,
        "serviceName": arm.svc,
    }
    url_path = template.split("?")[0]
    for name in re.findall(r"{([^}]+)}", url_path):
        url_path = url_path.replace("{" + name + "}", mapping.get(name, params.get(name, "")))
    query = "api-version=2024-05-01"
    if "?export=true" in template:
        query += "&export=true&format=" + params["format"]
    reply = arm.request(method, f"{arm.base}{url_path}?{query}", body)

    expected = example["responses"]
    assert str(reply.status_code) in expected, (
        f"{path.name}: {reply.status_code} not in {list(expected)}: {reply.text}"
    )
    want = expected[str(reply.status_code)]
    for header in want.get("headers", {}):
        assert header.lower() in {h.lower() for h in reply.headers}, f"{path.name}: no {header}"
    if "body" in want:
        problems = same_shape(want["body"], reply.json())
        assert not problems, f"{path.name}:\n" + "\n".join(problems)
    if "asyncId=" in reply.headers.get("Location", ""):
        # A long-running answer must also complete, and the API is left idle for the next replay.
        arm.wait(reply)
