CREATE FUNCTION drift_api.ip_allowlist_seq() RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
            SELECT seq FROM drift_private.ip_allowlist_seq
        $$;
