CREATE FUNCTION drift_api.tenant_id_for_slug(p_slug text) RETURNS uuid
    LANGUAGE sql STABLE :definer
    AS $$
                SELECT tenant_id FROM drift_private.tenant_index WHERE slug = lower(p_slug)
            $$;
