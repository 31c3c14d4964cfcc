CREATE FUNCTION drift_private.unindex_stream_ticket() RETURNS trigger
    LANGUAGE plpgsql :definer
    AS $$
        BEGIN
            DELETE FROM drift_private.token_index
             WHERE token_hash = OLD.ticket_hash AND kind = 'stream_ticket';
            RETURN NULL;
        END $$;


SET default_tablespace = '';

SET default_table_access_method = heap;
