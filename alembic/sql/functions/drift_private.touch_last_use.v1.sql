CREATE FUNCTION drift_private.touch_last_use(p_now timestamp with time zone, p_user uuid, p_api_key uuid DEFAULT NULL, p_scim_token uuid DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql :definer
    AS $$
BEGIN
    -- The one place a credential's last use and its user's last activity are stamped, each at
    -- most once a minute, in the caller's tenant: by the drift_api.authenticate_* lookups and
    -- by the drift_api.enter_* functions (STABLE, so they cannot write themselves; they call
    -- it only when a stamp is due). PL/pgSQL, so it may name scim_tokens (0007) before that
    -- table exists: the statement is planned when a SCIM token's stamp is due.
    IF p_api_key IS NOT NULL THEN
        UPDATE public.api_keys SET last_used_at = p_now
         WHERE id = p_api_key AND (last_used_at IS NULL OR last_used_at < p_now - interval '60 seconds');
    END IF;
    IF p_scim_token IS NOT NULL THEN
        UPDATE public.scim_tokens SET last_used_at = p_now
         WHERE id = p_scim_token AND (last_used_at IS NULL OR last_used_at < p_now - interval '60 seconds');
    END IF;
    UPDATE public.users SET last_active_at = p_now
     WHERE id = p_user AND (last_active_at IS NULL OR last_active_at < p_now - interval '60 seconds');
END $$;
