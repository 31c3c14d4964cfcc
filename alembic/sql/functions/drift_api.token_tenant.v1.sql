CREATE FUNCTION drift_api.token_tenant(p_hash bytea, p_kind text) RETURNS TABLE(tenant_id uuid, ref_id uuid)
    LANGUAGE sql STABLE :definer
    AS $$
                SELECT t.tenant_id, t.ref_id FROM drift_private.token_index t
                WHERE t.token_hash = p_hash AND t.kind = p_kind
            $$;
