-- Undoes 0008_sync.sql, in reverse order.

DROP TABLE public.violations, public.scan_gate_results, public.scans;
