"""IP allowlisting of all tenant access: the allowlist API, enforcement after authentication,
the per-process cache with LISTEN/NOTIFY invalidation, and the emergency-reset paths.
See docs/ipallow.md."""
