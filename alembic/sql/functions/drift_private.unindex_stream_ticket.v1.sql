CREATE FUNCTION drift_private.unindex_stream_ticket() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
        BEGIN
            DELETE FROM drift_private.token_index
             WHERE token_hash = OLD.ticket_hash AND kind = 'stream_ticket';
            RETURN NULL;
        END $$;


SET default_tablespace = '';

SET default_table_access_method = heap;
