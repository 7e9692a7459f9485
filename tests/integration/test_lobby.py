"""Integration: the real ``twistd -n rpsa`` plays a whole match with real WebSocket clients."""

from twisted.internet import defer, reactor, task

from tests.support.process import DaemonTestCase
from tests.support.wsclient import connect, of_type, start_match

GAME_STARTED, GAME_COMPLETE = 0, 1


class LobbyMatchTests(DaemonTestCase):
    """A real daemon, two players and a spectator."""

    daemon_args = ("--tick", "0.02", "--reconnect-grace", "5")

    @defer.inlineCallbacks
    def _play(self, host_url, guest_url, spectate_url, closed_by_server=True):
        host = yield connect(reactor, host_url)
        yield host.wait_for(of_type("player_joined"))
        guest = yield connect(reactor, guest_url)
        yield guest.wait_for(of_type("player_joined"))
        spectator = yield connect(reactor, spectate_url)
        welcome = yield spectator.wait_for(of_type("welcome"))
        self.assertEqual(welcome["role"], "spectator")
        # The host throws rock and the guest scissors on every weapon countdown.
        start_match([(host, "aru"), (guest, "mai")], throws=(0, 2))
        spectator.send_json({"type": "select_weapon", "index": 1})
        complete = yield host.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
        yield spectator.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
        codes = None
        if closed_by_server:
            codes = yield defer.gatherResults([host.closed, guest.closed, spectator.closed])
        return host, guest, spectator, complete, codes

    @defer.inlineCallbacks
    def test_native_match(self):
        """Create, join, connect two players and a spectator; the match runs to GAME_COMPLETE and closes 1000."""
        status, created = yield self.daemon.request("POST", "/api/games", {"user_id": "alice", "username": "Alice"})
        self.assertEqual(status, 201)
        status, joined = yield self.daemon.request(
            "POST", f"/api/games/{created['game_id']}/players", {"user_id": "bob", "username": "Bob"})
        self.assertEqual(status, 201)
        self.assertNotEqual(created["player_token"], joined["player_token"])
        host, guest, spectator, complete, codes = yield self._play(
            created["ws_url"], joined["ws_url"], created["spectate_url"])
        # Rock beats scissors every exchange: alice wins.
        self.assertEqual(complete["eventData"]["data"], {"winnerId": "alice", "loserId": "bob"})
        self.assertEqual(codes, [1000, 1000, 1000])
        # The spectator saw every event the host saw, and its input was refused.
        events = lambda c: [m for m in c.messages if m["type"].startswith("RPS") or m["type"] == "sync"]
        self.assertEqual(events(spectator), events(host))
        self.assertIn("spectator", [m.get("code") for m in spectator.messages if m["type"] == "error"])
        status, _ = yield self.daemon.request("GET", f"/api/games/{created['game_id']}")
        self.assertEqual(status, 404)
        self.assertNotIn(created["player_token"], self.daemon.log)

    @defer.inlineCallbacks
    def test_original_routes_match(self):
        """The original's routes and WebSocket URL play a whole match too."""
        body = {"gameId": "g-compat", "userId": "u1", "username": "One"}
        status, host_token = yield self.daemon.request("POST", "/create_game", body)
        self.assertEqual(status, 200)
        status, guest_token = yield self.daemon.request(
            "POST", "/join_game", {"gameId": "g-compat", "userId": "u2", "username": "Two"})
        self.assertEqual(status, 200)
        base = self.daemon.ws_base
        host, guest, spectator, complete, _ = yield self._play(
            f"{base}/?game_token={host_token['gameToken']}&user_id=u1",
            f"{base}/?game_token={guest_token['gameToken']}&user_id=u2",
            f"{base}/api/games/g-compat/ws",
            closed_by_server=False,
        )
        self.assertEqual(complete["eventData"]["data"]["winnerId"], "u1")
        status, active = yield self.daemon.request("GET", "/active_games")
        self.assertEqual((status, active), (200, []))
        # The original client takes any close for the host vanishing: past the native routes'
        # 3 s, the sockets of a finished game of the original's routes are still open...
        yield task.deferLater(reactor, 3.5, lambda: None)
        self.assertEqual([c.close_code for c in (host, guest, spectator)], [None, None, None])
        # ... until the clients close them.
        for client in (host, guest, spectator):
            client.sendClose(1000)
        codes = yield defer.gatherResults([host.closed, guest.closed, spectator.closed])
        self.assertEqual(codes, [1000, 1000, 1000])

