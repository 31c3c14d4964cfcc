-- Undoes 0013_scim_attributes.sql, in reverse order.

DROP TABLE public.scim_custom_values;
DROP TABLE public.scim_custom_attributes;
