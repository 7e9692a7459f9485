"""Integration: the real daemon with a real redis-server, as the Varcade portal uses it.

The event stream's entries are checked field by field against what the players saw
(../shared/spec/rules.md, "What the original server adds around the engine").
"""

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from tests.support.process import Daemon, free_port_range
from tests.support.redis import RedisServer, start_redis
from tests.support.wsclient import auto_throw, connect, of_type

STREAM = "game_event_stream"
PRODUCT = "exrps"
ROUND, GAME = "RPSRoundEvent", "RPSGameEvent"
WEAPONS_SELECTED, ROUND_FINISHED, ROUND_STARTED, GAME_COMPLETE = 3, 4, 5, 1
WEAPON_INDEX = {"rock": "0", "paper": "1", "scissors": "2", "botch": ""}


def entry(game_id, kind, *fields):
    return ["product_id", PRODUCT, "game_id", game_id, "type", kind, *fields]


def expected_entries(game_id, host, guest, p1, p2, fighters=("aru", "mai")):
    """The stream entries of a game whose host and guest connected, picked, readied, and played to the end.

    The engine part comes from what the host's client received, event by event.
    """
    entries = [
        entry(game_id, "state_change", "new_state", "creator_joined"),
        entry(game_id, "state_change", "new_state", "all_players_joined"),
        entry(game_id, "gameplay", "event_name", "select_fighter", "event_data", fighters[0], "user_id", p1),
        entry(game_id, "gameplay", "event_name", "set_ready", "event_data", "", "user_id", p1),
        entry(game_id, "gameplay", "event_name", "select_fighter", "event_data", fighters[1], "user_id", p2),
        entry(game_id, "gameplay", "event_name", "set_ready", "event_data", "", "user_id", p2),
    ]
    for message in host.messages:
        if message["type"] == ROUND:
            kind, data = message["eventData"]["type"], message["eventData"].get("data")
            if kind == ROUND_STARTED:
                entries.append(entry(game_id, "gameplay", "event_name", "progression", "progress_event",
                                     "round_started", "p1_id", p1, "p2_id", p2))
            elif kind == WEAPONS_SELECTED:
                summary = data["attackSummary"]
                for user, selection in ((p1, summary["p1Selection"]), (p2, summary["p2Selection"])):
                    entries.append(entry(game_id, "gameplay", "event_name", "select_weapon", "event_data",
                                         WEAPON_INDEX[selection["weaponId"]], "user_id", user))
            elif kind == ROUND_FINISHED:
                entries.append(entry(game_id, "gameplay", "round_winner_id", data["roundWinnerId"],
                                     "round_loser_id", data["roundLoserId"], "event_name", "progression",
                                     "progress_event", "round_finished", "p1_id", p1, "p2_id", p2))
        elif message["type"] == GAME and message["eventData"]["type"] == GAME_COMPLETE:
            data = message["eventData"]["data"]
            entries.append(entry(game_id, "game_over", "winner_id", data["winnerId"], "loser_id", data["loserId"]))
    entries.append(entry(game_id, "game_removed"))
    return entries


@defer.inlineCallbacks
def wait_until(check, attempts=200, step=0.05):
    """Poll ``check`` (returning a Deferred or a value) until it is truthy; its last value."""
    for _ in range(attempts):
        value = yield check()
        if value:
            return value
        yield task.deferLater(reactor, step, lambda: None)
    raise AssertionError(f"not true after {attempts * step}s: {check}")


@defer.inlineCallbacks
def play(host, guest, fighters=("aru", "mai"), throws=(0, 2)):
    """The host then the guest pick and ready (in that order at the server); both throw until GAME_COMPLETE."""
    host.onMessage = auto_throw(host, throws[0])
    guest.onMessage = auto_throw(guest, throws[1])
    for client, fighter in ((host, fighters[0]), (guest, fighters[1])):
        client.send_json({"type": "select_fighter", "characterId": fighter})
        client.send_json({"type": "start_battle"})
        yield client.round_trip()
    complete = yield host.wait_for(of_type(GAME, event=GAME_COMPLETE))
    yield guest.wait_for(of_type(GAME, event=GAME_COMPLETE))
    return complete


class VarcadeTestCase(TestCase):
    """A redis-server, then a daemon writing the event stream to it (stopped in that order's reverse)."""

    timeout = 120
    extra_args = ()

    @defer.inlineCallbacks
    def setUp(self):
        self.redis = yield start_redis(self)
        low, high = free_port_range(2)
        self.daemon = Daemon(reactor, [
            "--tick", "0.02", "--redis", self.redis.url, "--event-stream", STREAM, "--product-id", PRODUCT,
            "--match-ports", f"{low}-{high}", *self.extra_args])
        self.addCleanup(self._stop)
        yield self.daemon.ready()

    @defer.inlineCallbacks
    def _stop(self):
        status = yield self.daemon.stop()
        self.assertEqual(status, (0, None), self.daemon.log)

    def entries_of(self, game_id):
        d = self.redis.entries(STREAM)
        d.addCallback(lambda entries: [e for e in entries if e[3] == game_id])
        return d

    @defer.inlineCallbacks
    def removed(self, game_id):
        """The game's entries once its game_removed entry is in the stream."""
        def check():
            return self.entries_of(game_id).addCallback(lambda es: es if es and es[-1][5] == "game_removed" else None)
        entries = yield wait_until(check, attempts=400)
        return entries

    @defer.inlineCallbacks
    def healthz(self):
        _, body = yield self.daemon.request("GET", "/healthz")
        return body


class CompatGameTests(VarcadeTestCase):
    """The Varcade portal's way: the original's routes, one shared token, the game lingering after its end."""

    extra_args = ("--compat-shared-token", "--compat-linger", "2")

    @defer.inlineCallbacks
    def test_whole_game(self):
        yield self.redis.command("XGROUP", "CREATE", STREAM, "portal", "$", "MKSTREAM")
        status, created = yield self.daemon.request("POST", "/create_game",
                                                    {"gameId": "g1", "userId": "u1", "username": "One"})
        self.assertEqual(status, 200)
        status, joined = yield self.daemon.request("POST", "/join_game",
                                                   {"gameId": "g1", "userId": "u2", "username": "Two"})
        self.assertEqual((status, joined), (200, created))  # the portal hands this one token to both
        token = created["gameToken"]
        base = self.daemon.ws_base
        with self.assertRaises(ConnectionError):  # the token admits only users seated in the game
            yield connect(reactor, f"{base}/?game_token={token}&user_id=mallory")
        host = yield connect(reactor, f"{base}/?game_token={token}&user_id=u1")
        yield host.wait_for(of_type("player_joined"))
        guest = yield connect(reactor, f"{base}/?game_token={token}&user_id=u2")
        yield guest.wait_for(of_type("player_joined"))
        complete = yield play(host, guest)
        self.assertEqual(complete["eventData"]["data"], {"winnerId": "u1", "loserId": "u2"})
        status, active = yield self.daemon.request("GET", "/active_games")
        self.assertEqual(active, [])  # removed at GAME_COMPLETE
        # The sockets stay open until the linger ends, then close with 1000.
        codes = yield defer.gatherResults([host.closed, guest.closed])
        self.assertEqual(codes, [1000, 1000])
        self.assertIs(host.messages[-1], complete)  # quiet after the result

        entries = yield self.removed("g1")
        self.assertEqual(entries, expected_entries("g1", host, guest, "u1", "u2"))
        # A consumer group reading the stream sees every entry once.
        reply = yield self.redis.command("XREADGROUP", "GROUP", "portal", "c1", "COUNT", "10000",
                                         "STREAMS", STREAM, ">")
        [[_, read]] = reply
        self.assertEqual([fields for _, fields in read], (yield self.redis.entries(STREAM)))
        again = yield self.redis.command("XREADGROUP", "GROUP", "portal", "c1", "STREAMS", STREAM, ">")
        self.assertIsNone(again)

    @defer.inlineCallbacks
    def test_redis_outage_mid_game(self):
        """Redis stopped mid-game and restarted: the game goes on; the queued entries arrive, in order, once."""
        yield self.daemon.request("POST", "/create_game", {"gameId": "g2", "userId": "u1", "username": "One"})
        _, joined = yield self.daemon.request("POST", "/join_game", {"gameId": "g2", "userId": "u2", "username": "T"})
        base = self.daemon.ws_base
        host = yield connect(reactor, f"{base}/?game_token={joined['gameToken']}&user_id=u1")
        yield host.wait_for(of_type("player_joined"))
        guest = yield connect(reactor, f"{base}/?game_token={joined['gameToken']}&user_id=u2")
        yield guest.wait_for(of_type("player_joined"))
        yield wait_until(lambda: self.entries_of("g2").addCallback(lambda es: len(es) == 2))
        yield self.redis.stop()  # no persistence: what the stream held is gone with it
        body = yield wait_until(lambda: self.healthz().addCallback(lambda b: b if b["status"] == "degraded" else None))
        self.assertEqual(body, {"status": "degraded", "degraded": ["redis"]})
        complete = yield play(host, guest)  # the game is played through the outage
        self.assertEqual(complete["eventData"]["data"]["winnerId"], "u1")
        yield self.redis.start()
        entries = yield self.removed("g2")
        expected = expected_entries("g2", host, guest, "u1", "u2")
        # Every entry since the outage began, in order, none twice: all but the two written before it.
        self.assertEqual(entries, expected[2:])
        self.assertEqual((yield self.healthz()), {"status": "ok"})
        self.assertIn("running degraded, reconnecting", self.daemon.log)


class LaunchedMatchTests(VarcadeTestCase):
    """A launched match's child reports its game's events to the daemon, which writes them."""

    @defer.inlineCallbacks
    def test_whole_match(self):
        status, answer = yield self.daemon.request("PUT", "/api/match", {
            "match_id": "m1", "rounds": 1,
            "players": [{"user_id": "ann", "username": "Ann"}, {"user_id": "ben", "username": "Ben"}]})
        self.assertEqual(status, 201, answer)
        ann_url, ben_url = [p["ws_url"] for p in answer["players"]]
        ann = yield connect(reactor, ann_url)
        yield ann.wait_for(of_type("welcome"))
        ben = yield connect(reactor, ben_url)
        yield ben.wait_for(of_type("player_joined"))
        complete = yield play(ann, ben, throws=(1, 2))  # paper against scissors: ben wins
        self.assertEqual(complete["eventData"]["data"], {"winnerId": "ben", "loserId": "ann"})
        entries = yield self.removed("m1")
        self.assertEqual(entries, expected_entries("m1", ann, ben, "ann", "ben"))


class RedisDownAtStartTests(TestCase):
    """The daemon starts with Redis down, says so, serves, and connects once Redis is there."""

    timeout = 120

    @defer.inlineCallbacks
    def test_starts_degraded_then_connects(self):
        redis = RedisServer(self.mktemp(), password="hunter2-secret")
        self.addCleanup(redis.stop)
        daemon = Daemon(reactor, ["--redis", redis.url, "--event-stream", STREAM, "--product-id", PRODUCT])
        self.addCleanup(lambda: daemon.stop())
        yield daemon.ready()
        _, health = yield daemon.request("GET", "/healthz")
        self.assertEqual(health, {"status": "degraded", "degraded": ["redis"]})
        # With --redis the node is part of a cluster (issue 12): a create needs the directory, 503 until it is back.
        status, refused = yield daemon.request("POST", "/create_game", {"gameId": "g", "userId": "u", "username": "U"})
        self.assertEqual((status, refused["message"].split(";")[0]), (503, "the cluster's directory (Redis) is "
                                                                          "unreachable"))
        yield redis.start()
        yield wait_until(lambda: daemon.request("GET", "/healthz").addCallback(lambda r: r[1]["status"] == "ok"),
                         attempts=400)
        created = yield wait_until(lambda: daemon.request("POST", "/create_game", {
            "gameId": "g", "userId": "u", "username": "U"}).addCallback(lambda r: r[0] == 200 and r[1]), attempts=200)
        host = yield connect(reactor, f"{daemon.ws_base}/?game_token={created['gameToken']}&user_id=u")
        yield host.wait_for(of_type("player_joined"))
        entries = yield wait_until(lambda: redis.entries(STREAM), attempts=200)
        self.assertEqual(entries, [entry("g", "state_change", "new_state", "creator_joined")])
        self.assertIn("is unreachable", daemon.log)
        self.assertIn("running degraded", daemon.log)
        self.assertNotIn("hunter2-secret", daemon.log)
        host.sendClose(1000)
        yield host.closed
        status = yield daemon.stop()
        self.assertEqual(status, (0, None), daemon.log)


class CORSTests(TestCase):
    """``--cors-origin``: preflights and requests from an allowed and a refused origin, against the real daemon."""

    timeout = 60

    @defer.inlineCallbacks
    def test_allowed_and_refused_origins(self):
        import treq

        daemon = Daemon(reactor, ["--cors-origin", "https://portal.example"])
        self.addCleanup(lambda: daemon.stop())
        yield daemon.ready()

        @defer.inlineCallbacks
        def call(method, path, origin, preflight=False):
            headers = {"Origin": origin, "Content-Type": "application/json"}
            if preflight:
                headers.update({"Access-Control-Request-Method": "POST",
                                "Access-Control-Request-Headers": "authorization, content-type"})
            data = None if preflight else b'{"gameId": "c1", "userId": "u", "username": "U"}'
            response = yield treq.request(method, f"{daemon.url}{path}", headers=headers, data=data,
                                          timeout=10, persistent=False)
            yield response.content()
            return response.code, response.headers.getRawHeaders("Access-Control-Allow-Origin")

        self.assertEqual((yield call("OPTIONS", "/create_game", "https://portal.example", preflight=True)),
                         (204, ["https://portal.example"]))
        self.assertEqual((yield call("OPTIONS", "/create_game", "https://evil.example", preflight=True)),
                         (403, None))
        self.assertEqual((yield call("POST", "/create_game", "https://portal.example")),
                         (200, ["https://portal.example"]))
        self.assertEqual((yield call("POST", "/api/games", "https://evil.example"))[1], None)
        status = yield daemon.stop()
        self.assertEqual(status, (0, None), daemon.log)
