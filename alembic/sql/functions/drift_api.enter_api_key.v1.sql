CREATE FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean DEFAULT false) RETURNS boolean
    LANGUAGE plpgsql STABLE :definer
    AS $$
DECLARE r record;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    -- one lookup: the key, its user, and the IP allowlist counter (app.core.tx.Freshness)
    SELECT k.revoked_at, k.expires_at, k.last_used_at, u.id AS uid, u.active, u.role,
           md5(coalesce(u.email, '')) AS email_md5, u.last_active_at,
           (SELECT c.seq FROM drift_private.ip_allowlist_seq c) AS allowlist_seq
      INTO r
      FROM public.api_keys k
      JOIN public.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
     WHERE k.id = p_key;
    -- the allowlist proof: the caller's check decided from a per-process cache that had
    -- applied every allowlist change up to p_allowlist_seq; a change committed since makes
    -- the caller check again (nothing was read for it or written)
    IF p_allowlist_seq IS NOT NULL AND r.allowlist_seq > p_allowlist_seq THEN
        PERFORM drift_private.refuse_credential('allowlist changed', 'DR412');
    ELSIF NOT FOUND OR r.revoked_at IS NOT NULL THEN
        PERFORM drift_private.refuse_credential('revoked');
    ELSIF r.expires_at IS NOT NULL AND r.expires_at <= p_now THEN
        PERFORM drift_private.refuse_credential('expired');
    ELSIF NOT r.active THEN
        PERFORM drift_private.refuse_credential('inactive');
    ELSIF r.role <> p_role OR r.email_md5 <> p_email_md5 THEN
        PERFORM drift_private.refuse_credential('changed');
    END IF;
    -- the verified user, for the database's own access rules (reachable_projects, guards)
    PERFORM set_config('app.user_id', r.uid::text, true);
    PERFORM set_config('app.role', r.role, true);
    -- last-use bookkeeping, at most once a minute, in a function of its own (this one is
    -- STABLE, so it can gate a read); never on a hot standby, which refuses every write
    IF (r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds'
        OR r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds')
       AND NOT pg_is_in_recovery() THEN
        PERFORM drift_private.touch_last_use(p_now, r.uid, p_api_key => p_key);
    END IF;
    -- a read's gate (p_read_only): the statement's transaction reads only from here on
    RETURN CASE WHEN p_read_only THEN set_config('transaction_read_only', 'on', true) = 'on'
                ELSE true END;
END $$;
