CREATE FUNCTION drift_private.index_domain() RETURNS trigger
    LANGUAGE plpgsql :definer
    AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                DELETE FROM drift_private.domain_index
                 WHERE domain = OLD.domain AND tenant_id = OLD.tenant_id;
                RETURN NULL;
            END IF;
            IF NEW.status = 'verified' THEN
                -- a domain another tenant holds: unique_violation on domain_index_pkey
                INSERT INTO drift_private.domain_index (domain, tenant_id, domain_id)
                VALUES (NEW.domain, NEW.tenant_id, NEW.id)
                ON CONFLICT (domain) DO UPDATE SET domain_id = EXCLUDED.domain_id
                    WHERE domain_index.tenant_id = EXCLUDED.tenant_id;
                IF NOT FOUND THEN
                    RAISE unique_violation USING
                        MESSAGE = 'domain already verified by another tenant',
                        CONSTRAINT = 'domain_index_pkey';
                END IF;
            ELSE
                DELETE FROM drift_private.domain_index
                 WHERE domain = NEW.domain AND tenant_id = NEW.tenant_id;
            END IF;
            RETURN NULL;
        END $$;
