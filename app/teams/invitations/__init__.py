"""Invitations by email: create, list, revoke, resend, accept."""
