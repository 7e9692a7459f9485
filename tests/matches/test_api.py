"""``/api/match`` over HTTP, in memory (mounted in the root app): validation, idempotence, failures, notifications."""

import json

from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.daemon.drain import DrainState
from rpsa.daemon.root import RootAPI
from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.compat import CompatAPI
from rpsa.lobby.games import Lobby
from rpsa.matches.api import MatchAPI, MatchHooks
from rpsa.matches.notify import MatchNotifications
from rpsa.matches.launcher import LaunchError, MatchRecord
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.web import AccessPolicy, URLBuilder

KEY = "the-key"
BASE = "http://rpsa.test"


def body(match_id="m1", players=None, **extra):
    """A PUT body."""
    players = players or [{"user_id": "ann", "username": "Ann"}, {"user_id": "ben", "username": "Ben"}]
    return {"match_id": match_id, "players": players, **extra}


class FakeLauncher:
    """Launches at once on port 9000 + n, or fails with ``self.failure``; keeps records like the real one."""

    def __init__(self):
        self.records = {}
        self.launched = []
        self.failure = None
        self.stopped = []

    def get(self, match_id):
        return self.records.get(match_id)

    def list(self):
        return list(self.records.values())

    def launch(self, request):
        self.launched.append(request)
        if self.failure is not None:
            return defer.fail(self.failure)
        existing = self.records.get(request["match_id"])
        if existing is not None and existing.state in ("starting", "waiting", "playing"):
            return defer.succeed(existing)
        record = MatchRecord(match_id=request["match_id"], request=request, state="waiting",
                             port=9000 + len(self.records), pid=100 + len(self.records),
                             players=[{"user_id": p["user_id"], "connected": False} for p in request["players"]])
        self.records[record.match_id] = record
        return defer.succeed(record)

    def stop(self, match_id):
        self.stopped.append(match_id)
        record = self.records[match_id]
        record.state, record.reason = "ended", "stopped"
        return defer.succeed(record)


class FakeNotifier:
    """Records the events posted."""

    def __init__(self):
        self.events = []

    def post(self, event):
        self.events.append(event)
        return defer.succeed(True)


class FailureHooks(MatchHooks):
    """Records the codes of failed launches."""

    def __init__(self):
        self.failures = []

    def launch_failed(self, code):
        self.failures.append(code)


class MatchAPITestCase(SynchronousTestCase):
    """The root resource with a MatchAPI over a fake launcher mounted at /api/match."""

    draining = False

    def setUp(self):
        clock = Clock()
        state = DrainState()
        state.active = self.draining
        lobby = Lobby(clock, GameSettings(), TickScheduler(clock, 1.0), draining=state)
        self.launcher = FakeLauncher()
        self.notifier = FakeNotifier()
        self.events = MatchNotifications(self.notifier)
        hooks = FailureHooks()
        self.failures = hooks.failures
        urls = URLBuilder("https://games.example.com/prefix")
        access = AccessPolicy(KEY)
        matches = MatchAPI(self.launcher, urls, access, events=self.events, draining=state, hooks=hooks)
        root = RootAPI(access, state, None, LobbyAPI(lobby, access, urls), CompatAPI(lobby, access), matches)
        self.stub = StubTreq(root.resource())

    def call(self, method, path, payload=None, key=KEY):
        """One request; returns (status, decoded JSON)."""
        headers = {b"Content-Type": [b"application/json"]}
        if key is not None:
            headers[b"Authorization"] = [f"Bearer {key}".encode()]
        data = None if payload is None else json.dumps(payload).encode()
        response = self.successResultOf(self.stub.request(method, BASE + path, data=data, headers=headers))
        return response.code, json.loads(self.successResultOf(response.content()) or b"null")


class PutTests(MatchAPITestCase):
    """PUT /api/match."""

    def test_created(self):
        """201 with the port, per-player tokens and ws:// URLs on the public host and the child's port."""
        status, answer = self.call("PUT", "/api/match", body(rounds=5))
        self.assertEqual(status, 201)
        self.assertEqual(answer["port"], 9000)
        self.assertEqual(answer["spectate_url"], "ws://games.example.com:9000/ws")
        ann, ben = answer["players"]
        self.assertEqual(ann["ws_url"], f"ws://games.example.com:9000/ws?token={ann['token']}")
        self.assertNotEqual(ann["token"], ben["token"])
        self.assertEqual(self.launcher.launched[0]["rounds"], 5)

    def test_same_body_again(self):
        """The same body while the match lives: 200, same answer, nothing new launched with new tokens."""
        _, first = self.call("PUT", "/api/match", body())
        status, second = self.call("PUT", "/api/match", body())
        self.assertEqual((status, second), (200, first))
        self.assertEqual(self.launcher.launched[0], self.launcher.launched[1])

    def test_different_body_conflicts(self):
        """A different body for a live match_id is 409 match_exists."""
        self.call("PUT", "/api/match", body())
        status, answer = self.call("PUT", "/api/match", body(rounds=7))
        self.assertEqual((status, answer["error"]["code"]), (409, "match_exists"))

    def test_after_the_end_starts_anew(self):
        """Once the match has ended the same id starts a new match with new tokens."""
        _, first = self.call("PUT", "/api/match", body())
        self.launcher.records["m1"].state = "ended"
        status, second = self.call("PUT", "/api/match", body())
        self.assertEqual(status, 201)
        self.assertNotEqual(first["players"][0]["token"], second["players"][0]["token"])

    def test_ended_but_still_stopping(self):
        """A PUT while the ended match's child is still exiting is 409 match_ending, not counted as a failure."""
        self.call("PUT", "/api/match", body())
        self.launcher.records["m1"].state = "ended"
        self.launcher.failure = LaunchError("match_exists", "match m1 is running with another request", 409)
        status, answer = self.call("PUT", "/api/match", body())
        self.assertEqual((status, answer["error"]["code"]), (409, "match_ending"))
        self.assertEqual(self.failures, [])

    def test_bad_bodies(self):
        """Each malformed field is 400 bad_field, and nothing is launched."""
        players2 = [{"user_id": "a", "username": "A"}, {"user_id": "a", "username": "B"}]
        for bad in (body(match_id=""), body(match_id="has space"), body(match_id="x" * 65), body(match_id=3),
                    body(players=[{"user_id": "a", "username": "A"}]), body(players=players2),
                    body(players=[{"user_id": "a"}, {"user_id": "b", "username": "B"}]),
                    body(rounds=4), body(rounds="3")):
            status, answer = self.call("PUT", "/api/match", bad)
            self.assertEqual((status, answer["error"]["code"]), (400, "bad_field"), bad)
        self.assertEqual(self.launcher.launched, [])

    def test_unknown_routes(self):
        """Another method, or a deeper path, is 404 not_found, as for any unknown /api/ route."""
        for method, path in (("POST", "/api/match"), ("PUT", "/api/match/m1"), ("GET", "/api/match/m1/x")):
            status, answer = self.call(method, path)
            self.assertEqual((status, answer["error"]["code"]), (404, "not_found"), (method, path))

    def test_needs_the_key(self):
        """Without the API key the launcher's routes are 401."""
        for method, path in (("PUT", "/api/match"), ("GET", "/api/match"), ("GET", "/api/match/m1"),
                             ("DELETE", "/api/match/m1")):
            status, _ = self.call(method, path, body() if method == "PUT" else None, key=None)
            self.assertEqual(status, 401, (method, path))

    def test_launch_failures(self):
        """A LaunchError becomes its status and code, is counted once, and notifies nobody."""
        self.launcher.failure = LaunchError("no_free_port", "no free port in 9000-9001", 503)
        status, answer = self.call("PUT", "/api/match", body())
        self.assertEqual((status, answer["error"]), (503, {"code": "no_free_port", "message": "no free port in 9000-9001"}))
        self.launcher.failure = LaunchError("launch_timeout", "no port line in 10s", 504)
        status, _ = self.call("PUT", "/api/match", body(match_id="m2"))
        self.assertEqual(status, 504)
        self.assertEqual(self.failures, ["no_free_port", "launch_timeout"])
        self.assertEqual(self.notifier.events, [])


class DrainingTests(MatchAPITestCase):
    """While draining, new matches are refused."""

    draining = True

    def test_refused(self):
        """503 draining, nothing launched."""
        status, answer = self.call("PUT", "/api/match", body())
        self.assertEqual((status, answer["error"]["code"]), (503, "draining"))
        self.assertEqual(self.launcher.launched, [])


class ReadAndStopTests(MatchAPITestCase):
    """GET and DELETE."""

    def test_list_and_get(self):
        """GET lists the records; GET by id shows one; an unknown id is 404."""
        self.call("PUT", "/api/match", body())
        status, listing = self.call("GET", "/api/match")
        self.assertEqual((status, [m["match_id"] for m in listing["matches"]]), (200, ["m1"]))
        status, record = self.call("GET", "/api/match/m1")
        self.assertEqual((status, record["state"], record["port"]), (200, "waiting", 9000))
        self.assertNotIn("token", json.dumps(record))
        status, answer = self.call("GET", "/api/match/none")
        self.assertEqual((status, answer["error"]["code"]), (404, "match_not_found"))

    def test_delete(self):
        """DELETE stops the child and answers the ended record; an unknown id is 404."""
        self.call("PUT", "/api/match", body())
        status, record = self.call("DELETE", "/api/match/m1")
        self.assertEqual((status, record["state"], record["reason"]), (200, "ended", "stopped"))
        self.assertEqual(self.launcher.stopped, ["m1"])
        status, _ = self.call("DELETE", "/api/match/none")
        self.assertEqual(status, 404)


class NotificationTests(MatchAPITestCase):
    """match_ready when a match gets its port (match_ended: tests.matches.test_notify)."""

    def test_ready_once(self):
        """One match_ready per launch (not for a repeated PUT), with the port and spectate URL."""
        self.call("PUT", "/api/match", body())
        self.call("PUT", "/api/match", body())
        self.assertEqual(self.notifier.events, [{"event": "match_ready", "match_id": "m1", "port": 9000,
                                                 "spectate_url": "ws://games.example.com:9000/ws"}])
