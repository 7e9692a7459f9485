"""rpsa: a production game server for Rock Paper Scissors Apocalypse, on Twisted.

Packages by owner (docs/architecture.md); beside them, :mod:`rpsa.web` is the
HTTP plumbing every API shares, :mod:`rpsa.site` the Site every listener
serves (bounded requests, deadlines, the access log), :mod:`rpsa.cors` the
CORS policy, and :mod:`rpsa.edge` what is checked and bounded before any API
sees a request.
"""

__version__ = "0.1.0"
