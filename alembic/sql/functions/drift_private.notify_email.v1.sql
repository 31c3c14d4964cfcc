CREATE FUNCTION drift_private.notify_email() RETURNS trigger
    LANGUAGE plpgsql :pinned_search_path
    AS $$
        BEGIN
            PERFORM pg_notify('drift_email', NEW.tenant_id::text);
            RETURN NULL;
        END $$;
