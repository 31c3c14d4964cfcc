CREATE FUNCTION drift_api.throttle_locked_until(p_keys bytea[], p_now timestamp with time zone) RETURNS timestamp with time zone
    LANGUAGE sql STABLE :definer
    AS $$
    SELECT max(t.locked_until) FROM drift_private.auth_throttle t
    WHERE t.key_hash = ANY (p_keys) AND t.locked_until > p_now
$$;
