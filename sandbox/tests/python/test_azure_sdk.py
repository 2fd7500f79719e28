"""The official Azure SDK for Python against the sandbox's Entra ID and ARM/APIM emulators.

Named values, API and operation policies, backends and version sets go through the SDK's own
models and pollers too: what it sends and what it reads back are the checks.

azure-identity's ClientSecretCredential (MSAL underneath) asks the Entra emulator for a token;
azure-mgmt-apimanagement's ApiManagementClient drives imports through its generic ARM poller
(Azure-AsyncOperation, then the Location URL), lists operations and revisions, and releases.
"""

import json
import pathlib
import uuid

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.apimanagement import ApiManagementClient
from azure.mgmt.apimanagement.models import (
    ApiCreateOrUpdateParameter,
    ApiReleaseContract,
    ApiUpdateContract,
    ApiVersionSetContract,
    BackendBaseParametersPool,
    BackendCircuitBreaker,
    BackendContract,
    BackendPoolItem,
    CircuitBreakerFailureCondition,
    CircuitBreakerRule,
    FailureStatusCodeRange,
    NamedValueCreateContract,
    PolicyContract,
)

FIXTURES = pathlib.Path(__file__).resolve().parents[4] / "shared" / "fixtures"
ARM_SCOPE = "https://management.azure.com/.default"


def _doc(name: str) -> str:
    return (FIXTURES / "swashbuckle" / name).read_text(encoding="utf-8-sig")


def _credential(sandbox, secret=None):
    return ClientSecretCredential(
        sandbox["APIM_GATE_TENANT_ID"],
        sandbox["APIM_GATE_CLIENT_ID"],
        secret or sandbox["APIM_GATE_CLIENT_SECRET"],
        authority=sandbox["SANDBOX_ENTRA_URL"],
        disable_instance_discovery=True,
        connection_verify=sandbox["SANDBOX_CA_FILE"],
    )


@pytest.fixture(scope="module")
def client(sandbox):
    return ApiManagementClient(
        _credential(sandbox),
        sandbox["APIM_GATE_SUBSCRIPTION_ID"],
        base_url=sandbox["SANDBOX_ARM_URL"],
        credential_scopes=[ARM_SCOPE],
        connection_verify=sandbox["SANDBOX_CA_FILE"],
        polling_interval=0,
    )


def _names(sandbox):
    return sandbox["APIM_GATE_RESOURCE_GROUP"], sandbox["APIM_GATE_APIM_SERVICE"]


def _with_host(doc: str) -> str:
    parsed = json.loads(doc)
    parsed["host"] = "backend.internal"
    parsed["schemes"] = ["https"]
    return json.dumps(parsed)


def test_credential_gets_a_token_and_a_wrong_secret_is_refused(sandbox):
    token = _credential(sandbox).get_token(ARM_SCOPE)
    assert token.token.count(".") == 2
    assert token.expires_on > 0
    with pytest.raises(ClientAuthenticationError) as refused:
        _credential(sandbox, secret="not-the-secret").get_token(ARM_SCOPE)
    assert "AADSTS7000215" in str(refused.value)


def test_import_swagger_json_and_list_operations(sandbox, client):
    rg, svc = _names(sandbox)
    api_id = f"swagger-{uuid.uuid4().hex[:8]}"
    poller = client.api.begin_create_or_update(
        rg,
        svc,
        api_id,
        ApiCreateOrUpdateParameter(
            format="swagger-json",
            value=_with_host(_doc("basic-swagger2.json")),
            path=api_id,
        ),
    )
    api = poller.result()
    assert api.name == api_id
    assert api.display_name == "Test API V1"
    assert api.service_url == "https://backend.internal"
    assert api.is_current is True

    operations = list(client.api_operation.list_by_api(rg, svc, api_id))
    assert len(operations) == 35  # more than one page: the SDK followed nextLink
    by_name = {op.name: op for op in operations}
    assert by_name["createproduct"].display_name == "Creates a product"
    assert by_name["createproduct"].method == "POST"
    assert by_name["get-products-all"].url_template == "/products/all"

    # The SDK polled ARM's async-operation URL and followed the operations' nextLink.
    log = _requests(sandbox)
    assert any("/tenant/operationResults/" in e["path"] for e in log)
    assert any(f"/apis/{api_id}/operations" in e["path"] and "skip=10" in e["path"] for e in log)


def _requests(sandbox):
    import requests

    return requests.get(
        sandbox["SANDBOX_ARM_URL"] + "/_sandbox/requests",
        headers={"Authorization": "Bearer " + sandbox["SANDBOX_TOKEN"]},
        verify=sandbox["SANDBOX_CA_FILE"],
        timeout=10,
    ).json()


def test_swagger_without_schemes_fails_through_the_poller(sandbox, client):
    rg, svc = _names(sandbox)
    poller = client.api.begin_create_or_update(
        rg,
        svc,
        f"noscheme-{uuid.uuid4().hex[:8]}",
        ApiCreateOrUpdateParameter(
            format="swagger-json", value=_doc("basic-swagger2.json"), path="noscheme"
        ),
    )
    with pytest.raises(HttpResponseError) as failed:
        poller.result()
    assert "Cannot infer scheme" in str(failed.value)


def test_import_openapi_json_then_revision_and_release(sandbox, client):
    rg, svc = _names(sandbox)
    api_id = f"oas-{uuid.uuid4().hex[:8]}"
    api = client.api.begin_create_or_update(
        rg,
        svc,
        api_id,
        ApiCreateOrUpdateParameter(
            format="openapi+json",
            value=_doc("basic-openapi30.json"),
            path=api_id,
            service_url="https://ignored.example",
        ),
    ).result()
    assert api.service_url is None  # no https server in the document; the sent one is ignored
    assert len(list(client.api_operation.list_by_api(rg, svc, api_id))) == 35

    # Resource ids in bodies are full ARM ids, spelled literally.
    service_id = (
        f"/subscriptions/{sandbox['APIM_GATE_SUBSCRIPTION_ID']}/resourceGroups/{rg}"
        f"/providers/Microsoft.ApiManagement/service/{svc}"
    )
    revision = client.api.begin_create_or_update(
        rg,
        svc,
        f"{api_id};rev=2",
        ApiCreateOrUpdateParameter(
            source_api_id=f"{service_id}/apis/{api_id}",
            api_revision_description="staged by the SDK test",
        ),
    ).result()
    assert revision.api_revision == "2"
    assert revision.is_current is False

    # A non-current revision keeps the API's display name: importing a document with another
    # title fails on the poll, as real APIM's does (azure-powershell#9270).
    poller = client.api.begin_create_or_update(
        rg,
        svc,
        f"{api_id};rev=2",
        ApiCreateOrUpdateParameter(
            format="openapi+json", value=_doc("todoapp.json"), path=api_id
        ),
    )
    with pytest.raises(HttpResponseError) as locked:
        poller.result()
    assert "Can't change property Name for non-current revision" in str(locked.value)

    todo = client.api.begin_create_or_update(
        rg,
        svc,
        f"{api_id};rev=2",
        ApiCreateOrUpdateParameter(
            format="openapi+json",
            value=_doc("todoapp.json"),
            path=api_id,
            display_name=api.display_name,
            description=api.description,
        ),
    ).result()
    assert todo.display_name == api.display_name
    staged_ops = list(client.api_operation.list_by_api(rg, svc, f"{api_id};rev=2"))
    assert {op.name for op in staged_ops} >= {"listtodos", "createtodo"}
    assert len(list(client.api_operation.list_by_api(rg, svc, api_id))) == 35

    revisions = list(client.api_revision.list_by_service(rg, svc, api_id))
    assert sorted((r.api_revision, r.is_current) for r in revisions) == [
        ("1", True),
        ("2", False),
    ]
    staged = next(r for r in revisions if r.api_revision == "2")
    assert staged.description == "staged by the SDK test"

    release = client.api_release.create_or_update(
        rg,
        svc,
        api_id,
        "release-2",
        ApiReleaseContract(api_id=f"{service_id}/apis/{api_id};rev=2", notes="ship it"),
    )
    assert release.name == "release-2"
    assert release.notes == "ship it"
    current = client.api.get(rg, svc, api_id)
    assert current.api_revision == "2"
    # Once current, the revision takes the new title.
    client.api.update(
        rg, svc, api_id, "*", ApiUpdateContract(display_name="Todo API")
    )
    assert client.api.get(rg, svc, api_id).display_name == "Todo API"
    revisions = list(client.api_revision.list_by_service(rg, svc, api_id))
    assert sorted((r.api_revision, r.is_current) for r in revisions) == [
        ("1", False),
        ("2", True),
    ]


def test_export_link_is_served(sandbox, client):
    import requests

    rg, svc = _names(sandbox)
    api_id = f"exp-{uuid.uuid4().hex[:8]}"
    client.api.begin_create_or_update(
        rg,
        svc,
        api_id,
        ApiCreateOrUpdateParameter(
            format="openapi+json", value=_doc("todoapp.json"), path="todo"
        ),
    ).result()
    exported = client.api_export.get(rg, svc, api_id, format="openapi+json-link", export="true")
    link = exported.value.link
    doc = requests.get(link, verify=sandbox["SANDBOX_CA_FILE"], timeout=10).json()
    assert doc["info"]["title"] == "Todo API"
    assert doc["servers"][0]["url"].endswith("/todo")
    assert len(doc["paths"]) > 0


def _service_id(sandbox):
    rg, svc = _names(sandbox)
    return (
        f"/subscriptions/{sandbox['APIM_GATE_SUBSCRIPTION_ID']}/resourceGroups/{rg}"
        f"/providers/Microsoft.ApiManagement/service/{svc}"
    )


def test_named_values_hide_secrets_and_list_their_value(sandbox, client):
    rg, svc = _names(sandbox)
    name = f"nv-{uuid.uuid4().hex[:8]}"
    plain = client.named_value.begin_create_or_update(
        rg, svc, name, NamedValueCreateContract(display_name=name, value="v1", tags=["a"])
    ).result()
    assert (plain.display_name, plain.value, plain.secret) == (name, "v1", False)
    secret = client.named_value.begin_create_or_update(
        rg, svc, name + "-s", NamedValueCreateContract(display_name=name + "-s", value="s3cr3t", secret=True)
    ).result()
    assert secret.secret is True
    assert client.named_value.get(rg, svc, name + "-s").value is None
    assert client.named_value.list_value(rg, svc, name + "-s").value == "s3cr3t"
    names = {nv.name for nv in client.named_value.list_by_service(rg, svc)}
    assert {name, name + "-s"} <= names
    with pytest.raises(HttpResponseError) as blank:
        client.named_value.begin_create_or_update(
            rg, svc, name + "-b", NamedValueCreateContract(display_name=name + "-b", value="  ")
        ).result()
    assert "empty or consist only of whitespace" in str(blank.value)
    client.named_value.delete(rg, svc, name + "-s", "*")
    with pytest.raises(HttpResponseError) as gone:
        client.named_value.get(rg, svc, name + "-s")
    assert gone.value.status_code == 404


def test_policies_are_checked_and_live_only_when_their_revision_is_released(sandbox, client):
    rg, svc = _names(sandbox)
    api_id = f"pol-{uuid.uuid4().hex[:8]}"
    client.api.begin_create_or_update(
        rg, svc, api_id,
        ApiCreateOrUpdateParameter(format="openapi+json", value=_doc("todoapp.json"), path=api_id),
    ).result()
    raw = (
        '<policies><inbound><base /><set-header name="x-key" exists-action="override">'
        '<value>{{%s}}</value></set-header>'
        '<set-variable name="k" value="@(context.Request.Headers.GetValueOrDefault(\"k\", \"\"))" />'
        "</inbound></policies>"
    )
    key = f"key-{uuid.uuid4().hex[:6]}"
    policy = PolicyContract(value=raw % key, format="rawxml")

    # A named value that does not exist is refused, naming it.
    with pytest.raises(HttpResponseError) as missing:
        client.api_policy.create_or_update(rg, svc, api_id, "policy", policy)
    assert missing.value.status_code == 400
    assert f"Cannot find a property '{key}'" in str(missing.value)
    # rawxml's unescaped quotes are not XML: the xml format refuses them.
    client.named_value.begin_create_or_update(
        rg, svc, key, NamedValueCreateContract(display_name=key, value="abc")
    ).result()
    with pytest.raises(HttpResponseError) as not_xml:
        client.api_policy.create_or_update(
            rg, svc, api_id, "policy", PolicyContract(value=raw % key, format="xml")
        )
    assert "Expecting white space" in str(not_xml.value)

    # Staged on revision 2: the live API has no policy until the release.
    service_id = _service_id(sandbox)
    client.api.begin_create_or_update(
        rg, svc, f"{api_id};rev=2", ApiCreateOrUpdateParameter(source_api_id=f"{service_id}/apis/{api_id}")
    ).result()
    client.api_policy.create_or_update(rg, svc, f"{api_id};rev=2", "policy", policy)
    assert list(client.api_policy.list_by_api(rg, svc, api_id).value) == []
    staged = client.api_policy.get(rg, svc, f"{api_id};rev=2", "policy", format="rawxml")
    assert staged.value == raw % key
    encoded = client.api_policy.get(rg, svc, f"{api_id};rev=2", "policy")
    assert "&quot;k&quot;" in encoded.value
    assert client.api_policy.get_entity_tag(rg, svc, f"{api_id};rev=2", "policy") is True

    op = next(iter(client.api_operation.list_by_api(rg, svc, f"{api_id};rev=2"))).name
    client.api_operation_policy.create_or_update(
        rg, svc, f"{api_id};rev=2", op, "policy",
        PolicyContract(value="<policies><inbound><base /></inbound></policies>", format="xml"),
    )
    client.api_release.create_or_update(
        rg, svc, api_id, "rel-2", ApiReleaseContract(api_id=f"{service_id}/apis/{api_id};rev=2")
    )
    live = client.api_policy.get(rg, svc, api_id, "policy", format="rawxml")
    assert live.value == raw % key
    assert len(client.api_operation_policy.list_by_operation(rg, svc, api_id, op).value) == 1
    client.api_policy.delete(rg, svc, api_id, "policy", "*")
    with pytest.raises(HttpResponseError) as deleted:
        client.api_policy.get(rg, svc, api_id, "policy")
    assert deleted.value.status_code == 404


def test_backends_single_with_circuit_breaker_and_a_pool_of_them(sandbox, client):
    rg, svc = _names(sandbox)
    prefix = f"be-{uuid.uuid4().hex[:6]}"
    breaker = BackendCircuitBreaker(rules=[CircuitBreakerRule(
        name="trip-on-5xx",
        failure_condition=CircuitBreakerFailureCondition(
            count=3, interval="PT1M",
            status_code_ranges=[FailureStatusCodeRange(min=500, max=599)],
            error_reasons=["BackendConnectionFailure"],
        ),
        trip_duration="PT30S",
    )])
    for node in ("a", "b"):
        made = client.backend.create_or_update(
            rg, svc, f"{prefix}-{node}",
            BackendContract(url=f"http://10.0.0.{len(node)}:30080", protocol="http", circuit_breaker=breaker),
        )
        assert made.circuit_breaker.rules[0].failure_condition.count == 3
    service_id = _service_id(sandbox)
    members = [BackendPoolItem(id=f"{service_id}/backends/{prefix}-{n}", priority=1) for n in ("a", "b")]
    pool = client.backend.create_or_update(
        rg, svc, f"{prefix}-nodes",
        BackendContract(type_properties_type="Pool", pool=BackendBaseParametersPool(services=members)),
    )
    assert pool.type_properties_type == "Pool"
    assert [s.id for s in pool.pool.services] == [m.id for m in members]

    # A pool's members must exist, and a member of a pool cannot be deleted from under it.
    with pytest.raises(HttpResponseError) as absent:
        client.backend.create_or_update(
            rg, svc, f"{prefix}-bad",
            BackendContract(type_properties_type="Pool", pool=BackendBaseParametersPool(
                services=[BackendPoolItem(id=f"{service_id}/backends/{prefix}-zzz")])),
        )
    assert f"Backend with id '{prefix}-zzz' could not be found" in str(absent.value)
    with pytest.raises(HttpResponseError):
        client.backend.delete(rg, svc, f"{prefix}-a", "*")

    # A policy may route to the pool; to a backend that does not exist, it may not.
    api_id = f"{prefix}-api"
    client.api.begin_create_or_update(
        rg, svc, api_id, ApiCreateOrUpdateParameter(display_name=api_id, path=api_id)
    ).result()
    route = '<policies><inbound><base /><set-backend-service backend-id="%s" /></inbound></policies>'
    client.api_policy.create_or_update(
        rg, svc, api_id, "policy", PolicyContract(value=route % f"{prefix}-nodes", format="rawxml")
    )
    with pytest.raises(HttpResponseError) as unknown:
        client.api_policy.create_or_update(
            rg, svc, api_id, "policy", PolicyContract(value=route % "nope", format="rawxml")
        )
    assert "Backend with id 'nope' could not be found" in str(unknown.value)


def test_version_sets_and_their_apis(sandbox, client):
    rg, svc = _names(sandbox)
    set_id = f"vs-{uuid.uuid4().hex[:6]}"
    made = client.api_version_set.create_or_update(
        rg, svc, set_id, ApiVersionSetContract(display_name="Orders", versioning_scheme="Segment")
    )
    assert made.versioning_scheme == "Segment"
    with pytest.raises(HttpResponseError) as query:
        client.api_version_set.create_or_update(
            rg, svc, set_id + "-q", ApiVersionSetContract(display_name="Q", versioning_scheme="Query")
        )
    assert "versionQueryName" in str(query.value)

    full = f"{_service_id(sandbox)}/apiVersionSets/{set_id}"
    for version in ("v1", "v2"):
        api = client.api.begin_create_or_update(
            rg, svc, f"{set_id}-{version}",
            ApiCreateOrUpdateParameter(
                display_name="Orders", path=set_id, api_version=version, api_version_set_id=full
            ),
        ).result()
        assert api.api_version == version
        assert api.api_version_set.name == "Orders"
    with pytest.raises(HttpResponseError) as twice:
        client.api.begin_create_or_update(
            rg, svc, f"{set_id}-again",
            ApiCreateOrUpdateParameter(display_name="Orders", path=set_id, api_version="v2", api_version_set_id=full),
        ).result()
    assert "API with specified version 'v2' already exists" in str(twice.value)
    # No source shows APIM refusing a version on another path: the sandbox takes it.
    elsewhere = client.api.begin_create_or_update(
        rg, svc, f"{set_id}-v3",
        ApiCreateOrUpdateParameter(display_name="Orders", path="other", api_version="v3", api_version_set_id=full),
    ).result()
    assert elsewhere.api_version == "v3"
    # Deleting the last API of a set deletes the set (MicrosoftDocs/azure-docs#81857).
    for version in ("v1", "v2", "v3"):
        client.api.begin_delete(rg, svc, f"{set_id}-{version}", if_match="*").result()
    with pytest.raises(HttpResponseError) as gone:
        client.api_version_set.get(rg, svc, set_id)
    assert gone.value.status_code == 404


def test_apis_share_a_path_only_as_versions_of_one_set(sandbox, client):
    # Azure/azure-powershell#11027, Azure/apiops#697: "Cannot create API 'X' with the same Path
    # 'P' as API 'Y'  unless it's a part of the same version set".
    rg, svc = _names(sandbox)
    suffix = uuid.uuid4().hex[:6]
    path = f"shared-{suffix}"
    client.api.begin_create_or_update(
        rg, svc, f"plain-{suffix}", ApiCreateOrUpdateParameter(display_name="Plain", path=path)
    ).result()
    with pytest.raises(HttpResponseError) as same:
        client.api.begin_create_or_update(
            rg, svc, f"other-{suffix}", ApiCreateOrUpdateParameter(display_name="Other", path=path)
        ).result()
    assert (
        f"Cannot create API 'other-{suffix}' with the same Path '{path}' as API 'plain-{suffix}'"
        in str(same.value)
    )
    set_id = f"vs-{suffix}"
    client.api_version_set.create_or_update(
        rg, svc, set_id, ApiVersionSetContract(display_name="Set", versioning_scheme="Header", version_header_name="x-v")
    )
    full = f"{_service_id(sandbox)}/apiVersionSets/{set_id}"
    with pytest.raises(HttpResponseError) as versioned:
        client.api.begin_create_or_update(
            rg, svc, f"v1-{suffix}",
            ApiCreateOrUpdateParameter(display_name="Set", path=path, api_version="v1", api_version_set_id=full),
        ).result()
    assert "unless it's a part of the same version set" in str(versioned.value)
    made = client.api.begin_create_or_update(
        rg, svc, f"v1-{suffix}",
        ApiCreateOrUpdateParameter(display_name="Set", path=f"{path}-v", api_version="v1", api_version_set_id=full),
    ).result()
    assert made.api_version_set.version_header_name == "x-v"
