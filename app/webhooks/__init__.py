"""Webhooks: the event catalog and outbox, the endpoints API, signing, the SSRF guard, the
HTTP transport and the dispatcher (worker job) that delivers with retries. docs/webhooks.md."""
