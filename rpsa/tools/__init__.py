"""Command-line tools that are not the daemon, each run as its own process.

:mod:`~rpsa.tools.replay` (``rpsa-replay``) replays recorded matches through the
rules engine; :mod:`~rpsa.tools.loadtest` (``rpsa-loadtest``, a package) plays
concurrent games against a running server and reports what it saw.
"""
