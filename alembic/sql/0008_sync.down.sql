-- Undoes 0008_sync.sql, in reverse order.

DROP TABLE public.violations;
DROP TABLE public.scan_gate_results;
DROP TABLE public.scans;
