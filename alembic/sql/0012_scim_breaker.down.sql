-- Undoes 0012_scim_breaker.sql, in reverse order.

DROP TABLE public.scim_deprovisions, public.scim_breaker_settings;
