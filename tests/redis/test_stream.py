"""StreamWriter, Clock-driven against a fake connection: order, batches, outages, the bound, errors, stop."""

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import TestCase

from rpsa.redis.connection import RedisReplyError
from rpsa.redis.schema import APPEND_SCRIPT, Keys
from rpsa.redis.stream import SCRIPT_SHA, StreamWriter
from tests.redis.fakes import FakeConnection, script_entries
from tests.redis.test_connection import metrics_text


def entry(n):
    return ["n", str(n)]


class WriterTestCase(TestCase):
    def setUp(self):
        self.clock = MemoryReactorClock()
        self.connection = FakeConnection()
        self.writer = self.make_writer()
        self.writer.startService()

    def make_writer(self, **kwargs):
        options = dict(maxlen=1000, max_queued=100, batch_size=10, retry_delay=1.0, stop_timeout=2.0,
                       writer_id="w1")
        options.update(kwargs)
        return StreamWriter(self.clock, self.connection, "events", Keys("test:"), **options)

    def sent(self):
        """The entries of each call made so far (and forget the calls' arguments)."""
        return [script_entries(args)[4] for args, _ in self.connection.calls]

    def answer(self, value=1, index=0):
        args, d = self.connection.calls.pop(index)
        d.callback(value)
        return script_entries(args)

    def fail(self, error, index=0):
        args, d = self.connection.calls.pop(index)
        d.errback(error)
        return script_entries(args)


class OrderTests(WriterTestCase):
    def test_append_returns_at_once_and_sends_at_the_next_turn(self):
        self.writer.append(entry(1))
        self.writer.append(entry(2))
        self.assertEqual(self.connection.calls, [])
        self.clock.advance(0)
        [(args, _)] = self.connection.calls
        command, stream, key, maxlen, entries = script_entries(args)
        self.assertEqual((command, args[1], args[2], stream, key, maxlen, args[6]),
                         ("EVALSHA", SCRIPT_SHA, "2", "events", "test:stream-writer:w1", "1000", "86400"))
        self.assertEqual(entries, [(1, ["n", "1"]), (2, ["n", "2"])])

    def test_one_batch_in_flight_then_the_rest_in_order(self):
        for n in range(1, 4):
            self.writer.append(entry(n))
        self.clock.advance(0)
        for n in range(4, 7):
            self.writer.append(entry(n))
        self.clock.advance(0)
        self.assertEqual(len(self.connection.calls), 1)
        self.answer()
        self.clock.advance(0)
        self.assertEqual(self.sent(), [[(4, entry(4)), (5, entry(5)), (6, entry(6))]])
        self.answer()
        self.assertEqual((self.writer.written, self.writer.queued), (6, 0))

    def test_batch_size(self):
        for n in range(25):
            self.writer.append(entry(n))
        sizes = []
        for _ in range(3):
            self.clock.advance(0)
            sizes.append(len(self.answer()[4]))
        self.assertEqual(sizes, [10, 10, 5])

    def test_untrimmed_stream(self):
        self.writer = self.make_writer(maxlen=0)
        self.writer.startService()
        self.writer.append(entry(1))
        self.clock.advance(0)
        self.assertEqual(script_entries(self.connection.calls[-1][0])[3], "0")

    def test_flushed(self):
        self.successResultOf(self.writer.flushed())
        self.writer.append(entry(1))
        flushed = self.writer.flushed()
        self.clock.advance(0)
        self.assertNoResult(flushed)
        self.answer()
        self.successResultOf(flushed)

    def test_nothing_is_sent_before_start(self):
        writer = self.make_writer()
        writer.append(entry(1))
        self.clock.advance(0)
        self.assertEqual(self.connection.calls, [])
        writer.startService()
        self.clock.advance(0)
        self.assertEqual(len(self.connection.calls), 1)


class OutageTests(WriterTestCase):
    def test_entries_wait_for_the_connection_and_go_in_order(self):
        self.connection.go_down()
        for n in range(1, 4):
            self.writer.append(entry(n))
        self.clock.advance(5)
        self.assertEqual(self.connection.calls, [])
        self.assertEqual(self.writer.queued, 3)
        self.connection.come_up()
        self.clock.advance(0)
        self.assertEqual(self.sent(), [[(1, entry(1)), (2, entry(2)), (3, entry(3))]])

    def test_a_batch_lost_in_flight_is_sent_again_with_the_same_numbers_first(self):
        for n in range(1, 3):
            self.writer.append(entry(n))
        self.clock.advance(0)
        self.connection.go_down()  # the reply is lost: Redis may or may not have the entries
        self.writer.append(entry(3))
        self.connection.come_up()
        self.clock.advance(0)
        # The script skips the numbers Redis already has: nothing twice, nothing out of order.
        self.assertEqual(self.sent(), [[(1, entry(1)), (2, entry(2)), (3, entry(3))]])

    def test_the_bound_drops_the_oldest_and_warns_once_per_outage(self):
        self.writer = self.make_writer(max_queued=3)
        self.writer.startService()
        self.connection.go_down()
        with capturedLogs() as events:
            for n in range(1, 7):
                self.writer.append(entry(n))
        self.assertEqual((self.writer.queued, self.writer.dropped), (3, 3))
        warnings = [formatEvent(e) for e in events if e["log_level"].name == "warn"]
        self.assertEqual(len(warnings), 1)
        self.assertIn("dropping the oldest", warnings[0])
        self.connection.come_up()
        self.clock.advance(0)
        with capturedLogs() as events:
            self.assertEqual([e[0] for e in self.answer()[4]], [4, 5, 6])
        self.assertIn("writing again (3 entries dropped so far)", formatEvent(events[0]))
        # A second outage warns again.
        self.connection.go_down()
        with capturedLogs() as events:
            for n in range(7, 12):
                self.writer.append(entry(n))
        self.assertEqual(len([e for e in events if e["log_level"].name == "warn"]), 1)
        self.assertEqual(self.writer.dropped, 5)

    def test_the_bound_counts_a_batch_that_comes_back(self):
        self.writer = self.make_writer(max_queued=3, batch_size=3)
        self.writer.startService()
        for n in range(1, 4):
            self.writer.append(entry(n))
        self.clock.advance(0)
        self.writer.append(entry(4))
        self.writer.append(entry(5))
        self.connection.go_down()
        self.assertEqual(self.writer.queued, 3)
        self.assertEqual(self.writer.dropped, 2)
        self.connection.come_up()
        self.clock.advance(0)
        self.assertEqual([e[0] for e in self.sent()[0]], [3, 4, 5])


class ErrorTests(WriterTestCase):
    def test_noscript_sends_the_script_text_once(self):
        self.writer.append(entry(1))
        self.clock.advance(0)
        self.fail(RedisReplyError("NOSCRIPT No matching script. Please use EVAL."))
        self.clock.advance(0)
        args, _ = self.connection.calls[0]
        self.assertEqual((args[0], args[1]), ("EVAL", APPEND_SCRIPT))
        self.assertEqual(script_entries(args)[4], [(1, entry(1))])
        self.answer()
        self.writer.append(entry(2))
        self.clock.advance(0)
        self.assertEqual(self.connection.calls[0][0][0], "EVALSHA")

    def test_an_error_reply_is_retried_with_a_doubling_delay_and_warned_once(self):
        self.writer.append(entry(1))
        self.clock.advance(0)
        with capturedLogs() as events:
            for delay in (1.0, 2.0, 4.0):
                self.fail(RedisReplyError("WRONGTYPE Operation against a key holding the wrong kind of value"))
                self.clock.advance(delay - 0.01)
                self.assertEqual(self.connection.calls, [])
                self.clock.advance(0.01)
                self.assertEqual(len(self.connection.calls), 1)
        warnings = [formatEvent(e) for e in events if e["log_level"].name == "warn"]
        self.assertEqual(len(warnings), 1)
        self.assertIn("WRONGTYPE", warnings[0])
        self.assertEqual(self.answer()[4], [(1, entry(1))])
        self.assertEqual(self.writer.written, 1)


class StopTests(WriterTestCase):
    def test_stop_writes_what_is_queued(self):
        self.writer.append(entry(1))
        stopped = self.writer.stopService()
        self.clock.advance(0)
        self.assertNoResult(stopped)
        self.answer()
        self.successResultOf(stopped)
        self.assertFalse(self.writer.running)

    def test_stop_is_bounded_and_says_what_was_not_written(self):
        self.connection.go_down()
        self.writer.append(entry(1))
        self.writer.append(entry(2))
        with capturedLogs() as events:
            stopped = self.writer.stopService()
            self.clock.advance(2.0)
        self.successResultOf(stopped)
        self.assertIn("2 entries not written", formatEvent(events[-1]))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.connection._waiting, [])

    def test_figures(self):
        self.writer.append(entry(1))
        self.clock.advance(0)
        self.answer()
        self.writer.append(entry(2))
        text = metrics_text(self.writer)
        self.assertIn('rpsa_redis_stream_written_total{stream="events"} 1.0', text)
        self.assertIn('rpsa_redis_stream_queued{stream="events"} 1.0', text)
        self.assertIn('rpsa_redis_stream_dropped_total{stream="events"} 0.0', text)
