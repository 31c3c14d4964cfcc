-- 0015_allowlist_proof: the request gates prove the IP allowlist cache current
-- Loaded by alembic/versions/0015_allowlist_proof.py through app.core.migrate.run_sql (see alembic/README.md).

DROP FUNCTION drift_api.gate_session(uuid, uuid, uuid, text, text, timestamp with time zone);
DROP FUNCTION drift_api.gate_scim_token(uuid, uuid, timestamp with time zone);
DROP FUNCTION drift_api.gate_api_key(uuid, uuid, text, text, timestamp with time zone);
DROP FUNCTION drift_api.enter_session(uuid, uuid, uuid, text, text, timestamp with time zone);
DROP FUNCTION drift_api.enter_scim_token(uuid, uuid, timestamp with time zone);
DROP FUNCTION drift_api.enter_api_key(uuid, uuid, text, text, timestamp with time zone);

\ir functions/drift_api.enter_api_key.v2.sql
REVOKE ALL ON FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) TO :"app_role";

\ir functions/drift_api.enter_scim_token.v2.sql
REVOKE ALL ON FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint) TO :"app_role";

\ir functions/drift_api.enter_session.v2.sql
REVOKE ALL ON FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) TO :"app_role";

\ir functions/drift_api.gate_api_key.v2.sql
REVOKE ALL ON FUNCTION drift_api.gate_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.gate_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) TO :"app_role";

\ir functions/drift_api.gate_scim_token.v2.sql
REVOKE ALL ON FUNCTION drift_api.gate_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.gate_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint) TO :"app_role";

\ir functions/drift_api.gate_session.v2.sql
REVOKE ALL ON FUNCTION drift_api.gate_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.gate_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint) TO :"app_role";
