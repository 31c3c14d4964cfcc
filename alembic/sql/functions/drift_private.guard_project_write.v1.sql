CREATE FUNCTION drift_private.guard_project_write() RETURNS trigger
    LANGUAGE plpgsql :pinned_search_path
    AS $$
DECLARE
    v_role text := NULLIF(current_setting('app.role', true), '');
    v_user uuid := NULLIF(current_setting('app.user_id', true), '')::uuid;
    v_id uuid := CASE WHEN TG_OP = 'INSERT' THEN NEW.id ELSE OLD.id END;
BEGIN
    IF v_role IS NULL OR v_role IN ('owner', 'admin') THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' AND v_role = 'member' AND EXISTS (
            SELECT 1 FROM public.team_projects tp
              JOIN public.team_memberships tm
                ON tm.tenant_id = tp.tenant_id AND tm.team_id = tp.team_id
             WHERE tp.tenant_id = OLD.tenant_id AND tp.project_id = OLD.id
               AND tm.user_id = v_user) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'project_access_denied: a % may not % project %', v_role, lower(TG_OP), v_id
        USING ERRCODE = 'DR403';
END $$;
