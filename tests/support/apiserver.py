"""The daemon's HTTP API in memory (StubTreq), assembled as makeService assembles it, for API tests."""

import json

from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.task import Clock

from rpsa.cors import CORSPolicy
from rpsa.daemon.drain import DrainState
from rpsa.daemon.metrics import Counters, Metrics
from rpsa.daemon.root import RootAPI
from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.compat import CompatAPI
from rpsa.lobby.games import Lobby
from rpsa.lobby.public import AddressRateLimit, PublicLobby
from rpsa.matches.api import MatchAPI
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.web import AccessPolicy, URLBuilder
from rpsa.webclient.pages import WebClient
from tests.matches.test_api import FakeLauncher

BASE = "http://rpsa.test"


class FailingCluster:
    """A cluster's requests interface (the lobby's and the match routes') whose every answer is ``error``.

    ``error``: the APIError each request fails with (set it between calls), e.g.
    :class:`rpsa.cluster.errors.DirectoryUnavailable`.
    """

    def __init__(self, error=None):
        self.error = error

    def _fail(self, *args, **kwargs):
        return defer.fail(self.error)

    create = join = remove = remove_player = list = get = relay = put = delete = _fail


class Server:
    """The HTTP API in memory, as the daemon assembles it."""

    def __init__(self, api_key=None, max_games=10, launcher=True, metrics=True, webclient=False, cors_origins=(),
                 public_lobby=False, cluster=None):
        clock = Clock()
        settings = GameSettings()
        self.draining = DrainState()
        self.lobby = Lobby(clock, settings, TickScheduler(clock, settings.tick), max_games=max_games,
                           draining=self.draining)
        urls = URLBuilder()
        access = AccessPolicy(api_key)
        self.launcher = FakeLauncher() if launcher else None
        matches = MatchAPI(self.launcher, urls, access, draining=self.draining, matches=cluster) if launcher else None
        public = PublicLobby(AddressRateLimit(clock, per_minute=1, burst=1)) if public_lobby else None
        root = RootAPI(access, self.draining, Metrics(Counters(), lobby=self.lobby) if metrics else None,
                       lobby_api=LobbyAPI(self.lobby, access, urls, public=public, games=cluster),
                       compat_api=CompatAPI(self.lobby, access, games=cluster), match_api=matches,
                       webclient=WebClient() if webclient else None)
        self.stub = StubTreq(root.resource(cors=CORSPolicy(cors_origins) if cors_origins else None))

    def drain(self):
        """Start draining."""
        self.draining.active = True

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
