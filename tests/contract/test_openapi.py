"""Tests for L{rpsa.contract.openapi}: the document cannot drift from the code.

- the committed ``docs/openapi.json`` is what the code generates;
- the routes the Klein apps serve are exactly the document's operations;
- a scripted run through every operation (in memory, StubTreq) meets every
  documented status of every operation, and every answer it gets has a
  documented status and a body that the document's schema validates (so a
  field added, dropped or retyped in the code, or a status the code answers and
  the document does not list, fails here).
"""

import json
import os
import re

import jsonschema_rs
from twisted.trial.unittest import SynchronousTestCase

from rpsa.contract import openapi
from rpsa.daemon.root import MOUNTS, RootAPI
from rpsa.matches.launcher import LaunchError
from rpsa.web import route_table
from rpsa.cluster.errors import DirectoryUnavailable, OwnerUnreachable
from tests.support.apiserver import FailingCluster, Server

DOCUMENT = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi.json")
KEY = "contract-key"

# Statuses only a real WebSocket handshake produces (tests/play/test_websocket.py covers them).
HANDSHAKE_ONLY = {("GET", "/api/games/{game_id}/ws", 101), ("GET", "/api/games/{game_id}/ws", 403),
                  ("GET", "/api/games/{game_id}/ws", 503), ("GET", "/", 101)}


def served_routes():
    """``{(METHOD, /path/{param})}``: every route the root resource serves (catch-alls aside), each with OPTIONS
    (answered by the RequestGate)."""
    table = route_table(RootAPI.app, MOUNTS)
    return {(method, path) for path, methods in table.items() for method in [*methods, "OPTIONS"]}


class Contract:
    """The committed document, and which of its (method, path, status) were met."""

    def __init__(self, test):
        self.test = test
        with open(DOCUMENT, encoding="utf-8") as f:
            self.document = json.load(f)
        self.operations = []
        for path, methods in self.document["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path)) + "$")
            for method, operation in methods.items():
                self.operations.append((method.upper(), path, pattern, operation))
        self.met = set()

    def documented(self):
        return {(m, p, int(s)) for m, p, _, op in self.operations for s in op["responses"]}

    def check(self, method, url, status, content_type, raw):
        """The answer has a documented status and a body its schema validates."""
        path = url.split("?")[0]
        found = [(p, op) for m, p, rx, op in self.operations if m == method and rx.match(path)]
        found.sort(key=lambda f: f[0].count("{"))  # /api/games before /api/games/{game_id}
        self.test.assertTrue(found, f"{method} {path}: no such operation in the document")
        template, operation = found[0]
        answer = operation["responses"].get(str(status))
        self.test.assertIsNotNone(answer, f"{method} {path}: status {status} is not documented ({raw[:200]!r})")
        self.met.add((method, template, status))
        content = answer.get("content")
        if content is None:
            return
        media = content_type.split(";")[0].strip()
        documented = {k.split(";")[0] for k in content}
        self.test.assertIn(media, documented, f"{method} {path} {status}: content type")
        if media == "application/json":
            schema = dict(content["application/json"]["schema"], components=self.document["components"])
            errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(json.loads(raw))]
            self.test.assertEqual(errors, [], f"{method} {path} {status}: {raw[:300]!r}")


class DocumentTests(SynchronousTestCase):

    def test_committed_document_is_current(self):
        """docs/openapi.json is what ``python -m rpsa.contract.openapi`` writes."""
        with open(DOCUMENT, "rb") as f:
            committed = f.read()
        self.assertEqual(committed, openapi.document_bytes(),
                         "docs/openapi.json is stale: python -m rpsa.contract.openapi > docs/openapi.json")

    def test_routes_are_the_documented_operations(self):
        """Every route served is documented, and every documented operation is served."""
        documented = {(op.method, op.path) for op in openapi.OPERATIONS}
        self.assertEqual(served_routes(), documented)

    def test_document_is_openapi_3_1(self):
        """An OpenAPI 3.1 document whose schemas are valid JSON Schemas."""
        document = json.loads(openapi.document_bytes())
        self.assertEqual(document["openapi"], "3.1.0")
        for name, schema in document["components"]["schemas"].items():
            jsonschema_rs.validator_for(dict(schema, components=document["components"]))


class AnswersTests(SynchronousTestCase):
    """Every operation, every documented status: met, and conforming."""

    def setUp(self):
        self.contract = Contract(self)

    def call(self, server, method, path, body=None, expect=None, **kwargs):
        status, content_type, raw = server.call(method, path, body, **kwargs)
        self.contract.check(method, path, status, content_type, raw)
        if expect is not None:
            self.assertEqual(status, expect, f"{method} {path}: {raw[:300]!r}")
        return json.loads(raw) if raw and content_type.startswith("application/json") else raw

    def test_every_status(self):
        big = b'{"user_id": "' + b"x" * 17000 + b'"}'
        plain = {"headers": {"Content-Type": "text/plain"}}
        ab = {"user_id": "a", "username": "A"}
        s = Server(max_games=2)
        call = lambda *a, **k: self.call(s, *a, **k)  # noqa: E731
        call("GET", "/healthz", expect=200)
        call("GET", "/metrics", expect=200)
        call("GET", "/openapi.json", expect=200)
        call("GET", "/api/characters", expect=200)
        call("POST", "/api/games", dict(ab, game_id="g1", rounds=5), expect=201)
        call("POST", "/api/games", dict(ab, game_id="g1"), expect=409)
        call("POST", "/api/games", {"user_id": "a\x1b", "username": "A"}, expect=400)
        call("POST", "/api/games", raw=b"[" * 8000, expect=400)
        call("POST", "/api/games", raw=big, expect=413)
        call("POST", "/api/games", ab, expect=415, **plain)
        call("POST", "/api/games", dict(ab, game_id="g2"), expect=201)
        call("POST", "/api/games", dict(ab, game_id="g3"), expect=503)
        call("GET", "/api/games", expect=200)
        call("GET", "/api/games?joinable=true", expect=200)
        call("GET", "/api/games/g1", expect=200)
        call("GET", "/api/games/nope", expect=404)
        call("POST", "/api/games/g1/players", {"user_id": "b", "username": "B"}, expect=201)
        call("POST", "/api/games/g1/players", {"user_id": "c", "username": "C"}, expect=409)
        call("POST", "/api/games/nope/players", {"user_id": "c", "username": "C"}, expect=404)
        call("POST", "/api/games/g1/players", {"user_id": "\ud800", "username": "C"}, expect=400)
        call("POST", "/api/games/g1/players", raw=big, expect=413)
        call("POST", "/api/games/g1/players", ab, expect=415, **plain)
        call("GET", "/api/games/g1/ws", expect=426)
        call("GET", "/api/games/nope/ws", expect=404)
        call("DELETE", "/api/games/g1/players/a", expect=409)
        call("DELETE", "/api/games/g1/players/zz", expect=404)
        call("DELETE", "/api/games/g1/players/b", expect=200)
        call("DELETE", "/api/games/g2", expect=200)
        call("DELETE", "/api/games/g2", expect=404)
        # The original routes.
        compat = {"gameId": "c1", "userId": "u", "username": "U"}
        token = call("POST", "/create_game", compat, expect=200)["gameToken"]
        call("POST", "/create_game", dict(compat, gameId="c2"), expect=503)  # g1 and c1: max_games
        call("POST", "/create_game", {"gameId": "c1"}, expect=400)
        call("POST", "/create_game", raw=big, expect=413)
        call("POST", "/join_game", dict(compat, userId="v"), expect=200)
        call("POST", "/join_game", {"gameId": ""}, expect=400)
        call("POST", "/join_game", raw=big, expect=413)
        call("GET", f"/?game_token={token}&user_id=u", expect=426)
        call("POST", "/remove_player", {"gameId": "c1", "userId": "zz"}, expect=404)
        call("POST", "/remove_player", {"gameId": "c1", "userId": "v"}, expect=200)
        call("POST", "/remove_player", {"gameId": "c1"}, expect=400)
        call("POST", "/remove_player", raw=big, expect=413)
        call("POST", "/remove_game", {"gameId": "c1"}, expect=200)
        call("POST", "/remove_game", raw=b"[" * 8000, expect=400)
        call("POST", "/remove_game", raw=big, expect=413)
        call("GET", "/active_games", expect=200)
        call("GET", "/?game_token=nope&user_id=u", expect=403)
        call("GET", "/", expect=404)
        # The match launcher.
        match = {"match_id": "m1", "players": [{"user_id": "a", "username": "A"}, {"user_id": "b", "username": "B"}]}
        call("PUT", "/api/match", match, expect=201)
        call("PUT", "/api/match", match, expect=200)
        call("PUT", "/api/match", dict(match, rounds=5), expect=409)
        call("PUT", "/api/match", dict(match, match_id="m1\n"), expect=400)
        call("PUT", "/api/match", raw=big, expect=413)
        call("PUT", "/api/match", match, expect=415, **plain)
        call("GET", "/api/match", expect=200)
        call("GET", "/api/match/m1", expect=200)
        call("GET", "/api/match/nope", expect=404)
        call("DELETE", "/api/match/m1", expect=200)
        call("DELETE", "/api/match/nope", expect=404)
        s.launcher.failure = LaunchError("too_many_matches", "100 matches are running", 503)
        call("PUT", "/api/match", dict(match, match_id="m2"), expect=503)
        s.launcher.failure = LaunchError("launch_timeout", "no port within 10 seconds", 504)
        call("PUT", "/api/match", dict(match, match_id="m3"), expect=504)
        # Draining.
        s.drain()
        call("GET", "/healthz", expect=503)
        call("POST", "/api/games/g1/players", {"user_id": "d", "username": "D"}, expect=503)
        call("POST", "/join_game", dict(compat, gameId="g1", userId="w"), expect=503)
        # The launcher and the metrics off.
        off = Server(launcher=False, metrics=False)
        for method, path in (("GET", "/metrics"), ("GET", "/api/match"), ("GET", "/api/match/m1"),
                             ("DELETE", "/api/match/m1")):
            self.call(off, method, path, expect=404)
        self.call(off, "PUT", "/api/match", match, expect=404)
        # With an API key, without sending it.
        keyed = Server(api_key=KEY)
        for op in openapi.OPERATIONS:
            if op.key:
                path = op.path.format(game_id="g1", user_id="u", match_id="m1")
                self.call(keyed, op.method, path, op.body and {}, expect=401)
        # The access rules, and the web client's pages and files (off above: / and /console are 404 there).
        call("GET", "/api/access", expect=200)
        call("GET", "/console", expect=404)
        pages = Server(webclient=True)
        for path in ("/", "/console", "/static/app.js", "/static/style.css", "/static/rock.svg"):
            self.call(pages, "GET", path, expect=200)
            etag = pages.last_headers.getRawHeaders("ETag")[0]
            self.call(pages, "GET", path, expect=304, headers={"If-None-Match": etag})
        self.call(pages, "GET", "/static/nope.js", expect=404)
        # A public lobby: anonymous creates and joins, rate-limited (a burst of one a minute).
        public = Server(api_key=KEY, public_lobby=True)
        self.call(public, "POST", "/api/games", dict(ab, game_id="p1"), expect=201)
        self.call(public, "POST", "/api/games", dict(ab, game_id="p2"), expect=429)
        self.assertEqual(public.last_headers.getRawHeaders("Retry-After"), ["60"])
        self.call(public, "POST", "/api/games/p1/players", {"user_id": "b", "username": "B"}, expect=429)
        # A cluster (--redis): its directory unreachable (503), or a game's or match's node silent (504).
        cluster = FailingCluster()
        clustered = Server(cluster=cluster)
        for op in openapi.OPERATIONS:
            for status, error in ((503, DirectoryUnavailable()), (504, OwnerUnreachable("b", 5.0))):
                if op.operation_id in openapi.CLUSTER_ROUTES and \
                        (op.method, op.path, status) in self.contract.documented() - self.contract.met:
                    cluster.error = error
                    path = op.path.format(game_id="g1", user_id="u", match_id="m1")
                    if op.operation_id == "compat_play_game":
                        path = "/?game_token=elsewhere&user_id=u"
                    body = {"create_game": dict(ab, game_id="g9"), "join_game": ab, "launch_match": match,
                            "compat_create_game": compat, "compat_join_game": compat,
                            "compat_remove_game": {"gameId": "c1"},
                            "compat_remove_player": {"gameId": "c1", "userId": "u"}}.get(op.operation_id)
                    self.call(clustered, op.method, path, body, expect=status)
        # OPTIONS on every route; with --cors-origin, preflights from allowed and other origins.
        cors = Server(cors_origins=["https://portal.test"])
        preflight = {"Access-Control-Request-Method": "POST"}
        for op in openapi.OPERATIONS:
            if op.method == "OPTIONS":
                path = op.path.format(game_id="g1", user_id="u", match_id="m1", name="app.js")
                self.call(cors, "OPTIONS", path, expect=204)
                self.call(cors, "OPTIONS", path, expect=204, headers=dict(preflight, Origin="https://portal.test"))
                self.call(cors, "OPTIONS", path, expect=403, headers=dict(preflight, Origin="https://other.test"))
        self.assertEqual(self.contract.documented() - self.contract.met - HANDSHAKE_ONLY, set())
