CREATE FUNCTION drift_private.notify_tenant() RETURNS trigger
    LANGUAGE plpgsql :pinned_search_path
    AS $$
        -- Wakes a worker: NOTIFY on the channel the trigger names (its one argument) with the
        -- new row's tenant id, delivered only if the transaction commits.
        BEGIN
            PERFORM pg_notify(TG_ARGV[0], NEW.tenant_id::text);
            RETURN NULL;
        END $$;
