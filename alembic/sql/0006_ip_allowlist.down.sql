-- Undoes 0006_ip_allowlist.sql, in reverse order.

DROP TABLE drift_private.ip_allowlist_seq, public.ip_allowlist_report, public.ip_allowlist_resets,
    public.ip_allowlist;
DROP FUNCTION drift_private.ip_allowlist_changed();
DROP FUNCTION drift_api.ip_allowlist_seq();
DROP FUNCTION drift_api.ip_allowlist_entries(uuid);
