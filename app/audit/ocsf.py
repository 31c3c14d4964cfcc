"""Audit events as OCSF 1.1 records (`format=ocsf` on the export, `options.format: ocsf` on a
SIEM stream). The field mapping is tabled in docs/audit.md ("OCSF").

Changes to a user's account (provisioning, deactivation, reactivation, deletion, role and
attribute changes) are Account Change (class_uid 3001, Identity & Access Management);
every other action is API Activity (class_uid 6003, Application Activity), its activity taken
from the action's verb. Nothing is lost: the Drift event itself rides in `unmapped.drift`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

OCSF_VERSION = "1.1.0"
PRODUCT = {"name": "Drift Cloud", "vendor_name": "Drift", "feature": {"name": "Audit log"}}

API_ACTIVITY = (6003, "API Activity", 6, "Application Activity")
ACCOUNT_CHANGE = (3001, "Account Change", 3, "Identity & Access Management")

# Account Change activities (OCSF 1.1: 1 Create, 2 Enable, 5 Disable, 6 Delete, 99 Other)
ACCOUNT_ACTIONS: dict[str, tuple[int, str]] = {
    "user.provisioned": (1, "Create"),
    "user.reactivated": (2, "Enable"),
    "user.deprovisioned": (5, "Disable"),
    "member.remove": (5, "Disable"),
    "user.deleted": (6, "Delete"),
    "user.role_changed": (99, "Role Change"),
    "member.role_change": (99, "Role Change"),
    "user.updated": (99, "Update"),
    "tenant.owner_identity_update": (99, "Update"),
}

# API Activity from the action's last segment (OCSF: 1 Create, 2 Read, 3 Update, 4 Delete)
_CREATE = {"create", "add", "register", "accept", "created", "provisioned", "member_add",
           "project_assign", "token_created", "code_exchanged", "promote"}
_READ = {"query", "export", "stream", "stream_ticket", "verify", "test", "login", "refresh",
         "break_glass"}
_UPDATE = {"update", "updated", "role_change", "member_role_change", "rotate_secret",
           "retry", "recover", "resend", "ownership_transfer", "retention_update", "enforced",
           "group_mappings_updated", "verified", "owner_identity_update", "disabled",
           "emergency_reset", "reset_requested", "ingest", "submit"}
_DELETE = {"delete", "deleted", "remove", "revoke", "member_remove", "project_unassign",
           "token_revoked", "logout", "retention_purge"}
_API_ACTIVITIES = ((_CREATE, 1, "Create"), (_READ, 2, "Read"), (_UPDATE, 3, "Update"),
                   (_DELETE, 4, "Delete"))

# user type_id: 1 User, 3 System, 99 Other
_USER_TYPES = {"user": (1, "User"), "api_key": (1, "User"), "system": (3, "System"),
               "scim": (99, "SCIM")}


def api_activity(action: str) -> tuple[int, str]:
    verb = action.split(".", 1)[-1]
    for verbs, activity_id, name in _API_ACTIVITIES:
        if verb in verbs:
            return activity_id, name
    return 99, "Other"


def _epoch_ms(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _user_from_metadata(event: dict[str, Any]) -> dict[str, Any]:
    """The account an Account Change is about: the resource, with what metadata names."""
    meta = event.get("metadata") or {}
    user: dict[str, Any] = {"uid": event["resource"]["id"] or meta.get("user_id")}
    email = meta.get("email") or meta.get("user_email")
    if isinstance(email, str):
        user["email_addr"] = email
    name = meta.get("user_name")
    if isinstance(name, str):
        user["name"] = name
    return user


def to_ocsf(event: dict[str, Any]) -> dict[str, Any]:
    """One Drift audit event (the API's JSON) as an OCSF record."""
    action: str = event["action"]
    outcome: str = event["outcome"]
    if action in ACCOUNT_ACTIONS:
        (class_uid, class_name, category_uid, category_name) = ACCOUNT_CHANGE
        activity_id, activity_name = ACCOUNT_ACTIONS[action]
    else:
        (class_uid, class_name, category_uid, category_name) = API_ACTIVITY
        activity_id, activity_name = api_activity(action)
    actor = event["actor"]
    type_id, type_name = _USER_TYPES.get(actor["type"], (99, str(actor["type"])))
    actor_user: dict[str, Any] = {"type_id": type_id, "type": type_name}
    if actor["id"] is not None:
        actor_user["uid"] = actor["id"]
    if actor["email"] is not None:
        actor_user["email_addr"] = actor["email"]
    ok = outcome == "success"
    # where the request came from; events without one (the worker's) name the service
    src: dict[str, Any] = ({"ip": event["ip"]} if event["ip"]
                           else {"svc_name": "drift-cloud"})
    record: dict[str, Any] = {
        "class_uid": class_uid, "class_name": class_name,
        "category_uid": category_uid, "category_name": category_name,
        "activity_id": activity_id, "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "time": _epoch_ms(event["created_at"]),
        "severity_id": 1 if ok else 3, "severity": "Informational" if ok else "Medium",
        "status_id": 1 if ok else 2, "status": "Success" if ok else "Failure",
        "status_detail": outcome,
        "message": f"{action} {outcome}",
        "metadata": {"version": OCSF_VERSION, "product": PRODUCT, "uid": event["id"],
                     "log_name": "audit", "sequence": event["seq"],
                     "original_time": event["created_at"], "event_code": action,
                     "correlation_uid": event["request_id"]},
        "actor": {"user": actor_user},
        "src_endpoint": src,
        "unmapped": {"drift": event},
    }
    if event["user_agent"]:
        record["http_request"] = {"user_agent": event["user_agent"]}
    if class_uid == ACCOUNT_CHANGE[0]:
        record["user"] = _user_from_metadata(event)
    else:
        record["api"] = {"operation": action, "service": {"name": "drift-cloud"}}
        if event["request_id"]:
            record["api"]["request"] = {"uid": event["request_id"]}
        record["cloud"] = {"provider": "Drift Cloud"}
        resource = event["resource"]
        if resource["type"] is not None or resource["id"] is not None:
            record["resources"] = [{"type": resource["type"], "uid": resource["id"]}]
    return record


def line(raw: bytes) -> bytes:
    """One export/NDJSON line (a Drift event's JSON, optionally ending in a newline) as an
    OCSF line."""
    return orjson.dumps(to_ocsf(orjson.loads(raw))) + b"\n"


def event_bytes(raw: bytes) -> bytes:
    """A Drift event's JSON bytes as the OCSF record's JSON bytes (no newline)."""
    return orjson.dumps(to_ocsf(orjson.loads(raw)))
