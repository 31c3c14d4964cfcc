"""Schema-driven fuzzing of every operation with schemathesis, authenticated as an admin of a
seeded tenant, against the real app under uvicorn: no 5xx, no response that contradicts the
OpenAPI document (status codes, content types, bodies, headers)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any
from uuid import UUID, uuid4

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hyp_settings

from app.auth import repository as auth_repo
from app.config import Settings
from app.core import clock
from app.core.runtime import Runtime
from app.core.security import (
    API_KEY_PREFIX,
    SCIM_TOKEN_PREFIX,
    display_prefix,
    new_token,
    token_hash,
)
from app.core.tx import own_tx
from app.main import create_app
from app.scim.repository import tokens as scim_tokens
from app.tenants.service import create_tenant
from tests.conftest import LiveServer

MAX_EXAMPLES = 25


def _in_thread(coro_fn: Any) -> Any:
    """Run an async setup function on its own loop in a thread (the test loop is separate)."""
    out: dict[str, Any] = {}

    def target() -> None:
        out["value"] = asyncio.run(coro_fn())

    t = threading.Thread(target=target)
    t.start()
    t.join()
    return out["value"]


@pytest.fixture(scope="module")
def fuzz_admin(settings: Settings, test_db: Any) -> dict[str, Any]:
    async def seed() -> dict[str, Any]:
        rt = Runtime.create(settings, test_db.app_url)
        await rt.start()
        try:
            created = await create_tenant(rt.db, name="Fuzz Co", slug="fuzz-co",
                                          owner_email="owner@fuzz.example",
                                          owner_password="fuzz-password-1")
            async with own_tx(rt.db, UUID(created["tenant_id"])) as tx:
                await auth_repo.insert_api_key(
                    tx, user_id=UUID(created["owner_user_id"]), name="fuzz",
                    prefix=display_prefix(FUZZ_KEY), digest=token_hash(FUZZ_KEY),
                    expires_at=None, now=clock.now())
                await scim_tokens.insert(
                    tx, name="fuzz", prefix=display_prefix(FUZZ_SCIM_TOKEN),
                    digest=token_hash(FUZZ_SCIM_TOKEN), created_by=None, now=clock.now())
            return created
        finally:
            await rt.close()

    created: dict[str, Any] = _in_thread(seed)
    return created


# The document is the app's own (no server needed to read it); calls go to the live server.
# A schema-valid request may still be refused for reasons a schema cannot express (an opaque
# cursor that is not one of ours, logout with an API key, a seat limit, an expired link, a rate
# limit on reset emails); those
# answers are documented problem responses, so positive-data acceptance allows them.
# The admin's key is made here, so schemathesis can own authentication (the `bearer` security
# scheme): it then knows which requests are meant to lack credentials, and checks that
# operations really refuse them.
FUZZ_KEY = new_token(API_KEY_PREFIX)
FUZZ_SCIM_TOKEN = new_token(SCIM_TOKEN_PREFIX)
CONFIG = schemathesis.Config.from_dict({
    "auth": {"openapi": {"bearer": {"bearer": FUZZ_KEY}, "scim": {"bearer": FUZZ_SCIM_TOKEN}}},
    # /scim/v2/Me answers 501 by design (RFC 7644 makes /Me optional); no other route does
    "checks": {"not_a_server_error": {"expected-statuses": ["2XX", "3XX", "4XX", "501"]},
               "positive_data_acceptance": {
        "expected-statuses": ["2XX", "3XX", "400", "401", "402", "403", "404", "409", "410",
                              "429", "501"]}}})
schema = schemathesis.openapi.from_dict(create_app(Settings(run_worker=False)).openapi(),
                                        config=CONFIG)


@pytest.fixture(scope="module")
def fuzz_server(settings: Settings) -> Any:
    """The app under uvicorn for fuzzing. Loopback bypasses the IP allowlist here, so an entry
    the fuzzer adds (it may send force=true) cannot lock it out of every later operation."""
    from app.config import parse_networks

    server = LiveServer(settings.model_copy(update={
        "ip_allowlist_bypass_cidrs": parse_networks("127.0.0.0/8")})).start()
    yield server
    server.stop()


@schema.parametrize()
@hyp_settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any, fuzz_admin: dict[str, Any],
                                    fuzz_server: LiveServer) -> None:
    key = (case.headers or {}).get("Idempotency-Key")
    if key is not None:
        # Examples are derandomized, so generated keys repeat across different bodies, which
        # is the documented 422 idempotency_key_reused (tests/core/test_idempotency.py); a
        # unique prefix keeps each request its own while keeping the generated characters.
        case.headers["Idempotency-Key"] = f"{uuid4().hex}{key}"[:255]
    case.call_and_validate(base_url=fuzz_server.url)
