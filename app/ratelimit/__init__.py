"""Rate limits: login and token throttling, per-tenant request budgets (docs/operations.md,
"Rate limits")."""
