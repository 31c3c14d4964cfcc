CREATE FUNCTION drift_private.audit_events_immutable() RETURNS trigger
    LANGUAGE plpgsql :pinned_search_path
    AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('drift.audit_retention', true) = 'on' THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'audit events are immutable: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
