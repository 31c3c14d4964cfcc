-- Undoes 0005_outboxes_webhooks.sql, in reverse order.

DROP TABLE public.webhook_delivery_attempts, public.webhook_deliveries, public.webhook_secrets,
    public.webhook_endpoints, public.email_outbox, public.outbox_events;
DROP FUNCTION drift_private.notify_tenant();
DROP FUNCTION drift_api.tenants_with_audit_streams(timestamp with time zone);
DROP FUNCTION drift_api.tenants_with_expiring_api_keys(timestamp with time zone, timestamp with time zone);
DROP FUNCTION drift_api.tenants_with_due_webhooks(timestamp with time zone);
DROP FUNCTION drift_api.tenants_with_due_email(timestamp with time zone);
DROP FUNCTION drift_private.tenants_with_work(text, timestamp with time zone, timestamp with time zone);
DROP FUNCTION drift_api.queue_stats(timestamp with time zone);
DROP FUNCTION drift_private.queue_depths(timestamp with time zone);
