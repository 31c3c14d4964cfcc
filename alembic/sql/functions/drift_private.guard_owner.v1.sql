CREATE FUNCTION drift_private.guard_owner() RETURNS trigger
    LANGUAGE plpgsql :pinned_search_path
    AS $$
DECLARE
    v_owner uuid;
BEGIN
    SELECT t.owner_id INTO v_owner FROM public.tenants t WHERE t.tenant_id = NEW.tenant_id;
    IF OLD.role = 'owner' AND OLD.id = v_owner
       AND (NEW.role <> 'owner' OR NOT NEW.active) THEN
        RAISE EXCEPTION 'owner_protected: the tenant owner cannot be demoted or deactivated; transfer ownership first'
            USING ERRCODE = 'DR409';
    END IF;
    IF NEW.role = 'owner' AND OLD.role <> 'owner' AND NEW.id IS DISTINCT FROM v_owner THEN
        RAISE EXCEPTION 'owner_protected: only the user named by tenants.owner_id can be the owner; use the ownership transfer'
            USING ERRCODE = 'DR409';
    END IF;
    RETURN NEW;
END $$;
