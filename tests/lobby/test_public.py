"""Tests for L{rpsa.lobby.public}: what --public-lobby opens, and the per-address rate limit."""

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from rpsa.lobby.public import AddressRateLimit, PublicLobby, client_key
from tests.lobby.apicase import KEY, APITestCase


class ClientKeyTests(SynchronousTestCase):
    def test_keys(self):
        """IPv4 as is; IPv6 by its /64; an IPv4-mapped IPv6 as its IPv4; anything else as given."""
        self.assertEqual(client_key("192.0.2.7"), "192.0.2.7")
        self.assertEqual(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64")
        self.assertEqual(client_key("2001:db8:1:2:bbbb::9"), client_key("2001:db8:1:2:aaaa::1"))
        self.assertEqual(client_key("::ffff:192.0.2.7"), "192.0.2.7")
        self.assertEqual(client_key("unix"), "unix")


class AddressRateLimitTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.limit = AddressRateLimit(self.clock, per_minute=6, burst=3)

    def test_burst_then_wait(self):
        """Three at once, then the fourth waits one refill (10 s at 6 a minute)."""
        self.assertEqual([self.limit.take("192.0.2.1") for _ in range(3)], [None] * 3)
        self.assertAlmostEqual(self.limit.take("192.0.2.1"), 10.0)
        self.clock.advance(10)
        self.assertIsNone(self.limit.take("192.0.2.1"))

    def test_addresses_are_separate(self):
        """Another address has its own bucket; a /64 shares one."""
        for _ in range(3):
            self.limit.take("2001:db8::1")
        self.assertIsNotNone(self.limit.take("2001:db8::2"))
        self.assertIsNone(self.limit.take("192.0.2.1"))

    def test_memory_is_bounded(self):
        """At most max_addresses buckets, the least recently used forgotten first."""
        limit = AddressRateLimit(self.clock, per_minute=6, burst=1, max_addresses=2)
        for host in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
            limit.take(host)
        self.assertEqual(len(limit), 2)
        self.assertIsNone(limit.take("192.0.2.1"))  # forgotten: a fresh bucket
        self.assertIsNotNone(limit.take("192.0.2.3"))

    def test_bad_figures(self):
        self.assertRaises(ValueError, AddressRateLimit, self.clock, per_minute=0)
        self.assertRaises(ValueError, AddressRateLimit, self.clock, burst=0)


class FakeRequest:
    def __init__(self, address):
        self._address = address

    def getClientAddress(self):
        return self._address


class PublicLobbyTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.public = PublicLobby(AddressRateLimit(self.clock, per_minute=60, burst=1))

    def test_opens_only_the_lobby(self):
        """List, one game, the fighters, create and join: nothing else."""
        for route in ("list_games", "get_game", "characters", "create_game", "join_game"):
            self.assertTrue(self.public.opens(route), route)
        for route in ("delete_game", "remove_player", "put_match", "list_matches", "metrics_page"):
            self.assertFalse(self.public.opens(route), route)

    def test_limits_creates_and_joins(self):
        """Creates and joins share the address's bucket; listing is not limited; the wait is whole seconds."""
        request = FakeRequest(IPv4Address("TCP", "192.0.2.1", 5000))
        self.assertIsNone(self.public.retry_after("create_game", request))
        self.assertEqual(self.public.retry_after("join_game", request), 1)
        self.assertIsNone(self.public.retry_after("list_games", request))
        other = FakeRequest(IPv6Address("TCP", "2001:db8::1", 5000))
        self.assertIsNone(self.public.retry_after("join_game", other))


# -- through the API ------------------------------------------------------------------------


def _public(clock):
    return PublicLobby(AddressRateLimit(clock, per_minute=6, burst=2))


class PublicLobbyAPITests(APITestCase):
    """--public-lobby on a server with a key: the lobby is open, the rest is not."""

    api_key = KEY
    public_lobby = staticmethod(_public)

    def test_lobby_is_open(self):
        """Without the key: list, one game, the fighters, create and join."""
        self.assertEqual(self.call("GET", "/api/games", auth=None).code, 200)
        self.assertEqual(self.call("GET", "/api/characters", auth=None).code, 200)
        created = self.call("POST", "/api/games", {"user_id": "a", "username": "A", "game_id": "g"}, auth=None)
        self.assertEqual(created.code, 201)
        self.assertEqual(self.call("GET", "/api/games/g", auth=None).code, 200)
        joined = self.call("POST", "/api/games/g/players", {"user_id": "b", "username": "B"}, auth=None)
        self.assertEqual(joined.code, 201)

    def test_access(self):
        """``/api/access`` (no key) tells a client what it may do."""
        answer = self.call("GET", "/api/access", auth=None)
        self.assertEqual((answer.code, answer.json),
                         (200, {"key_required": True, "public_lobby": True, "bot_levels": []}))

    def test_the_rest_needs_the_key(self):
        """Removing games or players, matches, metrics and the original routes still need the key."""
        self.create("g")
        self.assertError(self.call("DELETE", "/api/games/g", auth=None), 401, "unauthorized")
        self.assertError(self.call("DELETE", "/api/games/g/players/x", auth=None), 401, "unauthorized")
        self.assertError(self.call("GET", "/metrics", auth=None), 401, "unauthorized")
        self.assertCompatError(self.call("GET", "/active_games", auth=None), 401)
        # A wrong key is no key: the open lobby still answers.
        self.assertEqual(self.call("GET", "/api/games", auth="Bearer wrong").code, 200)

    def test_rate_limit(self):
        """Creates and joins share a per-address budget: past it, 429 rate_limited with Retry-After."""
        for n in range(2):
            self.assertEqual(self.call("POST", "/api/games", {"user_id": f"u{n}", "username": "U"}, auth=None).code, 201)
        refused = self.call("POST", "/api/games", {"user_id": "u9", "username": "U"}, auth=None)
        self.assertError(refused, 429, "rate_limited")
        self.assertEqual(refused.headers.getRawHeaders("retry-after"), ["10"])
        self.assertEqual(len(self.lobby.games), 2)  # nothing was created
        self.clock.advance(10)
        self.assertEqual(self.call("POST", "/api/games", {"user_id": "u9", "username": "U"}, auth=None).code, 201)

    def test_the_key_is_not_limited(self):
        """Requests with the key (a matchmaker) are never rate-limited."""
        for n in range(5):
            self.create(f"g{n}", user_id=f"u{n}")


class ClosedLobbyAPITests(APITestCase):
    """Without --public-lobby, a server with a key keeps the lobby closed to anonymous clients."""

    api_key = KEY

    def test_closed(self):
        answer = self.call("GET", "/api/access", auth=None)
        self.assertEqual(answer.json, {"key_required": True, "public_lobby": False, "bot_levels": []})
        self.assertError(self.call("GET", "/api/games", auth=None), 401, "unauthorized")
        self.assertError(self.call("POST", "/api/games", {"user_id": "a", "username": "A"}, auth=None),
                         401, "unauthorized")


class OpenServerTests(APITestCase):
    """--public-lobby without a key (an open API): everything is open, creates and joins are still limited."""

    public_lobby = staticmethod(_public)

    def test_limited(self):
        for n in range(2):
            self.create(f"g{n}", user_id=f"u{n}")
        self.assertError(self.call("POST", "/api/games", {"user_id": "x", "username": "X"}), 429, "rate_limited")
        self.assertEqual(self.call("DELETE", "/api/games/g0").code, 200)
