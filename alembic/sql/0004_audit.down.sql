-- Undoes 0004_audit.sql, in reverse order.

DROP TABLE drift_private.audit_stream_listeners, public.audit_stream_tickets, public.audit_streams,
    public.audit_retention_notices, public.audit_chain, public.audit_events;
DROP FUNCTION drift_private.unindex_stream_ticket();
DROP FUNCTION drift_private.secure_audit_partition(text);
DROP FUNCTION drift_private.audit_events_immutable();
DROP FUNCTION drift_private.audit_chain_step();
DROP FUNCTION drift_api.ensure_audit_partitions(date, integer);
DROP FUNCTION drift_api.audit_stream_unregister(uuid, uuid[]);
DROP FUNCTION drift_api.audit_stream_register(uuid, uuid[], integer);
DROP FUNCTION drift_api.audit_stream_barrier(uuid);
DROP FUNCTION drift_api.audit_retention_purge(uuid, timestamp with time zone, integer);
DROP FUNCTION drift_api.audit_retention_days(text, integer);
DROP FUNCTION drift_api.audit_drop_expired_partitions(timestamp with time zone);
DROP FUNCTION drift_api.audit_canonical(uuid, bigint, uuid, timestamp with time zone, text, uuid, text, text, text, text, text, inet, text, text, jsonb);
