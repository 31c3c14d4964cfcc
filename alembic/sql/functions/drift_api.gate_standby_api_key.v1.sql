-- Read replicas (DRIFT_READ_DATABASE_URL, docs/scaling.md "Read replicas"): a hot standby
-- refuses every write, and gate_api_key/gate_session call enter_*, which update
-- last_used_at/last_active_at. These variants make the same checks (revoked, expired, inactive
-- user, changed role or email: SQLSTATE DR401), set app.tenant_id, app.user_id and app.role
-- for the transaction only, make it read-only, and write nothing. The request has already
-- re-verified its credential on the primary; a refusal here while the primary accepted is
-- replica lag, and the service then reads from the primary (app/core/replica.py).
CREATE FUNCTION drift_api.gate_standby_api_key(p_key uuid, p_tenant uuid, p_role text,
                                               p_email_md5 text, p_now timestamptz)
    RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE r record;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT k.revoked_at, k.expires_at, u.id AS uid, u.active, u.role,
           md5(coalesce(u.email, '')) AS email_md5
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
    PERFORM set_config('app.user_id', r.uid::text, true);
    PERFORM set_config('app.role', r.role, true);
    PERFORM set_config('transaction_read_only', 'on', true);
    RETURN true;
END $$;
