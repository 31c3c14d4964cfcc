CREATE FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) RETURNS void
    LANGUAGE plpgsql :definer
    AS $$
DECLARE r record;
BEGIN
    -- the IP allowlist proof (app.core.tx.Freshness): the caller's check decided from a
    -- per-process cache that had applied every allowlist change up to p_allowlist_seq; a
    -- change committed since makes the caller check again, before anything is read or set
    IF p_allowlist_seq IS NOT NULL
       AND (SELECT c.seq FROM drift_private.ip_allowlist_seq c) > p_allowlist_seq THEN
        RAISE EXCEPTION 'allowlist changed' USING ERRCODE = 'DR412';
    END IF;
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT k.revoked_at, k.expires_at, k.last_used_at, u.id AS uid, u.active, u.role,
           md5(coalesce(u.email, '')) AS email_md5, u.last_active_at
      INTO r
      FROM public.api_keys k
      JOIN public.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
     WHERE k.id = p_key;
    IF NOT FOUND OR r.revoked_at IS NOT NULL THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'revoked' USING ERRCODE = 'DR401';
    ELSIF r.expires_at IS NOT NULL AND r.expires_at <= p_now THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'expired' USING ERRCODE = 'DR401';
    ELSIF NOT r.active THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'inactive' USING ERRCODE = 'DR401';
    ELSIF r.role <> p_role OR r.email_md5 <> p_email_md5 THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'changed' USING ERRCODE = 'DR401';
    END IF;
    -- the verified user, for the database's own access rules (reachable_projects, guards)
    PERFORM set_config('app.user_id', r.uid::text, true);
    PERFORM set_config('app.role', r.role, true);
    -- last-use bookkeeping, at most once a minute; never on a hot standby (a read replica,
    -- which refuses every write: there the checks above are all this function does)
    IF (r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds')
       AND NOT pg_is_in_recovery() THEN
        UPDATE public.api_keys SET last_used_at = p_now WHERE id = p_key;
    END IF;
    IF (r.last_active_at IS NULL OR r.last_active_at < p_now - interval '60 seconds')
       AND NOT pg_is_in_recovery() THEN
        UPDATE public.users SET last_active_at = p_now WHERE id = r.uid;
    END IF;
END $$;
