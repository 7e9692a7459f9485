"""Every place rpsa reaches past Autobahn's or twisted.web's public API, and why.

Each trick below replaces or relies on a library internal.  Each says what it
bought (measured with ``rpsa-loadtest``; ``docs/performance.md`` has the runs),
and ``tests/play/test_fastpath.py`` fails, naming the trick, when the installed
library's code it depends on changes.  Nothing here changes what goes on the
wire.

- :class:`FastPathProtocol`: the base of :class:`rpsa.play.websocket.GameConnection`
  (which then uses only Autobahn's public hooks): reads go straight to the
  frame parser, messages straight to ``onMessage``, prepared frames straight to
  the transport, oversized messages close with rpsa's own code, and the opening
  handshake's leftovers are dropped.
- :class:`FramePreparer`: builds each broadcast's WebSocket frame once for every
  receiver, and the frames that are the same in every game once per process.
- :class:`UpgradeResource`: lets go of the HTTP channel after the upgrade.
- :func:`tune_gc`: freezes the startup heap and collects less often.
"""

from __future__ import annotations

import gc
from typing import Any, Dict, Optional, Tuple

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.protocol import PreparedMessage

from rpsa.play import wire
from rpsa.rules import Event, GameEventType, RoundEventType
from rpsa.rules.events import GAME_EVENT, ROUND_EVENT

GC_THRESHOLD = 50_000  # allocations between young-generation collections (CPython's default: 700)


def tune_gc(threshold: int = GC_THRESHOLD) -> None:
    """Keep the startup heap out of the cyclic GC's passes and collect less often.

    Long-lived objects (modules, the service tree) never need collecting, and
    games make few cycles, so full passes no longer stall thousands of games'
    ticks (at 4000 games: worst tick 285 ms -> 66 ms, p99 15 ms -> 3.4 ms).
    Called by the daemon once, as it starts.
    """
    gc.freeze()
    gc.set_threshold(threshold, 50, 100)


class FastPathProtocol(WebSocketServerProtocol):
    """Autobahn's server protocol with its per-read, per-message and per-send costs cut.

    A subclass implements :meth:`message_too_big`, calls :meth:`forget_handshake`
    once open and sends prepared frames with :meth:`write_prepared`.
    """

    heard = True  # data arrived since the heartbeat's last beat (rpsa.play.heartbeat)

    def dataReceived(self, data):
        # Autobahn's own dataReceived formats a debug line (with colour
        # highlighting) on every read, even with debug logging off: about 4 %
        # of the server's CPU under load.  Go straight to the frame parser.
        self.heard = True
        self._dataReceived(data)

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
        code, text = self.message_too_big()
        self.failByDrop = False
        self._fail_connection(code, text)

    def message_too_big(self) -> Tuple[int, str]:
        """A message over the size limit is arriving: the close code and reason to fail with."""
        raise NotImplementedError

    # What Autobahn keeps of the opening handshake; it only reads them while
    # shaking hands, and they would otherwise live as long as the connection
    # (29.1 -> 25.5 KB of memory per idle game).
    _HANDSHAKE_LEFTOVERS = ("http_request_data", "http_response_data", "http_headers",
                            "http_request_params", "http_status_line", "http_response_body")

    def forget_handshake(self) -> None:
        """Drop what Autobahn kept of the opening handshake (call from ``onOpen``)."""
        for name in self._HANDSHAKE_LEFTOVERS:
            if name in self.__dict__:
                setattr(self, name, None)

    def write_prepared(self, prepared: PreparedMessage) -> None:
        """Send a frame built once (by :class:`FramePreparer`) for every receiver.

        With nothing queued and no compression negotiated it goes straight to
        the transport, skipping ``sendData``'s per-call debug formatting (about
        7 % of the server's CPU under load).
        """
        if self.send_queue or self._perMessageCompress is not None:
            self.sendPreparedMessage(prepared)
        else:
            self.transport.write(prepared.payloadHybi)


# Events that are byte for byte the same in every game (countdowns, state
# changes, the starts): their frames are shared by every game of the process.
_SAME_IN_EVERY_GAME = frozenset({
    (ROUND_EVENT, RoundEventType.ROUND_COUNTDOWN),
    (ROUND_EVENT, RoundEventType.WEAPON_COUNTDOWN),
    (ROUND_EVENT, RoundEventType.STATE_CHANGE),
    (ROUND_EVENT, RoundEventType.ROUND_STARTED),
    (GAME_EVENT, GameEventType.GAME_STARTED),
})


def shared_event_key(event: Event):
    """A key for an event whose frame is the same in every game, or None (it carries ids or results)."""
    if (event.classtype, event.type) not in _SAME_IN_EVERY_GAME:
        return None
    data = event.data
    return (event.classtype, event.type, None if data is None else tuple(data.values()))


class FramePreparer:
    """Turns a game's messages into WebSocket frames, each built once for all its receivers.

    One per process (the lobby's, a match child's), given to every session;
    frames of events that are the same in every game are kept and reused, up to
    ``max_shared`` of them (beyond that they are built every time).  A frame is
    an Autobahn ``PreparedMessage``, exactly what a server factory's
    ``prepareMessage`` builds, without needing a factory.
    """

    def __init__(self, max_shared: int = 4096):
        self.max_shared = max_shared
        self._shared: Dict[Any, PreparedMessage] = {}

    @staticmethod
    def prepare(payload: bytes) -> PreparedMessage:
        """The unmasked text frame of ``payload`` (a server's frames are never masked)."""
        return PreparedMessage(payload, False, False, False)

    def message(self, message: Dict[str, Any]) -> PreparedMessage:
        """The frame of a server message."""
        return self.prepare(wire.encode(message))

    def sync(self, health) -> PreparedMessage:
        """The frame of ``sync`` (formatted directly: it follows every state change)."""
        return self.prepare(wire.sync_payload(health))

    def event(self, event: Event) -> PreparedMessage:
        """The frame of an engine event; shared by every game when the event is the same in all."""
        key = shared_event_key(event)
        if key is None:
            return self.message(wire.engine_event(event))
        frame: Optional[PreparedMessage] = self._shared.get(key)
        if frame is None:
            frame = self.message(wire.engine_event(event))
            if len(self._shared) < self.max_shared:
                self._shared[key] = frame
        return frame


class UpgradeResource(WebSocketResource):
    """Upgrades a request to a WebSocket, then lets go of the HTTP side.

    After the upgrade the WebSocket protocol owns the TCP connection, but two
    things still hold the HTTP channel, and with it the request, its headers
    and Klein's Deferreds (about 15 KB a connection, for the connection's
    life: 44 -> 27.7 KB of memory per idle game with the other tricks): the
    channel's idle timer (which would also try to close a transport the
    channel no longer has), and the transport, where the channel is still
    registered as the producer.  Both are released here.

    ``factory`` is the game's :class:`~rpsa.play.websocket.GameConnectionFactory`.
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
