"""Tests of the real daemon, real children and real components, started by the tests."""
