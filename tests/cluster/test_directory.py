"""The game directory, Clock-driven over a fake connection: claims, coalesced writes, outages, reads."""

import json

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from rpsa.cluster.directory import WRITE_DELAY, GameDirectory, game_values, listed_summary, token_hash
from rpsa.cluster.errors import DirectoryUnavailable
from rpsa.play import views
from tests.cluster.fakes import ScriptConnection


class Seat:
    def __init__(self, user_id, token, connected=False):
        self.user_id, self.username, self.token, self.connected = user_id, user_id.title(), token, connected
        self.conn = None


class Session:
    """What the directory reads of a session: its summary's parts and its seats."""

    def __init__(self, game_id, seats=(), created_at=100.0):
        self.game_id = game_id
        self.state = "waiting"
        self.rounds = 3
        self.seats = list(seats)
        self.spectators = set()
        self.joinable = True
        self.created_at = created_at


class DirectoryTestCase(TestCase):
    def setUp(self):
        self.clock = Clock()
        self.connection = ScriptConnection()
        self.directory = GameDirectory(self.clock, self.connection, "p:", "a", "inc-a")
        self.directory.startService()


class ValuesTests(TestCase):
    def test_a_session_is_written_as_its_summary_with_its_seats_hashed(self):
        session = Session("g1", [Seat("u1", "tok-1", connected=True)])
        values = game_values(session)
        self.assertEqual(values[:5], ["g1", "100.0", "1", "waiting", "3"])
        self.assertEqual(json.loads(values[5]), [{"user_id": "u1", "username": "U1", "connected": True}])
        self.assertEqual(values[6:], ["0", token_hash("tok-1")])
        self.assertNotIn("tok-1", " ".join(values))

    def test_a_listed_game_reads_back_as_the_summary_with_its_node(self):
        session = Session("g1", [Seat("u1", "t")])
        _, created, joinable, state, rounds, players, spectators, _ = game_values(session)
        listed = listed_summary("g1", ["b", state, rounds, players, spectators, joinable, created])
        self.assertEqual(listed, dict(views.summary(session), node="b"))


class ClaimTests(DirectoryTestCase):
    def test_a_claim_fires_none_when_won_and_the_owner_when_taken(self):
        won = self.directory.claim("g1", 100.0)
        argv, d = self.connection.take("CLAIM_GAME")
        self.assertEqual(argv, ["g1", "a", "inc-a", "100.0"])
        d.callback("")
        self.assertIsNone(self.successResultOf(won))
        taken = self.directory.claim("g1", 100.0)
        self.connection.take("CLAIM_GAME")[1].callback("b")
        self.assertEqual(self.successResultOf(taken), "b")

    def test_redis_away_is_directory_unavailable_at_once(self):
        self.connection.connected = False
        self.failureResultOf(self.directory.claim("g1", 1.0), DirectoryUnavailable)
        self.failureResultOf(self.directory.list(), DirectoryUnavailable)
        self.assertEqual(self.connection.calls, [])


class WriteTests(DirectoryTestCase):
    def test_changes_within_the_delay_are_written_together_once_each(self):
        one, two = Session("g1"), Session("g2")
        self.directory.game_changed(one)
        self.directory.game_changed(two)
        self.directory.game_changed(one)
        self.clock.advance(WRITE_DELAY / 2)
        self.assertEqual(self.connection.calls, [])
        self.clock.advance(WRITE_DELAY / 2)
        argv, d = self.connection.take("PUBLISH_GAMES")
        self.assertEqual(argv, ["a", "inc-a", *game_values(one), *game_values(two)])
        self.assertEqual(self.connection.calls, [])
        d.callback([])
        self.assertEqual(self.directory.pending, 0)

    def test_a_removal_is_written_and_a_change_after_it_wins(self):
        self.directory.game_removed("g1")
        self.clock.advance(WRITE_DELAY)
        argv, d = self.connection.take("REMOVE_GAMES")
        self.assertEqual(argv, ["a", "inc-a", "g1"])
        d.callback(0)

    def test_one_batch_at_a_time(self):
        self.directory.game_changed(Session("g1"))
        self.clock.advance(WRITE_DELAY)
        _, d = self.connection.take("PUBLISH_GAMES")
        self.directory.game_changed(Session("g2"))
        self.clock.advance(WRITE_DELAY)
        self.assertEqual(self.connection.calls, [])
        d.callback([])
        self.clock.advance(WRITE_DELAY)
        argv, _ = self.connection.take("PUBLISH_GAMES")
        self.assertEqual(argv[2], "g2")

    def test_a_write_lost_with_the_connection_is_sent_again_when_it_is_back(self):
        session = Session("g1")
        self.directory.game_changed(session)
        self.clock.advance(WRITE_DELAY)
        self.connection.go_down()
        self.clock.advance(WRITE_DELAY)
        self.assertEqual(self.directory.pending, 1)
        self.connection.come_up()
        self.clock.advance(WRITE_DELAY)
        argv, d = self.connection.take("PUBLISH_GAMES")
        self.assertEqual(argv[2], "g1")
        d.callback([])

    def test_an_error_reply_is_logged_and_retried_later(self):
        from rpsa.redis.connection import RedisReplyError

        self.directory.game_changed(Session("g1"))
        self.clock.advance(WRITE_DELAY)
        self.connection.take("PUBLISH_GAMES")[1].errback(RedisReplyError("OOM"))
        self.assertEqual(len(self.flushLoggedErrors(RedisReplyError)), 1)
        self.clock.advance(1.0)
        self.connection.take("PUBLISH_GAMES")

    def test_a_change_the_directory_does_not_show_is_not_written_again(self):
        session = Session("g1")
        self.directory.game_changed(session)
        self.clock.advance(WRITE_DELAY)
        self.connection.take("PUBLISH_GAMES")[1].callback([])
        self.directory.game_changed(session)  # e.g. one player readying: nothing listed changes
        self.clock.advance(WRITE_DELAY)
        self.assertEqual(self.connection.calls, [])
        session.spectators.add(object())
        self.directory.game_changed(session)
        self.clock.advance(WRITE_DELAY)
        argv, _ = self.connection.take("PUBLISH_GAMES")
        self.assertEqual(argv[8], "1")  # spectators

    def test_conflicts_are_counted(self):
        self.directory.game_changed(Session("g1"))
        self.clock.advance(WRITE_DELAY)
        self.connection.take("PUBLISH_GAMES")[1].callback(["g1"])
        self.assertEqual(self.directory.conflicts, 1)

    def test_republish_writes_what_is_held_and_deletes_what_is_not(self):
        held = [Session("g1"), Session("g2")]
        self.directory.republish(held)
        args, d = self.connection.take_command("SMEMBERS")
        self.assertEqual(args, ["SMEMBERS", "p:node-games:a"])
        d.callback(["g2", "gone"])
        self.clock.advance(WRITE_DELAY)
        removed, r = self.connection.take("REMOVE_GAMES")
        self.assertEqual(removed, ["a", "inc-a", "gone"])
        r.callback(0)
        published, _ = self.connection.take("PUBLISH_GAMES")
        self.assertEqual([published[2], published[10]], ["g1", "g2"])

    def test_nothing_is_written_once_stopped(self):
        self.directory.game_changed(Session("g1"))
        self.directory.stopService()
        self.clock.advance(1)
        self.assertEqual(self.connection.calls, [])
        self.directory.game_changed(Session("g2"))
        self.assertFalse(self.clock.getDelayedCalls())


class ReadTests(DirectoryTestCase):
    def test_list_parses_each_game(self):
        d = self.directory.list(joinable_only=True, exclude="a")
        argv, reply = self.connection.take("LIST_GAMES")
        self.assertEqual(argv, ["joinable", "a"])
        reply.callback(["g1", "b", "waiting", "3", "[]", "0", "1", "100.5", "g2", "c", "playing", "5", "[]", "2", "0",
                        "101.0"])
        games = self.successResultOf(d)
        self.assertEqual([(g["game_id"], g["node"], g["rounds"], g["joinable"], g["created_at"]) for g in games],
                         [("g1", "b", 3, True, 100.5), ("g2", "c", 5, False, 101)])

    def test_get_is_the_owner_and_the_summary_or_none(self):
        d = self.directory.get("g1")
        self.connection.take("GET_GAME")[1].callback(["b", "", "", "", "", "", "100"])
        self.assertEqual(self.successResultOf(d), ("b", None))  # claimed, not yet created
        d = self.directory.get("g2")
        self.connection.take("GET_GAME")[1].callback(None)
        self.assertIsNone(self.successResultOf(d))

    def test_a_token_is_looked_up_by_its_hash(self):
        d = self.directory.token_game("tok")
        argv, reply = self.connection.take("TOKEN_GAME")
        self.assertEqual(argv, [token_hash("tok")])
        reply.callback(["g1", "b"])
        self.assertEqual(self.successResultOf(d), ("g1", "b"))
