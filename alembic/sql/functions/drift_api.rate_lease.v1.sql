CREATE FUNCTION drift_api.rate_lease(p_tenant uuid, p_kind text, p_window_start timestamp with time zone, p_budgets jsonb, p_fraction real) RETURNS TABLE(granted integer, budget integer, window_start timestamp with time zone)
    LANGUAGE plpgsql :definer
    AS $$
#variable_conflict use_column
DECLARE
    v_prev text := current_setting('app.tenant_id', true);
    v_plan text;
    v_budget integer;
    v_ws timestamptz;
    v_used integer;
    v_grant integer;
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    SELECT t.plan INTO v_plan FROM public.tenants t WHERE t.tenant_id = p_tenant;
    v_budget := coalesce((p_budgets ->> v_plan)::integer, 0);
    IF v_plan IS NULL OR v_budget <= 0 THEN
        -- unknown tenant (nothing to spend) or no limit for this plan (NULL grant)
        PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
        RETURN QUERY SELECT CASE WHEN v_plan IS NULL THEN 0 END, v_budget, p_window_start;
        RETURN;
    END IF;
    INSERT INTO public.tenant_rate_windows AS w (tenant_id, kind, window_start, used)
    VALUES (p_tenant, p_kind, p_window_start, 0) ON CONFLICT (tenant_id, kind) DO NOTHING;
    SELECT w.window_start, w.used INTO v_ws, v_used FROM public.tenant_rate_windows w
     WHERE w.tenant_id = p_tenant AND w.kind = p_kind FOR UPDATE;
    IF v_ws < p_window_start THEN  -- a new window: nothing leased in it yet
        v_ws := p_window_start;
        v_used := 0;
    END IF;
    v_grant := greatest(0, least(greatest(1, ceil(v_budget * p_fraction)::integer),
                                 v_budget - v_used));
    UPDATE public.tenant_rate_windows w SET window_start = v_ws, used = v_used + v_grant
     WHERE w.tenant_id = p_tenant AND w.kind = p_kind;
    PERFORM set_config('app.tenant_id', coalesce(v_prev, ''), true);
    RETURN QUERY SELECT v_grant, v_budget, v_ws;
END $$;
