CREATE FUNCTION drift_private.guard_admin_write() RETURNS trigger
    LANGUAGE plpgsql :pinned_search_path
    AS $$
DECLARE
    v_role text := NULLIF(current_setting('app.role', true), '');
BEGIN
    IF v_role IS NULL OR v_role IN ('owner', 'admin') THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION 'insufficient_role: a % may not change %', v_role, TG_TABLE_NAME
        USING ERRCODE = 'DR403';
END $$;
