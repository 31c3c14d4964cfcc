-- Undoes 0007_scim.sql, in reverse order.

DROP TABLE public.scim_group_mappings, public.scim_tokens;
DROP FUNCTION drift_api.authenticate_scim_token(bytea);
