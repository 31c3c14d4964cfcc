CREATE FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean DEFAULT false) RETURNS boolean
    LANGUAGE plpgsql STABLE :definer
    AS $$
DECLARE r record;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    -- one lookup: the token and the IP allowlist counter (see drift_api.enter_api_key)
    SELECT s.revoked_at, s.last_used_at,
           (SELECT c.seq FROM drift_private.ip_allowlist_seq c) AS allowlist_seq
      INTO r FROM public.scim_tokens s
     WHERE s.id = p_token;
    IF p_allowlist_seq IS NOT NULL AND r.allowlist_seq > p_allowlist_seq THEN
        PERFORM drift_private.refuse_credential('allowlist changed', 'DR412');
    ELSIF NOT FOUND OR r.revoked_at IS NOT NULL THEN
        PERFORM drift_private.refuse_credential('revoked');
    END IF;
    IF (r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds')
       AND NOT pg_is_in_recovery() THEN
        PERFORM drift_private.touch_last_use(p_now, NULL, p_scim_token => p_token);
    END IF;
    -- a read's gate (p_read_only): the statement's transaction reads only from here on
    RETURN CASE WHEN p_read_only THEN set_config('transaction_read_only', 'on', true) = 'on'
                ELSE true END;
END $$;
