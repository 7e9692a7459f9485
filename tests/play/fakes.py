"""Test doubles shared by the session and WebSocket tests.

- L{FakeConnection} stands in for L{rpsa.play.websocket.GameConnection} in front of
  a L{rpsa.play.session.GameSession}.  Sessions are created through
  L{rpsa.lobby.games.Lobby.create}, so they have the lobby's real
  L{rpsa.play.frames.FramePreparer} and broadcasts arrive as Autobahn
  C{PreparedMessage}s (a tick's events as one L{rpsa.play.frames.Burst} of
  them): the fake decodes their C{payload} (the unframed JSON text), and decodes C{send_message} dicts from their wire encoding, so a test
  sees exactly the JSON a client would.
- L{make_lobby} builds a lobby and tick scheduler on a given clock;
  L{RecordingHooks} records what connections report to the server's hooks, and
  L{recording_events} the games' lifecycle events.

The WebSocket client the tests connect with is L{tests.support.wsclient.RecordingClient}.
"""

import json

from autobahn.websocket.protocol import PreparedMessage

from rpsa.play import wire
from rpsa.play.frames import Burst, payloads
from rpsa.play.hooks import RelayedEvents, ServerHooks
from rpsa.lobby.games import Lobby
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from tests.support.wsclient import of_type


def make_lobby(clock, hooks=None, events=None, **settings):
    """A lobby, its settings and its tick scheduler, all on ``clock``."""
    game_settings = GameSettings(**settings)
    scheduler = TickScheduler(clock, game_settings.tick)
    return Lobby(clock, game_settings, scheduler, hooks=hooks, events=events), game_settings, scheduler


def recording_events():
    """``(events, calls)``: GameEvents that record each call in ``calls`` as ``(name, *arguments)``."""
    calls = []
    return RelayedEvents(lambda name, args: calls.append((name, *args))), calls


class RecordingHooks(ServerHooks):
    """Server hooks that count opened and closed connections and record rejections."""

    def __init__(self):
        self.opened_count = 0
        self.closed_count = 0
        self.rejections = []

    def opened(self, conn):
        self.opened_count += 1

    def closed(self, conn):
        self.closed_count += 1

    def rejected(self, reason):
        self.rejections.append(reason)


class FakeConnection:
    """Records what a session sends to one connection, decoded, and how it was closed.

    Like the real connection, nothing is delivered once it has been closed
    (those messages are kept in ``late`` so a test can look at them).
    """

    def __init__(self, name="conn"):
        self.name = name
        self.messages = []
        self.late = []
        self.writes = []  # the number of messages in each send() (a tick's burst is one write)
        self.close_code = None
        self.close_reason = None

    def send(self, prepared):
        """A broadcast: an Autobahn PreparedMessage holding the JSON text, or a Burst of them."""
        if not isinstance(prepared, (PreparedMessage, Burst)):
            raise TypeError(f"expected a PreparedMessage or a Burst, got {prepared!r}")
        self.writes.append(len(payloads(prepared)))
        for payload in payloads(prepared):
            self._record(json.loads(payload))

    def send_message(self, message):
        """A message for this connection only, decoded from its wire encoding."""
        self._record(json.loads(wire.encode(message)))

    def close(self, code, reason):
        """Record the first close."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason

    def _record(self, message):
        (self.late if self.close_code is not None else self.messages).append(message)

    @property
    def closed(self):
        """Whether the session closed this connection."""
        return self.close_code is not None

    def of_type(self, kind, event=None):
        """Every recorded message of this type (and engine event type)."""
        return [m for m in self.messages if of_type(kind, event)(m)]

    def take(self):
        """Every message recorded since the last ``take``, and forget them."""
        messages, self.messages = self.messages, []
        return messages

    def __repr__(self):
        return f"<FakeConnection {self.name}>"
