CREATE FUNCTION drift_private.index_tenant() RETURNS trigger
    LANGUAGE plpgsql :definer
    AS $$
        BEGIN
            INSERT INTO drift_private.tenant_index (tenant_id, slug)
            VALUES (NEW.tenant_id, NEW.slug)
            ON CONFLICT (tenant_id) DO UPDATE SET slug = EXCLUDED.slug;
            RETURN NULL;
        END $$;
