CREATE FUNCTION drift_api.audit_retention_purge(p_tenant uuid, p_now timestamp with time zone, p_batch integer) RETURNS TABLE(deleted bigint, cutoff timestamp with time zone, through_seq bigint)
    LANGUAGE plpgsql :definer
    AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                v_flag text := current_setting('drift.audit_retention', true);
                v_days integer;
                v_cut timestamptz;
                v_stop bigint;
                v_n bigint := 0;
                v_seq bigint;
                v_hash bytea;
            BEGIN
                IF p_batch IS NULL OR p_batch < 1 OR p_batch > 100000 THEN
                    RAISE EXCEPTION 'batch must be between 1 and 100000'
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                PERFORM set_config('app.tenant_id', p_tenant::text, true);
                SELECT drift_api.audit_retention_days(t.plan, t.audit_retention_days)
                  INTO v_days FROM public.tenants t;
                -- one purge per tenant at a time (several workers may run)
                IF v_days IS NULL OR NOT pg_try_advisory_xact_lock(
                        hashtext('drift.audit_retention'), hashtext(p_tenant::text)) THEN
                    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                    RETURN;
                END IF;
                -- the caller's clock may lag the server's (tests), never lead it
                v_cut := least(p_now, now()) - make_interval(days => v_days);
                SELECT e.seq INTO v_stop FROM public.audit_events e
                 WHERE e.created_at >= v_cut ORDER BY e.seq LIMIT 1;
                PERFORM set_config('drift.audit_retention', 'on', true);
                WITH victims AS (
                    SELECT e.tenant_id, e.created_at, e.id FROM public.audit_events e
                     WHERE e.created_at < v_cut AND (v_stop IS NULL OR e.seq < v_stop)
                     ORDER BY e.seq LIMIT p_batch
                ), gone AS (
                    DELETE FROM public.audit_events e USING victims v
                     WHERE e.tenant_id = v.tenant_id AND e.created_at = v.created_at
                       AND e.id = v.id
                    RETURNING e.seq, e.hash
                )
                SELECT count(*), max(g.seq), (array_agg(g.hash ORDER BY g.seq DESC))[1]
                  INTO v_n, v_seq, v_hash FROM gone g;
                PERFORM set_config('drift.audit_retention', coalesce(v_flag, ''), true);
                IF v_n > 0 THEN
                    UPDATE public.audit_chain c
                       SET retained_seq = v_seq, retained_hash = v_hash, retained_at = now()
                     WHERE c.tenant_id = p_tenant AND c.retained_seq < v_seq;
                END IF;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                deleted := v_n;
                cutoff := v_cut;
                through_seq := v_seq;
                RETURN NEXT;
            END $$;
