CREATE FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean DEFAULT false) RETURNS boolean
    LANGUAGE plpgsql STABLE :definer
    AS $$
DECLARE r record;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    -- one lookup: the session, its user, and the IP allowlist counter (see
    -- drift_api.enter_api_key)
    SELECT s.revoked_at, s.expires_at, u.active, u.role,
           md5(coalesce(u.email, '')) AS email_md5, u.last_active_at,
           (SELECT c.seq FROM drift_private.ip_allowlist_seq c) AS allowlist_seq
      INTO r
      FROM public.sessions s
      JOIN public.users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
     WHERE s.id = p_session AND s.user_id = p_user;
    IF p_allowlist_seq IS NOT NULL AND r.allowlist_seq > p_allowlist_seq THEN
        PERFORM drift_private.refuse_credential('allowlist changed', 'DR412');
    ELSIF NOT FOUND OR r.revoked_at IS NOT NULL THEN
        PERFORM drift_private.refuse_credential('revoked');
    ELSIF r.expires_at <= p_now THEN
        PERFORM drift_private.refuse_credential('expired');
    ELSIF NOT r.active THEN
        PERFORM drift_private.refuse_credential('inactive');
    ELSIF r.role <> p_role OR r.email_md5 <> p_email_md5 THEN
        PERFORM drift_private.refuse_credential('changed');
    END IF;
    -- the verified user, for the database's own access rules (reachable_projects, guards)
    PERFORM set_config('app.user_id', p_user::text, true);
    PERFORM set_config('app.role', r.role, true);
    IF (r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds')
       AND NOT pg_is_in_recovery() THEN
        PERFORM drift_private.touch_last_use(p_now, p_user);
    END IF;
    -- a read's gate (p_read_only): the statement's transaction reads only from here on
    RETURN CASE WHEN p_read_only THEN set_config('transaction_read_only', 'on', true) = 'on'
                ELSE true END;
END $$;
