-- Undoes 0014_webhook_sequence.sql, in reverse order.

DROP INDEX public.webhook_deliveries_seq;
ALTER TABLE public.webhook_deliveries DROP COLUMN seq;
DROP TABLE public.webhook_endpoint_sequences;
