"""Integration: SIGTERM drains the real daemon: running matches finish, then it exits 0."""

import os
import signal

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from tests.support.process import Daemon
from tests.support.wsclient import connect, of_type, start_match

GAME_STARTED, GAME_COMPLETE = 0, 1
SHUTTING_DOWN = 4104


class DrainTests(TestCase):
    """A match in progress survives SIGTERM; everything else is refused or closed."""

    timeout = 120

    @defer.inlineCallbacks
    def test_sigterm_drains(self):
        """/healthz goes 503, new games are refused, a waiting game is closed, the match ends, exit 0."""
        daemon = Daemon(reactor, ["--tick", "0.05", "--drain-timeout", "60"])
        self.addCleanup(lambda: daemon.stop() if not daemon.proto.ended.called else None)
        yield daemon.ready()
        _, created = yield daemon.request("POST", "/api/games", {"user_id": "a", "username": "A", "rounds": 3})
        _, joined = yield daemon.request("POST", f"/api/games/{created['game_id']}/players",
                                         {"user_id": "b", "username": "B"})
        _, lonely = yield daemon.request("POST", "/api/games", {"user_id": "c", "username": "C"})
        waiting = yield connect(reactor, lonely["ws_url"])
        host = yield connect(reactor, created["ws_url"])
        guest = yield connect(reactor, joined["ws_url"])
        start_match([(host, "rad"), (guest, "rad")], throws=(0, 2))
        yield host.wait_for(of_type("RPSGameEvent", event=GAME_STARTED))

        os.kill(daemon.process.pid, signal.SIGTERM)
        code = yield waiting.closed
        self.assertEqual(code, SHUTTING_DOWN)
        status, health = yield daemon.request("GET", "/healthz")
        self.assertEqual((status, health), (503, {"status": "draining"}))
        status, refused = yield daemon.request("POST", "/api/games", {"user_id": "d", "username": "D"})
        self.assertEqual((status, refused["error"]["code"]), (503, "draining"))
        status, refused = yield daemon.request("PUT", "/api/match", {
            "match_id": "late", "players": [{"user_id": "x", "username": "X"}, {"user_id": "y", "username": "Y"}]})
        self.assertEqual(status, 503)
        self.assertFalse(daemon.proto.ended.called)

        complete = yield host.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
        self.assertEqual(complete["eventData"]["data"]["winnerId"], "a")
        self.assertEqual((yield host.closed), 1000)
        exit_code, killed_by = yield daemon.proto.ended
        self.assertEqual((exit_code, killed_by), (0, None), daemon.log)

    @defer.inlineCallbacks
    def test_second_signal_stops_at_once(self):
        """A second SIGTERM ends the drain: the match's sockets close with 4104 and the daemon exits 0."""
        daemon = Daemon(reactor, ["--tick", "0.5", "--drain-timeout", "60"])
        self.addCleanup(lambda: daemon.stop() if not daemon.proto.ended.called else None)
        yield daemon.ready()
        _, created = yield daemon.request("POST", "/api/games", {"user_id": "a", "username": "A"})
        _, joined = yield daemon.request("POST", f"/api/games/{created['game_id']}/players",
                                         {"user_id": "b", "username": "B"})
        host = yield connect(reactor, created["ws_url"])
        guest = yield connect(reactor, joined["ws_url"])
        start_match([(host, "hog"), (guest, "hog")])
        yield host.wait_for(of_type("RPSGameEvent", event=GAME_STARTED))
        os.kill(daemon.process.pid, signal.SIGTERM)
        status, _ = yield daemon.request("GET", "/healthz")
        self.assertEqual(status, 503)
        os.kill(daemon.process.pid, signal.SIGTERM)
        self.assertEqual((yield host.closed), SHUTTING_DOWN)
        exit_code, killed_by = yield daemon.proto.ended
        self.assertEqual((exit_code, killed_by), (0, None), daemon.log)
