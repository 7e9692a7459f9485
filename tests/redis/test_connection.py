"""RedisConnection, Clock-driven against a fake endpoint: connecting, backoff, state, commands, figures."""

from prometheus_client import CollectorRegistry, generate_latest
from twisted.internet import defer
from twisted.internet.error import ConnectionLost
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import TestCase

from rpsa.redis.connection import (
    CONNECTED, CONNECTING, DISCONNECTED, STOPPED, RedisConnection, RedisReplyError, RedisUnavailable)
from rpsa.redis.url import parse_redis_url
from tests.redis.fakes import FakeEndpoint


class _Collector:
    def __init__(self, source):
        self.source = source

    def collect(self):
        return self.source.metric_families()


def metrics_text(source) -> str:
    registry = CollectorRegistry()
    registry.register(_Collector(source))
    return generate_latest(registry).decode()


class ConnectionTestCase(TestCase):
    url = "redis://:topsecret@redis.example:6379/2"

    def setUp(self):
        self.clock = MemoryReactorClock()
        self.endpoint = FakeEndpoint(self.clock)
        self.connection = RedisConnection(self.clock, parse_redis_url(self.url), initial_delay=1.0, max_delay=8.0,
                                          connect_timeout=5.0, command_timeout=3.0, random=lambda: 1.0,
                                          endpoint=self.endpoint)

    def connect(self):
        """Accept the pending attempt and answer its preparation."""
        link = self.endpoint.accept()
        self.prepare(link)
        return link

    def prepare(self, link):
        """Answer AUTH, SELECT, PING and CLIENT SETNAME, one by one as they come."""
        sent = []
        for _ in range(10):
            commands = link.commands()
            if not commands:
                break
            for command in commands:
                sent.append(command)
                link.reply("PONG" if command[0] == "PING" else "OK")
        return sent

    def stop(self):
        d = self.connection.stopService()
        for link in self.endpoint.links:
            if link.transport.disconnecting and link.proto.lost_reason is None:
                link.lose()
        return d


class ConnectingTests(ConnectionTestCase):
    def test_prepares_the_connection(self):
        self.connection.startService()
        self.assertEqual(self.connection.state, CONNECTING)
        link = self.endpoint.accept()
        commands = link.commands()
        self.assertEqual(commands[0], ["AUTH", "topsecret"])  # nothing else before the reply
        link.reply("OK")
        self.assertEqual(link.commands(), [["SELECT", "2"]])
        link.reply("OK")
        self.assertEqual(link.commands(), [["PING"]])
        self.assertEqual(self.connection.state, CONNECTING)
        link.reply("PONG")
        self.assertEqual(link.commands(), [["CLIENT", "SETNAME", "rpsa"]])
        link.reply(RedisReplyError("NOPERM this user has no permissions"))  # tolerated
        self.assertEqual(self.connection.state, CONNECTED)
        self.assertTrue(self.connection.connected)
        self.stop()

    def test_username_and_password(self):
        self.connection = RedisConnection(self.clock, parse_redis_url("redis://bob:pw@h"), endpoint=self.endpoint)
        self.connection.startService()
        link = self.endpoint.accept()
        self.assertEqual(link.commands(), [["AUTH", "bob", "pw"]])
        self.stop()

    def test_no_password_no_db(self):
        self.connection = RedisConnection(self.clock, parse_redis_url("redis://h"), endpoint=self.endpoint,
                                          client_name=None)
        self.connection.startService()
        link = self.endpoint.accept()
        self.assertEqual(link.commands(), [["PING"]])
        link.reply("PONG")
        self.assertTrue(self.connection.connected)
        self.stop()

    def test_when_connected(self):
        self.connection.startService()
        waiting = self.connection.when_connected()
        self.assertNoResult(waiting)
        self.connect()
        self.assertIs(self.successResultOf(waiting), self.connection)
        self.assertIs(self.successResultOf(self.connection.when_connected()), self.connection)
        self.stop()

    def test_when_connected_can_be_cancelled_and_fails_on_stop(self):
        self.connection.startService()
        cancelled = self.connection.when_connected()
        cancelled.cancel()
        self.failureResultOf(cancelled, defer.CancelledError)
        waiting = self.connection.when_connected()
        self.stop()
        self.failureResultOf(waiting, RedisUnavailable)

    def test_down_at_start_is_logged_once_and_retried_with_capped_backoff(self):
        with capturedLogs() as events:
            self.connection.startService()
            delays = []
            for _ in range(6):
                self.endpoint.refuse()
                self.assertEqual(self.connection.state, DISCONNECTED)
                delays.append(self.clock.getDelayedCalls()[0].getTime() - self.clock.seconds())
                self.clock.advance(delays[-1])
            self.connect()
        self.assertEqual(delays, [1.0, 2.0, 4.0, 8.0, 8.0, 8.0])
        warnings = [formatEvent(e) for e in events if e["log_level"].name == "warn"]
        self.assertEqual(len(warnings), 1)
        self.assertIn("unreachable", warnings[0])
        self.assertIn("running degraded", warnings[0])
        text = " ".join(formatEvent(e) for e in events)
        self.assertIn("connected to redis://:***@redis.example:6379/2 after 31.0s (7 attempts)", text)
        self.assertNotIn("topsecret", text)
        self.assertEqual(self.connection.figures.reconnects, 0)  # the first connection came late; none was lost
        self.stop()

    def test_jitter(self):
        self.connection = RedisConnection(self.clock, parse_redis_url("redis://h"), initial_delay=1.0,
                                          random=lambda: 0.0, endpoint=self.endpoint)
        self.connection.startService()
        self.endpoint.refuse()
        self.assertEqual(self.clock.getDelayedCalls()[0].getTime(), 0.5)
        self.stop()

    def test_an_attempt_that_hangs_times_out(self):
        self.connection.startService()
        self.clock.advance(5.0)
        self.assertEqual(self.connection.state, DISCONNECTED)
        [(_, attempt)] = self.endpoint.pending
        self.assertTrue(attempt.called)  # cancelled
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)  # the retry
        self.stop()

    def test_a_preparation_that_hangs_times_out_and_aborts(self):
        self.connection.startService()
        link = self.endpoint.accept()
        self.clock.advance(5.0)
        self.assertTrue(link.transport.disconnecting)
        self.assertEqual(self.connection.state, DISCONNECTED)
        self.stop()

    def test_wrong_password(self):
        with capturedLogs() as events:
            self.connection.startService()
            link = self.endpoint.accept()
            link.commands()
            link.reply(RedisReplyError("WRONGPASS invalid username-password pair or user is disabled."))
        self.assertTrue(link.transport.disconnecting)
        self.assertEqual(self.connection.state, DISCONNECTED)
        text = " ".join(formatEvent(e) for e in events)
        self.assertIn("WRONGPASS", text)
        self.assertNotIn("topsecret", text)
        self.stop()

    def test_lost_then_reconnected(self):
        self.connection.startService()
        link = self.connect()
        down = self.connection.when_disconnected()
        with capturedLogs() as events:
            link.lose(ConnectionLost("reset"))
            self.assertEqual(self.connection.state, DISCONNECTED)
            self.assertIsNone(self.successResultOf(down))
            self.failureResultOf(self.connection.execute("PING"), RedisUnavailable)
            self.clock.advance(1.0)
            self.endpoint.refuse()
            self.clock.advance(2.0)
            self.connect()
        self.assertTrue(self.connection.connected)
        warnings = [formatEvent(e) for e in events if e["log_level"].name == "warn"]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("lost the connection", warnings[0])
        self.assertEqual(self.connection.figures.reconnects, 1)
        self.stop()

    def test_stop_closes_and_stops_retrying(self):
        self.connection.startService()
        self.endpoint.refuse()
        d = self.stop()
        self.successResultOf(d)
        self.assertEqual(self.connection.state, STOPPED)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_closes_the_connection_bounded(self):
        self.connection.startService()
        link = self.connect()
        d = self.connection.stopService()
        self.assertTrue(link.transport.disconnecting)
        self.assertNoResult(d)
        self.clock.advance(5.0)  # the peer never closes: aborted
        link.lose()
        self.successResultOf(d)

    def test_children_stop_before_the_connection_closes(self):
        from twisted.application import service

        order = []

        class Child(service.Service):
            def stopService(inner):
                order.append(("child", self.connection.connected))
                return super().stopService()

        Child().setServiceParent(self.connection)
        self.connection.startService()
        self.connect()
        self.stop()
        self.assertEqual(order, [("child", True)])


class CommandTests(ConnectionTestCase):
    def setUp(self):
        super().setUp()
        self.connection.startService()
        self.link = self.connect()
        self.addCleanup(self.stop)

    def test_replies_in_order(self):
        first = self.connection.execute("SET", "k", "v")
        second = self.connection.execute("GET", "k")
        third = self.connection.execute("XRANGE", "s", "-", "+")
        self.assertEqual(self.link.commands(), [["SET", "k", "v"], ["GET", "k"], ["XRANGE", "s", "-", "+"]])
        self.link.reply("OK", b"007", [[b"1-0", [b"a", b"1"]]])
        self.assertEqual(self.successResultOf(first), "OK")
        self.assertEqual(self.successResultOf(second), "007")  # no number conversion
        self.assertEqual(self.successResultOf(third), [["1-0", ["a", "1"]]])
        self.assertEqual(self.connection.figures.commands, 3)

    def test_error_reply(self):
        d = self.connection.execute("INCR", "s")
        self.link.reply(RedisReplyError("WRONGTYPE Operation against a key holding the wrong kind of value"))
        failure = self.failureResultOf(d, RedisReplyError)
        self.assertIn("WRONGTYPE", str(failure.value))
        self.assertEqual(self.connection.figures.errors, 1)
        self.assertTrue(self.connection.connected)

    def test_lost_before_the_reply(self):
        d = self.connection.execute("SET", "k", "v")
        self.link.lose(ConnectionLost("reset"))
        self.failureResultOf(d, RedisUnavailable)
        self.assertEqual(self.connection.figures.errors, 1)

    def test_no_reply_within_the_timeout_aborts_the_connection(self):
        self.clock.advance(1.0)
        first = self.connection.execute("GET", "a")
        self.clock.advance(2.0)
        second = self.connection.execute("GET", "b")
        self.link.reply(None)  # the first is answered; the second never is
        self.assertIsNone(self.successResultOf(first))
        self.clock.advance(1.0)  # the watchdog set for the first: the second is 1 s old
        self.assertFalse(self.link.transport.disconnecting)
        with capturedLogs() as events:
            self.clock.advance(2.0)
        self.assertTrue(self.link.transport.disconnecting)
        self.assertIn("no reply within 3.0s", formatEvent(events[0]))
        self.link.lose()
        self.failureResultOf(second, RedisUnavailable)
        self.assertEqual(self.connection.state, DISCONNECTED)

    def test_figures(self):
        d = self.connection.execute("PING")
        self.clock.advance(0.002)
        self.link.reply("PONG")
        self.successResultOf(d)
        failing = self.connection.execute("X")
        self.link.reply(RedisReplyError("ERR unknown command"))
        self.failureResultOf(failing, RedisReplyError)
        text = metrics_text(self.connection)
        self.assertIn("rpsa_redis_connected 1.0", text)
        self.assertIn("rpsa_redis_commands_total 2.0", text)
        self.assertIn("rpsa_redis_errors_total 1.0", text)
        self.assertIn("rpsa_redis_reconnects_total 0.0", text)
        self.assertIn('rpsa_redis_round_trip_seconds_bucket{le="0.001"} 1.0', text)
        self.assertIn('rpsa_redis_round_trip_seconds_bucket{le="0.0025"} 2.0', text)
        self.assertIn("rpsa_redis_round_trip_seconds_count 2.0", text)
