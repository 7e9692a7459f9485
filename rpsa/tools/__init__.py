"""Command-line tools that are not the daemon: ``rpsa-replay`` and ``rpsa-loadtest``."""
