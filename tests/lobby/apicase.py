"""A test case for the HTTP APIs over a lobby, driven in memory with StubTreq.

Every test builds a fresh :class:`~rpsa.lobby.games.Lobby` on a
:class:`~twisted.internet.task.Clock` and talks to the root resource
(:class:`~rpsa.daemon.root.RootAPI`, mounting the lobby API and the original
server's routes) through :class:`treq.testing.StubTreq`: no sockets, no real
reactor.
"""

import json
from urllib.parse import quote

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

import random

from rpsa.bots.roster import Bots
from rpsa.daemon.drain import DrainState
from rpsa.daemon.root import RootAPI
from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.compat import CompatAPI
from rpsa.lobby.games import Lobby
from rpsa.play.frames import payloads
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.web import AccessPolicy, URLBuilder
from rpsa.webclient.pages import WebClient

BASE = "http://games.test:8080"
KEY = "s3cret-key"
DEFAULT = object()  # "use the default" for helper arguments where None means "none"


class Answer:
    """One HTTP answer: status code, decoded JSON body (or None) and headers."""

    def __init__(self, code, content, headers):
        self.code = code
        self.raw = content
        self.headers = headers
        try:
            self.json = json.loads(content)
        except ValueError:
            self.json = None

    @property
    def error_code(self):
        """The ``error.code`` of a native API error answer."""
        return self.json["error"]["code"]


class FakeConnection:
    """A connection the session can use: records messages and close codes."""

    def __init__(self):
        self.messages = []
        self.closes = []

    def send(self, prepared):
        self.messages.extend(json.loads(payload) for payload in payloads(prepared))

    def send_message(self, message):
        self.messages.append(message)

    def close(self, code, reason):
        self.closes.append(code)


def padded_object(size, **fields):
    """A JSON object of exactly ``size`` bytes (padded with spaces)."""
    text = json.dumps(fields).encode("utf-8")
    return text[:-1] + b" " * (size - len(text)) + b"}"


class APITestCase(SynchronousTestCase):
    """A fresh lobby and API per test; subclasses set the key, URL and limits."""

    api_key = None
    public_url = None
    max_games = 10
    metrics = None
    bots = False  # a seeded Bots for the lobby
    public_lobby = None  # a callable(clock) -> PublicLobby (--public-lobby)
    webclient = False  # serve the pages (the daemon always does)
    compat_options = {}  # CompatAPI's keyword arguments (shared_token, linger)
    dependencies = ()  # RootAPI's (name, healthy) dependencies

    def setUp(self):
        self.build(self.public_url)

    def build(self, public_url):
        """A new clock, lobby and API (with this --public-url)."""
        self.clock = Clock()
        self.clock.advance(1000)
        self.draining = DrainState()
        self.lobby = Lobby(
            reactor=self.clock, settings=GameSettings(),
            scheduler=TickScheduler(self.clock, 1.0), max_games=self.max_games, draining=self.draining,
            bots=Bots(self.clock, random.Random(0)) if self.bots else None,
        )
        access = AccessPolicy(self.api_key)
        public = type(self).public_lobby(self.clock) if self.public_lobby else None
        root = RootAPI(access, self.draining, self.metrics,
                       LobbyAPI(self.lobby, access, URLBuilder(public_url), public=public),
                       CompatAPI(self.lobby, access, **self.compat_options),
                       webclient=WebClient() if self.webclient else None, dependencies=self.dependencies)
        self.stub = StubTreq(root.resource())

    def call(self, method, path, body=None, raw=None, content_type="application/json",
             auth=DEFAULT, base=BASE, host=None):
        """Send one request; ``body`` is JSON-encoded, ``raw`` is sent as is."""
        headers = {} if host is None else {b"Host": [host]}
        if content_type is not None:
            headers[b"Content-Type"] = [content_type.encode()]
        if auth is DEFAULT:
            auth = f"Bearer {self.api_key}" if self.api_key else None
        if auth is not None:
            headers[b"Authorization"] = [auth.encode()]
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        response = self.successResultOf(self.stub.request(method, base + path, data=data, headers=headers))
        content = self.successResultOf(self.stub.content(response))
        return Answer(response.code, content, response.headers)

    def create(self, game_id="g1", user_id="host", username="Host", **extra):
        """Create a game through the API, and assert it was created."""
        body = {"user_id": user_id, "username": username, **extra}
        if game_id is not None:
            body["game_id"] = game_id
        answer = self.call("POST", "/api/games", body)
        self.assertEqual(answer.code, 201, answer.raw)
        return answer.json

    def join(self, game_id="g1", user_id="guest", username="Guest"):
        """Join a game through the API (the answer is returned unchecked)."""
        return self.call("POST", f"/api/games/{quote(game_id, safe='')}/players",
                         {"user_id": user_id, "username": username})

    def connect(self, game_id, user_id):
        """Attach a fake connection to a user's seat."""
        session = self.lobby.get(game_id)
        conn = FakeConnection()
        session.connect_player(session.seat_for_user(user_id), conn)
        return conn

    def assertError(self, answer, status, code):
        """A native API error: this status, this ``error.code`` and a message."""
        self.assertEqual((answer.code, answer.error_code), (status, code), answer.raw)
        self.assertIsInstance(answer.json["error"]["message"], str)

    def assertCompatError(self, answer, status):
        """An original-route error: this status and a ``{"message"}`` body."""
        self.assertEqual(answer.code, status, answer.raw)
        self.assertEqual(list(answer.json), ["message"])
