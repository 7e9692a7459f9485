"""rpsa: a production game server for Rock Paper Scissors Apocalypse, on Twisted.

Packages by owner (docs/architecture.md); beside them, :mod:`rpsa.web` is the
HTTP plumbing every API shares and :mod:`rpsa.edge` what is checked and bounded
before any API sees a request.
"""

__version__ = "0.1.0"
