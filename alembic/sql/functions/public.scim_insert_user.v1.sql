CREATE FUNCTION public.scim_insert_user(p_tenant uuid, p_id uuid, p_user_name text, p_external_id text, p_display_name text, p_email text, p_active boolean, p_doc jsonb, p_now timestamp with time zone, p_unless_seat_limit boolean, p_unless_invited text[], p_unless_required_custom boolean) RETURNS boolean
    LANGUAGE plpgsql :pinned_search_path
    AS $$
-- A SCIM create's INSERT (app.scim.repository.users.insert): the user p_id (role member),
-- unless a guard holds: p_unless_seat_limit, the tenant has a seat limit; p_unless_invited
-- (NULL: no guard), an invitation is open to one of those addresses (the condition of
-- app.teams.invitations.repository.OPEN_FOR_ADDRESSES); p_unless_required_custom, the
-- tenant declares a required custom attribute. Whether the row went in.
--
-- A function, not a statement the caller sends, so that PostgreSQL plans it once per session
-- (PL/pgSQL keeps the plan) while the caller sends it as text: a write request's first
-- statement sent as text rides in the round trip that opens the transaction (app.core.tx,
-- Tx.run), and as plain text this INSERT, with its guards under row-level security, cost
-- ~0.3 ms of planning on every create. SECURITY INVOKER, like public.emit_events: nothing the
-- caller could not do with the statement itself, under the same row-level security.
BEGIN
    INSERT INTO public.users AS u (tenant_id, id, user_name, external_id, display_name, email,
                                   role, active, deprovisioned_at, scim_resource, created_at,
                                   updated_at)
    SELECT p_tenant, p_id, p_user_name, p_external_id, p_display_name, p_email, 'member',
           p_active, CASE WHEN p_active THEN NULL ELSE p_now END, p_doc, p_now, p_now
     WHERE NOT (p_unless_seat_limit AND EXISTS (
                SELECT 1 FROM public.tenants t
                 WHERE t.tenant_id = p_tenant AND t.seat_limit IS NOT NULL))
       AND NOT (p_unless_invited IS NOT NULL AND EXISTS (
                SELECT 1 FROM public.invitations i
                 WHERE i.email_key = ANY (array(SELECT lower(a) FROM unnest(p_unless_invited) AS a))
                   AND i.accepted_at IS NULL AND i.revoked_at IS NULL))
       AND NOT (p_unless_required_custom AND EXISTS (
                SELECT 1 FROM public.scim_custom_attributes c
                 WHERE c.tenant_id = p_tenant AND c.required));
    RETURN FOUND;
END $$;
