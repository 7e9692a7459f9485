"""A real nginx with the shipped site (contrib/nginx/rpsa-cluster.conf, TLS left out) before two nodes and a Redis.

The players enter only through the proxy: the lobby API round-robin, then each WebSocket at
the owner's public URL under ``/n/<node>/``; and a launched match through ``/m/<port>/ws``.
"""

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

import treq

from tests.support.cluster import GAME_COMPLETE, play_game, start_nginx, start_nodes
from tests.support.process import free_port, free_port_range
from tests.support.redis import start_redis
from tests.support.wsclient import connect, of_type, start_match



class NginxTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def setUp(self):
        self.redis = yield start_redis(self)
        self.proxy_port = free_port()
        low, high = free_port_range(6)
        base = f"http://127.0.0.1:{self.proxy_port}"
        self.nodes = yield start_nodes(
            self, self.redis, ["node-a", "node-b"],
            args=("--match-ports", f"{low}-{high}", "--match-public-url", f"ws://127.0.0.1:{self.proxy_port}/m/{{port}}/ws"),
            public=lambda node: f"{base}/n/{node.name}-{node.port}")
        self.proxy = yield start_nginx(self, self.nodes, port=self.proxy_port)

    @defer.inlineCallbacks
    def request(self, method, path, body=None):
        import json

        response = yield treq.request(method, f"{self.proxy.url}{path}", json=body, timeout=10, persistent=False)
        raw = yield response.content()
        return response.code, (json.loads(raw) if raw else None)

    @defer.inlineCallbacks
    def test_a_game_played_through_the_proxy(self):
        status, created = yield self.request("POST", "/api/games", {"user_id": "alice", "username": "Alice"})
        self.assertEqual(status, 201, created)
        owner = created["ws_url"].split("/n/")[1].split("/")[0]
        self.assertIn(owner, [f"{n.name}-{n.port}" for n in self.nodes])
        self.assertTrue(created["ws_url"].startswith(f"{self.proxy.ws_base}/n/"))
        status, joined = yield self.request("POST", f"/api/games/{created['game_id']}/players",
                                            {"user_id": "bob", "username": "Bob"})
        self.assertEqual(status, 201, joined)
        self.assertTrue(joined["ws_url"].startswith(f"{self.proxy.ws_base}/n/{owner}/"))
        winner, codes = yield play_game(created["ws_url"], joined["ws_url"])
        self.assertEqual((winner["winnerId"], codes), ("alice", [1000, 1000]))

    @defer.inlineCallbacks
    def test_a_launched_match_played_through_the_proxy(self):
        body = {"match_id": "nx", "players": [{"user_id": "p1", "username": "P1"}, {"user_id": "p2", "username": "P2"}]}
        status, placed = yield self.request("PUT", "/api/match", body)
        self.assertEqual(status, 201, placed)
        urls = [p["ws_url"] for p in placed["players"]]
        self.assertTrue(all(u.startswith(f"{self.proxy.ws_base}/m/{placed['port']}/ws?token=") for u in urls), urls)
        one = yield connect(reactor, urls[0])
        two = yield connect(reactor, urls[1])
        yield two.wait_for(of_type("player_joined"))
        start_match([(one, "aru"), (two, "mai")], throws=(0, 2))
        yield one.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
