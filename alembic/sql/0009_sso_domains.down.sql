-- Undoes 0009_sso_domains.sql, in reverse order.

DROP TABLE public.sso_saml_replay;
DROP TABLE public.sso_login_codes;
DROP TABLE public.sso_login_states;
DROP TABLE public.sso_settings;
DROP TABLE public.sso_connections;
DROP TABLE drift_private.domain_index;
DROP TABLE public.verified_domains;
DROP FUNCTION drift_private.index_domain();
DROP FUNCTION drift_api.domain_tenant(text);
