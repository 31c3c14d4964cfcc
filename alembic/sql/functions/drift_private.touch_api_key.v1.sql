CREATE FUNCTION drift_private.touch_api_key(p_key uuid, p_user uuid, p_now timestamp with time zone) RETURNS void
    LANGUAGE plpgsql :definer
    AS $$
BEGIN
    -- drift_api.enter_api_key's last-use bookkeeping (a write, so VOLATILE: the STABLE
    -- enter function may call it but not write itself): each stamp at most once a minute
    UPDATE public.api_keys SET last_used_at = p_now
     WHERE id = p_key AND (last_used_at IS NULL OR last_used_at < p_now - interval '60 seconds');
    PERFORM drift_private.touch_user(p_user, p_now);
END $$;
