"""What connections are sent: each message framed once for every receiver, and a tick's frames as one write.

- :class:`FramePreparer`: builds each broadcast's WebSocket frame once for
  every receiver (an Autobahn ``PreparedMessage``, as a server factory's
  ``prepareMessage`` builds it), and the frames that are the same in every
  game once per process.
- :class:`Burst`: the frames of one tick, written to a connection in one
  ``send`` (a connection's ``send`` takes a frame or a burst).

Both rely on how Autobahn frames and sends a ``PreparedMessage``
(``payloadHybi``, ``sendPreparedMessage``); ``tests/play/test_fastpath.py``
guards that with the overrides of :mod:`rpsa.play.fastpath`.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from autobahn.websocket.protocol import PreparedMessage

from rpsa.play import wire
from rpsa.rules import Event, GameEventType, RoundEventType
from rpsa.rules.events import GAME_EVENT, ROUND_EVENT


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

    @staticmethod
    def burst(frames) -> "Burst | PreparedMessage":
        """``frames`` sent as one write: a :class:`Burst`, or the frame itself when there is one."""
        return frames[0] if len(frames) == 1 else Burst(frames)

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


class Burst:
    """Frames that leave together: one socket write for all of a tick's messages to a connection.

    ``frames``: the :class:`PreparedMessage` frames, in order.  It is sent
    the way Autobahn sends a ``PreparedMessage`` (``sendPreparedMessage``
    writes its ``payloadHybi``, the frames back to back; ``doNotCompress``:
    with permessage-deflate negotiated they still go as built, uncompressed
    messages being allowed, RFC 7692 6.1).  A tick's events reach each
    connection as one burst: one ``send`` system call instead of one per
    message (``bench/micro.py burst``: 10.5 -> 6.1 µs for three frames).
    """

    __slots__ = ("frames", "payloadHybi")
    doNotCompress = True

    def __init__(self, frames):
        self.frames = tuple(frames)
        self.payloadHybi = b"".join([frame.payloadHybi for frame in self.frames])


def payloads(prepared) -> Tuple[bytes, ...]:
    """The message texts in a prepared frame or a :class:`Burst` (what a receiver decodes)."""
    frames = getattr(prepared, "frames", None)
    return tuple(frame.payload for frame in frames) if frames is not None else (prepared.payload,)
