-- Undoes 0009_sso_domains.sql, in reverse order.

DROP TABLE public.sso_saml_replay, public.sso_login_codes, public.sso_login_states,
    public.sso_settings, public.sso_connections, drift_private.domain_index,
    public.verified_domains;
DROP FUNCTION drift_private.index_domain();
DROP FUNCTION drift_api.domain_tenant(text);
