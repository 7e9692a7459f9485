"""A real cluster: a redis-server and three ``twistd -n rpsa --redis`` nodes, driven over HTTP and WebSockets."""

import os
import signal

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import TestCase

from tests.support.cluster import GAME_COMPLETE, all_see, listing, play_game, polled, start_nodes
from tests.support.process import free_port_range
from tests.support.redis import start_redis
from tests.support.wsclient import connect, of_type, start_match

PREFIX = "rpsa:"


class ClusterTestCase(TestCase):
    timeout = 120
    names = ("a", "b", "c")
    node_args = ()

    @defer.inlineCallbacks
    def setUp(self):
        self.redis = yield start_redis(self)
        self.nodes = yield start_nodes(self, self.redis, self.names, self.node_args)


class PlayTests(ClusterTestCase):

    @defer.inlineCallbacks
    def test_created_on_one_listed_on_the_others_joined_through_a_third_played_over_the_urls(self):
        a, b, c = self.nodes
        status, created = yield a.request("POST", "/api/games", {"user_id": "alice", "username": "Alice",
                                                                 "game_id": "g1"})
        self.assertEqual(status, 201, created)
        self.assertTrue(created["ws_url"].startswith(f"{a.ws_base}/api/games/g1/ws?token="))
        for node in (b, c):
            listed = yield listing(node, lambda games: games)
            self.assertEqual([(g["game_id"], g["node"]) for g in listed], [("g1", "a")])
        status, joined = yield c.request("POST", "/api/games/g1/players", {"user_id": "bob", "username": "Bob"})
        self.assertEqual(status, 201, joined)
        self.assertTrue(joined["ws_url"].startswith(f"{a.ws_base}/api/games/g1/ws?token="))  # the owner's URL
        winner, codes = yield play_game(created["ws_url"], joined["ws_url"])
        self.assertEqual((winner, codes), ({"winnerId": "alice", "loserId": "bob"}, [1000, 1000]))
        for node in self.nodes:
            status, _ = yield polled(node, "/api/games/g1", lambda status, body: status == 404)
            self.assertEqual(status, 404)
        self.assertIn("forwarding join of game g1", b.log + c.log)

    @defer.inlineCallbacks
    def test_fifty_concurrent_joins_through_three_nodes_seat_exactly_one(self):
        a, b, c = self.nodes
        status, _ = yield b.request("POST", "/api/games", {"user_id": "host", "username": "Host", "game_id": "race"})
        self.assertEqual(status, 201)
        joins = [self.nodes[i % 3].request("POST", "/api/games/race/players", {"user_id": f"u{i}",
                                                                              "username": f"U{i}"})
                 for i in range(50)]
        answers = yield defer.gatherResults(joins)
        statuses = sorted(status for status, _ in answers)
        self.assertEqual(statuses, [201] + [409] * 49)
        self.assertEqual({body["error"]["code"] for status, body in answers if status == 409}, {"game_full"})

    @defer.inlineCallbacks
    def test_a_game_id_is_taken_cluster_wide(self):
        a, b, _ = self.nodes
        body = {"user_id": "u1", "username": "One", "game_id": "same"}
        self.assertEqual((yield a.request("POST", "/api/games", body))[0], 201)
        status, answer = yield b.request("POST", "/api/games", dict(body, user_id="u2"))
        self.assertEqual((status, answer["error"]["code"]), (409, "game_exists"))

    @defer.inlineCallbacks
    def test_the_original_routes_across_nodes_with_the_socket_relayed_to_the_owner(self):
        a, b, c = self.nodes
        status, host = yield a.request("POST", "/create_game", {"gameId": "orig", "userId": "u1", "username": "One"})
        self.assertEqual(status, 200)
        status, guest = yield b.request("POST", "/join_game", {"gameId": "orig", "userId": "u2", "username": "Two"})
        self.assertEqual(status, 200, guest)
        status, active = yield polled(c, "/active_games", lambda status, body: body)
        self.assertEqual((status, active), (200, ["orig"]))
        # Both players use one fixed address (node c), which holds nothing: c relays them to a.
        winner, _ = yield play_game(f"{c.ws_base}/?game_token={host['gameToken']}&user_id=u1",
                                    f"{c.ws_base}/?game_token={guest['gameToken']}&user_id=u2", clients_close=True)
        self.assertEqual(winner["winnerId"], "u1")
        status, _ = yield b.request("POST", "/remove_game", {"gameId": "orig"})
        self.assertEqual(status, 200)


class MatchTests(ClusterTestCase):
    @property
    def node_args(self):
        low, high = free_port_range(12)
        return ("--match-ports", f"{low}-{high}", "--max-matches", "2")

    @defer.inlineCallbacks
    def test_a_match_placed_fetched_and_deleted_through_different_nodes(self):
        a, b, c = self.nodes
        body = {"match_id": "m1", "players": [{"user_id": "p1", "username": "P1"},
                                              {"user_id": "p2", "username": "P2"}]}
        status, placed = yield a.request("PUT", "/api/match", body)
        self.assertEqual(status, 201, placed)
        status, again = yield c.request("PUT", "/api/match", body)  # idempotent cluster-wide
        self.assertEqual((status, again), (200, placed))
        status, fetched = yield b.request("GET", "/api/match/m1")
        self.assertEqual((status, fetched["match_id"]), (200, "m1"))
        status, deleted = yield c.request("DELETE", "/api/match/m1")
        self.assertEqual((status, deleted["state"]), (200, "ended"))

    @defer.inlineCallbacks
    def test_matches_are_placed_on_the_node_with_most_free_slots(self):
        a = self.nodes[0]
        for n in range(3):
            body = {"match_id": f"m{n}", "players": [{"user_id": "p1", "username": "P1"},
                                                     {"user_id": "p2", "username": "P2"}]}
            status, placed = yield a.request("PUT", "/api/match", body)
            self.assertEqual(status, 201, placed)
            yield task.deferLater(reactor, 2.5, lambda: None)  # a heartbeat carries the new counts
        held = []
        for node in self.nodes:  # GET /api/match lists the node's own matches
            _, listed = yield node.request("GET", "/api/match")
            held.append(len(listed["matches"]))
        self.assertEqual(held, [1, 1, 1])


class FailureTests(ClusterTestCase):

    @defer.inlineCallbacks
    def test_a_sigkilled_node_leaves_the_listings_within_ten_seconds_and_its_ids_become_free(self):
        a, b, c = self.nodes
        status, _ = yield a.request("POST", "/api/games", {"user_id": "u1", "username": "One", "game_id": "lost"})
        self.assertEqual(status, 201)
        os.kill(a.process.pid, signal.SIGKILL)
        yield a.proto.ended
        yield all_see([b, c], 2, attempts=100)  # bounded: 100 polls 0.1 s apart, the 10 seconds
        self.assertEqual((yield listing(b, lambda games: not games, attempts=1)), [])
        status, created = yield c.request("POST", "/api/games", {"user_id": "u2", "username": "Two",
                                                                 "game_id": "lost"})
        self.assertEqual(status, 201, created)

    @defer.inlineCallbacks
    def test_redis_stopped_and_restarted_under_play(self):
        a, b, c = self.nodes
        status, created = yield a.request("POST", "/api/games", {"user_id": "u1", "username": "One", "game_id": "g"})
        status, joined = yield b.request("POST", "/api/games/g/players", {"user_id": "u2", "username": "Two"})
        self.assertEqual(status, 201)
        status, _ = yield b.request("POST", "/api/games", {"user_id": "u5", "username": "Five", "game_id": "kept"})
        self.assertEqual(status, 201)
        host = yield connect(reactor, created["ws_url"])
        guest = yield connect(reactor, joined["ws_url"])
        yield guest.wait_for(of_type("player_joined"))
        yield self.redis.stop()
        status, health = yield polled(a, "/healthz", lambda status, body: body["status"] == "degraded")
        self.assertEqual((status, health["status"]), (200, "degraded"))
        for node, method, path, body in ((b, "GET", "/api/games", None),
                                         (c, "POST", "/api/games", {"user_id": "x", "username": "X"}),
                                         (b, "POST", "/api/games/g/players", {"user_id": "y", "username": "Y"})):
            status, answer = yield node.request(method, path, body)
            self.assertEqual((status, answer["error"]["code"]), (503, "directory_unavailable"))
        # The game in progress plays on, to its end, while Redis is away.
        start_match([(host, "aru"), (guest, "mai")], throws=(0, 2))
        yield host.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
        yield self.redis.start()  # empty: no persistence
        for node in self.nodes:
            yield polled(node, "/healthz", lambda status, body: body["status"] == "ok", attempts=200)
        yield all_see(self.nodes, 3)
        status, second = yield c.request("POST", "/api/games", {"user_id": "u3", "username": "Three",
                                                                "game_id": "after"})
        self.assertEqual(status, 201)
        listed = yield listing(a, lambda games: len(games) == 2)
        self.assertEqual(sorted((g["game_id"], g["node"]) for g in listed), [("after", "c"), ("kept", "b")])
        self.assertNotIn("Traceback", a.log + b.log + c.log)


class DrainTests(ClusterTestCase):
    @property
    def node_args(self):
        low, high = free_port_range(8)
        return ("--match-ports", f"{low}-{high}", "--drain-timeout", "60")

    @defer.inlineCallbacks
    def test_a_draining_node_places_creates_elsewhere_and_leaves_when_it_exits(self):
        a, b, c = self.nodes
        body = {"match_id": "keep", "players": [{"user_id": "p1", "username": "P1"},
                                                {"user_id": "p2", "username": "P2"}]}
        status, placed = yield a.request("PUT", "/api/match", body)  # a has the most room (a tie): it is a's
        self.assertEqual(status, 201, placed)
        a.process.signalProcess("TERM")  # a drains: it waits for its match (up to --drain-timeout)
        status, health = yield polled(a, "/healthz", lambda status, body: status == 503)
        self.assertEqual(health, {"status": "draining"})
        status, created = yield a.request("POST", "/api/games", {"user_id": "u1", "username": "One"})
        self.assertEqual(status, 201, created)
        self.assertFalse(created["ws_url"].startswith(a.ws_base), created["ws_url"])  # placed on b or c
        status, _ = yield b.request("DELETE", "/api/match/keep")  # carried to a; a's drain ends
        self.assertEqual(status, 200)
        exit_status = yield a.proto.ended
        self.assertEqual(exit_status, (0, None), a.log)
        yield all_see([b, c], 2, attempts=30)
        self.assertIn("left the cluster", a.log)
