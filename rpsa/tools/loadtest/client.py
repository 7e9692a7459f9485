"""The load tester's clients: one player's WebSocket (PlayerProtocol, PlayerFactory) and the HTTP client.

A player's socket reports to its game through :class:`PlayerListener` and to
the run through :class:`SocketOwner` (both small interfaces with no-op
methods); it names every way a connection can end as an error kind
(``ws_unexpected_close_<code>``, ``ws_error_ECONNREFUSED``, ...), as loadgen.js
names them.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, error as ierror
from twisted.web.client import Agent, HTTPConnectionPool
from treq.client import HTTPClient

from rpsa.tools.loadtest import messages
from rpsa.tools.loadtest.statistics import Stats


class PlayerListener:
    """What one player's socket tells its game (``role`` 0 is the host, 1 the guest); no-ops here."""

    def on_socket(self, role: int, proto: "PlayerProtocol") -> None:
        """The protocol of this player's connection was built."""

    def on_open(self, role: int) -> None:
        """The WebSocket opening handshake finished."""

    def on_message(self, role: int, payload: bytes) -> None:
        """A message arrived."""

    def on_close(self, role: int, kind: str) -> None:
        """The connection ended (or never came); ``kind`` names how, as an error kind."""


class SocketOwner:
    """Hears about every player socket of a run, to abort and await them at its end; no-ops here."""

    def socket_made(self, proto: "PlayerProtocol") -> None:
        """A TCP connection of a player socket was made."""

    def socket_gone(self, proto: "PlayerProtocol") -> None:
        """A player socket's connection is gone."""


class PlayerProtocol(WebSocketClientProtocol):
    """One player's WebSocket: forwards events to its factory's PlayerListener."""

    def __init__(self):
        super().__init__()
        self._upgrade_status: Optional[int] = None
        self._lost_reason = None
        self.opened = False
        self.gone = False

    def connectionMade(self):
        self.factory.sockets.socket_made(self)
        super().connectionMade()

    def dataReceived(self, data):
        # autobahn's own dataReceived formats a debug log line (eagerly) for every read;
        # this is its body without that line, the generator's hottest path.
        self._dataReceived(data)

    def failHandshake(self, reason):
        line = getattr(self, "http_status_line", None) or ""
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit() and parts[1] != "101":
            self._upgrade_status = int(parts[1])
        return super().failHandshake(reason)

    def onOpen(self):
        self.opened = True
        self.factory.listener.on_open(self.factory.role)

    def onMessage(self, payload, isBinary):
        self.factory.listener.on_message(self.factory.role, payload)

    def onClose(self, wasClean, code, reason):
        self.factory.listener.on_close(self.factory.role, self.close_kind(wasClean, code))

    def close_kind(self, was_clean: bool, code: Optional[int]) -> str:
        """The error kind of a connection that ended this way (loadgen.js's names)."""
        lost = getattr(self._lost_reason, "value", None)
        if self._upgrade_status is not None:
            return f"ws_upgrade_status_{self._upgrade_status}"
        if not was_clean and isinstance(lost, ierror.ConnectionAborted):
            return "ws_error_aborted"
        if not was_clean and isinstance(lost, ierror.ConnectionDone):
            return "ws_unexpected_close_1006" if self.opened else "ws_error_ECONNRESET"
        if not was_clean and isinstance(lost, ierror.ConnectionLost):
            return "ws_error_ECONNRESET"
        if not was_clean:
            return "ws_unexpected_close_1006" if self.opened else "ws_error_handshake"
        return f"ws_unexpected_close_{1005 if code is None else code}"

    def connectionLost(self, reason):
        self._lost_reason = reason
        try:
            super().connectionLost(reason)
        finally:
            self.gone = True
            self.factory.sockets.socket_gone(self)

    def send_json(self, obj: Dict[str, Any]) -> None:
        """Send one message, if the socket is open."""
        if self.state == WebSocketClientProtocol.STATE_OPEN:
            self.sendMessage(messages.encode(obj))

    def close_normally(self) -> None:
        """Start the closing handshake a client does after GAME_COMPLETE."""
        if self.state == WebSocketClientProtocol.STATE_OPEN:
            self.sendClose(messages.NORMAL_CLOSE, messages.NORMAL_CLOSE_REASON)

    def abort(self) -> None:
        """Drop the connection at once."""
        if not self.gone and self.transport is not None:
            self.transport.abortConnection()


class PlayerFactory(WebSocketClientFactory):
    """Builds the one PlayerProtocol of one player of one game.

    ``reactor`` runs it; ``url`` is the WebSocket URL; ``role`` is 0 (host) or
    1 (guest); ``listener`` (a PlayerListener, the game) hears about this
    player's socket and ``sockets`` (a SocketOwner, the run) about its
    connection.
    """

    protocol = PlayerProtocol

    def __init__(self, reactor, url: str, role: int, listener: PlayerListener, sockets: SocketOwner):
        super().__init__(url, reactor=reactor)
        self.listener = listener
        self.sockets = sockets
        self.role = role
        # No autobahn timers: the watchdog bounds the opening handshake (--step-timeout-ms) and
        # Game._close_timeout the closing one (--close-wait-ms).  (autobahn's batched timers leave
        # delayed calls behind even when cancelled.)
        self.setProtocolOptions(openHandshakeTimeout=0, closeHandshakeTimeout=0, perMessageCompressionOffers=[])

    def buildProtocol(self, addr):
        proto = super().buildProtocol(addr)
        self.listener.on_socket(self.role, proto)
        return proto

    def clientConnectionFailed(self, connector, reason):
        if isinstance(reason.value, ierror.ConnectionRefusedError):
            kind = "ws_error_ECONNREFUSED"
        elif isinstance(reason.value, ierror.TimeoutError):
            kind = "ws_error_ETIMEDOUT"
        elif isinstance(reason.value, ierror.UserError):
            return  # we stopped connecting ourselves
        else:
            kind = "ws_error_other"
        self.listener.on_close(self.role, kind)


class HttpClient:
    """POSTs JSON over a persistent connection pool, at most ``--http-conns`` requests in flight.

    ``reactor`` runs it; ``cfg`` is the parsed command line (``http_conns``,
    ``http_timeout_ms``, ``api_key``); ``stats`` counts its latencies and
    errors; ``now`` gives the run's time in milliseconds; ``client`` is the
    treq client to send with (default: one over its own persistent pool; tests
    give a ``treq.testing.StubTreq``).
    """

    def __init__(self, reactor, cfg, stats: Stats, now: Callable[[], float], client: Optional[Any] = None):
        self._reactor = reactor
        self._cfg = cfg
        self._stats = stats
        self._now = now
        self._pool: Optional[HTTPConnectionPool] = None
        if client is None:
            self._pool = HTTPConnectionPool(reactor, persistent=True)
            self._pool.maxPersistentPerHost = cfg.http_conns
            self._pool.retryAutomatically = False
            client = HTTPClient(Agent(reactor, pool=self._pool, connectTimeout=cfg.http_timeout_ms / 1000))
        self._client = client
        self._sem = defer.DeferredSemaphore(cfg.http_conns)
        self._inflight: set = set()
        self._closing = False
        self._headers = {b"Content-Type": [b"application/json"]}
        if cfg.api_key:
            self._headers[b"Authorization"] = [b"Bearer " + cfg.api_key.encode("utf-8")]

    def post(self, url: str, body: Dict[str, Any], expect: int,
             extract: Callable[[Any], Any]) -> defer.Deferred:
        """POST ``body``; fire with ``extract(reply)``, or None after counting an error.

        ``extract`` returns the useful part of a reply or an error kind string
        prefixed with ``"!"``.
        """
        t0 = self._now()
        data = messages.encode(body)
        timed_out = []

        def send():
            d = self._client.post(url, data=data, headers=self._headers, allow_redirects=False,
                                  reactor=self._reactor)
            d.addCallback(lambda resp: resp.content().addCallback(lambda content: (resp.code, content)))
            timer = self._reactor.callLater(self._cfg.http_timeout_ms / 1000, lambda: (timed_out.append(1), d.cancel()))

            def untime(result):
                if timer.active():
                    timer.cancel()
                return result

            return d.addBoth(untime)

        outer = self._sem.run(send)
        self._inflight.add(outer)

        def ok(result):
            code, content = result
            t1 = self._now()
            if t1 in self._stats.window:
                self._stats.http_lat.append(t1 - t0)
            if code != expect:
                self._stats.error(f"http_status_{code}", t1)
                return None
            try:
                reply = json.loads(content)
            except ValueError:
                self._stats.error("http_bad_json", t1)
                return None
            value = extract(reply)
            if isinstance(value, str) and value.startswith("!"):
                self._stats.error(value[1:], t1)
                return None
            self._stats.http_ok += 1
            if t1 in self._stats.window:
                self._stats.http_ok_in_window += 1
            return value

        def bad(failure):
            if not self._closing:
                self._stats.error("http_timeout" if timed_out else "http_net_error", self._now())
            return None

        def done(result):
            self._inflight.discard(outer)
            return result

        outer.addCallbacks(ok, bad).addBoth(done)
        return outer

    def close(self) -> defer.Deferred:
        """Cancel the requests in flight and close the pooled connections."""
        self._closing = True
        for d in list(self._inflight):
            d.cancel()
        if self._pool is None:
            return defer.succeed(None)
        return self._pool.closeCachedConnections()
