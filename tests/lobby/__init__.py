"""Tests of the lobby package."""
