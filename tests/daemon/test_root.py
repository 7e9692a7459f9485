"""rpsa.daemon.root: /healthz, /metrics, and the three APIs mounted by branch, in memory."""

import itertools
import json
import re

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from rpsa.daemon.drain import DrainState
from rpsa.daemon.metrics import Counters, Metrics
from rpsa.daemon.root import COMPAT_SHORTCUTS, MOUNTS, RootAPI, render_error, route_templates
from rpsa.edge import RequestGate
from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.compat import CompatAPI
from rpsa.lobby.games import Lobby
from rpsa.play import session as session_module
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.site import make_site
from rpsa.web import AccessPolicy, EncodedSlashes, URLBuilder, route_table
from tests.lobby.apicase import KEY, APITestCase


class HealthTests(APITestCase):
    """``/healthz``."""

    def test_healthz(self):
        """GET /healthz answers 200 ``{"status": "ok"}``."""
        answer = self.call("GET", "/healthz")
        self.assertEqual((answer.code, answer.json), (200, {"status": "ok"}))

    def test_draining(self):
        """While the drain state is active /healthz answers 503 draining, and new games are refused."""
        self.draining.active = True
        answer = self.call("GET", "/healthz")
        self.assertEqual((answer.code, answer.json), (503, {"status": "draining"}))
        self.assertError(self.call("POST", "/api/games", {"user_id": "u", "username": "U"}), 503, "draining")

    def test_json_content_type(self):
        """Answers are JSON and not cacheable."""
        answer = self.call("GET", "/healthz")
        self.assertEqual(answer.headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertEqual(answer.headers.getRawHeaders(b"cache-control"), [b"no-store"])


class _Dependency:
    def __init__(self, name, healthy):
        self.name, self.healthy = name, healthy


class DegradedTests(APITestCase):
    """``/healthz`` while a dependency the server can run without (Redis) is down."""

    dependencies = (_Dependency("redis", False), _Dependency("other", True))

    def test_degraded_is_200(self):
        """200 degraded, naming what is down: the process is alive and must not be restarted."""
        answer = self.call("GET", "/healthz")
        self.assertEqual((answer.code, answer.json), (200, {"status": "degraded", "degraded": ["redis"]}))

    def test_draining_comes_first(self):
        self.draining.active = True
        self.assertEqual(self.call("GET", "/healthz").code, 503)

    def test_healthy_again(self):
        self.dependencies[0].healthy = True
        self.assertEqual(self.call("GET", "/healthz").json, {"status": "ok"})
        self.dependencies[0].healthy = False


class MountTests(APITestCase):
    """What no mounted API routes."""

    def test_unknown_api_route(self):
        """An unknown /api/ route is a JSON 404 not_found."""
        self.assertError(self.call("GET", "/api/nothing/here"), 404, "not_found")

    def test_match_launcher_off(self):
        """Without a match API, /api/match is 404 not_found."""
        self.assertError(self.call("GET", "/api/match"), 404, "not_found")
        self.assertError(self.call("GET", "/api/match/m1"), 404, "not_found")

    def test_metrics_off(self):
        """Without metrics, /metrics is 404 not_found."""
        self.assertError(self.call("GET", "/metrics"), 404, "not_found")

    def test_route_templates(self):
        """Every route of the tree, mount points joined, catch-alls left out."""
        self.assertEqual(route_templates(), [
            "/healthz", "/metrics", "/openapi.json", "/api/match", "/api/match/{match_id}", "/api/access", "/api/characters", "/api/games",
            "/api/games/{game_id}", "/api/games/{game_id}/players", "/api/games/{game_id}/players/{user_id}",
            "/api/games/{game_id}/ws", "/", "/console", "/static/{name}", "/create_game", "/join_game",
            "/remove_game", "/remove_player", "/active_games",
        ])


class MetricsRouteTests(APITestCase):
    """``/metrics`` on the main listeners needs the API key."""

    api_key = KEY

    def setUp(self):
        self.counters = Counters()
        self.metrics = Metrics(self.counters)
        super().setUp()

    def test_needs_the_key(self):
        """Without the key 401; with it the exposition text."""
        self.assertError(self.call("GET", "/metrics", auth=None), 401, "unauthorized")
        self.counters.received()
        answer = self.call("GET", "/metrics")
        self.assertEqual(answer.code, 200)
        self.assertEqual(answer.headers.getRawHeaders(b"content-type"), [CONTENT_TYPE_LATEST.encode()])
        self.assertIn(b"rpsa_messages_received_total 1.0", answer.raw)

    def test_healthz_exempt(self):
        """/healthz needs no key."""
        self.assertEqual(self.call("GET", "/healthz", auth=None).code, 200)


def unframed(answer: bytes) -> bytes:
    """An HTTP/1.1 answer with its body's framing undone: chunks joined, Content-Length and Transfer-Encoding dropped.

    Klein answers from a Deferred, so its bodies go chunked; the shortcuts answer at once, with a
    Content-Length (as the original server does).  Everything else must be the same byte for byte.
    """
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    chunked = any(line.lower() == b"transfer-encoding: chunked" for line in lines)
    lines = [line for line in lines if not line.lower().startswith((b"content-length:", b"transfer-encoding:"))]
    if chunked:
        parts = []
        for _ in range(1000):  # bounded: each pass takes one chunk
            size, _, rest = body.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            parts.append(rest[:n])
            body = rest[n + 2:]
        body = b"".join(parts)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class ShortcutEquivalenceTests(SynchronousTestCase):
    """The create and join shortcuts answer what the root app's compat branch answers (the same bytes, but
    for the body's framing: see unframed)."""

    REQUESTS = [
        ("POST", "/create_game", {"gameId": "g1", "userId": "u1", "username": "U1"}),
        ("POST", "/create_game", {"gameId": "g1", "userId": "u1", "username": "U1"}),  # exists
        ("POST", "/join_game", {"gameId": "g1", "userId": "u2", "username": "U2"}),
        ("POST", "/join_game", {"gameId": "g1", "userId": "u3", "username": "U3"}),  # full
        ("POST", "/join_game", {"gameId": "nope", "userId": "u3", "username": "U3"}),
        ("POST", "/create_game", {"gameId": "", "userId": "u1", "username": "U1"}),
        ("POST", "/create_game?gameId=x", b"not json"),
        ("POST", "/create_game", b"[1, 2]"),
        ("GET", "/create_game", None),
        ("HEAD", "/join_game", None),
        ("PUT", "/join_game", b"{}"),
        ("POST", "/create_game/", {"gameId": "g2", "userId": "u1", "username": "U1"}),
        ("POST", "/Create_game", {"gameId": "g2", "userId": "u1", "username": "U1"}),
        ("POST", "/active_games", None),
    ]

    def site(self, shortcuts, api_key):
        """A root resource (with or without the shortcuts, behind the RequestGate) over a fresh lobby, in a Site."""
        clock = Clock()
        lobby = Lobby(clock, GameSettings(), TickScheduler(clock, 1.0), max_games=10)
        access = AccessPolicy(api_key)
        root = RootAPI(access, DrainState(), None, LobbyAPI(lobby, access, URLBuilder(None)), CompatAPI(lobby, access))
        resource = root.resource() if shortcuts else RequestGate(EncodedSlashes(root.app.resource()),
                                                                 route_table(RootAPI.app, MOUNTS), render_error)
        return make_site(resource, clock)

    def exchange(self, site, key_header):
        """Every request of REQUESTS on one keep-alive connection: the answers' bytes, Date headers removed."""
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        channel.makeConnection(transport)
        answers = []
        for method, path, body in self.REQUESTS:
            data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
            head = f"{method} {path} HTTP/1.1\r\nHost: games.test\r\n{key_header}"
            if data is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            channel.dataReceived(head.encode() + b"\r\n" + (data or b""))
            answers.append(unframed(re.sub(rb"Date: [^\r]*\r\n", b"", transport.value())))
            transport.clear()
        channel.connectionLost(None)
        return answers

    def test_same_answers(self):
        """With and without an API key (and with a wrong one), both trees answer every request the same."""
        counter = itertools.count()
        self.patch(session_module, "new_token", lambda: f"token-{next(counter) % 1000}")
        for api_key, header in ((None, ""), (KEY, f"Authorization: Bearer {KEY}\r\n"), (KEY, "")):
            counter = itertools.count()
            plain = self.exchange(self.site(False, api_key), header)
            counter = itertools.count()
            shortcut = self.exchange(self.site(True, api_key), header)
            self.assertEqual(shortcut, plain)
            self.assertTrue(all(answer.startswith(b"HTTP/1.1 ") for answer in plain))

    def test_shortcuts_skip_the_root_routing(self):
        """Create and join go straight to the compat app (past the RequestGate); every other path to the root app."""
        root = self.site(True, None).resource._inner  # the gate's inner resource: the shortcuts
        seen = []
        self.patch(root._inner, "render", lambda request: seen.append(("root", request.postpath)))
        for path in COMPAT_SHORTCUTS:
            self.patch(root._shortcuts[path], "render", lambda request: seen.append(("compat", request.postpath)))
        for postpath in ([b"create_game"], [b"join_game"], [b"healthz"], [b"api", b"games"], [b"create_game", b""]):
            root.render(DummyRequest(postpath))
        self.assertEqual(seen, [("compat", [b"create_game"]), ("compat", [b"join_game"]), ("root", [b"healthz"]),
                                ("root", [b"api", b"games"]), ("root", [b"create_game", b""])])
