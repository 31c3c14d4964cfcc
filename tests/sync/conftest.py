"""The sync tests use the webhook harness: the real receiver, fake DNS, tenant hygiene."""

from tests.webhooks.conftest import fake_dns, make_tenant, other_tenant, receiver, tenant  # noqa: F401 - fixtures, registered by import
