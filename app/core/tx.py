"""Transactions: the platform's two verbs, and the one place that opens a tenant transaction.

1. **The request's transaction** (`TenantTx` / `ScimTx` dependencies, a `RequestTx` on the
   request's pooled connection). Write requests open it with `BEGIN; SELECT drift_api.enter_*`
   in one round trip (the credential re-verified, the tenant set for this transaction only;
   a SCIM write's first statement may ride in it, `Tx.run`);
   read-only requests (GET/HEAD) run each SELECT as an implicit transaction of its own with the
   credential check fused in ("one-flight reads", docs/adr/0003-one-flight-reads.md). The
   middleware commits before the response starts when the status is < 400 and rolls back
   otherwise. A handler that must do slow I/O (an HTTP call) calls `await tx.detach()`: the
   transaction commits now and the connection goes back to the pool; whatever it does after
   that goes in a transaction of its own.
2. **A transaction of my own** (`own_tx(db, tenant_id, ctx)`: commits when the block ends,
   rolls back on an exception; `OwnTx.open(..., snapshot=True)` for a long REPEATABLE READ
   read such as the NDJSON export). For the worker, the CLI, denial audit events that must
   survive the request's rollback, and logins/acceptances that know their tenant only from a
   token.

Append-only writes (audit events, outbox rows) go through `Tx.defer`: in both verbs they are
sent in the same round trip as COMMIT (docs/ARCHITECTURE.md, "Transactions").

Services never commit; repositories take a `Tx` and never know which verb opened it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NoReturn, TypeVar
from uuid import UUID

import asyncpg
import orjson

from app.core.context import RequestContext
from app.core.db import Database, connection_gone, discard
from app.core.metrics import observe_acquire

log = logging.getLogger("drift.db")

T = TypeVar("T")

_PARAM = re.compile(r"\$(\d+)")


# The process's dollar-quote tag, random so that no text is likely to hold it; a text that
# does gets a fresh random tag of its own (the check, not the secrecy, is what makes it safe).
_TAG = f"$v{secrets.token_hex(6)}$"


def _dollar(text: str) -> str:
    """A dollar-quoted literal whose tag the text does not contain."""
    if "\x00" in text:
        raise ValueError("a NUL character cannot be sent as a literal")
    tag = _TAG
    while tag in text:
        tag = f"$v{secrets.token_hex(6)}$"
    return f"{tag}{text}{tag}"


def literal(value: Any) -> str:
    """A PostgreSQL literal for a typed value (None, bool, int, UUID, aware datetime, str,
    dict as jsonb, a list of UUIDs, dicts or strings)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, UUID):
        # a subclass could render itself otherwise: only uuid.UUID's own text goes in as is
        return f"'{value if type(value) is UUID else UUID(str(value))}'::uuid"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime cannot be sent as a timestamptz literal")
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, str):
        return _dollar(value)
    if isinstance(value, dict):
        return _dollar(orjson.dumps(value, default=str).decode()) + "::jsonb"
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("no literal form for an empty array (its type is unknown)")
        if all(isinstance(v, UUID) for v in value):
            return "ARRAY[" + ", ".join(literal(v) for v in value) + "]::uuid[]"
        if all(isinstance(v, dict) for v in value):
            return "ARRAY[" + ", ".join(literal(v) for v in value) + "]::jsonb[]"
        if all(isinstance(v, str) for v in value):
            return "ARRAY[" + ", ".join(literal(v) for v in value) + "]::text[]"
    raise ValueError(f"no literal form for {type(value).__name__}")


def inline(sql: str, args: Sequence[Any]) -> str:
    """`sql` with $1..$n replaced by literals of `args` (values, never SQL text)."""
    rendered = [literal(a) for a in args]
    return _PARAM.sub(lambda m: rendered[int(m.group(1)) - 1], sql)


class Tx:
    """A transaction with the tenant set. Repositories receive this; services pass it on.

    `principal` is the verified caller when the transaction belongs to a request."""

    __slots__ = ("_lasts", "conn", "ctx", "deferred", "principal", "tenant_id")

    def __init__(self, conn: asyncpg.Connection, tenant_id: UUID, ctx: RequestContext,
                 principal: Any = None, *, deferrable: bool = False) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.ctx = ctx
        self.principal = principal
        # Statements that only append (audit events, outbox rows) and that nothing in the
        # transaction reads back: sent in the same flight as COMMIT (see `defer`). None: this
        # transaction's owner cannot flush them, so they run at once.
        self.deferred: list[str] | None = [] if deferrable else None
        self._lasts = 0  # how many of them, at the end, were deferred with `last`

    async def defer(self, sql: str, *args: Any, last: bool = False) -> None:
        """Run an append-only statement now, or, where the transaction's owner sends COMMIT
        (the request's transaction, `own_tx`), in the same round trip as COMMIT. The values
        are inlined as literals (`literal`), which is exactly as safe as binding them; a value
        that cannot be a literal (a NUL character) makes the statement run at once instead.

        `last`: the statement goes after every other deferred one, whatever the call order.
        The audit insert uses it: its trigger locks the tenant's chain row, while an event's
        fan-out takes the tenant's webhook sequence lock, so every transaction takes the two
        in the same order (sequence, then chain) and two writers of a tenant cannot deadlock
        (docs/ARCHITECTURE.md, "Row locks")."""
        if self.deferred is not None:
            try:
                statement = inline(sql, args)
            except ValueError:
                pass
            else:
                if last:
                    self.deferred.append(statement)
                    self._lasts += 1
                else:  # before the ones deferred with `last`
                    self.deferred.insert(len(self.deferred) - self._lasts, statement)
                return
        await self.execute(sql, *args)

    def take_deferred(self) -> str:
        """The deferred statements as a script prefix (`...; `), emptied."""
        if not self.deferred:
            return ""
        script = "; ".join(self.deferred) + "; "
        self.deferred.clear()
        self._lasts = 0
        return script

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self.conn.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        return await self.conn.execute(sql, *args)  # type: ignore[no-any-return]

    async def run(self, sql: str, *args: Any) -> str:
        """A statement whose result is its status (`INSERT 0 1`, `SELECT 0`), which may be
        sent as text: on a write request whose transaction is not open yet it rides in the
        round trip that opens it (`RequestTx.run`), so a write whose first statement needs
        no rows back costs two round trips, that one and COMMIT's. Sent as text, PostgreSQL
        plans it on every call: for a statement that is costly to plan, call a PL/pgSQL
        function that holds it (`SELECT 1 FROM f(...) AS r(ok) WHERE ok`; PL/pgSQL keeps the
        plan). Elsewhere it is `execute`."""
        return await self.execute(sql, *args)

    async def executemany(self, sql: str, args: Any) -> None:
        await self.conn.executemany(sql, args)


CREDENTIAL_SQLSTATE = "DR401"  # raised by drift_api.enter_* when a credential is refused
# raised by drift_api.enter_* when the IP allowlist changed after the request's check decided
# from the per-process cache (Freshness): before anything was read or written
STALE_SQLSTATE = "DR412"

SAFE_METHODS = frozenset({"GET", "HEAD"})
# credentials whose drift_api.enter_<kind> skips its last-use bookkeeping on a hot standby, so
# that their gate also enters a read replica (SCIM tokens never read from one)
STANDBY_KINDS = frozenset({"api_key", "session"})


class Freshness:
    """What a request's first statement proves for the tenant checks that decided from a
    per-process cache without a round trip of their own (the IP allowlist,
    app.ipallow.enforcement): that the allowlist change counter is still at most
    `allowlist_seq`, the value the cache had applied when it decided. drift_api.enter_*
    refuses with STALE_SQLSTATE when a change committed since (one this process has not
    applied yet); the request then runs `rechecks` (each such check again, the slow way that
    waits for the cache to catch up) and enters once more without the proof
    (docs/ipallow.md, "Cache and invalidation")."""

    __slots__ = ("allowlist_seq", "rechecks")

    def __init__(self) -> None:
        self.allowlist_seq: int | None = None
        self.rechecks: list[Callable[[], Awaitable[None]]] = []

    def defer(self, allowlist_seq: int, recheck: Callable[[], Awaitable[None]]) -> None:
        self.allowlist_seq = allowlist_seq
        self.rechecks.append(recheck)

    async def recheck(self) -> None:
        rechecks, self.rechecks, self.allowlist_seq = self.rechecks, [], None
        for check in rechecks:
            await check()


class Enter:
    """How a request's credential enters its tenant: the STABLE function
    `drift_api.enter_<kind>(args, p_read_only)`, two ways:

    - `script`: `BEGIN; SELECT drift_api.enter_<kind>(...)`, one simple-protocol round trip that
      opens the request's transaction, the typed arguments inlined as literals (`literal`);
      built only when a write needs it;
    - `gate` with `args` bound and `p_read_only` true: appended as a pseudo-constant condition
      to a read so that the read itself enters, and is then read-only
      (`gated`; docs/adr/0003-one-flight-reads.md).

    The last argument is the allowlist counter the statement must prove (`Freshness`), or
    NULL."""

    __slots__ = ("args", "freshness", "kind")

    def __init__(self, kind: str, args: tuple[Any, ...], freshness: Freshness | None = None
                 ) -> None:
        self.kind = kind
        self.freshness = freshness
        self.args = (*args, freshness.allowlist_seq if freshness is not None else None)

    @property
    def unproven_args(self) -> tuple[Any, ...]:
        """The arguments without the allowlist proof (a read replica: the request's primary
        statement proved it, and a replica's counter may lag or lead the check)."""
        return (*self.args[:-1], None)

    async def refresh(self) -> None:
        """After STALE_SQLSTATE: the checks that trusted the cache run again the slow way
        (refusing the request if they now refuse), and the proof is dropped."""
        if self.freshness is not None:
            await self.freshness.recheck()
        self.args = self.unproven_args

    @property
    def gate(self) -> str:
        return f"drift_api.enter_{self.kind}"

    @property
    def on_standby(self) -> bool:
        """Whether the gate also works on a hot standby (the read replica): it then makes the
        same checks and writes nothing."""
        return self.kind in STANDBY_KINDS

    @property
    def gate_script(self) -> str:
        """`SELECT drift_api.enter_<kind>(..., true)` with the typed arguments as literals: how
        a snapshot transaction on the read replica enters (`OwnTx.open(..., enter=...)`)."""
        values = ", ".join(literal(a) for a in self.unproven_args)
        return f"SELECT {self.gate}({values}, true)"

    @property
    def script(self) -> str:
        values = ", ".join(literal(a) for a in self.args)
        return f"BEGIN; SELECT drift_api.enter_{self.kind}({values})"


class PrincipalChanged(Exception):
    """The cached principal's role or email no longer matches the database. Raised from the
    first statement of a read-only request; the middleware runs the request again once with
    the credential looked up afresh (GET/HEAD: nothing was read by the client, nothing
    written)."""


RefusedHandler = Callable[[str], Awaitable[NoReturn]]

_wrapped: dict[tuple[str, str, int], str] = {}


def gated(sql: str, gate: str, nargs: int, ngate: int) -> str:
    """`sql` as one statement that first passes the gate, `gate(<the next ngate parameters>,
    true)`: the credential's enter function, which then makes the statement's transaction
    read-only (cached: the text is stable, so asyncpg's prepared-statement cache keeps
    working)."""
    key = (sql, gate, nargs)
    text = _wrapped.get(key)
    if text is None:
        params = ", ".join(f"${nargs + i + 1}" for i in range(ngate))
        text = f"SELECT * FROM ({sql}) AS _drift_q WHERE {gate}({params}, true)"
        if len(_wrapped) > 4096:
            _wrapped.clear()
        _wrapped[key] = text
    return text


def _fusable(sql: str) -> bool:
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or head.startswith("WITH")


class RequestTx(Tx):
    """The request's transaction: the tenant is entered by the first statement.

    Write requests (any method but GET/HEAD) open it with `BEGIN; SELECT enter(...)` in one
    round trip, then the statements, then COMMIT by the middleware before the response: a
    user's credential in its dependency (`open`), a SCIM token with the handler's first
    statement (which, sent with `run`, goes in that same round trip).

    Read-only requests (GET/HEAD) send nothing up front. Each SELECT runs as an implicit
    transaction of its own with the gate inside it: one round trip per statement, the
    credential re-verified and the tenant set in that same statement, the transaction made
    read-only after entering, nothing left set afterwards. Under READ COMMITTED (the
    service's isolation level) statements of one transaction already read separate snapshots,
    so this changes no result a read can see. A statement that is not a SELECT opens a real
    transaction first (a write in a GET, which the database then refuses to treat as
    read-only). A request whose handler ran no statement at all is verified by the middleware
    before its response goes out (`verify`)."""

    __slots__ = ("_on_refused", "_rconn", "_state", "enter", "read_only")

    PENDING, READING, OPEN, DETACHED, REFUSED = 0, 1, 2, 3, 4

    def __init__(self, rconn: RequestConnection, tenant_id: UUID, ctx: RequestContext,
                 principal: Any, enter: Enter, on_refused: RefusedHandler, *,
                 read_only: bool) -> None:
        super().__init__(None, tenant_id, ctx, principal, deferrable=True)
        self._rconn = rconn
        self._on_refused = on_refused
        self._state = self.PENDING
        self.enter = enter
        self.read_only = read_only
        rconn.tx = self

    @property
    def pending(self) -> bool:
        return self._state == self.PENDING

    async def open(self, first: str | None = None) -> str:
        """Open the request's real transaction (BEGIN + enter in one round trip); `first`, a
        statement as text, goes in the same round trip. Its status ("BEGIN"'s without)."""
        if self._state == self.OPEN:
            raise RuntimeError("the request transaction is already open")
        self._check_attached()
        tail = "" if first is None else f"; {first}"
        # the script is built on each try: after a stale allowlist proof the retry enters
        # without it (`_entering`)
        status = await self._entering(lambda: self._rconn.begin(self.enter.script + tail))
        self.conn = self._rconn.conn
        self._state = self.OPEN
        return status

    async def detach(self) -> None:
        """Finish the request's transaction now (COMMIT if one is open, with what was
        deferred) and give the connection back, so the handler can do slow I/O; nothing may
        use this Tx after it."""
        if self._state == self.OPEN:
            await self._rconn.commit()
        else:
            await self.finish()
        await self._rconn.release()
        self._state = self.DETACHED

    async def finish(self) -> None:
        """Before a successful response: a read request writes what it deferred (an audit
        event) in one script that enters, writes and commits; a request that ran no statement
        has its credential verified. An open transaction is left to the middleware's COMMIT,
        which carries the deferred statements itself."""
        if self._state in (self.OPEN, self.DETACHED):
            return
        deferred = self.take_deferred()
        if deferred:
            await self._entering(lambda: self._rconn.run(f"{self.enter.script}; {deferred}COMMIT"))
            self._state = self.READING
        elif self._state == self.PENDING:
            await self.verify()

    async def verify(self) -> None:
        """Re-verify the credential when no statement has done it yet (one round trip)."""
        if self._state != self.PENDING:
            return
        await self._gated("fetchval", "SELECT true", ())

    async def verify_write(self) -> None:
        """Before an error response: a write request whose transaction never opened (its
        handler answered before its first statement, or that statement failed in the round
        trip that would have opened it) has its credential verified all the same, so a
        refused credential answers 401 rather than the handler's error."""
        if not self.read_only:
            await self.verify()

    def _check_attached(self) -> None:
        if self._state == self.DETACHED:
            raise RuntimeError("the request transaction was detached; open a transaction of "
                               "your own (own_tx) for work after it")

    async def _refused_or_raise(self, exc: asyncpg.PostgresError) -> NoReturn:
        if getattr(exc, "sqlstate", None) == CREDENTIAL_SQLSTATE:
            self._state = self.REFUSED  # answered once (401): nothing verifies it again
            await self._on_refused(str(getattr(exc, "message", "") or exc))
        raise exc

    async def _entering(self, round_trip: Callable[[], Awaitable[T]]) -> T:
        """A round trip that enters the tenant. A refused credential goes to the refusal
        handler; a stale allowlist proof (STALE_SQLSTATE: nothing was read or written) makes
        the deferred checks run again, then the round trip once more without the proof."""
        try:
            return await round_trip()
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) != STALE_SQLSTATE:
                await self._refused_or_raise(exc)
        await self.enter.refresh()
        try:
            return await round_trip()
        except asyncpg.PostgresError as exc:
            await self._refused_or_raise(exc)

    async def _gated(self, kind: str, sql: str, args: tuple[Any, ...]) -> Any:
        self._check_attached()
        conn = await self._rconn.get()
        self.conn = conn
        enter = self.enter

        async def statement() -> Any:
            text = gated(sql, enter.gate, len(args), len(enter.args))
            return await getattr(conn, kind)(text, *args, *enter.args)

        result = await self._entering(statement)
        self._state = self.READING
        return result

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        if self._state != self.OPEN:
            if self.read_only and _fusable(sql):
                return await self._gated("fetch", sql, args)  # type: ignore[no-any-return]
            await self.open()
        return await self.conn.fetch(sql, *args)  # type: ignore[no-any-return]

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        if self._state != self.OPEN:
            if self.read_only and _fusable(sql):
                return await self._gated("fetchrow", sql, args)
            await self.open()
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if self._state != self.OPEN:
            if self.read_only and _fusable(sql):
                return await self._gated("fetchval", sql, args)
            await self.open()
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        if self._state != self.OPEN:
            await self.open()
        return await self.conn.execute(sql, *args)  # type: ignore[no-any-return]

    async def run(self, sql: str, *args: Any) -> str:
        """`Tx.run`: the first statement of a write request goes in the round trip that opens
        the transaction (`BEGIN; SELECT enter(...); <it>`, its values inlined as literals, the
        status the last statement's). A refused credential stops the script before it; if it
        fails, the transaction is rolled back and its error raised, as `execute` would. A
        value with no literal form (`literal`) sends it the usual way."""
        if self._state == self.PENDING and not self.read_only:
            try:
                first = inline(sql, args)
            except ValueError:
                pass
            else:
                return await self.open(first)
        return await self.execute(sql, *args)

    async def executemany(self, sql: str, args: Any) -> None:
        if self._state != self.OPEN:
            await self.open()
        await self.conn.executemany(sql, args)


class ReplicaTx(Tx):
    """A read-only request's statements on the read replica (app.core.replica): each SELECT
    runs as one implicit transaction of its own on the replica connection, gated by the
    credential's own `drift_api.enter_<kind>` (on a standby: the credential checked against
    the replica's data, the tenant entered, the transaction read-only, nothing written).
    Anything but a SELECT is refused here: a replica serves reads only."""

    __slots__ = ("_gate", "_gate_args")

    def __init__(self, conn: asyncpg.Connection, request_tx: RequestTx) -> None:
        super().__init__(conn, request_tx.tenant_id, request_tx.ctx, request_tx.principal)
        if not request_tx.enter.on_standby:
            raise ValueError(f"{request_tx.enter.kind} credentials do not read from a replica")
        self._gate = request_tx.enter.gate
        self._gate_args = request_tx.enter.unproven_args

    def _text(self, sql: str, args: tuple[Any, ...]) -> str:
        if not _fusable(sql):
            raise RuntimeError("the read replica runs SELECT statements only")
        return gated(sql, self._gate, len(args), len(self._gate_args))

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self.conn.fetch(  # type: ignore[no-any-return]
            self._text(sql, args), *args, *self._gate_args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self.conn.fetchrow(self._text(sql, args), *args, *self._gate_args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.conn.fetchval(self._text(sql, args), *args, *self._gate_args)

    async def execute(self, sql: str, *args: Any) -> str:
        raise RuntimeError("the read replica runs SELECT statements only")

    async def executemany(self, sql: str, args: Any) -> None:
        raise RuntimeError("the read replica runs SELECT statements only")


def begin_tenant_sql(tenant_id: UUID) -> str:
    # tenant_id is a uuid.UUID, so its text form is exactly 36 hex-and-dash characters:
    # safe to inline, which lets BEGIN and the tenant setting share one round trip.
    tid = str(UUID(str(tenant_id)))
    return f"BEGIN; SELECT set_config('app.tenant_id', '{tid}', true)"


class RequestConnection:
    """One pooled connection for one HTTP request, acquired on first use.

    The request's tenant transaction runs on it; RequestContextMiddleware finishes it just
    before the response starts (COMMIT for status < 400, ROLLBACK otherwise) and releases it.
    Authentication lookups reuse the same connection, so a request acquires at most one."""

    __slots__ = ("_pool", "conn", "in_tx", "tx")

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.conn: asyncpg.Connection | None = None
        self.in_tx = False
        self.tx: RequestTx | None = None  # the request transaction, once a dependency made it

    async def get(self) -> asyncpg.Connection:
        if self.conn is None:
            started = time.perf_counter()
            self.conn = await self._pool.acquire()
            observe_acquire(time.perf_counter() - started)
        return self.conn

    async def begin(self, script: str) -> str:
        """Run `script` (which starts with BEGIN) as one round trip; the status of its last
        statement."""
        conn = await self.get()
        if self.in_tx:
            raise RuntimeError("the request transaction is already open")
        self.in_tx = True
        try:
            status: str = await conn.execute(script)
        except BaseException:
            await self.rollback()
            raise
        return status

    async def run(self, script: str) -> None:
        """A whole transaction as one simple-protocol script (BEGIN ... COMMIT)."""
        conn = await self.get()
        try:
            await conn.execute(script)
        except BaseException:
            if not connection_gone(conn) and conn.is_in_transaction():
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
            raise

    async def commit(self) -> None:
        """COMMIT, in the same round trip as the transaction's deferred statements."""
        if self.in_tx and self.conn is not None:
            self.in_tx = False
            script = (self.tx.take_deferred() if self.tx is not None else "") + "COMMIT"
            try:
                await self.conn.execute(script)
            except BaseException:
                if not connection_gone(self.conn) and self.conn.is_in_transaction():
                    with contextlib.suppress(Exception):
                        await self.conn.execute("ROLLBACK")
                raise

    async def rollback(self) -> None:
        if self.conn is not None and self.in_tx:
            self.in_tx = False
            if not connection_gone(self.conn):
                try:
                    await self.conn.execute("ROLLBACK")
                except Exception:
                    log.warning("rollback failed; discarding connection", exc_info=True)
                    discard(self.conn)

    async def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if self.in_tx:
            self.in_tx = False
            if not connection_gone(conn):
                try:
                    await conn.execute("ROLLBACK")
                except Exception:
                    discard(conn)
        await self._pool.release(conn)  # a no-op for a connection asyncpg already detached


@asynccontextmanager
async def own_tx(db: Database, tenant_id: UUID, ctx: RequestContext | None = None, *,
                 enter: Enter | None = None) -> AsyncIterator[Tx]:
    """A transaction of my own in one tenant: commits on success, rolls back on error. With
    `enter` (a credential's BEGIN script) the credential is re-verified as it opens: a
    refused one raises the database's DR401 error, as the request transaction does."""
    # No acquire timeout: asyncio.wait_for per request costs ~8% of the hot path, and
    # new connections already time out (pool `timeout`); statement_timeout bounds holders.
    async with db.pool.acquire() as conn:
        try:
            await conn.execute(enter.script if enter is not None else begin_tenant_sql(tenant_id))
        except BaseException:
            # A refused credential fails inside `BEGIN; SELECT enter(...)`: end the aborted
            # transaction here, or the pool warns "Resetting connection with an active
            # transaction" when the connection goes back.
            if not connection_gone(conn) and conn.is_in_transaction():
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.execute("ROLLBACK"))
            raise
        try:
            tx = Tx(conn, tenant_id, ctx or RequestContext(), deferrable=True)
            yield tx
        except BaseException:
            if not connection_gone(conn):
                await conn.execute("ROLLBACK")
            raise
        try:
            await conn.execute(tx.take_deferred() + "COMMIT")  # one round trip
        except BaseException:
            if not connection_gone(conn) and conn.is_in_transaction():
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.execute("ROLLBACK"))
            raise


class OwnTx:
    """A transaction of my own that outlives a `with` block (a streamed response): open it,
    use `.tx`, `close()` it (rolled back: it only reads). `snapshot=True` makes it REPEATABLE
    READ READ ONLY, so every page of a long read sees one snapshot."""

    def __init__(self, db: Database, conn: asyncpg.Connection, tx: Tx) -> None:
        self._db = db
        self._conn: asyncpg.Connection | None = conn
        self.tx = tx

    @classmethod
    async def open(cls, db: Database, tenant_id: UUID, ctx: RequestContext, *,
                   snapshot: bool = False, idle_timeout: str | None = None,
                   enter: Enter | None = None) -> OwnTx:
        """`enter`: the tenant is entered by the credential's gate (re-verified; on a standby
        nothing is written: how a snapshot on the read replica opens) instead of by setting it."""
        tid = str(UUID(str(tenant_id)))  # a UUID's text form: safe to inline
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;" if snapshot else "BEGIN;"
        entry = (enter.gate_script if enter is not None
                 else f"SELECT set_config('app.tenant_id', '{tid}', true)")
        script = f"{begin} {entry}"
        if idle_timeout is not None:
            seconds = int(idle_timeout.rstrip("s"))  # e.g. "300s": a number we produced
            script += f"; SET LOCAL idle_in_transaction_session_timeout = '{seconds}s'"
        conn = await db.pool.acquire()
        try:
            await conn.execute(script)
        except BaseException:
            await asyncio.shield(_give_back(db, conn))
            raise
        return cls(db, conn, Tx(conn, tenant_id, ctx))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.shield(_give_back(self._db, conn))


async def _give_back(db: Database, conn: asyncpg.Connection) -> None:
    try:
        if not connection_gone(conn) and conn.is_in_transaction():
            await conn.execute("ROLLBACK")
        await db.pool.release(conn)
    except Exception:
        log.warning("could not return a connection cleanly; discarding it", exc_info=True)
        discard(conn)
        with contextlib.suppress(Exception):
            await db.pool.release(conn)
