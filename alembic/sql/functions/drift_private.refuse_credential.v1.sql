CREATE FUNCTION drift_private.refuse_credential(p_reason text, p_sqlstate text DEFAULT 'DR401') RETURNS void
    LANGUAGE plpgsql :pinned_search_path
    AS $$
BEGIN
    -- How the drift_api.enter_* functions refuse: the tenant they set is cleared (fail
    -- closed, whatever the caller does with the error) and the error raised, DR401 for a
    -- refused credential (app.core.tx.CREDENTIAL_SQLSTATE, the reason its message) or DR412
    -- for a stale IP allowlist proof (STALE_SQLSTATE). Only refusals call it.
    PERFORM set_config('app.tenant_id', '', true);
    RAISE EXCEPTION '%', p_reason USING ERRCODE = p_sqlstate;
END $$;
