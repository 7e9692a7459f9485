"""What a node does for its own lobby on another node's behalf: the bus's lobby operations and their errors."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from rpsa.cluster.errors import DirectoryUnavailable, RemoteError
from rpsa.cluster.games import ClusterGames, LocalGames, lobby_error
from rpsa.daemon.drain import DrainState
from rpsa.lobby import games as lobby_errors
from rpsa.lobby.api import lobby_api_error
from rpsa.lobby.games import Lobby
from rpsa.lobby.requests import Seated
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.web import APIError


class Directory:
    """Claims answered from a dict; changes recorded."""

    available = True

    def __init__(self):
        self.owners = {}
        self.released = []

    def claim(self, game_id, created_at):
        owner = self.owners.get(game_id)
        if owner is None:
            self.owners[game_id] = "a"
        return defer.succeed(owner)

    def release(self, game_id):
        self.released.append(game_id)

    def get(self, game_id):
        owner = self.owners.get(game_id)
        return defer.succeed((owner, None) if owner else None)


class GamesTestCase(TestCase):
    def setUp(self):
        clock = Clock()
        self.draining = DrainState()
        self.lobby = Lobby(clock, GameSettings(), TickScheduler(clock, 1.0), max_games=2, draining=self.draining)
        self.directory = Directory()
        self.local = LocalGames(self.lobby, self.directory, "a", "https://a.test", lobby_api_error,
                                draining=self.draining, clock=lambda: 7.0)

    def tearDown(self):
        self.lobby.close_all(1001, "going away")


class LocalGamesTests(GamesTestCase):
    def test_create_claims_the_id_then_creates_the_game(self):
        seated = self.successResultOf(self.local.create("u1", "Ann", "g1", 5))
        self.assertEqual(seated, Seated("g1", self.lobby.games["g1"].seats[0].token, "a", "https://a.test"))
        self.assertEqual(self.lobby.games["g1"].rounds, 5)

    def test_a_random_id_is_claimed_too(self):
        seated = self.successResultOf(self.local.create("u1", "Ann"))
        self.assertIn(seated.game_id, self.directory.owners)

    def test_an_id_live_elsewhere_is_game_exists_and_nothing_is_created(self):
        self.directory.owners["g1"] = "b"
        failure = self.failureResultOf(self.local.create("u1", "Ann", "g1"), lobby_errors.GameExists)
        self.assertIn("node b", failure.value.message)
        self.assertEqual(self.lobby.games, {})

    def test_a_full_or_draining_node_refuses_before_claiming(self):
        self.successResultOf(self.local.create("u1", "Ann", "g1"))
        self.successResultOf(self.local.create("u2", "Bob", "g2"))
        self.failureResultOf(self.local.create("u3", "Cy", "g3"), lobby_errors.LobbyFull)
        self.draining.active = True
        self.failureResultOf(self.local.create("u3", "Cy", "g3"), lobby_errors.Draining)
        self.assertNotIn("g3", self.directory.owners)

    def test_bus_requests_are_answered_with_json_or_the_lobby_errors_status(self):
        created = self.successResultOf(self.local.handle_request(
            "create", {"user_id": "u1", "username": "Ann", "game_id": "g1", "rounds": 3}, "b"))
        self.assertEqual((created["game_id"], created["node"]), ("g1", "a"))
        joined = self.successResultOf(self.local.handle_request(
            "join", {"game_id": "g1", "user_id": "u2", "username": "Bob"}, "b"))
        self.assertEqual(joined["token"], self.lobby.games["g1"].seats[1].token)
        failure = self.failureResultOf(self.local.handle_request(
            "join", {"game_id": "g1", "user_id": "u3", "username": "Cy"}, "b"), APIError)
        self.assertEqual((failure.value.status, failure.value.code), (409, "game_full"))
        self.assertIs(self.successResultOf(self.local.handle_request(
            "remove_player", {"game_id": "g1", "user_id": "u2"}, "b")), False)
        self.assertIsNone(self.successResultOf(self.local.handle_request("remove", {"game_id": "g1", "code": 4004},
                                                                         "b")))
        self.assertEqual(self.lobby.games, {})

    def test_a_malformed_request_is_400(self):
        failure = self.failureResultOf(self.local.handle_request("join", {"game_id": "g1"}, "b"), APIError)
        self.assertEqual((failure.value.status, failure.value.code), (400, "bad_request"))

    def test_the_owners_error_is_the_lobby_error_again_or_stays_as_it_is(self):
        error = lobby_error(RemoteError(409, "game_full", "game 'g' is full"))
        self.assertIsInstance(error, lobby_errors.SeatsFull)
        self.assertEqual(error.message, "game 'g' is full")
        other = RemoteError(503, "no_free_port", "x")
        self.assertIs(lobby_error(other), other)


class ClusterGamesTests(GamesTestCase):
    def setUp(self):
        super().setUp()
        self.games = ClusterGames(self.local, self.directory, nodes=None, bus=None)

    def test_redis_away_refuses_every_directory_route_but_local_reads(self):
        self.directory.available = False
        self.successResultOf(self.local.create("u1", "Ann", "g1"))
        for call in (lambda: self.games.create("u", "U"), lambda: self.games.join("g1", "u2", "B"),
                     lambda: self.games.remove("g1", 4004), lambda: self.games.remove_player("g1", "u2"),
                     lambda: self.games.list()):
            self.failureResultOf(call(), DirectoryUnavailable)
        self.assertEqual(self.successResultOf(self.games.get("g1"))["node"], "a")
