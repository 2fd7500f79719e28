"""The official Azure SDK for Python against the sandbox's Entra ID and ARM/APIM emulators.

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
