-- Undoes 0015_allowlist_proof.sql: the gates of 0011_request_gates again.

DROP FUNCTION drift_api.gate_session(uuid, uuid, uuid, text, text, timestamp with time zone, bigint);
DROP FUNCTION drift_api.gate_scim_token(uuid, uuid, timestamp with time zone, bigint);
DROP FUNCTION drift_api.gate_api_key(uuid, uuid, text, text, timestamp with time zone, bigint);
DROP FUNCTION drift_api.enter_session(uuid, uuid, uuid, text, text, timestamp with time zone, bigint);
DROP FUNCTION drift_api.enter_scim_token(uuid, uuid, timestamp with time zone, bigint);
DROP FUNCTION drift_api.enter_api_key(uuid, uuid, text, text, timestamp with time zone, bigint);

\ir functions/drift_api.enter_api_key.v1.sql
REVOKE ALL ON FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.enter_scim_token.v1.sql
REVOKE ALL ON FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.enter_session.v1.sql
REVOKE ALL ON FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.enter_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.gate_api_key.v1.sql
REVOKE ALL ON FUNCTION drift_api.gate_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.gate_api_key(p_key uuid, p_tenant uuid, p_role text, p_email_md5 text, p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.gate_scim_token.v1.sql
REVOKE ALL ON FUNCTION drift_api.gate_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.gate_scim_token(p_token uuid, p_tenant uuid, p_now timestamp with time zone) TO :"app_role";

\ir functions/drift_api.gate_session.v1.sql
REVOKE ALL ON FUNCTION drift_api.gate_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_api.gate_session(p_session uuid, p_tenant uuid, p_user uuid, p_role text, p_email_md5 text, p_now timestamp with time zone) TO :"app_role";
