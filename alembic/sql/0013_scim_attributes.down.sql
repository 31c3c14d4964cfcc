-- Undoes 0013_scim_attributes.sql, in reverse order.

DROP TABLE public.scim_custom_values, public.scim_custom_attributes;
