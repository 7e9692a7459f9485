"""The daemon's HTTP API in memory (StubTreq), assembled as makeService assembles it, for API tests."""

import json

from treq.testing import StubTreq
from twisted.internet.task import Clock

from rpsa.daemon.metrics import Metrics
from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.games import Lobby
from rpsa.matches.api import MatchAPI
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.web import AccessPolicy, URLBuilder
from tests.matches.test_api import FakeLauncher

BASE = "http://rpsa.test"


class Server:
    """The HTTP API in memory, as the daemon assembles it."""

    def __init__(self, api_key=None, max_games=10, launcher=True, metrics=True):
        clock = Clock()
        settings = GameSettings()
        self.lobby = Lobby(clock, settings, TickScheduler(clock, settings.tick), max_games=max_games)
        urls = URLBuilder()
        self.launcher = FakeLauncher() if launcher else None
        matches = MatchAPI(self.launcher, urls, is_draining=lambda: self.lobby.draining) if launcher else None
        api = LobbyAPI(self.lobby, AccessPolicy(api_key), urls, matches=matches,
                       metrics=Metrics() if metrics else None)
        self.stub = StubTreq(api.resource())

    def drain(self):
        """Start draining."""
        self.lobby.draining = True

    def call(self, method, path, body=None, raw=None, headers=None):
        """``(status, content type, raw body)``; ``self.last_headers`` holds the answer's headers."""
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        answers = []
        d = self.stub.request(method, BASE + path, data=data, headers=all_headers)
        d.addCallback(self._answer, answers)
        self.stub.flush()
        return answers[0]

    def _answer(self, response, answers):
        self.last_headers = response.headers
        content_type = (response.headers.getRawHeaders(b"content-type") or [b""])[0].decode()
        return response.content().addCallback(lambda raw: answers.append((response.code, content_type, raw)))
