-- Undoes 0010_limits_idempotency.sql, in reverse order.

DROP TABLE public.idempotency_keys, public.tenant_rate_windows;
DROP FUNCTION drift_api.rate_lease(uuid, text, timestamp with time zone, jsonb, real);
