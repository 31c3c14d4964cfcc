CREATE FUNCTION drift_private.secure_audit_partition(p_part text) RETURNS void
    LANGUAGE plpgsql :definer
    AS $$
        BEGIN
            PERFORM drift_private.isolate_tenant_table(format('public.%I', p_part)::regclass);
            EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON public.%I FOR EACH STATEMENT EXECUTE FUNCTION drift_private.audit_events_immutable()', p_part);
        END $$;
