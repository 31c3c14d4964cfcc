CREATE FUNCTION drift_api.throttle_clear(p_key bytea, p_now timestamp with time zone) RETURNS void
    LANGUAGE sql :definer
    AS $$
    DELETE FROM drift_private.auth_throttle WHERE key_hash = p_key
        AND (locked_until IS NULL OR locked_until <= p_now)
$$;
