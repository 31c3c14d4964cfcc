CREATE FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint) RETURNS void
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
    SELECT s.revoked_at, s.last_used_at INTO r FROM public.scim_tokens s
     WHERE s.id = p_token;
    IF NOT FOUND OR r.revoked_at IS NOT NULL THEN
        PERFORM set_config('app.tenant_id', '', true);
        RAISE EXCEPTION 'revoked' USING ERRCODE = 'DR401';
    END IF;
    IF r.last_used_at IS NULL OR r.last_used_at < p_now - interval '60 seconds' THEN
        UPDATE public.scim_tokens SET last_used_at = p_now WHERE id = p_token;
    END IF;
END $$;
