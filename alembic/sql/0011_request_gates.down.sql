-- Undoes 0011_request_gates.sql, in reverse order.

DROP FUNCTION drift_api.gate_session(uuid, uuid, uuid, text, text, timestamp with time zone, bigint);
DROP FUNCTION drift_api.gate_scim_token(uuid, uuid, timestamp with time zone, bigint);
DROP FUNCTION drift_api.gate_api_key(uuid, uuid, text, text, timestamp with time zone, bigint);
DROP FUNCTION drift_api.enter_session(uuid, uuid, uuid, text, text, timestamp with time zone, bigint);
DROP FUNCTION drift_api.enter_scim_token(uuid, uuid, timestamp with time zone, bigint);
DROP FUNCTION drift_api.enter_api_key(uuid, uuid, text, text, timestamp with time zone, bigint);
