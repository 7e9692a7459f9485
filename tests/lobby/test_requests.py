"""LobbyRequests (what the routes ask of the lobby), and the routes over a requests object that answers later."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase as TestCase
from twisted.web.resource import Resource

from rpsa.lobby import games as lobby_errors
from rpsa.lobby.games import Lobby
from rpsa.lobby.requests import LobbyRequests, Seated
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from tests.lobby.apicase import APITestCase


class LobbyRequestsTests(TestCase):
    def setUp(self):
        clock = Clock()
        self.lobby = Lobby(clock, GameSettings(), TickScheduler(clock, 1.0), max_games=5)
        self.requests = LobbyRequests(self.lobby)
        self.addCleanup(self.lobby.close_all, 1001, "going away")

    def test_seats_are_answered_at_once(self):
        created = self.requests.create("u1", "One", "g1", 5)
        self.assertEqual(created, Seated("g1", self.lobby.games["g1"].seats[0].token))
        joined = self.requests.join("g1", "u2", "Two")
        self.assertEqual(joined.token, self.lobby.games["g1"].seats[1].token)
        self.assertIsNone(joined.host_token)

    def test_a_shared_token_game_hands_out_the_hosts_token(self):
        created = self.requests.create("u1", "One", "g1", shared_token=True)
        self.assertEqual(self.requests.join("g1", "u2", "Two").host_token, created.token)

    def test_remove_player_says_whether_their_connection_was_open(self):
        self.requests.create("u1", "One", "g1")
        self.requests.join("g1", "u2", "Two")
        self.assertIs(self.requests.remove_player("g1", "u2"), False)
        self.assertRaises(lobby_errors.NoSuchGame, self.requests.remove_player, "nope", "u2")

    def test_list_get_remove(self):
        self.requests.create("u1", "One", "g1")
        self.assertEqual([g["game_id"] for g in self.requests.list()], ["g1"])
        self.assertNotIn("node", self.requests.get("g1"))
        self.requests.remove("g1", 4004)
        self.assertEqual(self.requests.list(), [])
        self.assertIsNone(self.requests.relay(None, "token"))


class Relayed(Resource):
    """Stands in for the relay (rpsa.cluster.relay, tested with real sockets)."""

    isLeaf = True

    def render_GET(self, request):
        return b"relayed"


class Later(LobbyRequests):
    """LobbyRequests whose answers come later (as a cluster's may), with another node's public URL."""

    node, public_url = "b", "https://games.example.com/n/b"

    def __init__(self, lobby):
        super().__init__(lobby)
        self.pending = []
        self.relayed = Relayed()

    def _later(self, call, *args, **kwargs):
        d = defer.Deferred()
        self.pending.append((d, call, args, kwargs))
        return d

    def fire(self):
        while self.pending:
            d, call, args, kwargs = self.pending.pop(0)
            try:
                d.callback(call(*args, **kwargs))
            except Exception as e:
                d.errback(e)

    def create(self, *args, **kwargs):
        return self._later(super().create, *args, **kwargs)

    def join(self, *args):
        return self._later(super().join, *args)

    def list(self, *args):
        return self._later(super().list, *args)

    def relay(self, request, token):
        return defer.succeed(self.relayed if token == "elsewhere" else None)


class LaterAPITests(APITestCase):
    """The routes wait for the answers, and hand out the owner's URLs."""

    def setUp(self):
        super().setUp()
        from rpsa.daemon.root import RootAPI
        from rpsa.lobby.api import LobbyAPI
        from rpsa.lobby.compat import CompatAPI
        from rpsa.web import AccessPolicy, URLBuilder
        from treq.testing import StubTreq

        self.later = Later(self.lobby)
        access = AccessPolicy(None)
        root = RootAPI(access, self.draining, None,
                       LobbyAPI(self.lobby, access, URLBuilder("https://games.example.com/n/a"), games=self.later),
                       CompatAPI(self.lobby, access, games=self.later))
        self.stub = StubTreq(root.resource())

    def request(self, method, path, body=None):
        import json

        d = self.stub.request(method, "http://games.test" + path, data=json.dumps(body).encode() if body else None,
                              headers={b"Content-Type": [b"application/json"]})
        self.stub.flush()
        self.assertNoResult(d)  # the route waits for the answer
        self.later.fire()
        self.stub.flush()
        response = self.successResultOf(d)
        return response.code, json.loads(self.successResultOf(self.stub.content(response)))

    def test_create_and_join_answer_once_the_owner_has_with_its_urls(self):
        code, created = self.request("POST", "/api/games", {"user_id": "u1", "username": "One", "game_id": "g"})
        self.assertEqual(code, 201)
        self.assertTrue(created["ws_url"].startswith("wss://games.example.com/n/b/api/games/g/ws?token="))
        code, listed = self.request("GET", "/api/games")
        self.assertEqual([(g["game_id"], g["node"]) for g in listed["games"]], [("g", "b")])
        code, error = self.request("POST", "/api/games/nope/players", {"user_id": "u2", "username": "Two"})
        self.assertEqual((code, error["error"]["code"]), (404, "game_not_found"))

    def test_the_original_routes_too(self):
        code, created = self.request("POST", "/create_game", {"gameId": "g", "userId": "u1", "username": "One"})
        self.assertEqual((code, created["gameToken"]), (200, self.lobby.games["g"].seats[0].token))
        code, error = self.request("POST", "/create_game", {"gameId": "g", "userId": "u1", "username": "One"})
        self.assertEqual((code, error), (400, {"message": "Game g already exists"}))

    def test_a_token_held_elsewhere_is_relayed(self):
        upgrade = {b"Upgrade": [b"websocket"], b"Connection": [b"Upgrade"]}
        response = self.successResultOf(self.stub.get("http://games.test/?game_token=elsewhere&user_id=u",
                                                      headers=upgrade))
        self.assertEqual(self.successResultOf(self.stub.content(response)), b"relayed")
        response = self.successResultOf(self.stub.get("http://games.test/?game_token=unknown&user_id=u",
                                                      headers=upgrade))
        self.assertEqual(response.code, 403)

    def test_a_relayed_token_without_an_upgrade_is_426(self):
        response = self.successResultOf(self.stub.get("http://games.test/?game_token=elsewhere&user_id=u"))
        self.assertEqual(response.code, 426)
        response = self.successResultOf(self.stub.get("http://games.test/?game_token=unknown&user_id=u"))
        self.assertEqual(response.code, 403)
