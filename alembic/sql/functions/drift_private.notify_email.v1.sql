CREATE FUNCTION drift_private.notify_email() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
        BEGIN
            PERFORM pg_notify('drift_email', NEW.tenant_id::text);
            RETURN NULL;
        END $$;
