"""The heartbeat and placement, Clock-driven over a fake connection."""

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from rpsa.cluster.nodes import ClusterObserver, Heartbeat, NodeInfo, NodeLoad
from tests.cluster.fakes import ScriptConnection


class Load(NodeLoad):
    def __init__(self):
        self.games, self.matches, self.draining = 0, 0, False

    def games_held(self):
        return self.games

    def matches_running(self):
        return self.matches

    def is_draining(self):
        return self.draining


class Observer(ClusterObserver):
    def __init__(self):
        self.joins = 0
        self.views = []

    def joined(self):
        self.joins += 1

    def view_changed(self, view):
        self.views.append(view)


def record(name, games=0, max_games=10, matches=0, max_matches=4, draining=False):
    return NodeInfo(name, f"inc-{name}", f"http://{name}.test", "", games, max_games, matches, max_matches,
                    draining, 1.5)


class NodeInfoTests(TestCase):
    def test_fields_round_trip(self):
        info = NodeInfo("a", "i1", "https://a.test/n/1", "wss://a.test/m/{port}/ws", 3, 10, 1, 4, True, 12.5)
        self.assertEqual(NodeInfo.parse("a", info.fields()), info)

    def test_a_record_that_is_not_one_is_none(self):
        self.assertIsNone(NodeInfo.parse("a", ["public_url", "x"]))
        self.assertIsNone(NodeInfo.parse("a", ["incarnation", "i", "public_url", "x", "games", "many"]))

    def test_free_slots_are_none_while_draining_or_full(self):
        self.assertEqual((record("a", 3).free_games, record("a", matches=1).free_matches), (7, 3))
        self.assertEqual(record("a", draining=True).free_games, 0)
        self.assertEqual(record("a", games=12).free_games, 0)


class HeartbeatTests(TestCase):
    def setUp(self):
        self.clock = Clock()
        self.connection = ScriptConnection()
        self.load = Load()
        self.observer = Observer()
        self.heartbeat = Heartbeat(self.clock, self.connection, "p:", "a", "inc-a", "http://a.test",
                                   max_games=10, max_matches=4, load=self.load, observer=self.observer,
                                   interval=2.0, ttl=5.0, clock=lambda: 1.5)

    def answer(self, was_ours, *records):
        argv, d = self.connection.take("HEARTBEAT")
        flat = []
        for info in records:
            flat += [info.name, info.fields()]
        d.callback([1 if was_ours else 0, flat])
        return argv

    def test_the_first_heartbeat_writes_the_record_with_a_ttl_and_says_the_node_joined(self):
        self.load.games = 3
        self.heartbeat.startService()
        argv = self.answer(False, record("a", 3), record("b", 1))
        self.assertEqual(argv[:3], ["a", "inc-a", "5000"])
        self.assertEqual(NodeInfo.parse("a", argv[3:]), NodeInfo("a", "inc-a", "http://a.test", "", 3, 10, 0, 4,
                                                                 False, 1.5))
        self.assertEqual(self.observer.joins, 1)
        self.assertEqual(sorted(self.heartbeat.view), ["a", "b"])

    def test_it_beats_every_interval_and_joins_again_only_when_its_record_was_gone(self):
        self.heartbeat.startService()
        self.answer(False, record("a"))
        self.clock.advance(1.9)
        self.assertEqual(self.connection.calls, [])
        self.clock.advance(0.1)
        self.answer(True, record("a"))
        self.clock.advance(2.0)
        self.answer(False, record("a"))  # Redis restarted empty, or this node was taken for dead
        self.assertEqual(self.observer.joins, 2)
        self.assertEqual(self.heartbeat.beats, 3)

    def test_while_redis_is_away_it_waits_and_beats_at_once_when_it_is_back(self):
        self.connection.connected = False
        self.heartbeat.startService()
        self.clock.advance(10)
        self.assertEqual(self.connection.calls, [])
        self.connection.come_up()
        self.answer(True, record("a"))
        self.assertEqual(self.heartbeat.beats, 1)

    def test_a_failed_heartbeat_tries_again_after_the_interval(self):
        self.heartbeat.startService()
        self.connection.go_down()
        self.connection.connected = True
        self.clock.advance(2.0)
        self.answer(True, record("a"))

    def test_beat_now_during_a_beat_beats_again_right_after(self):
        self.heartbeat.startService()
        self.load.draining = True
        self.heartbeat.beat_now()
        self.answer(True, record("a"))
        argv = self.answer(True, record("a"))
        self.assertTrue(NodeInfo.parse("a", argv[3:]).draining)

    def test_stopping_leaves_the_cluster_and_cancels_the_next_beat(self):
        self.heartbeat.startService()
        self.answer(False, record("a"))
        d = self.heartbeat.stopService()
        argv, leave = self.connection.take("LEAVE")
        self.assertEqual(argv, ["a", "inc-a"])
        leave.callback(0)
        self.successResultOf(d)
        self.assertFalse(self.clock.getDelayedCalls())

    def test_a_leave_that_gets_no_answer_is_given_up_after_a_bound(self):
        self.heartbeat.startService()
        self.answer(False, record("a"))
        d = self.heartbeat.stopService()
        self.clock.advance(2.0)
        self.successResultOf(d)


class PlacementTests(TestCase):
    def setUp(self):
        self.load = Load()
        self.heartbeat = Heartbeat(Clock(), ScriptConnection(), "p:", "a", "inc-a", "http://a.test", max_games=10,
                                   max_matches=4, load=self.load)

    def names(self, kind="games", exclude=()):
        return [n.name for n in self.heartbeat.place(kind, exclude)]

    def test_most_room_first_this_node_with_its_current_load_ties_to_this_node(self):
        self.heartbeat.view = {"a": record("a", 9), "b": record("b", 4), "c": record("c", 6), "d": record("d", 4)}
        self.load.games = 4
        self.assertEqual(self.names(), ["a", "b", "d", "c"])
        self.assertEqual(self.names(exclude={"a"}), ["b", "d", "c"])

    def test_full_and_draining_nodes_take_nothing(self):
        self.heartbeat.view = {"b": record("b", 10), "c": record("c", draining=True), "d": record("d", 2)}
        self.load.draining = True
        self.assertEqual(self.names(), ["d"])

    def test_matches_by_free_match_slots(self):
        self.heartbeat.view = {"b": record("b", matches=1), "c": record("c", matches=3)}
        self.load.matches = 2
        self.assertEqual(self.names("matches"), ["b", "a", "c"])

    def test_live_finds_this_node_and_the_others(self):
        self.heartbeat.view = {"b": record("b")}
        self.assertEqual(self.heartbeat.live("a").public_url, "http://a.test")
        self.assertEqual(self.heartbeat.live("b").public_url, "http://b.test")
        self.assertIsNone(self.heartbeat.live("z"))
