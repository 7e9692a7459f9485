"""The cluster's directory, heartbeat and bus against a real redis-server, with several nodes in this process.

Each node is what a daemon builds (a RedisConnection, a Lobby, a Cluster); they share the
test's reactor but nothing else, and talk only through Redis, as separate processes do.
"""

import json

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from rpsa.cluster.errors import DirectoryUnavailable, OwnerUnreachable
from rpsa.cluster.node import Cluster, records
from rpsa.daemon.drain import DrainState
from rpsa.lobby import games as lobby_errors
from rpsa.lobby.api import lobby_api_error
from rpsa.lobby.games import Lobby
from rpsa.play import views
from rpsa.play.settings import GameSettings
from rpsa.play.ticker import TickScheduler
from rpsa.redis.connection import RedisConnection
from rpsa.redis.url import parse_redis_url
from tests.support.polling import wait_until
from tests.support.redis import start_redis

PREFIX = "t:"




class Node:
    """One node: its own connection, lobby and cluster parts."""

    def __init__(self, name, url, max_games=100, heartbeat=0.2, ttl=1.0):
        self.name = name
        self.draining = DrainState()
        self.scheduler = TickScheduler(reactor, 1.0)
        settings = GameSettings(tick=1.0, reconnect_grace=10.0, join_timeout=60.0)
        self.connection = RedisConnection(reactor, parse_redis_url(url), initial_delay=0.05, max_delay=0.2,
                                          connect_timeout=3.0)
        directory, claims = records(reactor, self.connection, PREFIX, name)
        self.lobby = Lobby(reactor, settings, self.scheduler, max_games=max_games, draining=self.draining,
                           observer=directory)
        self.cluster = Cluster(reactor, self.connection, PREFIX, name, f"http://{name}.test:8080", self.lobby,
                               lobby_api_error, directory, claims, draining=self.draining, forward_timeout=2.0)
        self.cluster.heartbeat.interval = heartbeat
        self.cluster.heartbeat.ttl = ttl
        for part in self.cluster.services():
            part.setServiceParent(self.connection)

    def start(self):
        self.connection.startService()

    @defer.inlineCallbacks
    def stop(self):
        if self.connection.running:
            yield self.connection.stopService()
        self.lobby.close_all(1001, "going away")

    def kill(self):
        """Vanish as a SIGKILLed process would: no goodbye, timers gone, links cut."""
        for part in reversed(self.cluster.services()):
            part.running = 0
        hb = self.cluster.heartbeat
        if hb._timer is not None and hb._timer.active():
            hb._timer.cancel()
        self.connection.running = 0
        for link in (self.connection, self.cluster.subscriber):
            link.running = 0
            for timer in (link._retry, link._watchdog):
                if timer is not None and timer.active():
                    timer.cancel()
            if link._protocol is not None:
                link._protocol.transport.abortConnection()

    @property
    def ready(self):
        return self.cluster.subscriber.subscribed and self.cluster.heartbeat.beats > 0


class ClusterTestCase(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self):
        self.redis = yield start_redis(self)
        self.nodes = {}

    @defer.inlineCallbacks
    def start_nodes(self, *names, **kwargs):
        for name in names:
            node = Node(name, self.redis.url, **kwargs)
            self.nodes[name] = node
            self.addCleanup(node.stop)
            node.start()
        yield wait_until(lambda: all(n.ready for n in self.nodes.values()))
        yield wait_until(lambda: all(len(n.cluster.heartbeat.view) == len(self.nodes) for n in self.nodes.values()))
        return [self.nodes[name] for name in names]

    @defer.inlineCallbacks
    def settled(self):
        """Every node's pending directory writes are done."""
        yield wait_until(lambda: all(n.cluster.directory.pending == 0 and not n.cluster.directory._writing
                                     for n in self.nodes.values()))


class DirectoryTests(ClusterTestCase):

    @defer.inlineCallbacks
    def test_a_game_created_on_one_node_is_listed_joined_and_removed_through_the_others(self):
        a, b, c = yield self.start_nodes("a", "b", "c")
        seated = yield a.cluster.games.create("u1", "Ann", "g1", 3)
        self.assertEqual((seated.game_id, seated.node, seated.public_url), ("g1", "a", "http://a.test:8080"))
        yield self.settled()
        for node in (b, c):
            games = yield node.cluster.games.list()
            expected = dict(views.summary(a.lobby.games["g1"]), node="a")
            self.assertEqual(games, [expected])
        joined = yield c.cluster.games.join("g1", "u2", "Bob")
        self.assertEqual((joined.node, joined.public_url), ("a", "http://a.test:8080"))
        self.assertEqual([s.user_id for s in a.lobby.games["g1"].seats], ["u1", "u2"])
        self.assertEqual(joined.token, a.lobby.games["g1"].seats[1].token)
        yield self.settled()
        joinable = yield b.cluster.games.list(joinable_only=True)
        self.assertEqual(joinable, [])
        summary = yield b.cluster.games.get("g1")
        self.assertEqual(len(summary["players"]), 2)
        yield b.cluster.games.remove_player("g1", "u2")
        self.assertEqual(len(a.lobby.games["g1"].seats), 1)
        yield c.cluster.games.remove("g1", 4004)
        self.assertNotIn("g1", a.lobby.games)
        yield self.settled()
        self.assertEqual((yield b.cluster.games.list()), [])
        with self.assertRaises(lobby_errors.NoSuchGame):
            yield b.cluster.games.get("g1")

    @defer.inlineCallbacks
    def test_the_owners_errors_come_back_as_lobby_errors(self):
        a, b = yield self.start_nodes("a", "b")
        yield a.cluster.games.create("u1", "Ann", "g1", 3)
        with self.assertRaises(lobby_errors.AlreadySeated):
            yield b.cluster.games.join("g1", "u1", "Ann")
        yield b.cluster.games.join("g1", "u2", "Bob")
        with self.assertRaises(lobby_errors.SeatsFull):
            yield b.cluster.games.join("g1", "u3", "Cy")
        with self.assertRaises(lobby_errors.HostCannotBeRemoved):
            yield b.cluster.games.remove_player("g1", "u1")
        with self.assertRaises(lobby_errors.NoSuchGame):
            yield b.cluster.games.join("nope", "u3", "Cy")

    @defer.inlineCallbacks
    def test_a_game_id_is_unique_across_the_cluster(self):
        a, b = yield self.start_nodes("a", "b")
        yield a.cluster.games.create("u1", "Ann", "same", 3)
        with self.assertRaises(lobby_errors.GameExists):
            yield b.cluster.games.create("u2", "Bob", "same", 3)
        self.assertNotIn("same", b.lobby.games)

    @defer.inlineCallbacks
    def test_fifty_concurrent_joins_spread_over_the_nodes_seat_exactly_one(self):
        a, b, c = yield self.start_nodes("a", "b", "c")
        yield a.cluster.games.create("host", "Host", "race", 3)
        nodes = [a, b, c]
        attempts = [nodes[i % 3].cluster.games.join("race", f"u{i}", f"User {i}") for i in range(50)]
        results = yield defer.DeferredList(attempts, consumeErrors=True)
        won = [r for ok, r in results if ok]
        lost = [r.value for ok, r in results if not ok]
        self.assertEqual(len(won), 1)
        self.assertEqual({type(e) for e in lost}, {lobby_errors.SeatsFull})
        self.assertEqual(len(a.lobby.games["race"].seats), 2)

    @defer.inlineCallbacks
    def test_a_full_or_draining_node_places_creates_on_the_node_with_most_room(self):
        a, b, c = yield self.start_nodes("a", "b", "c", max_games=3)
        yield b.cluster.games.create("u0", "U", None, 3)  # b: 2 free, c: 3 free
        b.cluster.heartbeat.beat_now()
        yield wait_until(lambda: a.cluster.heartbeat.view["b"].games == 1)
        a.draining.active = True
        seated = yield a.cluster.games.create("u1", "Ann", None, 3)
        self.assertEqual(seated.node, "c")
        self.assertEqual(len(a.lobby.games), 0)

    @defer.inlineCallbacks
    def test_a_create_with_no_room_anywhere_is_refused_with_the_nodes_reason(self):
        a, b = yield self.start_nodes("a", "b", max_games=1)
        yield a.cluster.games.create("u1", "Ann", None, 3)
        yield b.cluster.games.create("u2", "Bob", None, 3)
        b.cluster.heartbeat.beat_now()
        yield wait_until(lambda: a.cluster.heartbeat.view["b"].games == 1)
        with self.assertRaises(lobby_errors.LobbyFull):
            yield a.cluster.games.create("u3", "Cy", None, 3)


class LivenessTests(ClusterTestCase):

    @defer.inlineCallbacks
    def test_a_killed_node_leaves_listings_and_its_ids_become_free(self):
        a, b = yield self.start_nodes("a", "b")
        yield a.cluster.games.create("u1", "Ann", "g1", 3)
        yield self.settled()
        self.assertEqual(len((yield b.cluster.games.list())), 1)
        a.kill()
        yield wait_until(lambda: "a" not in b.cluster.heartbeat.view, timeout=5)
        self.assertEqual((yield b.cluster.games.list()), [])
        seated = yield b.cluster.games.create("u9", "Zed", "g1", 3)
        self.assertEqual(seated.node, "b")
        keys = yield self.redis.command("KEYS", f"{PREFIX}node-games:a")
        self.assertEqual(keys, [])

    @defer.inlineCallbacks
    def test_a_request_to_a_dead_owner_is_504_at_once(self):
        a, b = yield self.start_nodes("a", "b")
        yield a.cluster.games.create("u1", "Ann", "g1", 3)
        yield a.cluster.subscriber.stopService()  # a hears nothing, but its heartbeat still says it is alive
        with self.assertRaises(OwnerUnreachable):
            yield b.cluster.games.join("g1", "u2", "Bob")

    @defer.inlineCallbacks
    def test_a_node_leaving_cleanly_takes_its_entries_with_it(self):
        a, b = yield self.start_nodes("a", "b")
        yield a.cluster.games.create("u1", "Ann", "g1", 3)
        yield a.stop()
        self.assertEqual((yield b.cluster.games.list()), [])
        members = yield self.redis.command("SMEMBERS", f"{PREFIX}nodes")
        self.assertEqual(members, ["b"])


class OutageTests(ClusterTestCase):

    @defer.inlineCallbacks
    def test_redis_away_then_back_empty_the_directory_is_whole_again(self):
        a, b = yield self.start_nodes("a", "b")
        yield a.cluster.games.create("u1", "Ann", "ga", 3)
        yield b.cluster.games.create("u2", "Bob", "gb", 3)
        yield self.settled()
        yield self.redis.stop()
        yield wait_until(lambda: not a.connection.connected and not b.connection.connected)
        with self.assertRaises(DirectoryUnavailable):
            yield a.cluster.games.list()
        with self.assertRaises(DirectoryUnavailable):
            yield a.cluster.games.create("u3", "Cy", None, 3)
        self.assertIn("ga", a.lobby.games)  # what a node holds stays
        yield self.redis.start()
        yield wait_until(lambda: a.ready and b.ready and a.connection.connected and b.connection.connected)
        yield self.settled()
        yield wait_until(lambda: len(a.cluster.heartbeat.view) == 2)
        games = yield a.cluster.games.list()
        self.assertEqual(sorted(g["game_id"] for g in games), ["ga", "gb"])
        joined = yield a.cluster.games.join("gb", "u4", "Dee")
        self.assertEqual(joined.node, "b")
        yield self.settled()
        seat_keys = yield self.redis.command("KEYS", f"{PREFIX}seat:*")
        self.assertEqual(len(seat_keys), 3)  # the hosts' seats and u4's
        self.assertNotIn(joined.token, json.dumps(seat_keys))
