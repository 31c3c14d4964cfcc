CREATE FUNCTION drift_api.audit_retention_days(p_plan text, p_custom integer) RETURNS integer
    LANGUAGE sql IMMUTABLE :definer
    AS $$
                SELECT CASE p_plan
                    WHEN 'free' THEN 30
                    WHEN 'pro' THEN 365
                    WHEN 'team' THEN 730
                    WHEN 'enterprise' THEN greatest(coalesce(p_custom, 730), 365)
                    ELSE 3650  -- unknown plan: keep, never delete early
                END
            $$;
