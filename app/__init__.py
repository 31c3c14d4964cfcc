"""Drift Cloud enterprise backend."""
