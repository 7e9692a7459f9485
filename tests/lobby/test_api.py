"""The lobby's HTTP API and the original server's routes, driven in memory with StubTreq.

Every test builds a fresh :class:`~rpsa.lobby.games.Lobby` on a
:class:`~twisted.internet.task.Clock` and talks to ``LobbyAPI(...).resource()``
through :class:`treq.testing.StubTreq`: no sockets, no real reactor.
"""

import json
from urllib.parse import quote

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa import web

from rpsa.play import wire
from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.games import Lobby
from rpsa.rules import FIGHTERS
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.web import MAX_BODY_BYTES, AccessPolicy, URLBuilder

BASE = "http://games.test:8080"
KEY = "s3cret-key"
DEFAULT = object()  # "use the default" for helper arguments where None means "none"


class Answer:
    """One HTTP answer: status code, decoded JSON body (or None) and headers."""

    def __init__(self, code, content, headers):
        self.code = code
        self.raw = content
        self.headers = headers
        try:
            self.json = json.loads(content)
        except ValueError:
            self.json = None

    @property
    def error_code(self):
        """The ``error.code`` of a native API error answer."""
        return self.json["error"]["code"]


class FakeConnection:
    """A connection the session can use: records messages and close codes."""

    def __init__(self):
        self.messages = []
        self.closes = []

    def send(self, prepared):
        self.messages.append(json.loads(prepared.payload))

    def send_message(self, message):
        self.messages.append(message)

    def close(self, code, reason):
        self.closes.append(code)


def padded_object(size, **fields):
    """A JSON object of exactly ``size`` bytes (padded with spaces)."""
    text = json.dumps(fields).encode("utf-8")
    return text[:-1] + b" " * (size - len(text)) + b"}"


class APITestCase(SynchronousTestCase):
    """A fresh lobby and API per test; subclasses set the key, URL and limits."""

    api_key = None
    public_url = None
    max_games = 10

    def setUp(self):
        self.build(self.public_url)

    def build(self, public_url):
        """A new clock, lobby and API (with this --public-url)."""
        self.clock = Clock()
        self.clock.advance(1000)
        self.lobby = Lobby(
            reactor=self.clock, settings=GameSettings(),
            scheduler=TickScheduler(self.clock, 1.0), max_games=self.max_games,
        )
        api = LobbyAPI(self.lobby, AccessPolicy(self.api_key), URLBuilder(public_url))
        self.stub = StubTreq(api.resource())

    def call(self, method, path, body=None, raw=None, content_type="application/json",
             auth=DEFAULT, base=BASE, host=None):
        """Send one request; ``body`` is JSON-encoded, ``raw`` is sent as is."""
        headers = {} if host is None else {b"Host": [host]}
        if content_type is not None:
            headers[b"Content-Type"] = [content_type.encode()]
        if auth is DEFAULT:
            auth = f"Bearer {self.api_key}" if self.api_key else None
        if auth is not None:
            headers[b"Authorization"] = [auth.encode()]
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        response = self.successResultOf(self.stub.request(method, base + path, data=data, headers=headers))
        content = self.successResultOf(self.stub.content(response))
        return Answer(response.code, content, response.headers)

    def create(self, game_id="g1", user_id="host", username="Host", **extra):
        """Create a game through the API, and assert it was created."""
        body = {"user_id": user_id, "username": username, **extra}
        if game_id is not None:
            body["game_id"] = game_id
        answer = self.call("POST", "/api/games", body)
        self.assertEqual(answer.code, 201, answer.raw)
        return answer.json

    def join(self, game_id="g1", user_id="guest", username="Guest"):
        """Join a game through the API (the answer is returned unchecked)."""
        return self.call("POST", f"/api/games/{quote(game_id, safe='')}/players",
                         {"user_id": user_id, "username": username})

    def connect(self, game_id, user_id):
        """Attach a fake connection to a user's seat."""
        session = self.lobby.get(game_id)
        conn = FakeConnection()
        session.connect_player(session.seat_for_user(user_id), conn)
        return conn

    def assertError(self, answer, status, code):
        """A native API error: this status, this ``error.code`` and a message."""
        self.assertEqual((answer.code, answer.error_code), (status, code), answer.raw)
        self.assertIsInstance(answer.json["error"]["message"], str)

    def assertCompatError(self, answer, status):
        """An original-route error: this status and a ``{"message"}`` body."""
        self.assertEqual(answer.code, status, answer.raw)
        self.assertEqual(list(answer.json), ["message"])


class ServiceRouteTests(APITestCase):
    """``/healthz``, ``/api/characters`` and unknown API routes."""

    def test_healthz(self):
        """GET /healthz answers 200 ``{"status": "ok"}``."""
        answer = self.call("GET", "/healthz")
        self.assertEqual((answer.code, answer.json), (200, {"status": "ok"}))

    def test_characters(self):
        """GET /api/characters lists every fighter."""
        answer = self.call("GET", "/api/characters")
        self.assertEqual(answer.code, 200)
        self.assertEqual([c["id"] for c in answer.json["characters"]], list(FIGHTERS))

    def test_unknown_api_route(self):
        """An unknown /api/ route is a JSON 404 not_found."""
        self.assertError(self.call("GET", "/api/nothing/here"), 404, "not_found")

    def test_json_content_type(self):
        """Answers are JSON and not cacheable."""
        answer = self.call("GET", "/healthz")
        self.assertEqual(answer.headers.getRawHeaders(b"content-type"), [b"application/json"])
        self.assertEqual(answer.headers.getRawHeaders(b"cache-control"), [b"no-store"])


class CreateGameTests(APITestCase):
    """POST /api/games."""

    max_games = 3

    def test_created(self):
        """A new game answers 201 with the host's own token and the game's URLs."""
        answer = self.create("g1")
        session, seat = self.lobby.find_token(answer["player_token"])
        self.assertEqual((session.game_id, seat.user_id, seat.number), ("g1", "host", 1))
        self.assertEqual(answer, {
            "game_id": "g1",
            "player_token": seat.token,
            "ws_url": f"ws://games.test:8080/api/games/g1/ws?token={seat.token}",
            "spectate_url": "ws://games.test:8080/api/games/g1/ws",
        })

    def test_generated_game_id(self):
        """Without a game_id one is generated, and it names the game created."""
        first = self.create(game_id=None)
        second = self.create(game_id=None, user_id="other")
        self.assertNotEqual(first["game_id"], second["game_id"])
        self.assertEqual(sorted(self.lobby.games), sorted([first["game_id"], second["game_id"]]))
        self.assertTrue(first["game_id"])

    def test_rounds_default(self):
        """A game is best of 3 unless told otherwise (a null rounds too)."""
        self.create("g1")
        self.create("g2", rounds=None)
        self.assertEqual([s.rounds for s in self.lobby.list()], [3, 3])

    def test_rounds_odd_one_to_nine(self):
        """Each odd rounds value from 1 to 9 is accepted and kept."""
        self.lobby.max_games = 10
        for rounds in (1, 3, 5, 7, 9):
            self.create(f"g{rounds}", rounds=rounds)
            self.assertEqual(self.lobby.get(f"g{rounds}").rounds, rounds)

    def test_longest_ids(self):
        """Ids and names of exactly 64 characters are accepted."""
        answer = self.create("g" * 64, user_id="u" * 64, username="n" * 64)
        self.assertEqual(answer["game_id"], "g" * 64)

    def test_taken_game_id(self):
        """A game id already in use is 409 game_exists."""
        self.create("g1")
        answer = self.call("POST", "/api/games", {"user_id": "x", "username": "X", "game_id": "g1"})
        self.assertError(answer, 409, "game_exists")

    def test_max_games(self):
        """At --max-games a new game is 503 too_many_games."""
        for n in range(3):
            self.create(f"g{n}")
        answer = self.call("POST", "/api/games", {"user_id": "x", "username": "X"})
        self.assertError(answer, 503, "too_many_games")
        self.assertEqual(len(self.lobby.games), 3)


class BodyTests(APITestCase):
    """Bodies of the POST routes: size, content type, JSON and every field."""

    def setUp(self):
        super().setUp()
        self.create("g1")

    def assertRefused(self, path, status, code, **kwargs):
        """``path`` answers this error and no game nor seat was added."""
        self.assertError(self.call("POST", path, **kwargs), status, code)
        self.assertEqual(len(self.lobby.games), 1)
        self.assertEqual(len(self.lobby.get("g1").seats), 1)

    def test_body_too_large(self):
        """A body over 16 KiB is 413 body_too_large, on both POST routes."""
        for path in ("/api/games", "/api/games/g1/players"):
            body = padded_object(MAX_BODY_BYTES + 1, user_id="u2", username="U2")
            self.assertRefused(path, 413, "body_too_large", raw=body)

    def test_body_of_exactly_16_kib(self):
        """A body of exactly 16384 bytes is accepted."""
        body = padded_object(MAX_BODY_BYTES, user_id="u2", username="U2")
        self.assertEqual(len(body), MAX_BODY_BYTES)
        self.assertEqual(self.call("POST", "/api/games", raw=body).code, 201)

    def test_not_json_content_type(self):
        """A body not sent as JSON (or with no Content-Type) is 415."""
        body = {"user_id": "u2", "username": "U2"}
        for path in ("/api/games", "/api/games/g1/players"):
            for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
                self.assertRefused(path, 415, "unsupported_media_type", body=body, content_type=content_type)

    def test_json_content_type_parameters(self):
        """``application/json; charset=utf-8`` is JSON."""
        answer = self.call("POST", "/api/games", {"user_id": "u2", "username": "U2"},
                           content_type="application/json; charset=utf-8")
        self.assertEqual(answer.code, 201)

    def test_invalid_json(self):
        """A body that is not JSON (or not UTF-8) is 400 invalid_json."""
        for raw in (b"{", b"", b"user_id=u", b"\xff\xfe"):
            for path in ("/api/games", "/api/games/g1/players"):
                self.assertRefused(path, 400, "invalid_json", raw=raw)

    def test_not_an_object(self):
        """A JSON body that is not an object is 400 invalid_json."""
        for body in ([], ["user_id", "u"], "user_id", 1, True, None):
            for path in ("/api/games", "/api/games/g1/players"):
                self.assertRefused(path, 400, "invalid_json", raw=json.dumps(body).encode())

    def test_bad_id_fields(self):
        """user_id and username missing, empty, too long or not strings are 400 bad_field."""
        for name in ("user_id", "username"):
            for bad in (DEFAULT, None, "", "x" * 65, 7, ["u"], {"u": 1}, True):
                body = {"user_id": "u2", "username": "U2"}
                if bad is DEFAULT:
                    del body[name]
                else:
                    body[name] = bad
                for path in ("/api/games", "/api/games/g1/players"):
                    self.assertRefused(path, 400, "bad_field", body=body)

    def test_bad_game_id(self):
        """A game_id given empty, too long or not a string is 400 bad_field."""
        for bad in ("", "x" * 65, 7, ["g2"], False):
            body = {"user_id": "u2", "username": "U2", "game_id": bad}
            self.assertRefused("/api/games", 400, "bad_field", body=body)

    def test_bad_rounds(self):
        """rounds must be an odd integer from 1 to 9: 0, 2, 11, "3", true, -1 and [3] are 400."""
        for bad in (0, 2, 11, "3", True, -1, [3]):
            body = {"user_id": "u2", "username": "U2", "rounds": bad}
            self.assertRefused("/api/games", 400, "bad_field", body=body)


class ListAndGetTests(APITestCase):
    """GET /api/games (and ``?joinable=true``) and GET /api/games/{id}."""

    def test_empty(self):
        """With no game the list is empty."""
        self.assertEqual(self.call("GET", "/api/games").json, {"games": []})

    def test_summary(self):
        """A game is listed with its state, rounds, players, spectators and creation time."""
        self.create("g1", rounds=5)
        self.clock.advance(7)
        self.join("g1")
        self.connect("g1", "host")
        self.lobby.get("g1").connect_spectator(FakeConnection())
        expected = {
            "game_id": "g1",
            "state": "character_selection",
            "rounds": 5,
            "players": [
                {"user_id": "host", "username": "Host", "connected": True},
                {"user_id": "guest", "username": "Guest", "connected": False},
            ],
            "spectators": 1,
            "joinable": False,
            "created_at": 1000.0,
        }
        self.assertEqual(self.call("GET", "/api/games").json, {"games": [expected]})
        self.assertEqual(self.call("GET", "/api/games/g1").json, expected)

    def test_get_unknown(self):
        """An unknown game is 404 game_not_found."""
        self.assertError(self.call("GET", "/api/games/nope"), 404, "game_not_found")

    def test_joinable_filter(self):
        """?joinable=true lists only games with a free seat whose creator is connected."""
        for game_id in ("open", "absent-host", "full"):
            self.create(game_id)
        self.connect("open", "host")
        self.connect("full", "host")
        self.assertEqual(self.join("full").code, 201)
        listed = self.call("GET", "/api/games?joinable=true").json["games"]
        self.assertEqual([(g["game_id"], g["joinable"]) for g in listed], [("open", True)])
        everything = self.call("GET", "/api/games").json["games"]
        self.assertEqual([g["game_id"] for g in everything], ["open", "absent-host", "full"])

    def test_joinable_not_true(self):
        """?joinable=false lists every game."""
        self.create("g1")
        self.assertEqual(len(self.call("GET", "/api/games?joinable=false").json["games"]), 1)

    def test_creator_disconnected(self):
        """A game stops being joinable when its creator's connection goes."""
        self.create("g1")
        conn = self.connect("g1", "host")
        self.assertTrue(self.call("GET", "/api/games/g1").json["joinable"])
        self.lobby.get("g1").disconnected(conn)
        self.assertEqual(self.call("GET", "/api/games?joinable=true").json, {"games": []})


class JoinTests(APITestCase):
    """POST /api/games/{id}/players."""

    def setUp(self):
        super().setUp()
        self.host = self.create("g1")

    def test_joined(self):
        """A join answers 201 with the joiner's own token and URLs."""
        answer = self.join("g1")
        self.assertEqual(answer.code, 201)
        token = answer.json["player_token"]
        self.assertNotEqual(token, self.host["player_token"])
        session, seat = self.lobby.find_token(token)
        self.assertEqual((session.game_id, seat.user_id, seat.number), ("g1", "guest", 2))
        self.assertEqual(answer.json["ws_url"], f"ws://games.test:8080/api/games/g1/ws?token={token}")
        self.assertEqual(answer.json["spectate_url"], self.host["spectate_url"])

    def test_unknown_game(self):
        """Joining an unknown game is 404 game_not_found."""
        self.assertError(self.join("nope"), 404, "game_not_found")

    def test_full(self):
        """A third player is 409 game_full."""
        self.join("g1")
        self.assertError(self.join("g1", user_id="third"), 409, "game_full")

    def test_already_seated(self):
        """A user who holds a seat is 409 already_joined (host or player 2)."""
        self.assertError(self.join("g1", user_id="host"), 409, "already_joined")
        self.join("g1")
        self.assertError(self.join("g1"), 409, "already_joined")


class DeleteTests(APITestCase):
    """DELETE /api/games/{id} and DELETE /api/games/{id}/players/{user_id}."""

    def setUp(self):
        super().setUp()
        self.create("g1")
        self.join("g1")
        self.host = self.connect("g1", "host")
        self.guest = self.connect("g1", "guest")
        self.spectator = FakeConnection()
        self.lobby.get("g1").connect_spectator(self.spectator)

    def test_delete_game(self):
        """Deleting a game removes it and closes every connection with 4100."""
        tokens = [seat.token for seat in self.lobby.get("g1").seats]
        answer = self.call("DELETE", "/api/games/g1")
        self.assertEqual(answer.code, 200)
        self.assertEqual([c.closes for c in (self.host, self.guest, self.spectator)], [[wire.GAME_REMOVED]] * 3)
        self.assertError(self.call("GET", "/api/games/g1"), 404, "game_not_found")
        self.assertEqual([self.lobby.find_token(t) for t in tokens], [None, None])

    def test_delete_unknown_game(self):
        """Deleting an unknown game is 404 game_not_found."""
        self.assertError(self.call("DELETE", "/api/games/nope"), 404, "game_not_found")

    def test_remove_player_two(self):
        """Removing player 2 closes its connection, tells the host 4003, and reopens the game."""
        old_token = self.lobby.get("g1").seat_for_user("guest").token
        self.assertEqual(self.call("DELETE", "/api/games/g1/players/guest").code, 200)
        self.assertEqual(self.guest.closes, [wire.PLAYER_REMOVED])
        self.assertEqual(self.host.closes, [])
        errors = [m for m in self.host.messages if m.get("type") == "error"]
        self.assertEqual([e["code"] for e in errors], [wire.OPPONENT_DISCONNECTED])
        self.assertIsNone(self.lobby.find_token(old_token))
        summary = self.call("GET", "/api/games/g1").json
        self.assertEqual(([p["user_id"] for p in summary["players"]], summary["joinable"]), (["host"], True))
        self.assertEqual(self.join("g1", user_id="newcomer").code, 201)

    def test_remove_host(self):
        """The host cannot be removed: 409 cannot_remove_host, and nothing changes."""
        answer = self.call("DELETE", "/api/games/g1/players/host")
        self.assertError(answer, 409, "cannot_remove_host")
        self.assertEqual(len(self.lobby.get("g1").seats), 2)
        self.assertEqual(self.host.closes, [])

    def test_remove_unknown_player(self):
        """Removing a user without a seat is 404 player_not_found."""
        self.assertError(self.call("DELETE", "/api/games/g1/players/nobody"), 404, "player_not_found")

    def test_remove_player_unknown_game(self):
        """Removing a player of an unknown game is 404 game_not_found."""
        self.assertError(self.call("DELETE", "/api/games/nope/players/guest"), 404, "game_not_found")


class QuotedIdTests(APITestCase):
    """Game and user ids that need URL quoting work in URLs handed out and in paths."""

    GAME_ID = "room 1/ä?#%2F&x=y"
    USER_ID = "guest/2 %"

    def setUp(self):
        super().setUp()
        self.answer = self.create(self.GAME_ID)
        self.path = "/api/games/" + quote(self.GAME_ID, safe="")

    def test_urls_quote_the_id(self):
        """ws_url and spectate_url carry the id quoted as one path segment."""
        quoted = "room%201%2F%C3%A4%3F%23%252F%26x%3Dy"
        self.assertEqual(self.answer["spectate_url"], f"ws://games.test:8080/api/games/{quoted}/ws")
        self.assertEqual(self.answer["ws_url"], f"{self.answer['spectate_url']}?token={self.answer['player_token']}")

    def test_get_join_and_remove(self):
        """The quoted id reaches the game for GET, join, player removal and DELETE."""
        self.assertEqual(self.call("GET", self.path).json["game_id"], self.GAME_ID)
        self.assertEqual(self.join(self.GAME_ID, user_id=self.USER_ID).code, 201)
        user_path = f"{self.path}/players/{quote(self.USER_ID, safe='')}"
        self.assertEqual(self.call("DELETE", user_path).json["user_id"], self.USER_ID)
        self.assertEqual(self.call("DELETE", self.path).code, 200)
        self.assertEqual(self.lobby.games, {})

    def test_websocket_route(self):
        """The spectate URL's path reaches the game's WebSocket resource, not a 404."""
        answer = self.call("GET", self.path + "/ws")
        self.assertNotEqual(answer.code, 404, answer.raw)


class PublicURLTests(APITestCase):
    """URLs handed out come from --public-url when given, else from the request."""

    def urls_of(self, public_url, base=BASE, host=None):
        """The spectate and ws URLs (token as T) a new game gets with this --public-url."""
        self.build(public_url)
        body = {"user_id": "u", "username": "U", "game_id": "g"}
        answer = self.call("POST", "/api/games", body, base=base, host=host).json
        return answer["spectate_url"], answer["ws_url"].replace(answer["player_token"], "T")

    def test_https_prefix(self):
        """https maps to wss, and the path prefix is kept (without a trailing slash)."""
        self.assertEqual(self.urls_of("https://games.example.com/rpsa/"), (
            "wss://games.example.com/rpsa/api/games/g/ws",
            "wss://games.example.com/rpsa/api/games/g/ws?token=T",
        ))

    def test_http(self):
        """http maps to ws; the port is kept; the request's Host is ignored."""
        self.assertEqual(self.urls_of("http://games.example.com:8000", host=b"evil.test")[0],
                         "ws://games.example.com:8000/api/games/g/ws")

    def test_match_child_urls(self):
        """A match child's URL keeps only the public host: plain ws:// on the child's port, no prefix."""
        from twisted.web.test.requesthelper import DummyRequest

        urls = URLBuilder("https://games.example.com/rpsa/")
        self.assertEqual(urls.base(DummyRequest([b""]), port=9001), "ws://games.example.com:9001")

    def test_from_host(self):
        """Without --public-url the request's Host header is used."""
        self.assertEqual(self.urls_of(None, host=b"front.test:9443")[0], "ws://front.test:9443/api/games/g/ws")

    def test_from_secure_request(self):
        """Without --public-url a TLS request gets wss URLs."""
        self.assertEqual(self.urls_of(None, base="https://secure.test")[0], "wss://secure.test/api/games/g/ws")


class CompatTests(APITestCase):
    """The original server's routes: bodies, answers and errors."""

    max_games = 2

    def compat(self, path, **body):
        """POST a camelCase body to an original route."""
        return self.call("POST", path, body)

    def create_compat(self, game_id="g1", user_id="host"):
        """Create a game the original way and return its gameToken."""
        answer = self.compat("/create_game", gameId=game_id, userId=user_id, username="Host")
        self.assertEqual(answer.code, 200, answer.raw)
        return answer.json["gameToken"]

    def test_create_game(self):
        """/create_game answers 200 ``{gameToken}``, the host's own seat token."""
        token = self.create_compat()
        session, seat = self.lobby.find_token(token)
        self.assertEqual((session.game_id, seat.user_id, seat.number), ("g1", "host", 1))
        self.assertEqual(list(self.call("POST", "/create_game", {"gameId": "g2", "userId": "u",
                                                                 "username": "U"}).json), ["gameToken"])

    def test_create_taken(self):
        """A taken game id is 400 ``{message}``."""
        self.create_compat()
        self.assertCompatError(self.compat("/create_game", gameId="g1", userId="x", username="X"), 400)

    def test_create_at_max_games(self):
        """At --max-games /create_game is 503."""
        self.create_compat("g1")
        self.create_compat("g2")
        self.assertCompatError(self.compat("/create_game", gameId="g3", userId="x", username="X"), 503)

    def test_bad_fields(self):
        """A field missing, empty, too long or not a string is 400 ``{message}``, on every route."""
        good = {"gameId": "g1", "userId": "u", "username": "U"}
        routes = {
            "/create_game": good,
            "/join_game": good,
            "/remove_game": {"gameId": "g1"},
            "/remove_player": {"gameId": "g1", "userId": "u"},
        }
        for path, fields in routes.items():
            for name in fields:
                for bad in (DEFAULT, "", "x" * 65, 5, None):
                    body = {k: v for k, v in fields.items() if not (k == name and bad is DEFAULT)}
                    if bad is not DEFAULT:
                        body[name] = bad
                    self.assertCompatError(self.compat(path, **body), 400)
        self.assertEqual(self.lobby.games, {})

    def test_bad_bodies(self):
        """Invalid JSON and JSON that is not an object are 400 ``{message}``."""
        for raw in (b"{", b"[]", b'"x"', b"\xff"):
            self.assertCompatError(self.call("POST", "/create_game", raw=raw), 400)

    def test_body_too_large(self):
        """A body over 16 KiB is 413 ``{message}``."""
        body = padded_object(MAX_BODY_BYTES + 1, gameId="g1", userId="u", username="U")
        self.assertCompatError(self.call("POST", "/create_game", raw=body), 413)
        self.assertEqual(self.lobby.games, {})

    def test_join_game(self):
        """/join_game answers 200 ``{gameToken}``, the joiner's own token."""
        host_token = self.create_compat()
        answer = self.compat("/join_game", gameId="g1", userId="guest", username="Guest")
        self.assertEqual((answer.code, list(answer.json)), (200, ["gameToken"]))
        self.assertNotEqual(answer.json["gameToken"], host_token)
        _, seat = self.lobby.find_token(answer.json["gameToken"])
        self.assertEqual((seat.user_id, seat.number), ("guest", 2))

    def test_join_missing_or_full(self):
        """Joining a missing game, a full game, or one's own game is 400 ``{message}``."""
        self.assertCompatError(self.compat("/join_game", gameId="nope", userId="u", username="U"), 400)
        self.create_compat()
        self.compat("/join_game", gameId="g1", userId="guest", username="Guest")
        self.assertCompatError(self.compat("/join_game", gameId="g1", userId="third", username="T"), 400)
        self.assertCompatError(self.compat("/join_game", gameId="g1", userId="host", username="H"), 400)

    def test_remove_game(self):
        """/remove_game answers 200 null and closes the game's connections with 4100."""
        self.create_compat()
        host = self.connect("g1", "host")
        answer = self.compat("/remove_game", gameId="g1")
        self.assertEqual((answer.code, answer.raw), (200, b"null"))
        self.assertEqual(host.closes, [wire.GAME_REMOVED])
        self.assertEqual(self.lobby.games, {})

    def test_remove_unknown_game(self):
        """Removing an unknown game is 200 null, as in the original."""
        answer = self.compat("/remove_game", gameId="nope")
        self.assertEqual((answer.code, answer.raw), (200, b"null"))

    def test_remove_player(self):
        """/remove_player frees player 2's seat (200 null): the host hears 4003."""
        self.create_compat()
        host = self.connect("g1", "host")
        self.compat("/join_game", gameId="g1", userId="guest", username="Guest")
        answer = self.compat("/remove_player", gameId="g1", userId="guest")
        self.assertEqual((answer.code, answer.raw), (200, b"null"))
        self.assertEqual([m["code"] for m in host.messages if m["type"] == "error"], [wire.OPPONENT_DISCONNECTED])
        self.assertTrue(self.lobby.get("g1").joinable)

    def test_remove_player_errors(self):
        """Removing the host or from a missing game is 400; an unknown player is 404."""
        self.create_compat()
        self.assertCompatError(self.compat("/remove_player", gameId="g1", userId="host"), 400)
        self.assertCompatError(self.compat("/remove_player", gameId="nope", userId="host"), 400)
        self.assertCompatError(self.compat("/remove_player", gameId="g1", userId="nobody"), 404)
        self.assertEqual(len(self.lobby.get("g1").seats), 1)

    def test_active_games(self):
        """/active_games lists the ids of the live games."""
        self.assertEqual(self.call("GET", "/active_games").json, [])
        self.create_compat("g1")
        self.create_compat("g2", user_id="other")
        self.assertEqual(self.call("GET", "/active_games").json, ["g1", "g2"])

    def test_unknown_route(self):
        """An unknown route outside /api/ is 404 ``{message}``."""
        self.assertCompatError(self.call("GET", "/no/such/route"), 404)


class CompatWebSocketTests(APITestCase):
    """The original WebSocket endpoint ``/?game_token=T&user_id=U``."""

    def setUp(self):
        super().setUp()
        self.host_token = self.create("g1")["player_token"]
        self.guest_token = self.join("g1").json["player_token"]

    def upgrade(self, token, user_id):
        """GET the original WebSocket endpoint with this token and user_id."""
        return self.call("GET", f"/?game_token={quote(token)}&user_id={quote(user_id)}", content_type=None)

    def test_token_of_another_user(self):
        """A token presented with another user's id is refused with 403."""
        self.assertCompatError(self.upgrade(self.host_token, "guest"), 403)
        self.assertCompatError(self.upgrade(self.guest_token, "host"), 403)
        self.assertCompatError(self.upgrade(self.host_token, ""), 403)

    def test_unknown_token(self):
        """An unknown token is refused with 403."""
        self.assertCompatError(self.upgrade("not-a-token", "host"), 403)

    def test_own_token(self):
        """The token with its own user reaches the WebSocket resource (not refused)."""
        for token, user_id in ((self.host_token, "host"), (self.guest_token, "guest")):
            self.assertNotIn(self.upgrade(token, user_id).code, (401, 403, 404))


class AccessTests(APITestCase):
    """With an API key every HTTP route but /healthz and the WebSockets needs it."""

    api_key = KEY

    ROUTES = [
        ("GET", "/api/characters", None),
        ("GET", "/api/games", None),
        ("GET", "/api/games?joinable=true", None),
        ("POST", "/api/games", {"user_id": "u2", "username": "U2", "game_id": "g3"}),
        ("GET", "/api/games/g1", None),
        ("POST", "/api/games/g1/players", {"user_id": "u2", "username": "U2"}),
        ("DELETE", "/api/games/g1/players/host", None),
        ("DELETE", "/api/games/g1", None),
    ]
    COMPAT_ROUTES = [
        ("POST", "/create_game", {"gameId": "g2", "userId": "u", "username": "U"}),
        ("POST", "/join_game", {"gameId": "g1", "userId": "u", "username": "U"}),
        ("POST", "/remove_game", {"gameId": "g1"}),
        ("POST", "/remove_player", {"gameId": "g1", "userId": "host"}),
        ("GET", "/active_games", None),
    ]

    def setUp(self):
        super().setUp()
        self.token = self.create("g1")["player_token"]

    def assertAllRefused(self, auth):
        """Every protected route answers 401 with this Authorization, and nothing changes."""
        for method, path, body in self.ROUTES:
            answer = self.call(method, path, body, auth=auth)
            self.assertError(answer, 401, "unauthorized")
            self.assertEqual(answer.headers.getRawHeaders(b"www-authenticate"), [b'Bearer realm="rpsa"'])
        for method, path, body in self.COMPAT_ROUTES:
            self.assertCompatError(self.call(method, path, body, auth=auth), 401)
        self.assertEqual(list(self.lobby.games), ["g1"])
        self.assertEqual(len(self.lobby.get("g1").seats), 1)

    def test_no_key(self):
        """Without Authorization every protected route is 401."""
        self.assertAllRefused(None)

    def test_wrong_key(self):
        """A wrong key, a key prefix or an empty bearer is 401."""
        for auth in ("Bearer wrong", f"Bearer {KEY[:-1]}", f"Bearer {KEY}x", "Bearer ", "Bearer"):
            self.assertAllRefused(auth)

    def test_wrong_scheme(self):
        """The right key under another scheme (or none) is 401."""
        for auth in (f"Basic {KEY}", KEY, f"Token {KEY}"):
            self.assertAllRefused(auth)

    def test_right_key(self):
        """With the key every route answers (routes run in an order where each succeeds)."""
        for method, path, body in self.COMPAT_ROUTES[:1] + self.ROUTES[:6]:
            self.assertLess(self.call(method, path, body).code, 300, (method, path))
        self.assertEqual(self.call("DELETE", "/api/games/g1/players/u2").code, 200)
        self.assertEqual(self.call("DELETE", "/api/games/g1").code, 200)
        self.assertEqual(self.call("GET", "/active_games").json, ["g2", "g3"])

    def test_bearer_scheme_case(self):
        """The scheme name is case-insensitive."""
        self.assertEqual(self.call("GET", "/api/games", auth=f"bearer {KEY}").code, 200)

    def test_constant_time_compare(self):
        """The key is compared with hmac.compare_digest."""
        compared = []

        def compare_digest(a, b):
            compared.append((a, b))
            return a == b

        self.patch(web.hmac, "compare_digest", compare_digest)
        self.assertEqual(self.call("GET", "/api/games", auth="Bearer guess").code, 401)
        self.assertEqual(compared, [(b"guess", KEY.encode())])

    def test_healthz_exempt(self):
        """/healthz answers without the key."""
        self.assertEqual(self.call("GET", "/healthz", auth=None).code, 200)

    def test_websocket_routes_exempt(self):
        """Neither WebSocket endpoint asks for the key."""
        paths = [
            "/api/games/g1/ws",
            f"/api/games/g1/ws?token={self.token}",
            f"/?game_token={self.token}&user_id=host",
        ]
        for path in paths:
            self.assertNotIn(self.call("GET", path, auth=None, content_type=None).code, (401, 403, 404), path)


class OpenAccessTests(APITestCase):
    """Without a key the API is open."""

    def test_no_authorization_needed(self):
        """Every route answers without Authorization, and one is ignored when sent."""
        self.assertEqual(self.call("POST", "/api/games", {"user_id": "u", "username": "U"}, auth=None).code, 201)
        self.assertEqual(self.call("GET", "/api/games", auth="Bearer anything").code, 200)
        self.assertEqual(self.call("GET", "/active_games", auth=None).code, 200)
