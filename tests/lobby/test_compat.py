"""The original server's routes and WebSocket endpoint, in memory (see apicase)."""

from urllib.parse import quote

from rpsa.play import wire
from rpsa.web import MAX_BODY_BYTES
from tests.lobby.apicase import DEFAULT, APITestCase, padded_object


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
        """/remove_player frees player 2's seat, answered the original's way: the host hears 4003."""
        self.create_compat()
        host = self.connect("g1", "host")
        self.compat("/join_game", gameId="g1", userId="guest", username="Guest")
        answer = self.compat("/remove_player", gameId="g1", userId="guest")
        self.assertEqual((answer.code, answer.json), (200, {"playerRemoved": True, "connectionRemoved": False}))
        self.assertEqual([m["code"] for m in host.messages if m["type"] == "error"], [wire.OPPONENT_DISCONNECTED])
        self.assertTrue(self.lobby.get("g1").joinable)

    def test_remove_connected_player(self):
        """Removing a connected player 2 says its connection was removed (closed 4101)."""
        self.create_compat()
        self.connect("g1", "host")
        self.compat("/join_game", gameId="g1", userId="guest", username="Guest")
        guest = self.connect("g1", "guest")
        answer = self.compat("/remove_player", gameId="g1", userId="guest")
        self.assertEqual(answer.json, {"playerRemoved": True, "connectionRemoved": True})
        self.assertEqual(guest.closes, [wire.PLAYER_REMOVED])

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


class SharedTokenTests(APITestCase):
    """``--compat-shared-token``: one token per game on the original's routes, the user_id choosing the seat."""

    compat_options = {"shared_token": True}

    def upgrade(self, token, user_id):
        return self.call("GET", f"/?game_token={quote(token)}&user_id={quote(user_id)}", content_type=None)

    def test_both_seats_with_the_creators_token(self):
        """/join_game answers the creator's token; with it, both seated users are admitted, a stranger is not."""
        token = self.call("POST", "/create_game", {"gameId": "g1", "userId": "host", "username": "H"}).json["gameToken"]
        joined = self.call("POST", "/join_game", {"gameId": "g1", "userId": "guest", "username": "G"})
        self.assertEqual(joined.json, {"gameToken": token})
        for user_id in ("host", "guest"):
            self.assertNotIn(self.upgrade(token, user_id).code, (401, 403, 404))
        refused = self.upgrade(token, "mallory")
        self.assertCompatError(refused, 403)
        self.assertEqual(refused.json["message"], "this user_id has no seat in the game")
        self.assertCompatError(self.upgrade(token, ""), 403)

    def test_native_games_keep_per_seat_tokens(self):
        """A game created on /api/games keeps per-seat tokens, even when joined on /join_game."""
        host_token = self.create("g2")["player_token"]
        joined = self.call("POST", "/join_game", {"gameId": "g2", "userId": "guest", "username": "G"})
        self.assertNotEqual(joined.json["gameToken"], host_token)
        self.assertCompatError(self.upgrade(host_token, "guest"), 403)
        self.assertNotIn(self.upgrade(joined.json["gameToken"], "guest").code, (401, 403, 404))

    def test_off_by_default(self):
        """Without the option /join_game answers the joiner's own token."""
        self.compat_options = {}
        self.build(None)
        token = self.call("POST", "/create_game", {"gameId": "g1", "userId": "host", "username": "H"}).json["gameToken"]
        joined = self.call("POST", "/join_game", {"gameId": "g1", "userId": "guest", "username": "G"}).json
        self.assertNotEqual(joined["gameToken"], token)
        self.assertCompatError(self.upgrade(token, "guest"), 403)


class LingerOptionTests(APITestCase):
    """``--compat-linger``: games created on the original's routes linger; native ones do not."""

    compat_options = {"linger": 42.0}

    def test_linger(self):
        self.call("POST", "/create_game", {"gameId": "g1", "userId": "host", "username": "H"})
        self.create("g2")
        self.assertEqual((self.lobby.get("g1").close_delay, self.lobby.get("g2").close_delay), (42.0, 3.0))
