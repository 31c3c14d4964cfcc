"""Members of the tenant and seats: list, role changes, removal, seat count."""
