"""OCSF output: `format=ocsf` on the export and `options.format: ocsf` on a SIEM stream give
one OCSF 1.1 record per audit event, API Activity (6003) or Account Change (3001), with every
field the class requires."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

import httpx
import orjson

from app.core.runtime import Runtime
from tests.audit.conftest import ndjson
from tests.audit.test_export import export
from tests.audit.test_siem_streams import accepted, create, drain, receiver  # noqa: F401
from tests.conftest import Tenant
from tests.scim.conftest import Scim, scim_client
from tests.webhooks.conftest import Receiver

# OCSF 1.1: what every event class requires, and what these two classes add
BASE_REQUIRED = ("activity_id", "category_uid", "class_uid", "metadata", "severity_id", "time",
                 "type_uid")
CLASS_REQUIRED = {6003: ("actor", "api", "cloud", "src_endpoint"), 3001: ("user",)}
CATEGORY = {6003: 6, 3001: 3}
ACTIVITIES = {6003: {0, 1, 2, 3, 4, 99}, 3001: {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 99}}


def assert_valid_ocsf(rec: dict[str, Any]) -> None:
    cls = rec["class_uid"]
    assert cls in CLASS_REQUIRED, rec
    for field in (*BASE_REQUIRED, *CLASS_REQUIRED[cls]):
        assert rec.get(field) is not None, (field, rec)
    assert rec["category_uid"] == CATEGORY[cls]
    assert rec["activity_id"] in ACTIVITIES[cls]
    assert rec["type_uid"] == cls * 100 + rec["activity_id"]
    assert rec["severity_id"] in {0, 1, 2, 3, 4, 5, 6, 99}
    assert rec["status_id"] in {0, 1, 2, 99}
    assert isinstance(rec["time"], int) and rec["time"] > 1_600_000_000_000  # epoch ms
    meta = rec["metadata"]
    assert meta["version"].startswith("1.") and meta["product"]["vendor_name"]
    assert isinstance(rec["actor"], dict) and isinstance(rec["actor"]["user"], dict)
    if cls == 6003:
        assert rec["api"]["operation"] and rec["cloud"]["provider"]
        assert isinstance(rec["src_endpoint"], dict) and rec["src_endpoint"]
    else:
        assert rec["user"]["uid"]


async def test_export_as_ocsf_maps_every_event_to_a_valid_record(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "Ocsf"})
    assert r.status_code == 201
    project = r.json()
    r = await client.delete(f"/api/v1/projects/{project['id']}", headers=tenant.headers)
    assert r.status_code == 204
    scim = await scim_client(client, tenant)
    user = await scim.create_user("o@example.com",
                                  emails=[{"value": "o@example.com", "primary": True}])
    for active in ("False", "True"):
        r = await scim.patch(f"/Users/{user['id']}", Scim.ops(
            {"op": "Replace", "path": "active", "value": active}))
        assert r.status_code == 200, r.text
    member = await tenant.add_user("member")
    r = await client.get("/api/v1/audit", headers=member.headers)  # denied, and recorded
    assert r.status_code == 403

    plain = await export(client, tenant)
    ocsf = await export(client, tenant, format="ocsf")
    assert plain.status_code == ocsf.status_code == 200, ocsf.text
    assert ocsf.headers["content-type"] == "application/x-ndjson"
    drift_events, records = ndjson(plain.content), ndjson(ocsf.content)
    # the second export also covers the first one's own audit.export event
    assert [r["api"]["operation"] for r in records[len(drift_events):]] == ["audit.export"]
    records = records[:len(drift_events)]
    assert len(drift_events) > 5
    for event, rec in zip(drift_events, records, strict=True):
        assert_valid_ocsf(rec)
        assert rec["metadata"]["uid"] == event["id"]
        assert rec["metadata"]["sequence"] == event["seq"]
        assert rec["unmapped"]["drift"] == event  # nothing is lost
        assert rec["time"] == int(datetime.fromisoformat(
            event["created_at"].replace("Z", "+00:00")).timestamp() * 1000)
    by_action = {e["action"]: rec for e, rec in zip(drift_events, records, strict=True)}
    expected = {
        "project.create": (6003, 1), "project.delete": (6003, 4),
        "user.provisioned": (3001, 1), "user.deprovisioned": (3001, 5),
        "user.reactivated": (3001, 2)}
    for action, (cls, activity) in expected.items():
        rec = by_action[action]
        assert (rec["class_uid"], rec["activity_id"]) == (cls, activity), action
    assert by_action["project.create"]["api"]["operation"] == "project.create"
    assert by_action["project.create"]["resources"] == [
        {"type": "project", "uid": project["id"]}]
    assert by_action["project.create"]["actor"]["user"]["email_addr"] == tenant.owner.email
    assert by_action["user.provisioned"]["user"]["uid"] == user["id"]
    assert by_action["user.provisioned"]["actor"]["user"]["type"] == "SCIM"
    denied = next(rec for e, rec in zip(drift_events, records, strict=True)
                  if e["outcome"] == "denied")
    assert (denied["status_id"], denied["status_detail"]) == (2, "denied")
    # the next-page link keeps the format
    assert "format=ocsf" in ocsf.headers["link"]


async def test_bad_format_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await export(client, tenant, format="cef")
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert "format" in r.text
    r = await client.post("/api/v1/audit/streams", headers=tenant.headers, json={
        "name": "x", "type": "https_ndjson", "url": "https://example.com/x",
        "options": {"format": "leef"}})
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = await client.get("/api/v1/audit/streams", headers=tenant.headers)
    assert r.json()["data"] == []


async def test_ndjson_stream_in_ocsf_sends_the_exports_records_signed(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver  # noqa: F811
) -> None:
    hook = receiver.hook()
    s = await create(client, tenant, type="https_ndjson", url=hook.url,
                     options={"format": "ocsf"}, from_seq=1)
    assert s["options"] == {"format": "ocsf"}
    r = await client.post("/api/v1/projects", headers=tenant.headers, json={"name": "Siem"})
    assert r.status_code == 201
    await drain(runtime, tenant)
    key = base64.b64decode(s["signing_secret"].removeprefix("whsec_"))
    pushed: list[dict[str, Any]] = []
    for req in accepted(hook):
        msg_id, ts = req.headers["webhook-id"], req.headers["webhook-timestamp"]
        mac = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + req.body,
                                        hashlib.sha256).digest()).decode()
        assert f"v1,{mac}" in req.headers["webhook-signature"].split(" ")
        pushed += ndjson(req.body)
    for rec in pushed:
        assert_valid_ocsf(rec)
    assert "project.create" in [p["api"]["operation"] for p in pushed if p["class_uid"] == 6003]
    exported = ndjson((await export(client, tenant, format="ocsf")).content)
    by_uid = {e["metadata"]["uid"]: e for e in exported}
    for rec in pushed:  # the same record as the export's
        assert rec == by_uid[rec["metadata"]["uid"]]


async def test_hec_and_datadog_carry_the_ocsf_record(
        client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, receiver: Receiver  # noqa: F811
) -> None:
    hec, dd = receiver.hook(), receiver.hook()
    await create(client, tenant, type="splunk_hec", url=hec.url, token="hec-token",
                 options={"format": "ocsf"}, from_seq=1)
    await create(client, tenant, type="datadog", url=dd.url, token="dd-key",
                 options={"format": "ocsf"}, from_seq=1)
    await drain(runtime, tenant)
    hec_events = [orjson.loads(line) for req in accepted(hec)
                  for line in req.body.split(b"\n") if line]
    assert hec_events and all(e["sourcetype"] == "drift:audit:ocsf" for e in hec_events)
    for e in hec_events:
        assert_valid_ocsf(e["event"])
    logs = [log for req in accepted(dd) for log in orjson.loads(req.body)]
    assert logs and all("drift" not in log for log in logs)
    for log in logs:
        assert_valid_ocsf(log["ocsf"])
        assert log["evt"]["name"] == log["ocsf"]["metadata"]["event_code"]
