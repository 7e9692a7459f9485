"""Autobahn WebSocket connections of one game: handshake checks, limits, pings.

Each :class:`~rpsa.play.session.GameSession` gets its own factory (built by
:func:`make_factory`); the protocol checks the seat token at the handshake,
enforces the size and rate limits, and hands every message to the session.
"""

from __future__ import annotations

from typing import Optional

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.logger import Logger

from rpsa.play import wire
from rpsa.play.heartbeat import Heartbeat
from rpsa.play.hooks import ServerHooks

log = Logger()


class RateLimiter:
    """A token bucket: ``rate`` messages a second, bursts of up to ``rate``."""

    __slots__ = ("_rate", "_tokens", "_last")

    def __init__(self, rate: float, now: float):
        self._rate = float(rate)
        self._tokens = float(rate)
        self._last = now

    def allow(self, now: float) -> bool:
        """Take one token; False when the bucket is empty."""
        tokens = self._tokens + (now - self._last) * self._rate
        self._last = now
        if tokens > self._rate:
            tokens = self._rate
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True


class GameConnection(WebSocketServerProtocol):
    """One WebSocket: a player holding a seat, or a spectator."""

    seat = None
    role = None
    _limiter = None
    _closing = False

    # -- handshake -----------------------------------------------------------

    def onConnect(self, request):
        factory = self.factory
        session = factory.session
        if session.closed:
            raise ConnectionDeny(404, "unknown game")
        token = _first(request.params.get("token")) or _first(request.params.get("game_token"))
        if token:
            seat = session.seat_for_token(token)
            if seat is None:
                raise ConnectionDeny(403, "invalid token for this game")
            user_id = _first(request.params.get("user_id"))
            if user_id is not None and user_id != seat.user_id:
                raise ConnectionDeny(403, "the token does not belong to this user")
            self.seat = seat
            self.role = "player"
        else:
            if not session.spectator_room():
                raise ConnectionDeny(503, "no room for another spectator")
            self.role = "spectator"
        self._limiter = RateLimiter(session.settings.max_messages_per_second, factory.reactor.seconds())
        return None

    # What Autobahn keeps of the opening handshake; it only reads them while
    # shaking hands, and they would otherwise live as long as the connection.
    _HANDSHAKE_LEFTOVERS = ("http_request_data", "http_response_data", "http_headers",
                            "http_request_params", "http_status_line", "http_response_body")

    def onOpen(self):
        for name in self._HANDSHAKE_LEFTOVERS:
            if name in self.__dict__:
                setattr(self, name, None)
        factory = self.factory
        factory.heartbeat.add(self)
        factory.hooks.opened(self)
        if self.role == "player":
            factory.session.connect_player(self.seat, self)
        else:
            factory.session.connect_spectator(self)

    # -- messages -------------------------------------------------------------

    def onMessage(self, payload, isBinary):
        if self._closing:
            return
        factory = self.factory
        if not self._limiter.allow(factory.reactor.seconds()):
            factory.hooks.rejected("rate")
            self.close(wire.TOO_MANY_MESSAGES, wire.CLOSE_REASONS[wire.TOO_MANY_MESSAGES])
            return
        factory.hooks.received()
        if not factory.session.received(self, payload, isBinary):
            factory.hooks.rejected("invalid")

    def onMessageEnd(self):
        # Autobahn's version also fires a "message" event to observers (a txaio
        # future and callbacks per message, about 4 % of the server's CPU under
        # load); nothing here observes it, so hand the message on directly.
        if not self.failedByMe:
            self.onMessage(b"".join(self.message_data), self.message_is_binary)
        self.message_data = None

    def _max_message_size_exceeded(self, msg_size, max_msg_size, reason):
        # Autobahn's hook for an oversized message: close with rpsa's own code
        # (instead of 1009) before the payload is buffered.  The server factory
        # fails connections by dropping TCP (failByDrop), which would never send
        # the code: fail this one with a closing handshake instead.
        self.factory.hooks.rejected("size")
        self._closing = True
        self.failByDrop = False
        self._fail_connection(wire.MESSAGE_TOO_BIG, wire.CLOSE_REASONS[wire.MESSAGE_TOO_BIG])

    def onClose(self, wasClean, code, reason):
        factory = self.factory
        if self.role is not None and factory is not None:
            factory.heartbeat.remove(self)
            factory.hooks.closed(self)
            factory.session.disconnected(self)

    # -- what the session calls ------------------------------------------------

    heard = True  # data arrived since the heartbeat's last beat (rpsa.play.heartbeat)
    pinged = False

    def dataReceived(self, data):
        # Autobahn's own dataReceived formats a debug line (with colour
        # highlighting) on every read, even with debug logging off: about 4 %
        # of the server's CPU under load.  Go straight to the frame parser.
        self.heard = True
        self._dataReceived(data)

    def ping(self) -> None:
        """Send a WebSocket ping (the heartbeat's)."""
        if not self._closing and self.state == WebSocketServerProtocol.STATE_OPEN:
            self.sendPing()

    def drop(self) -> None:
        """Drop a dead peer's TCP connection (its seat is held as for any disconnect)."""
        self._closing = True
        self.dropConnection(abort=True)

    def send(self, prepared) -> None:
        """Send a message prepared once for every receiver.

        The frame was built once (``factory.prepareMessage``); with nothing
        queued and no compression negotiated it goes straight to the
        transport, skipping ``sendData``'s per-call debug formatting (about
        7 % of the server's CPU under load).
        """
        if self._closing or self.state != WebSocketServerProtocol.STATE_OPEN:
            return
        if self.send_queue or self._perMessageCompress is not None:
            self.sendPreparedMessage(prepared)
        else:
            self.transport.write(prepared.payloadHybi)

    def send_message(self, message) -> None:
        """Send one message to this connection only."""
        if not self._closing and self.state == WebSocketServerProtocol.STATE_OPEN:
            # Not sendMessage: Autobahn applies maxMessagePayloadSize (meant for
            # client messages) to what sendMessage sends, and a welcome is larger.
            self.sendPreparedMessage(self.factory.prepareMessage(wire.encode(message)))

    def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (1000 or 4xxx) and ``reason``."""
        if self._closing:
            return
        self._closing = True
        if self.state == WebSocketServerProtocol.STATE_CONNECTING:
            self.dropConnection(abort=True)
        else:
            self.sendClose(code, reason)


def _first(values) -> Optional[str]:
    return values[0] if values else None


class GameConnectionFactory(WebSocketServerFactory):
    """The factory of one game's connections; ``hooks`` is a :class:`~rpsa.play.hooks.ServerHooks`."""

    protocol = GameConnection

    def __init__(self, session, reactor, hooks=None, heartbeat=None):
        super().__init__(reactor=reactor)
        self.session = session
        self.hooks = hooks or ServerHooks()
        settings = session.settings
        self.heartbeat = heartbeat or Heartbeat(reactor, settings.ping_interval)
        self.setProtocolOptions(
            maxMessagePayloadSize=settings.max_message_bytes,
            maxFramePayloadSize=settings.max_message_bytes,
            autoPingInterval=0,  # rpsa.play.heartbeat pings instead: one timer for every connection
            openHandshakeTimeout=10,
            closeHandshakeTimeout=2,
            trustXForwardedFor=0,
        )



def make_factory(session, reactor, hooks=None, heartbeat=None) -> GameConnectionFactory:
    """Create the session's factory and attach it (``session.factory``)."""
    factory = GameConnectionFactory(session, reactor, hooks, heartbeat)
    session.factory = factory
    return factory


class GameWebSocketResource(WebSocketResource):
    """Upgrades a request to a WebSocket, then lets go of the HTTP side.

    After the upgrade the WebSocket protocol owns the TCP connection, but two
    things still hold the HTTP channel, and with it the request, its headers
    and Klein's Deferreds (about 15 KB a connection, for the connection's
    life): the channel's idle timer (which would also try to close a transport
    the channel no longer has), and the transport, where the channel is still
    registered as the producer.  Both are released here.
    """

    def render(self, request):
        channel = request.channel
        result = super().render(request)
        if channel is not None and channel.transport is None:  # the upgrade took the transport
            channel.setTimeout(None)
            # Where HTTPChannel registered itself (Autobahn's render uses the same attribute).
            network = getattr(channel, "_networkProducer", None)
            if network is not None and getattr(network, "producer", None) is channel:
                network.unregisterProducer()
        return result


def make_resource(session) -> WebSocketResource:
    """A Twisted Web resource that upgrades requests to this session's WebSockets."""
    return GameWebSocketResource(session.factory)
