"""Every domain's table metadata in one place: Alembic's `target_metadata` and the test that
runs `alembic check` import this (docs/adr/0002-asyncpg-not-sqlalchemy-sessions.md)."""

from __future__ import annotations

from app.audit import models as audit_models
from app.auth import models as auth_models
from app.core.models import metadata
from app.domains import models as domains_models
from app.email import models as email_models
from app.ipallow import models as ipallow_models
from app.projects import models as projects_models
from app.ratelimit import models as ratelimit_models
from app.scim import models as scim_models
from app.sso import models as sso_models
from app.sso import saml_replay as sso_saml_models
from app.sync import models as sync_models
from app.teams import models as teams_models
from app.tenants import models as tenants_models
from app.webhooks import models as webhooks_models

__all__ = ["metadata"]

DOMAINS = (audit_models, auth_models, domains_models, email_models, ipallow_models,
           projects_models, ratelimit_models, scim_models, sso_models, sso_saml_models,
           sync_models, teams_models, tenants_models, webhooks_models)
