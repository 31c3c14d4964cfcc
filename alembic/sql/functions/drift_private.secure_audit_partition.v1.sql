CREATE FUNCTION drift_private.secure_audit_partition(p_part text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
        BEGIN
            EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', p_part);
            EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', p_part);
            EXECUTE format('CREATE POLICY tenant_isolation ON public.%I USING (tenant_id = (SELECT NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)) WITH CHECK (tenant_id = (SELECT NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid))', p_part);
            EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON public.%I FOR EACH STATEMENT EXECUTE FUNCTION drift_private.audit_events_immutable()', p_part);
        END $$;
