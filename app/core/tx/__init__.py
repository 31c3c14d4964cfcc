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

from app.core.tx.base import Tx
from app.core.tx.connection import OwnTx, RequestConnection, begin_tenant_sql, own_tx
from app.core.tx.literals import inline, literal
from app.core.tx.request import (
    CREDENTIAL_SQLSTATE,
    SAFE_METHODS,
    Enter,
    Freshness,
    PrincipalChanged,
    ReplicaTx,
    RequestTx,
    gated,
)

__all__ = ["CREDENTIAL_SQLSTATE", "SAFE_METHODS", "Enter", "Freshness",
           "OwnTx", "PrincipalChanged", "ReplicaTx", "RequestConnection", "RequestTx", "Tx",
           "begin_tenant_sql", "gated", "inline", "literal", "own_tx"]
