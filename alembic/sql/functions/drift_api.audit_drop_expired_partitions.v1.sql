CREATE FUNCTION drift_api.audit_drop_expired_partitions(p_now timestamp with time zone) RETURNS TABLE(partition_name text, tenant_id uuid, through_seq bigint)
    LANGUAGE plpgsql :definer
    AS $_$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                v_lock text := current_setting('lock_timeout');
                v_now timestamptz := least(p_now, now());
                v_min timestamptz := NULL;
                v_cut timestamptz;
                v_tenants uuid[] := '{}';
                v_bounds jsonb;
                v_ok boolean;
                v_lower timestamptz;
                v_upper timestamptz;
                v_last record;
                t uuid;
                b jsonb;
                p record;
            BEGIN
                IF NOT pg_try_advisory_xact_lock(hashtext('drift.audit_retention'), 0) THEN
                    RETURN;
                END IF;
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti LOOP
                    PERFORM set_config('app.tenant_id', t::text, true);
                    v_cut := NULL;
                    SELECT v_now - make_interval(
                               days => drift_api.audit_retention_days(x.plan, x.audit_retention_days))
                      INTO v_cut FROM public.tenants x;
                    v_min := least(v_min, v_cut);
                    v_tenants := v_tenants || t;
                END LOOP;
                IF v_min IS NULL THEN
                    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
                    RETURN;
                END IF;
                FOR p IN
                    SELECT c.relname,
                           (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                         'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)')) AS b
                      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'public.audit_events'::regclass
                       AND c.relname ~ '^audit_events_[0-9]{4}_[0-9]{2}$'
                     ORDER BY c.relname
                LOOP
                    CONTINUE WHEN p.b IS NULL;
                    v_lower := p.b[1]::timestamptz;
                    v_upper := p.b[2]::timestamptz;
                    EXIT WHEN v_upper > v_min;
                    v_ok := true;
                    v_bounds := '[]'::jsonb;
                    FOREACH t IN ARRAY v_tenants LOOP
                        PERFORM set_config('app.tenant_id', t::text, true);
                        v_last := NULL;
                        EXECUTE format('SELECT seq, hash FROM public.%I ORDER BY seq DESC LIMIT 1',
                                       p.relname) INTO v_last;
                        CONTINUE WHEN v_last.seq IS NULL;
                        IF EXISTS (SELECT 1 FROM public.audit_events e
                                    WHERE e.seq < v_last.seq
                                      AND (e.created_at < v_lower OR e.created_at >= v_upper)) THEN
                            v_ok := false;
                            EXIT;
                        END IF;
                        v_bounds := v_bounds || jsonb_build_object(
                            't', t, 's', v_last.seq, 'h', encode(v_last.hash, 'hex'));
                    END LOOP;
                    CONTINUE WHEN NOT v_ok;
                    BEGIN
                        -- a long export holds the table: give up for today rather than queue
                        -- every insert behind this DROP
                        PERFORM set_config('lock_timeout', '5s', true);
                        EXECUTE format('DROP TABLE public.%I', p.relname);
                        PERFORM set_config('lock_timeout', v_lock, true);
                        FOR b IN SELECT * FROM jsonb_array_elements(v_bounds) LOOP
                            PERFORM set_config('app.tenant_id', b ->> 't', true);
                            UPDATE public.audit_chain c
                               SET retained_seq = (b ->> 's')::bigint,
                                   retained_hash = decode(b ->> 'h', 'hex'),
                                   retained_at = now()
                             WHERE c.tenant_id = (b ->> 't')::uuid
                               AND c.retained_seq < (b ->> 's')::bigint;
                            partition_name := p.relname::text;
                            tenant_id := (b ->> 't')::uuid;
                            through_seq := (b ->> 's')::bigint;
                            RETURN NEXT;
                        END LOOP;
                    EXCEPTION WHEN lock_not_available THEN
                        RAISE WARNING 'audit partition % not dropped: table busy', p.relname;
                    END;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $_$;
