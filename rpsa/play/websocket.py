"""Autobahn WebSocket connections to games: handshake checks, limits, pings.

One :class:`GameConnectionFactory` serves every game of a process (built by
the lobby, or a match child); :func:`make_resource` upgrades a request to a
connection of one :class:`~rpsa.play.session.GameSession` (through a
:class:`SessionFactory`, which gives the connection its session).  The
protocol checks the seat token at the handshake, enforces the size and rate
limits, and hands every message to the session.  It uses Autobahn's public hooks only: what it does
past them lives in :mod:`rpsa.play.fastpath`.
"""

from __future__ import annotations

from typing import Optional, Tuple

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.logger import Logger

from rpsa.play import wire
from rpsa.play.bounds import bound_send_buffer, unsent_bytes
from rpsa.play.fastpath import FastPathProtocol, UpgradeResource, options_on_class
from rpsa.play.heartbeat import Heartbeat
from rpsa.play.hooks import ServerHooks

log = Logger()
_OPEN = WebSocketServerProtocol.STATE_OPEN


class RateLimiter:
    """A token bucket: ``rate`` messages a second, bursts of up to ``rate``; full at ``now`` (reactor seconds)."""

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


class GameConnection(FastPathProtocol):
    """One WebSocket: a player holding a seat, or a spectator."""

    session = None  # the GameSession it connects to (set by SessionFactory)
    seat = None
    role = None
    _limiter = None
    _closing = False
    pinged = False  # pinged at the heartbeat's last beat (``heard`` is kept by FastPathProtocol)

    # -- Autobahn's hooks --------------------------------------------------------

    def onConnect(self, request):
        factory = self.factory
        session = self.session
        if session.closed:
            raise ConnectionDeny(404, "unknown game")
        token = _first(request.params.get("token")) or _first(request.params.get("game_token"))
        if token:
            user_id = _first(request.params.get("user_id"))
            seat = session.seat_for_token(token, user_id)
            if seat is None:
                raise ConnectionDeny(403, "invalid token for this game")
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

    def onOpen(self):
        self.forget_handshake()
        factory = self.factory
        session = self.session
        bound_send_buffer(self.transport, session.settings.max_send_buffer)
        factory.heartbeat.add(self)
        factory.hooks.opened(self)
        if self.role == "player":
            session.connect_player(self.seat, self)
        else:
            session.connect_spectator(self)

    def onMessage(self, payload, isBinary):
        if self._closing or not self._within_rate():
            return
        factory = self.factory
        factory.hooks.received()
        if not self.session.received(self, payload, isBinary):
            factory.hooks.rejected("invalid")

    def onPing(self, payload):
        # A ping costs a pong: pings count against the message rate (a spectator
        # that never read sent a million in 7 s, and their pongs piled up).
        if not self._closing and self._within_rate():
            super().onPing(payload)
            self._keeping_up()

    def onPong(self, payload):
        self._within_rate()  # unasked-for pongs count too; the heartbeat's answers cost a token each

    def _within_rate(self) -> bool:
        """Take a token for one message; past the rate, close with 4103 and return False."""
        if self._limiter is None or self._limiter.allow(self.factory.reactor.seconds()):
            return True
        if not self._closing:
            self.factory.hooks.rejected("rate")
            self.close(wire.TOO_MANY_MESSAGES, wire.CLOSE_REASONS[wire.TOO_MANY_MESSAGES])
        return False

    def _keeping_up(self) -> bool:
        """Whether the peer takes what is sent; past ``max_send_buffer`` unread, close with 4106 and drop it."""
        limit = self.session.settings.max_send_buffer
        if unsent_bytes(self.transport) <= limit:
            return True
        self.factory.hooks.dropped("slow_reader")
        log.info("closing a connection that left more than {limit} bytes unread", limit=limit)
        self.close(wire.TOO_SLOW, wire.CLOSE_REASONS[wire.TOO_SLOW])
        self.dropConnection(abort=True)  # its close frame would wait behind what it does not read
        return False

    def message_too_big(self) -> Tuple[int, str]:
        self.factory.hooks.rejected("size")
        self._closing = True
        return wire.MESSAGE_TOO_BIG, wire.CLOSE_REASONS[wire.MESSAGE_TOO_BIG]

    def onClose(self, wasClean, code, reason):
        factory = self.factory
        if self.role is not None and factory is not None:
            factory.heartbeat.remove(self)
            factory.hooks.closed(self)
            self.session.disconnected(self)

    # -- what the session and the heartbeat call ----------------------------------

    def ping(self) -> None:
        """Send a WebSocket ping (the heartbeat's)."""
        if not self._closing and self.state == _OPEN:
            self.sendPing()

    def drop(self) -> None:
        """Drop a dead peer's TCP connection (its seat is held as for any disconnect)."""
        self._closing = True
        self.dropConnection(abort=True)

    def send(self, prepared) -> None:
        """Send a frame, or a burst of them, prepared once for every receiver (by the session's frame preparer)."""
        if self._closing or self.state != _OPEN:
            return
        if not self.write_prepared(prepared):  # some of it waits in the transport: is the peer reading?
            self._keeping_up()

    def send_message(self, message) -> None:
        """Send one message to this connection only."""
        if not self._closing and self.state == _OPEN:
            # Not sendMessage: Autobahn applies maxMessagePayloadSize (meant for
            # client messages) to what sendMessage sends, and a welcome is larger.
            self.sendPreparedMessage(self.session.frames.message(message))
            self._keeping_up()

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
    """The factory of every game's connections in a process (one Autobahn factory, not one per game).

    ``reactor`` gives the rate limiter its time and runs Autobahn's timers;
    ``settings`` are the games' :class:`~rpsa.play.settings.GameSettings`
    (message size, ping interval); ``hooks`` is a
    :class:`~rpsa.play.hooks.ServerHooks` told about every connection and
    message; ``heartbeat`` the process's :class:`~rpsa.play.heartbeat.Heartbeat`
    (by default one of this factory's own).  A connection learns its game from
    the :class:`SessionFactory` that builds it: an Autobahn factory per game
    cost about 2.5 KB of every connected game's memory.
    """

    protocol = GameConnection

    def __init__(self, reactor, settings, hooks: Optional[ServerHooks] = None, heartbeat: Optional[Heartbeat] = None):
        super().__init__(reactor=reactor)
        self.hooks = hooks or ServerHooks()
        self.settings = settings
        # Not "heartbeat or ...": an empty Heartbeat is falsy (it has a length), and the shared one must be used.
        self.heartbeat = heartbeat if heartbeat is not None else Heartbeat(reactor, settings.ping_interval)
        self.setProtocolOptions(
            maxMessagePayloadSize=settings.max_message_bytes,
            maxFramePayloadSize=settings.max_message_bytes,
            autoPingInterval=0,  # rpsa.play.heartbeat pings instead: one timer for every connection
            openHandshakeTimeout=10,
            closeHandshakeTimeout=2,
            trustXForwardedFor=0,
            # A protocol violation is answered with a close frame (1002, 1007 for
            # text that is not UTF-8), not a bare TCP drop the client cannot explain.
            failByDrop=False,
        )
        options_on_class(self)  # after the last setProtocolOptions


class SessionFactory:
    """Builds ``factory``'s connections to one ``session`` (what an upgrade to that game is served by).

    ``factory``: the process's :class:`GameConnectionFactory`; ``session``: the
    :class:`~rpsa.play.session.GameSession` each connection it builds belongs
    to.  Made for each upgrade and not kept.
    """

    __slots__ = ("factory", "session")

    def __init__(self, factory: GameConnectionFactory, session):
        self.factory = factory
        self.session = session

    def buildProtocol(self, addr) -> GameConnection:
        """A connection of ``factory`` to ``session``."""
        protocol = self.factory.buildProtocol(addr)
        protocol.session = self.session
        return protocol


def make_resource(factory: SessionFactory) -> UpgradeResource:
    """A Twisted Web resource that upgrades requests to WebSockets of ``factory``'s game."""
    return UpgradeResource(factory)
