"""rpsa's test suite."""
