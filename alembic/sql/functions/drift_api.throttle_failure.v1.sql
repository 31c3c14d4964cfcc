CREATE FUNCTION drift_api.throttle_failure(p_key bytea, p_kind text, p_now timestamp with time zone, p_max_failures integer, p_window_seconds integer, p_base_seconds integer, p_max_seconds integer) RETURNS timestamp with time zone
    LANGUAGE plpgsql :definer
    AS $$
DECLARE
    r drift_private.auth_throttle%ROWTYPE;
BEGIN
    -- forget keys that have been quiet for a day (bounded work per call)
    DELETE FROM drift_private.auth_throttle WHERE key_hash IN (
        SELECT o.key_hash FROM drift_private.auth_throttle o
        WHERE o.last_failure_at < p_now - interval '1 day'
          AND (o.locked_until IS NULL OR o.locked_until < p_now) LIMIT 100);
    INSERT INTO drift_private.auth_throttle (key_hash, kind, failures, window_start, lockouts,
                                             last_failure_at)
    VALUES (p_key, p_kind, 0, p_now, 0, p_now) ON CONFLICT (key_hash) DO NOTHING;
    SELECT * INTO r FROM drift_private.auth_throttle WHERE key_hash = p_key FOR UPDATE;
    IF r.last_failure_at < p_now - interval '1 day' THEN
        r.lockouts := 0;
    END IF;
    IF r.window_start <= p_now - make_interval(secs => p_window_seconds) THEN
        r.failures := 0;
        r.window_start := p_now;
    END IF;
    r.failures := r.failures + 1;
    IF r.failures >= p_max_failures THEN
        -- exponential back-off: base, 2 x base, 4 x base ... up to the maximum
        r.locked_until := p_now + make_interval(secs => least(
            p_max_seconds::double precision,
            p_base_seconds * power(2::double precision, least(r.lockouts, 30))));
        r.lockouts := r.lockouts + 1;
        r.failures := 0;
        r.window_start := p_now;
    END IF;
    UPDATE drift_private.auth_throttle
       SET failures = r.failures, window_start = r.window_start, lockouts = r.lockouts,
           locked_until = r.locked_until, last_failure_at = p_now
     WHERE key_hash = p_key;
    RETURN CASE WHEN r.locked_until > p_now THEN r.locked_until END;
END $$;
