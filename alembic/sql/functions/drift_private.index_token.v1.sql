CREATE FUNCTION drift_private.index_token() RETURNS trigger
    LANGUAGE plpgsql :definer
    AS $$
        DECLARE
            row jsonb := to_jsonb(NEW);
            h text := row ->> TG_ARGV[1];
        BEGIN
            IF h IS NOT NULL THEN
                INSERT INTO drift_private.token_index (token_hash, tenant_id, kind, ref_id)
                VALUES (decode(substr(h, 3), 'hex'), NEW.tenant_id, TG_ARGV[0],
                        (row ->> TG_ARGV[2])::uuid)
                ON CONFLICT (token_hash) DO NOTHING;
            END IF;
            RETURN NULL;
        END $$;
