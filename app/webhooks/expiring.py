"""The `apikey-expiring` worker job: one `apikey.expiring` event per API key that expires
within the next 7 days, sent once per key (api_keys.expiry_notified_at).

It runs every hour (the first run at worker start), so a key is announced within an hour of
entering the 7-day window; several workers never announce a key twice (the UPDATE that marks
it takes the row lock)."""

from __future__ import annotations

from datetime import timedelta

from app.core import clock
from app.core.context import Actor, RequestContext
from app.core.events import build_data
from app.core.outbox import emit_many
from app.core.runtime import Runtime
from app.core.tx import own_tx
from app.webhooks import repository

WINDOW = timedelta(days=7)
INTERVAL = 3600.0


async def announce(rt: Runtime) -> int:
    """Emit the events due now; returns how many keys were announced."""
    now = clock.now()
    until = now + WINDOW
    ctx = RequestContext(actor=Actor.system())
    announced = 0
    for tenant_id in await repository.tenants_with_expiring_api_keys(rt.db, now, until):
        async with own_tx(rt.db, tenant_id, ctx) as tx:
            keys = await repository.take_expiring_api_keys(tx, now, until)
            await emit_many(tx, "apikey.expiring", [
                build_data("apikey.expiring", key_id=k["id"], name=k["name"],
                           prefix=k["prefix"], user_id=k["user_id"],
                           user_email=k["user_email"], expires_at=k["expires_at"])
                for k in keys])
        announced += len(keys)
    return announced


async def run_once(rt: Runtime) -> int:
    await announce(rt)
    return 0  # periodic: never "drain"
