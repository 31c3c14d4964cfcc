CREATE FUNCTION drift_private.check_owner() RETURNS trigger
    LANGUAGE plpgsql :pinned_search_path
    AS $$
DECLARE
    r record;
BEGIN
    SELECT t.owner_id, u.role, u.active INTO r
      FROM public.tenants t
      LEFT JOIN public.users u ON u.tenant_id = t.tenant_id AND u.id = t.owner_id
     WHERE t.tenant_id = NEW.tenant_id;
    IF FOUND AND r.owner_id IS NOT NULL AND (r.role IS DISTINCT FROM 'owner' OR NOT r.active) THEN
        RAISE EXCEPTION 'owner_protected: tenants.owner_id must name the one active owner'
            USING ERRCODE = 'DR409';
    END IF;
    RETURN NULL;
END $$;
