-- Undoes 0011_request_gates.sql, in reverse order.

DROP FUNCTION drift_api.enter_session(uuid, uuid, uuid, text, text, timestamp with time zone, bigint, boolean);
DROP FUNCTION drift_api.enter_scim_token(uuid, uuid, timestamp with time zone, bigint, boolean);
DROP FUNCTION drift_api.enter_api_key(uuid, uuid, text, text, timestamp with time zone, bigint, boolean);
DROP FUNCTION drift_private.refuse_credential(text, text);
