CREATE FUNCTION drift_private.audit_chain_step() RETURNS trigger
    LANGUAGE plpgsql :definer
    AS $$
        DECLARE
            v_seq bigint;
            v_prev bytea;
            v_hash bytea;
        BEGIN
            -- Lock the tenant's chain head (held until this transaction ends, so the next
            -- event of this tenant is numbered only after this one has committed or rolled
            -- back), take the next number and link the hash, in one statement.
            UPDATE public.audit_chain c
               SET last_seq = c.last_seq + 1,
                   prev_hash = c.last_hash,
                   last_hash = sha256(c.last_hash || drift_api.audit_canonical(NEW.tenant_id, c.last_seq + 1, NEW.id, NEW.created_at, NEW.actor_type, NEW.actor_id, NEW.actor_email, NEW.action, NEW.resource_type, NEW.resource_id, NEW.outcome, NEW.ip, NEW.user_agent, NEW.request_id, NEW.metadata)),
                   updated_at = now()
             WHERE c.tenant_id = NEW.tenant_id
            RETURNING c.last_seq, c.prev_hash, c.last_hash INTO v_seq, v_prev, v_hash;
            IF NOT FOUND THEN
                INSERT INTO public.audit_chain AS c (tenant_id, last_seq, prev_hash, last_hash)
                VALUES (NEW.tenant_id, 1, decode(repeat('00', 32), 'hex'),
                        sha256(decode(repeat('00', 32), 'hex') || drift_api.audit_canonical(NEW.tenant_id, 1::bigint, NEW.id, NEW.created_at, NEW.actor_type, NEW.actor_id, NEW.actor_email, NEW.action, NEW.resource_type, NEW.resource_id, NEW.outcome, NEW.ip, NEW.user_agent, NEW.request_id, NEW.metadata)))
                ON CONFLICT (tenant_id) DO UPDATE
                   SET last_seq = c.last_seq + 1,
                       prev_hash = c.last_hash,
                       last_hash = sha256(c.last_hash || drift_api.audit_canonical(NEW.tenant_id, c.last_seq + 1, NEW.id, NEW.created_at, NEW.actor_type, NEW.actor_id, NEW.actor_email, NEW.action, NEW.resource_type, NEW.resource_id, NEW.outcome, NEW.ip, NEW.user_agent, NEW.request_id, NEW.metadata)),
                       updated_at = now()
                RETURNING c.last_seq, c.prev_hash, c.last_hash INTO v_seq, v_prev, v_hash;
            END IF;
            NEW.seq := v_seq;
            NEW.prev_hash := v_prev;
            NEW.hash := v_hash;
            -- For the live stream, only while someone streams this tenant: a NOTIFY makes
            -- COMMIT take a database-wide lock, which costs every writer when nobody listens.
            -- Delivered only if this transaction commits.
            IF EXISTS (SELECT 1 FROM drift_private.audit_stream_listeners l
                        WHERE l.tenant_id = NEW.tenant_id AND l.expires_at > now()) THEN
                PERFORM pg_notify('drift_audit', NEW.tenant_id::text || ' ' || v_seq::text);
            END IF;
            RETURN NEW;
        END $$;
