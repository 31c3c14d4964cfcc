"""Discovery: what /ServiceProviderConfig, /ResourceTypes and /Schemas announce is what the
service does (scim2-models validates the documents)."""

from __future__ import annotations

from scim2_models import ResourceType, Schema, ServiceProviderConfig

from tests.scim.conftest import (
    ENTERPRISE_URN,
    GROUP_URN,
    LIST_URN,
    USER_URN,
    Scim,
    assert_scim_error,
)


async def test_service_provider_config(scim: Scim) -> None:
    r = await scim.get("/ServiceProviderConfig")
    assert r.status_code == 200 and r.headers["content-type"] == "application/scim+json"
    spc = ServiceProviderConfig.model_validate(r.json())
    assert spc.patch and spc.patch.supported
    assert spc.bulk and spc.bulk.supported and spc.bulk.max_operations == 1000
    assert spc.bulk.max_payload_size == 1_048_576
    assert spc.filter and spc.filter.supported and spc.filter.max_results == 1000
    assert spc.sort and spc.sort.supported and spc.etag and spc.etag.supported
    assert spc.change_password and not spc.change_password.supported
    assert [a.type for a in spc.authentication_schemes or []] == ["oauthbearertoken"]


async def test_resource_types(scim: Scim) -> None:
    body = (await scim.get("/ResourceTypes")).json()
    assert body["schemas"] == [LIST_URN] and body["totalResults"] == 2
    types = {rt["id"]: ResourceType.model_validate(rt) for rt in body["Resources"]}
    assert types["User"].endpoint == "/Users" and types["User"].schema_ == USER_URN
    assert [e.schema_ for e in types["User"].schema_extensions or []] == [ENTERPRISE_URN]
    assert types["Group"].endpoint == "/Groups"
    one = await scim.get("/ResourceTypes/Group")
    assert one.status_code == 200 and one.json()["schema"] == GROUP_URN
    assert_scim_error(await scim.get("/ResourceTypes/Printer"), 404)


async def test_schemas(scim: Scim) -> None:
    body = (await scim.get("/Schemas")).json()
    schemas = {s["id"]: Schema.model_validate(s) for s in body["Resources"]}
    assert set(schemas) == {USER_URN, ENTERPRISE_URN, GROUP_URN}
    user = {a.name: a for a in schemas[USER_URN].attributes or []}
    assert user["userName"].required and user["userName"].uniqueness.value == "server"
    assert user["groups"].mutability.value == "readOnly"
    assert user["password"].returned.value == "never"
    assert {a.name for a in schemas[ENTERPRISE_URN].attributes or []} == {
        "employeeNumber", "costCenter", "organization", "division", "department", "manager"}
    by_id = await scim.get(f"/Schemas/{ENTERPRISE_URN}")
    assert by_id.status_code == 200 and by_id.json()["name"] == "EnterpriseUser"
    assert_scim_error(await scim.get("/Schemas/urn:example:nope"), 404)


async def test_discovery_is_read_only(scim: Scim) -> None:
    for path in ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas",
                 "/ResourceTypes/User", f"/Schemas/{USER_URN}"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert_scim_error(await scim.request(method, path, json={}), 405)
