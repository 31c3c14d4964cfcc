-- Undoes 0005_outboxes_webhooks.sql, in reverse order.

DROP TABLE public.webhook_delivery_attempts;
DROP TABLE public.webhook_deliveries;
DROP TABLE public.webhook_secrets;
DROP TABLE public.webhook_endpoints;
DROP TABLE public.email_outbox;
DROP TABLE public.outbox_events;
DROP FUNCTION drift_private.notify_webhooks();
DROP FUNCTION drift_private.notify_email();
DROP FUNCTION drift_api.tenants_with_due_webhooks(timestamp with time zone);
DROP FUNCTION drift_api.tenants_with_due_email(timestamp with time zone);
DROP FUNCTION drift_api.queue_stats(timestamp with time zone);
