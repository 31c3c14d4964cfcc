-- Undoes 0002_tenants_identity.sql, in reverse order.

ALTER TABLE public.tenants DROP CONSTRAINT tenants_owner_fk;
DROP TABLE drift_private.auth_throttle, public.sessions, public.api_keys, public.users,
    public.tenants, drift_private.token_index, drift_private.tenant_index;
DROP FUNCTION drift_private.index_token();
DROP FUNCTION drift_private.index_tenant();
DROP FUNCTION drift_private.guard_owner();
DROP FUNCTION drift_private.check_owner();
DROP FUNCTION drift_api.token_tenant(bytea, text);
DROP FUNCTION drift_api.throttle_locked_until(bytea[], timestamp with time zone);
DROP FUNCTION drift_api.throttle_failure(bytea, text, timestamp with time zone, integer, integer, integer, integer);
DROP FUNCTION drift_api.throttle_clear(bytea, timestamp with time zone);
DROP FUNCTION drift_api.tenant_id_for_slug(text);
DROP FUNCTION drift_api.list_tenants();
DROP FUNCTION drift_api.authenticate_session(uuid, uuid, uuid, timestamp with time zone);
DROP FUNCTION drift_api.authenticate_api_key(bytea, timestamp with time zone);
DROP FUNCTION drift_private.touch_last_use(timestamp with time zone, uuid, uuid, uuid);
DROP FUNCTION drift_api.all_tenant_ids();
