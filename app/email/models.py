"""Table metadata for queued email (built by the migrations; see app.core.models).
The body is Fernet-encrypted (DRIFT_SECRET_KEY)."""

from sqlalchemy import Column, Index, Text, text
from sqlalchemy.dialects.postgresql import BYTEA

from app.core import models as m

email_outbox = m.entity_table(
    "email_outbox",
    *m.not_null(kind=Text, to_address=Text, subject=Text, body_encrypted=BYTEA),
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
