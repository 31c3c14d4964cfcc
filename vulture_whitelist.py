"""Reviewed exceptions for the dead-code guard (scripts/deadcode.py, run by `make lint`).

Each entry is something in app/ that no Python in app/ (or alembic/) uses, kept on purpose;
the comment says who uses it. Prefer deleting dead code, or using it, over adding a line here.
Declarative code is handled by rules in pyproject.toml ([tool.vulture]) and
scripts/deadcode.py, not here: route handlers and click commands (decorators), pydantic
fields of schemas and event models, and app/*/models.py (excluded: the SQLAlchemy tables are
being turned into Alembic's target_metadata).
This file runs (`python vulture_whitelist.py`), so a stale entry fails loudly."""

from vulture.whitelists.whitelist_utils import Whitelist

from app.audit import live
from app.core import clock, metrics, migrate
from app.ipallow import cache
from app.main import create_app

_ = Whitelist()  # for instance attributes, which a class does not have until __init__ runs

create_app  # uvicorn's factory, named by a string in app/cli.py ("app.main:create_app")
clock.advance  # the time seam tests use to move the service's clock
clock.freeze  # the time seam tests use to stop the service's clock

# Counters of the allowlist cache: tests/ipallow/test_cache.py reads them to prove reads are
# coalesced and served from the cache. TODO: expose them (metrics) or drop them.
_.rounds  # cache._Barrier.rounds
cache.Stats.barrier_checks, cache.Stats.hits, cache.Stats.lagging
cache.Stats.untrusted, cache.Stats.notifications, cache.Stats.flushes

# dnspython's resolver settings, assigned in app.domains.service.resolver
_.nameservers, _.lifetime
# prometheus-client calls collect().
metrics._Families.collect

# SAML identity fields kept for single logout (SLO) and support tickets: the NameID format
# and session index the IdP asserted (docs/sso.md); nothing reads them until SLO exists.
_.name_id_format, _.session_index  # saml.SamlIdentity

# The live stream's LISTEN connection is up: tests/scale/test_session_features.py checks it
# connects through DRIFT_DIRECT_DATABASE_URL behind a pooler.
live.AuditHub.listening

# For revisions written as SQL in Python (op.execute lists): the revisions other branches add
# on top of the squashed chain (alembic/README.md) use it with app_role(). The squashed chain
# itself declares its tenant tables with drift_private.declare_tenant_table in alembic/sql/
# (which runs drift_private.isolate_tenant_table). Drop it once no revision imports it.
migrate.tenant_rls
