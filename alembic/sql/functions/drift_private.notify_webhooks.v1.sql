CREATE FUNCTION drift_private.notify_webhooks() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
        BEGIN
            PERFORM pg_notify('drift_webhooks', NEW.tenant_id::text);
            RETURN NULL;
        END $$;
