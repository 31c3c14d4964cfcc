CREATE FUNCTION drift_api.ip_allowlist_seq() RETURNS bigint
    LANGUAGE sql STABLE :definer
    AS $$
            SELECT seq FROM drift_private.ip_allowlist_seq
        $$;
