CREATE FUNCTION drift_private.touch_last_use(p_now timestamp with time zone, p_user uuid, p_api_key uuid DEFAULT NULL, p_scim_token uuid DEFAULT NULL) RETURNS void
    LANGUAGE sql :definer
    AS $$
    -- The drift_api.enter_* functions' last-use bookkeeping: the credential's last use and its
    -- user's last activity, each stamped at most once a minute. A write, so VOLATILE: the
    -- STABLE enter functions call it (only when a stamp is due) but cannot write themselves.
    UPDATE public.api_keys SET last_used_at = p_now
     WHERE id = p_api_key AND (last_used_at IS NULL OR last_used_at < p_now - interval '60 seconds');
    UPDATE public.scim_tokens SET last_used_at = p_now
     WHERE id = p_scim_token AND (last_used_at IS NULL OR last_used_at < p_now - interval '60 seconds');
    UPDATE public.users SET last_active_at = p_now
     WHERE id = p_user AND (last_active_at IS NULL OR last_active_at < p_now - interval '60 seconds');
$$;
