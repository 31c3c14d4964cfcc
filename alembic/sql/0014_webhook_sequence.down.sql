-- Undoes 0014_webhook_sequence.sql, in reverse order.

DROP FUNCTION public.emit_events(uuid, uuid[], text, timestamp with time zone, jsonb[], text, uuid, text[]);
DROP INDEX public.webhook_deliveries_seq;
ALTER TABLE public.webhook_deliveries DROP COLUMN seq;
DROP TABLE public.webhook_endpoint_sequences;
