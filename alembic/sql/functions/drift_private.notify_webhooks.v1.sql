CREATE FUNCTION drift_private.notify_webhooks() RETURNS trigger
    LANGUAGE plpgsql :pinned_search_path
    AS $$
        BEGIN
            PERFORM pg_notify('drift_webhooks', NEW.tenant_id::text);
            RETURN NULL;
        END $$;
