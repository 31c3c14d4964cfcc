-- Undoes 0013_scim_attributes.sql, in reverse order.

DROP FUNCTION public.scim_insert_user(uuid, uuid, text, text, text, text, boolean, jsonb, timestamp with time zone, boolean, text[], boolean);
DROP TABLE public.scim_custom_values, public.scim_custom_attributes;
