CREATE FUNCTION drift_api.gate_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) RETURNS boolean
    LANGUAGE plpgsql STABLE :definer
    AS $$
BEGIN
    PERFORM drift_api.enter_api_key(p_key, p_tenant, p_role, p_email_md5, p_now, p_allowlist_seq);
    PERFORM set_config('transaction_read_only', 'on', true);
    RETURN true;
END $$;
