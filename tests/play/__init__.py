"""Tests of the play package."""
