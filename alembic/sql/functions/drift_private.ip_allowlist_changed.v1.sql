CREATE FUNCTION drift_private.ip_allowlist_changed() RETURNS trigger
    LANGUAGE plpgsql :definer
    AS $$
        DECLARE
            t uuid;
            s bigint;
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                UPDATE drift_private.ip_allowlist_seq SET seq = seq + 1 RETURNING seq INTO s;
                PERFORM pg_notify('drift_ip_allowlist', '*:' || s::text);
                RETURN NULL;
            ELSIF TG_OP = 'INSERT' THEN
                FOR t IN SELECT DISTINCT n.tenant_id FROM ipallow_new n ORDER BY 1 LOOP
                    UPDATE drift_private.ip_allowlist_seq SET seq = seq + 1 RETURNING seq INTO s;
                    PERFORM pg_notify('drift_ip_allowlist', t::text || ':' || s::text);
                END LOOP;
            ELSIF TG_OP = 'DELETE' THEN
                FOR t IN SELECT DISTINCT o.tenant_id FROM ipallow_old o ORDER BY 1 LOOP
                    UPDATE drift_private.ip_allowlist_seq SET seq = seq + 1 RETURNING seq INTO s;
                    PERFORM pg_notify('drift_ip_allowlist', t::text || ':' || s::text);
                END LOOP;
            ELSE
                FOR t IN SELECT n.tenant_id FROM ipallow_new n
                         UNION SELECT o.tenant_id FROM ipallow_old o ORDER BY 1 LOOP
                    UPDATE drift_private.ip_allowlist_seq SET seq = seq + 1 RETURNING seq INTO s;
                    PERFORM pg_notify('drift_ip_allowlist', t::text || ':' || s::text);
                END LOOP;
            END IF;
            RETURN NULL;
        END $$;
