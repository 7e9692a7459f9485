"""``twistd rpsa``: command-line options and the service they build."""

from __future__ import annotations

from twisted.application import service
from twisted.logger import Logger
from twisted.python import usage

log = Logger()

DEFAULT_LISTEN = "tcp:8080:interface=127.0.0.1"


class Options(usage.Options):
    """Options of ``twistd rpsa``."""

    synopsis = "[options]"
    longdesc = "Run the Rock Paper Scissors Apocalypse game server."

    def __init__(self):
        super().__init__()
        self["listen"] = []

    def opt_listen(self, endpoint):
        """A Twisted server endpoint string to serve on (repeatable; default tcp:8080:interface=127.0.0.1)."""
        self["listen"].append(endpoint)

    def postOptions(self):
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]


class _StartedService(service.Service):
    def startService(self):
        super().startService()
        log.info("rpsa started")


def makeService(options, reactor=None):
    """Build the rpsa service tree from parsed options."""
    top = service.MultiService()
    _StartedService().setServiceParent(top)
    return top
