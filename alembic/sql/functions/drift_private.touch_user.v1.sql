CREATE FUNCTION drift_private.touch_user(p_user uuid, p_now timestamp with time zone) RETURNS void
    LANGUAGE sql :definer
    AS $$
    -- a user's last activity (drift_api.enter_session, drift_private.touch_api_key), at most
    -- once a minute
    UPDATE public.users SET last_active_at = p_now
     WHERE id = p_user AND (last_active_at IS NULL OR last_active_at < p_now - interval '60 seconds');
$$;
