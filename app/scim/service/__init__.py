"""SCIM use cases. Services never commit: the request transaction (opened by scim_tx) commits
in the middleware iff the response is below 400, so a refused request changes nothing."""
