"""The request's transaction: how a credential enters its tenant (`Enter`, `gated`), the
one-flight reads and writes of `RequestTx`, and `ReplicaTx` on the read replica."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from uuid import UUID

import asyncpg

from app.core.context import RequestContext
from app.core.tx.base import Tx
from app.core.tx.literals import inline, literal

if TYPE_CHECKING:
    from app.core.tx.connection import RequestConnection

T = TypeVar("T")


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
