-- Undoes 0006_ip_allowlist.sql, in reverse order.

DROP TABLE drift_private.ip_allowlist_seq;
DROP TABLE public.ip_allowlist_report;
DROP TABLE public.ip_allowlist_resets;
DROP TABLE public.ip_allowlist;
DROP FUNCTION drift_private.ip_allowlist_changed();
DROP FUNCTION drift_api.ip_allowlist_seq();
DROP FUNCTION drift_api.ip_allowlist_entries(uuid);
