"""A WebSocket upgrade lets go of the HTTP request that carried it (no per-connection leak)."""

import gc
import weakref

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.games import Lobby
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.web import AccessPolicy, URLBuilder, make_site
from rpsa.play.websocket import GameWebSocketResource
from tests.support.wsclient import connect, of_type


class UpgradeReleaseTests(TestCase):
    """After the upgrade, nothing keeps the HTTP channel or request alive."""

    timeout = 30

    @defer.inlineCallbacks
    def test_request_is_released(self):
        """The upgraded request is garbage once the WebSocket is open."""
        scheduler = TickScheduler(reactor, 1.0)
        lobby = Lobby(reactor, GameSettings(ping_interval=0), scheduler)  # no ping timers to outlive the test
        # The lobby API alone, at the root: its routes are relative to its mount point (/api/ in the server).
        site = make_site(LobbyAPI(lobby, AccessPolicy(None), URLBuilder(None)).resource(), reactor)
        port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.addCleanup(lobby.close_all, 1000, "done")
        self.addCleanup(scheduler.stop)
        session, seat = lobby.create("u1", "U1", "g1")

        seen = []
        original = GameWebSocketResource.render

        def render(resource, request):
            seen.append((weakref.ref(request), request.channel))
            return original(resource, request)

        self.patch(GameWebSocketResource, "render", render)
        client = yield connect(reactor, f"ws://127.0.0.1:{port.getHost().port}/games/g1/ws?token={seat.token}")
        yield client.wait_for(of_type("welcome"))
        (request_ref, channel), = seen
        del seen[:], channel
        gc.collect()
        self.assertIsNone(request_ref(), "the upgraded HTTP request is still referenced")
        client.sendClose(1000)
        yield client.closed
        # Autobahn's batched timers fire (as no-ops) up to a bucket after they were cancelled.
        yield task.deferLater(reactor, 2.5, lambda: None)
