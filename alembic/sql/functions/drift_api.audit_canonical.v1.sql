CREATE FUNCTION drift_api.audit_canonical(p_tenant uuid, p_seq bigint, p_id uuid, p_created_at timestamp with time zone, p_actor_type text, p_actor_id uuid, p_actor_email text, p_action text, p_resource_type text, p_resource_id text, p_outcome text, p_ip inet, p_user_agent text, p_request_id text, p_metadata jsonb) RETURNS bytea
    LANGUAGE sql STABLE :definer
    AS $$
            SELECT convert_to(jsonb_build_array(
                'drift.audit.v1', p_tenant::text, p_seq, p_id::text,
                to_char(p_created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                p_actor_type, p_actor_id::text, p_actor_email, p_action, p_resource_type,
                p_resource_id, p_outcome, p_ip::text, p_user_agent, p_request_id,
                p_metadata)::text, 'UTF8')
        $$;
