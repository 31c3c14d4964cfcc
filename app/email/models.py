"""Table metadata for queued email (built by the migrations; see app.core.models).
The body is Fernet-encrypted (DRIFT_SECRET_KEY)."""

from sqlalchemy import Column, Index, Text, text
from sqlalchemy.dialects.postgresql import BYTEA

from app.core import models as m

email_outbox = m.entity_table(
    "email_outbox",
    Column("kind", Text, nullable=False),
    Column("to_address", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body_encrypted", BYTEA, nullable=False),
    m.choice("status", default="pending"),
    m.counter("attempts"),
    *m.retry_schedule(),
    Column("last_error", Text),
    m.created_at(),
    m.timestamp("sent_at"),
    m.tenant_fk(),
)
Index("email_outbox_due", email_outbox.c.tenant_id, email_outbox.c.next_attempt_at,
      postgresql_where=text("status = 'pending'::text"))
