CREATE FUNCTION drift_api.list_tenants() RETURNS TABLE(tenant_id uuid, slug text, name text, plan text, seat_limit integer, created_at timestamp with time zone)
    LANGUAGE plpgsql :definer
    AS $$
            #variable_conflict use_column
            DECLARE
                v_prev text := current_setting('app.tenant_id', true);
                t record;
            BEGIN
                FOR t IN SELECT ti.tenant_id FROM drift_private.tenant_index ti
                         ORDER BY ti.created_at, ti.tenant_id LOOP
                    PERFORM set_config('app.tenant_id', t.tenant_id::text, true);
                    RETURN QUERY SELECT x.tenant_id, x.slug, x.name, x.plan, x.seat_limit,
                                        x.created_at
                                   FROM public.tenants x;
                END LOOP;
                PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
            END $$;
