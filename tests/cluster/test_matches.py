"""Matches in a cluster, over fake claims, nodes and bus: placement, forwarding, one claim per id."""

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from rpsa.cluster.errors import DirectoryUnavailable
from rpsa.cluster.matches import ClusterMatches, LocalMatches, MatchClaims, MatchRequests
from rpsa.cluster.nodes import NodeInfo
from rpsa.web import APIError
from tests.cluster.fakes import ScriptConnection

WANTED = {"match_id": "m1", "rounds": 3, "players": [{"user_id": "a", "username": "A"},
                                                      {"user_id": "b", "username": "B"}]}


class Launcher(LocalMatches):
    def __init__(self):
        self.puts = []
        self.error = None

    def put(self, wanted, request=None):
        self.puts.append(wanted)
        if self.error is not None:
            return defer.fail(self.error)
        return defer.succeed((201, {"match_id": wanted["match_id"], "port": 9000}))

    def get(self, match_id):
        return {"match_id": match_id, "state": "waiting"}

    def delete(self, match_id):
        return defer.succeed({"match_id": match_id, "state": "ended"})


class Nodes:
    def __init__(self, *names):
        self.names = names

    def place(self, kind="games", exclude=()):
        return [NodeInfo(n, "i", f"http://{n}") for n in self.names if n not in exclude]


class Bus:
    def __init__(self):
        self.requests = []

    def request(self, owner, op, args, timeout):
        d = defer.Deferred()
        self.requests.append((owner, op, args, timeout, d))
        return d


class MatchTestCase(TestCase):
    def setUp(self):
        self.connection = ScriptConnection()
        self.claims = MatchClaims(self.connection, "p:", "a", "inc-a")
        self.launcher = Launcher()
        self.bus = Bus()
        self.here = MatchRequests(self.launcher, self.claims)

    def matches(self, *placement):
        return ClusterMatches(self.here, Nodes(*placement), self.bus, forward_timeout=5.0, delete_timeout=20.0)

    def owner_is(self, owner):
        argv, d = self.connection.take("MATCH_OWNER")
        self.assertEqual(argv, ["m1"])
        d.callback(owner)

    def claim_answer(self, elsewhere=""):
        argv, d = self.connection.take("CLAIM_MATCH")
        self.assertEqual(argv, ["m1", "a", "inc-a"])
        d.callback(elsewhere)


class PutTests(MatchTestCase):
    def test_a_new_match_placed_here_is_claimed_then_launched(self):
        d = self.matches("a", "b").put(WANTED)
        self.owner_is(None)
        self.claim_answer()
        self.assertEqual(self.successResultOf(d), (201, {"match_id": "m1", "port": 9000}))
        self.assertEqual(self.launcher.puts, [WANTED])

    def test_a_new_match_goes_to_the_node_with_most_room(self):
        d = self.matches("c", "a").put(WANTED)
        self.owner_is(None)
        owner, op, args, timeout, reply = self.bus.requests[0]
        self.assertEqual((owner, op, args, timeout), ("c", "match_put", {"wanted": WANTED}, 5.0))
        reply.callback({"status": 201, "answer": {"port": 9001}})
        self.assertEqual(self.successResultOf(d), (201, {"port": 9001}))
        self.assertEqual(self.launcher.puts, [])

    def test_a_claimed_match_goes_to_its_owner(self):
        d = self.matches("a").put(WANTED)
        self.owner_is("b")
        self.assertEqual(self.bus.requests[0][0], "b")
        self.bus.requests[0][4].callback({"status": 200, "answer": {}})
        self.assertEqual(self.successResultOf(d)[0], 200)

    def test_a_node_that_lost_the_claim_race_sends_the_request_on_to_the_winner(self):
        d = self.matches("a").put(WANTED)
        self.owner_is(None)
        self.claim_answer("c")
        self.assertEqual(self.bus.requests[0][:2], ("c", "match_put"))
        self.bus.requests[0][4].callback({"status": 200, "answer": {"port": 1}})
        self.assertEqual(self.successResultOf(d), (200, {"port": 1}))
        self.assertEqual(self.launcher.puts, [])

    def test_a_launch_that_fails_frees_the_id(self):
        self.launcher.error = APIError(503, "no_free_port", "no port")
        d = self.matches("a").put(WANTED)
        self.owner_is(None)
        self.claim_answer()
        self.failureResultOf(d, APIError)
        argv, _ = self.connection.take("END_MATCH")
        self.assertEqual(argv, ["m1", "a", "inc-a", "0"])

    def test_a_conflicting_repeat_keeps_the_claim(self):
        self.launcher.error = APIError(409, "match_exists", "different")
        d = self.matches("a").put(WANTED)
        self.owner_is(None)
        self.claim_answer()
        self.failureResultOf(d, APIError)
        self.assertEqual(self.connection.script_calls(), [])

    def test_redis_away_is_directory_unavailable(self):
        self.connection.connected = False
        self.failureResultOf(self.matches("a").put(WANTED), DirectoryUnavailable)


class ForwardedTests(MatchTestCase):
    def test_get_and_delete_go_to_the_owner_delete_with_its_longer_timeout(self):
        matches = self.matches("a")
        got = matches.get("m1")
        self.owner_is("b")
        deleted = matches.delete("m1")
        self.owner_is("b")
        (_, op1, _, t1, r1), (_, op2, _, t2, r2) = self.bus.requests
        self.assertEqual((op1, t1, op2, t2), ("match_get", 5.0, "match_delete", 20.0))
        r1.callback({"state": "waiting"})
        r2.callback({"state": "ended"})
        self.assertEqual(self.successResultOf(got), {"state": "waiting"})
        self.assertEqual(self.successResultOf(deleted), {"state": "ended"})

    def test_a_match_of_this_node_is_answered_here(self):
        d = self.matches("a").delete("m1")
        self.owner_is("a")
        self.assertEqual(self.successResultOf(d), {"match_id": "m1", "state": "ended"})

    def test_an_unknown_match_is_404(self):
        d = self.matches("a").get("m1")
        self.owner_is(None)
        self.assertEqual(self.failureResultOf(d, APIError).value.code, "match_not_found")

    def test_requests_from_other_nodes(self):
        put = self.here.handle_request("match_put", {"wanted": WANTED}, "b")
        self.claim_answer()
        self.assertEqual(self.successResultOf(put), {"status": 201, "answer": {"match_id": "m1", "port": 9000}})
        self.assertEqual(self.here.handle_request("match_get", {"match_id": "m1"}, "b")["state"], "waiting")
        self.assertRaises(APIError, self.here.handle_request, "match_fly", {}, "b")

    def test_an_ended_match_keeps_its_claim_an_hour(self):
        self.claims.ended("m1")
        argv, _ = self.connection.take("END_MATCH")
        self.assertEqual(argv, ["m1", "a", "inc-a", "3600000"])
