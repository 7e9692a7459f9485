"""Tests of the matches package."""
