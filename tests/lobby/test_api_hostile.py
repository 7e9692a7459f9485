"""The lobby's routes, native and original, against a hostile client (issue 10's findings), in memory.

Every malformed request gets a clear 4xx and has no effect: no game, no seat,
no id taken, no traceback in the log.
"""

import json

from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from rpsa.contract import openapi
from tests.support.apiserver import Server

DEEP = b"[" * 8000  # valid JSON prefix, under the 16 KiB limit
BAD_NAMES = ["\ud800", "a\udfff", "a\x1b[31m", "a\r\nb", "\x00", "a\n", "a\u202e"]


class CapturedLog:
    """Every log event while it is installed (as a context manager)."""

    def __init__(self):
        self.events = []

    def __enter__(self):
        globalLogPublisher.addObserver(self.events.append)
        return self

    def __exit__(self, *exc):
        globalLogPublisher.removeObserver(self.events.append)

    @property
    def failures(self):
        return [e for e in self.events if "log_failure" in e]


class HostileTestCase(SynchronousTestCase):

    def setUp(self):
        self.server = Server()

    def call(self, method, path, body=None, **kwargs):
        status, content_type, raw = self.server.call(method, path, body, **kwargs)
        answer = json.loads(raw) if raw and content_type.startswith("application/json") else raw
        return status, answer

    def assertNoGames(self):
        self.assertEqual(self.server.lobby.games, {})
        self.assertEqual(self.call("GET", "/api/games")[1], {"games": []})
        self.assertEqual(self.call("GET", "/active_games")[1], [])


class PoisonedNameTests(HostileTestCase):
    """A lone surrogate (valid JSON, not UTF-8) or a control character in an id or name is refused."""

    def test_native_create(self):
        for bad in BAD_NAMES:
            for field in ("user_id", "username", "game_id"):
                body = {"user_id": "u", "username": "U", "game_id": "g1", field: bad}
                status, answer = self.call("POST", "/api/games", body)
                self.assertEqual((status, answer["error"]["code"]), (400, "bad_field"), (field, bad))
        self.assertNoGames()

    def test_native_join(self):
        self.assertEqual(self.call("POST", "/api/games", {"user_id": "u", "username": "U", "game_id": "g1"})[0], 201)
        for bad in BAD_NAMES:
            for field in ("user_id", "username"):
                body = {"user_id": "v", "username": "V", field: bad}
                status, answer = self.call("POST", "/api/games/g1/players", body)
                self.assertEqual((status, answer["error"]["code"]), (400, "bad_field"), (field, bad))
        self.assertEqual(len(self.server.lobby.games["g1"].seats), 1)

    def test_compat_create_and_join(self):
        for bad in BAD_NAMES:
            for field in ("gameId", "userId", "username"):
                body = {"gameId": "c1", "userId": "u", "username": "U", field: bad}
                status, _ = self.call("POST", "/create_game", body)
                self.assertEqual(status, 400, (field, bad))
        self.assertNoGames()
        self.assertEqual(self.call("POST", "/create_game", {"gameId": "c1", "userId": "u", "username": "U"})[0], 200)
        for bad in BAD_NAMES:
            status, _ = self.call("POST", "/join_game", {"gameId": "c1", "userId": "v", "username": bad})
            self.assertEqual(status, 400, bad)
        self.assertEqual(len(self.server.lobby.games["c1"].seats), 1)

    def test_game_id_surrogate_takes_no_id(self):
        """The 500-after-creation case: refused first, so a retry with a good id is 201, not 409."""
        status, _ = self.call("POST", "/api/games", {"user_id": "u", "username": "U", "game_id": "\ud800"})
        self.assertEqual(status, 400)
        self.assertNoGames()


class DeepJSONTests(HostileTestCase):
    """8000 '[' on every body route: 400, nothing logged as a failure, nothing done."""

    def test_every_body_route(self):
        self.assertEqual(self.call("POST", "/api/games", {"user_id": "u", "username": "U", "game_id": "g1"})[0], 201)
        routes = [(op.method, op.path.format(game_id="g1")) for op in openapi.OPERATIONS if op.body is not None]
        self.assertEqual(len(routes), 7)
        with CapturedLog() as log:
            for method, path in routes:
                status, answer = self.call(method, path, raw=DEEP)
                self.assertEqual(status, 400, (method, path, answer))
        self.assertEqual(log.failures, [])
        self.assertEqual(list(self.server.lobby.games), ["g1"])
        self.assertEqual(self.server.launcher.launched, [])


class BadHeaderTests(HostileTestCase):
    """A Host header that cannot be parsed is 400 before anything is done."""

    def test_create_with_a_malformed_host(self):
        for host in ("[", "a b", "[::1", "h:port"):
            status, answer = self.call("POST", "/api/games", {"user_id": "u", "username": "U"},
                                       headers={"Host": host})
            self.assertEqual((status, answer["error"]["code"]), (400, "bad_header"), host)
        self.assertNoGames()

    def test_match_with_a_malformed_host(self):
        match = {"match_id": "m1", "players": [{"user_id": "a", "username": "A"}, {"user_id": "b", "username": "B"}]}
        status, answer = self.call("PUT", "/api/match", match, headers={"Host": "["})
        self.assertEqual((status, answer["error"]["code"]), (400, "bad_header"))
        self.assertEqual(self.server.launcher.launched, [])


class BadPathTests(HostileTestCase):
    """A path with invalid UTF-8 is a JSON 400, without a traceback in the log."""

    def test_invalid_utf8(self):
        for path in ("/api/games/%FF", "/api/games/%C3%28/players", "/%FF"):
            with CapturedLog() as log:
                status, answer = self.call("GET", path)
            self.assertEqual(status, 400, path)
            self.assertIsInstance(answer, dict, path)
            self.assertEqual(log.failures, [], path)


class MethodTests(HostileTestCase):
    """OPTIONS and HEAD on every route; 405 with Allow for a method a route does not take."""

    def paths(self):
        by_path = {}
        for op in openapi.OPERATIONS:
            by_path.setdefault(op.path.format(game_id="g1", user_id="u", match_id="m1", name="app.js"), set()).add(
                op.method)
        return by_path

    def allowed(self):
        return {m.strip() for m in self.server.last_headers.getRawHeaders(b"allow", [b""])[0].decode().split(",")
                if m.strip()}

    def test_options(self):
        for path, methods in self.paths().items():
            status, _ = self.call("OPTIONS", path)
            self.assertIn(status, (200, 204), path)
            expected = methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
            self.assertEqual(self.allowed(), expected, path)

    def test_method_not_allowed(self):
        for path, methods in self.paths().items():
            for method in ("PATCH", "PUT", "DELETE", "POST"):
                if method in methods:
                    continue
                status, _ = self.call(method, path, {} if method != "DELETE" else None)
                self.assertEqual(status, 405, (method, path))
                self.assertEqual(self.allowed(), methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set()),
                                 (method, path))

    def test_head_is_get_without_a_body(self):
        self.call("POST", "/api/games", {"user_id": "u", "username": "U", "game_id": "g1"})
        for path in ("/healthz", "/api/games", "/api/games/g1", "/api/games/nope", "/api/characters",
                     "/active_games", "/api/match", "/openapi.json"):
            get_status, _ = self.call("GET", path)
            head_status, body = self.call("HEAD", path)
            self.assertEqual((head_status, body), (get_status, b""), path)
