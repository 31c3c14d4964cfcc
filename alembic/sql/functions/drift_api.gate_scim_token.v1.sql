CREATE FUNCTION drift_api.gate_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint) RETURNS boolean
    LANGUAGE plpgsql STABLE :definer
    AS $$
BEGIN
    PERFORM drift_api.enter_scim_token(p_token, p_tenant, p_now, p_allowlist_seq);
    PERFORM set_config('transaction_read_only', 'on', true);
    RETURN true;
END $$;
