"""The lobby's native HTTP API (``/api/characters``, ``/api/games...``) and the API key, in memory (see apicase)."""

import json
from urllib.parse import quote

from rpsa import web
from rpsa.play import wire
from rpsa.rules import FIGHTERS
from rpsa.web import MAX_BODY_BYTES, URLBuilder
from tests.lobby.apicase import BASE, DEFAULT, KEY, APITestCase, FakeConnection, padded_object


class CharactersTests(APITestCase):
    """``/api/characters``."""

    def test_characters(self):
        """GET /api/characters lists every fighter."""
        answer = self.call("GET", "/api/characters")
        self.assertEqual(answer.code, 200)
        self.assertEqual([c["id"] for c in answer.json["characters"]], list(FIGHTERS))


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


class BotOpponentTests(APITestCase):
    """``"opponent": "bot"`` (with an optional ``level``) on create: the computer takes seat 2."""

    bots = True

    def test_bot_game(self):
        """The answer is the host's seat; the game lists the bot, connected, and is not joinable."""
        created = self.create("g", opponent="bot")
        self.assertEqual(set(created), {"game_id", "player_token", "ws_url", "spectate_url"})
        game = self.call("GET", "/api/games/g").json
        self.assertEqual(game["state"], "character_selection")
        self.assertEqual(game["players"][1],
                         {"user_id": "bot-strategy", "username": "Computer (cunning)", "connected": True, "bot": True})
        self.assertFalse(game["joinable"])
        self.assertError(self.join("g"), 409, "game_full")

    def test_levels(self):
        """``level`` picks the bot; an unknown level, a level without a bot, or another opponent is 400."""
        self.create("g", opponent="bot", level="random")
        self.assertEqual(self.call("GET", "/api/games/g").json["players"][1]["user_id"], "bot-random")
        for body in ({"opponent": "bot", "level": "godlike"}, {"opponent": "bot", "level": 3},
                     {"level": "random"}, {"opponent": "human"}):
            answer = self.call("POST", "/api/games", {"user_id": "u", "username": "U", **body})
            self.assertError(answer, 400, "bad_field")
        self.assertEqual(list(self.lobby.games), ["g"])


class NoBotsTests(APITestCase):
    """A lobby without bots answers a bot game with 404 bots_off."""

    def test_no_bots(self):
        self.assertError(self.call("POST", "/api/games", {"user_id": "u", "username": "U", "opponent": "bot"}),
                         404, "bots_off")
