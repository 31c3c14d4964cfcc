"""Sync ingest: the Drift client uploads scan results (POST /api/v1/sync) and reports client-
side events (POST /api/v1/events); both are sources of webhook events."""
