"""The relay: a WebSocket of the original protocol that reached a node not owning its game goes on to the owner.

The original's clients connect to one fixed address with only their token
(``/?game_token=T&user_id=U``), so in a cluster their upgrade may reach any node.  Once
the request line has named the game (the token's seat, found in the directory), the node
that does not own it opens a connection to the owner's ``--public-url`` (TLS for
``https``/``wss``), sends the same request there (its path under the owner's prefix, its
``Host`` the owner's), and from then on splices the bytes both ways, unchanged, with flow
control, until either side closes.  The owner checks the token and plays the game; this
node only copies bytes.

The connection is taken from twisted.web the way every WebSocket upgrade is, through
:class:`~rpsa.play.fastpath.UpgradeResource`, which hands the request (rebuilt) to the
protocol the factory builds: here a :class:`Splice` instead of a WebSocket protocol.
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

from twisted.internet import endpoints, protocol, ssl
from twisted.logger import Logger

from rpsa.play.fastpath import UpgradeResource

log = Logger()

MAX_BUFFERED = 64 * 1024  # bytes a client may send before the owner's connection is up
CONNECT_TIMEOUT = 5.0


class RelayObserver:
    """Hears about relayed connections (the metrics); a no-op here."""

    def relay_opened(self, owner: str) -> None:
        """A connection began to be relayed to ``owner``."""

    def relay_failed(self, owner: str) -> None:
        """The owner could not be reached: the client's connection was closed."""


def owner_endpoint(reactor, public_url: str):
    """``(endpoint, path prefix, Host header)`` to reach a node at ``public_url`` (``http(s)://`` or ``ws(s)://``)."""
    parts = urlsplit(public_url)
    secure = parts.scheme in ("https", "wss")
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    endpoint = endpoints.HostnameEndpoint(reactor, host, port, timeout=CONNECT_TIMEOUT)
    if secure:
        endpoint = endpoints.wrapClientTLS(ssl.optionsForClientTLS(host), endpoint)
    return endpoint, parts.path.rstrip("/"), parts.netloc


class _OwnerSide(protocol.Protocol):
    """The connection to the owner: what it says goes to the ``client`` :class:`Splice`."""

    def __init__(self, client: "Splice"):
        self.client = client

    def connectionMade(self):
        self.client.owner_connected(self)

    def dataReceived(self, data):
        self.client.transport.write(data)

    def connectionLost(self, reason):
        self.client.owner_lost()


class _OwnerFactory(protocol.ClientFactory):
    """Builds the owner's side of the ``client`` :class:`Splice`."""

    noisy = False  # one "Starting factory" line per relayed connection otherwise

    def __init__(self, client: "Splice"):
        self.client = client

    def buildProtocol(self, addr):
        return _OwnerSide(self.client)


class Splice(protocol.Protocol):
    """The client's side: what it says goes to the owner (buffered, bounded, until the owner is connected).

    ``factory``: the :class:`RelayFactory` (the owner's endpoint and names).
    """

    def __init__(self, factory: "RelayFactory"):
        self.factory = factory
        self._owner: Optional[_OwnerSide] = None
        self._buffer = []
        self._buffered = 0
        self._closed = False

    def connectionMade(self):
        factory = self.factory
        d = factory.endpoint.connect(_OwnerFactory(self))
        d.addErrback(self._unreachable)

    def _unreachable(self, failure) -> None:
        factory = self.factory
        log.warn("cluster: cannot relay to node {owner} ({reason}); closing the client's connection",
                 node=factory.node, owner=factory.owner, reason=failure.getErrorMessage())
        factory.observer.relay_failed(factory.owner)
        self._closed = True
        self.transport.loseConnection()

    def owner_connected(self, owner: _OwnerSide) -> None:
        if self._closed:
            owner.transport.loseConnection()
            return
        self._owner = owner
        owner.transport.write(b"".join(self._buffer))
        self._buffer = []
        # Flow control both ways: a slow reader pauses the other side's reads.
        owner.transport.registerProducer(self.transport, True)
        self.transport.registerProducer(owner.transport, True)
        self.factory.observer.relay_opened(self.factory.owner)
        log.debug("cluster: relaying a connection to node {owner}", node=self.factory.node, owner=self.factory.owner)

    def dataReceived(self, data):
        if self._owner is not None:
            self._owner.transport.write(data)
            return
        self._buffered += len(data)
        if self._buffered > MAX_BUFFERED:
            self._closed = True
            self.transport.abortConnection()
            return
        self._buffer.append(data)

    def owner_lost(self) -> None:
        self._closed = True
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self._closed = True
        if self._owner is not None:
            self._owner.transport.loseConnection()


class RelayFactory(protocol.Factory):
    """Builds the :class:`Splice` of each relayed connection to ``owner``.

    :param endpoint: the client endpoint reaching the owner (:func:`owner_endpoint`).
    :param node: this node's name (for the log).
    :param owner: the owner's node name.
    :param observer: a :class:`RelayObserver`.
    """

    noisy = False

    def __init__(self, endpoint, node: str, owner: str, observer: RelayObserver = None):
        self.endpoint = endpoint
        self.node = node
        self.owner = owner
        self.observer = observer if observer is not None else RelayObserver()

    def buildProtocol(self, addr):
        return Splice(self)


def relay_resource(reactor, request, node: str, owner: str, public_url: str, observer: RelayObserver = None):
    """The resource that relays ``request`` (an upgrade) to node ``owner`` at ``public_url``."""
    endpoint, prefix, host = owner_endpoint(reactor, public_url)
    request.uri = prefix.encode("utf-8") + request.uri
    request.requestHeaders.setRawHeaders(b"host", [host.encode("utf-8")])
    log.info("cluster: relaying a WebSocket of the original protocol to its game's node", node=node, owner=owner)
    return UpgradeResource(RelayFactory(endpoint, node, owner, observer))
