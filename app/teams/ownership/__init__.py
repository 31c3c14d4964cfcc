"""Ownership transfer: exactly one owner, moved only by the owner."""
