"""Helpers shared by the tests: running processes and WebSocket clients."""
