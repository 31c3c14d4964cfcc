-- 0011_request_gates: request gates: the enter_* functions that open every request's transaction
-- Loaded by alembic/versions/0011_request_gates.py through app.core.migrate.run_sql (see alembic/README.md).

-- how the enter_* functions refuse (their last-use stamps: drift_private.touch_last_use, 0002)
\ir functions/drift_private.refuse_credential.v1.sql
REVOKE ALL ON FUNCTION drift_private.refuse_credential(p_reason text, p_sqlstate text) FROM PUBLIC;

\ir functions/drift_api.enter_api_key.v1.sql
REVOKE ALL ON FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean) TO :"app_role";

\ir functions/drift_api.enter_scim_token.v1.sql
REVOKE ALL ON FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean) TO :"app_role";

\ir functions/drift_api.enter_session.v1.sql
REVOKE ALL ON FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone, p_allowlist_seq bigint, p_read_only boolean) TO :"app_role";
