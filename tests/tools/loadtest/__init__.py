"""Tests of rpsa.tools.loadtest, one module per source module."""
