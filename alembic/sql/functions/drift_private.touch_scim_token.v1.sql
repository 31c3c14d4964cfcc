CREATE FUNCTION drift_private.touch_scim_token(p_token uuid, p_now timestamp with time zone) RETURNS void
    LANGUAGE sql :definer
    AS $$
    -- drift_api.enter_scim_token's last-use stamp, at most once a minute
    UPDATE public.scim_tokens SET last_used_at = p_now
     WHERE id = p_token AND (last_used_at IS NULL OR last_used_at < p_now - interval '60 seconds');
$$;
