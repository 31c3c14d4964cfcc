CREATE FUNCTION drift_api.ensure_audit_partitions(p_from date, p_months integer) RETURNS integer
    LANGUAGE plpgsql :definer
    AS $$
        DECLARE
            m date := date_trunc('month', p_from)::date;
            created integer := 0;
            part text;
        BEGIN
            IF to_regclass('public.audit_events_default') IS NULL THEN
                EXECUTE 'CREATE TABLE public.audit_events_default PARTITION OF public.audit_events DEFAULT';
                PERFORM drift_private.secure_audit_partition('audit_events_default');
            END IF;
            FOR i IN 0 .. greatest(p_months, 0) LOOP
                part := format('audit_events_%s', to_char(m, 'YYYY_MM'));
                IF to_regclass('public.' || part) IS NULL THEN
                    BEGIN
                        EXECUTE format(
                            'CREATE TABLE public.%I PARTITION OF public.audit_events FOR VALUES FROM (%L) TO (%L)',
                            part, m, (m + interval '1 month')::date);
                        PERFORM drift_private.secure_audit_partition(part);
                        created := created + 1;
                    EXCEPTION WHEN check_violation THEN
                        -- rows for this month already sit in the default partition
                        RAISE WARNING 'audit partition % not created: default partition has rows', part;
                    END;
                END IF;
                m := (m + interval '1 month')::date;
            END LOOP;
            RETURN created;
        END $$;
