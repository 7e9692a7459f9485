"""Tests for L{rpsa.play.views}: what a game shows to a viewer and to the HTTP API."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.play import views
from tests.play.fakes import FakeConnection, make_lobby


class ViewTests(SynchronousTestCase):
    """A game with alice (host, connected) and bob; alice has picked."""

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1000)
        self.lobby, _, _ = make_lobby(self.clock)
        self.session, self.host = self.lobby.create("alice", "Alice", game_id="g1")
        self.guest = self.lobby.join("g1", "bob", "Bob")[1]
        self.session.connect_player(self.host, FakeConnection("alice"))
        self.session.engine.select_fighter("alice", "mai")

    def test_picker_sees_own_pick(self):
        """The picker's welcome shows its fighter and health; the empty pick shows nothing."""
        welcome = views.welcome(self.session, self.host)
        self.assertEqual((welcome["type"], welcome["role"], welcome["userId"]), ("welcome", "player", "alice"))
        alice, bob = welcome["game"]["players"]
        self.assertEqual((alice["fighter"], alice["health"], alice["connected"]), ("mai", 120, True))
        self.assertEqual((bob["fighter"], bob["fighter_selected"], bob["connected"]), (None, False, False))

    def test_others_do_not_see_a_lone_pick(self):
        """Player 2 and spectators learn that alice picked, not what (nor its health)."""
        for viewer in (self.guest, None):
            alice = views.snapshot(self.session, viewer)["players"][0]
            self.assertEqual((alice["fighter"], alice["fighter_selected"], alice["health"]), (None, True, None))
        self.assertEqual(views.welcome(self.session, None)["role"], "spectator")
        self.assertNotIn("userId", views.welcome(self.session, None))

    def test_both_picks_are_seen_by_all(self):
        """Once both picked, everyone sees both."""
        self.session.engine.select_fighter("bob", "aru")
        for viewer in (self.host, self.guest, None):
            players = views.snapshot(self.session, viewer)["players"]
            self.assertEqual([p["fighter"] for p in players], ["mai", "aru"])

    def test_snapshot_game_fields(self):
        """The game's id, state, rounds, round and spectator count."""
        game = views.snapshot(self.session, None)
        self.assertEqual(
            (game["game_id"], game["state"], game["rounds"], game["round"], game["round_state"], game["spectators"]),
            ("g1", self.session.state, self.session.rounds, 0, None, 0))

    def test_summary(self):
        """The HTTP API's view: ids, names, connections, joinability and creation time."""
        self.assertEqual(views.summary(self.session), {
            "game_id": "g1", "state": self.session.state, "rounds": self.session.rounds,
            "players": [{"user_id": "alice", "username": "Alice", "connected": True},
                        {"user_id": "bob", "username": "Bob", "connected": False}],
            "spectators": 0, "joinable": False, "created_at": 1000,
        })

    def test_player_joined(self):
        """Both seats' ids and names; an empty seat is None."""
        self.assertEqual(views.player_joined(self.session)["gameData"],
                         {"p1Id": "alice", "p1Name": "Alice", "p2Id": "bob", "p2Name": "Bob"})
        self.lobby.remove_player("g1", "bob")
        self.assertEqual(views.player_joined(self.session)["gameData"],
                         {"p1Id": "alice", "p1Name": "Alice", "p2Id": None, "p2Name": None})
