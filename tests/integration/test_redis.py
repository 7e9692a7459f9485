"""The Redis connection and the stream writer against a real redis-server (started and stopped here)."""

from twisted.internet import defer, reactor, task
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import TestCase

from rpsa.redis.connection import RedisConnection, RedisReplyError
from rpsa.redis.schema import Keys
from rpsa.redis.stream import StreamWriter
from rpsa.redis.url import parse_redis_url
from tests.support.polling import wait_until
from tests.support.redis import RedisServer, make_tls_files, start_redis


class RedisTestCase(TestCase):
    timeout = 60

    def connect(self, url, **kwargs):
        """A started RedisConnection to ``url`` (stopped by the cleanup)."""
        options = dict(initial_delay=0.05, max_delay=0.2, connect_timeout=3.0)
        options.update(kwargs)
        connection = RedisConnection(reactor, parse_redis_url(url), **options)
        connection.startService()
        self.addCleanup(lambda: connection.stopService() if connection.running else None)
        return connection

    def writer(self, connection, stream="events", **kwargs):
        writer = StreamWriter(reactor, connection, stream, Keys("test:"), **kwargs)
        writer.setServiceParent(connection)
        return writer


class ConnectionTests(RedisTestCase):
    @defer.inlineCallbacks
    def test_password_database_and_name(self):
        server = yield start_redis(self, password="s3cret!")
        with capturedLogs() as events:
            connection = self.connect(f"redis://:s3cret%21@127.0.0.1:{server.port}/2")
            yield connection.when_connected()
        yield connection.execute("SET", "where", "db2")
        clients = yield server.command("CLIENT", "LIST")
        [line] = [line for line in clients.splitlines() if "name=rpsa" in line]
        self.assertIn(" db=2 ", line)
        self.assertNotIn("s3cret", " ".join(formatEvent(e) for e in events))

    @defer.inlineCallbacks
    def test_wrong_password_is_degraded_and_never_logged(self):
        server = yield start_redis(self, password="right")
        with capturedLogs() as events:
            connection = self.connect(f"redis://:wrong-one@127.0.0.1:{server.port}")
            yield wait_until(lambda: connection.state == "disconnected")
        text = " ".join(formatEvent(e) for e in events)
        self.assertIn("WRONGPASS", text)
        self.assertNotIn("wrong-one", text)

    @defer.inlineCallbacks
    def test_unix_socket(self):
        server = yield start_redis(self, unix_socket=True, password="pw")
        connection = self.connect(f"unix://:pw@{server.unix_path}?db=1")
        yield connection.when_connected()
        self.assertEqual((yield connection.execute("PING")), "PONG")

    @defer.inlineCallbacks
    def test_tls_verified(self):
        files = make_tls_files(self.mktemp(), hostname="localhost")
        server = yield start_redis(self, tls=files)
        connection = self.connect(f"rediss://localhost:{server.tls_port}/0?ssl_ca_certs={files['ca']}")
        yield connection.when_connected()
        self.assertEqual((yield connection.execute("PING")), "PONG")

    @defer.inlineCallbacks
    def test_tls_with_an_unknown_certificate_is_refused(self):
        files = make_tls_files(self.mktemp(), hostname="localhost")
        server = yield start_redis(self, tls=files)
        with capturedLogs() as events:
            connection = self.connect(f"rediss://localhost:{server.tls_port}/0?ssl_ca_certs={files['other_ca']}")
            yield wait_until(lambda: connection.state == "disconnected")
        self.assertFalse(connection.connected)
        text = " ".join(formatEvent(e) for e in events)
        self.assertIn("certificate verify failed", text)

    @defer.inlineCallbacks
    def test_tls_with_the_wrong_host_name_is_refused(self):
        files = make_tls_files(self.mktemp(), hostname="redis.internal")
        server = yield start_redis(self, tls=files)
        connection = self.connect(f"rediss://localhost:{server.tls_port}/0?ssl_ca_certs={files['ca']}")
        yield wait_until(lambda: connection.state == "disconnected")
        yield task.deferLater(reactor, 0.5, lambda: None)
        self.assertFalse(connection.connected)

    @defer.inlineCallbacks
    def test_starts_with_redis_down_then_connects(self):
        server = RedisServer(self.mktemp())
        self.addCleanup(server.stop)
        with capturedLogs() as events:
            connection = self.connect(server.url)
            yield wait_until(lambda: connection.state == "disconnected")
            yield task.deferLater(reactor, 0.5, lambda: None)  # several failed attempts
            yield server.start()
            yield connection.when_connected()
        warnings = [formatEvent(e) for e in events if e["log_level"].name == "warn"]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("running degraded", warnings[0])

    @defer.inlineCallbacks
    def test_reconnects_after_a_restart(self):
        server = yield start_redis(self)
        connection = self.connect(server.url)
        yield connection.when_connected()
        down = connection.when_disconnected()
        yield server.stop()
        yield down
        self.assertFalse(connection.connected)
        yield server.start()
        yield connection.when_connected()
        self.assertEqual((yield connection.execute("PING")), "PONG")
        self.assertEqual(connection.figures.reconnects, 1)

    @defer.inlineCallbacks
    def test_error_reply(self):
        server = yield start_redis(self)
        connection = self.connect(server.url)
        yield connection.when_connected()
        yield connection.execute("SET", "k", "v")
        with self.assertRaises(RedisReplyError):
            yield connection.execute("XADD", "k", "*", "a", "b")


def numbered(n):
    return ["product_id", "exrps", "game_id", "g", "type", "gameplay", "n", str(n)]


def numbers(entries):
    return [int(fields[-1]) for fields in entries]


class StreamWriterTests(RedisTestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.server = yield start_redis(self)

    @defer.inlineCallbacks
    def test_entries_in_order_with_their_fields(self):
        connection = self.connect(self.server.url)
        writer = self.writer(connection)
        for n in range(500):
            writer.append(numbered(n))
        yield writer.flushed()
        entries = yield self.server.entries("events")
        self.assertEqual(entries, [numbered(n) for n in range(500)])

    @defer.inlineCallbacks
    def test_trimmed_approximately(self):
        connection = self.connect(self.server.url)
        writer = self.writer(connection, maxlen=100)
        for n in range(3000):
            writer.append(numbered(n))
        yield writer.flushed()
        length = yield self.server.command("XLEN", "events")
        self.assertGreaterEqual(length, 100)
        self.assertLess(length, 1000)
        self.assertEqual(numbers((yield self.server.entries("events")))[-1], 2999)

    @defer.inlineCallbacks
    def test_outage_entries_arrive_in_order_after_the_restart(self):
        connection = self.connect(self.server.url)
        writer = self.writer(connection)
        for n in range(10):
            writer.append(numbered(n))
        yield writer.flushed()
        yield self.server.stop()  # no persistence: the stream goes with it
        yield wait_until(lambda: not connection.connected)
        for n in range(10, 40):
            writer.append(numbered(n))
        yield task.deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(writer.queued, 30)
        yield self.server.start()  # with an empty script cache: NOSCRIPT, then the script's text
        yield writer.flushed()
        self.assertEqual(numbers((yield self.server.entries("events"))), list(range(10, 40)))
        self.assertEqual((writer.written, writer.dropped), (40, 0))

    @defer.inlineCallbacks
    def test_bound_respected(self):
        connection = self.connect(self.server.url)
        writer = self.writer(connection, max_queued=10)
        yield connection.when_connected()
        yield self.server.stop()
        yield wait_until(lambda: not connection.connected)
        for n in range(25):
            writer.append(numbered(n))
        self.assertEqual((writer.queued, writer.dropped), (10, 15))
        yield self.server.start()
        yield writer.flushed()
        self.assertEqual(numbers((yield self.server.entries("events"))), list(range(15, 25)))

    @defer.inlineCallbacks
    def test_connections_killed_mid_stream_lose_and_duplicate_nothing(self):
        connection = self.connect(self.server.url)
        writer = self.writer(connection, batch_size=50)
        yield connection.when_connected()
        for round_ in range(5):
            for n in range(round_ * 400, (round_ + 1) * 400):
                writer.append(numbered(n))
            yield task.deferLater(reactor, 0, lambda: None)  # a batch is in flight now
            yield self.server.command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            yield wait_until(lambda: connection.connected)
        yield writer.flushed()
        self.assertEqual(numbers((yield self.server.entries("events"))), list(range(2000)))
        self.assertGreaterEqual(connection.figures.reconnects, 1)

    @defer.inlineCallbacks
    def test_a_batch_sent_twice_is_written_once(self):
        connection = self.connect(self.server.url)
        first = self.writer(connection, writer_id="same")
        for n in range(5):
            first.append(numbered(n))
        yield first.flushed()
        # The same writer identity sending its numbers 1..7 again (as after a lost reply):
        # 1..5 are skipped, 6 and 7 are new.
        again = self.writer(connection, writer_id="same")
        for n in range(7):
            again.append(numbered(100 + n))
        yield again.flushed()
        self.assertEqual(numbers((yield self.server.entries("events"))), [0, 1, 2, 3, 4, 105, 106])
        self.assertEqual((yield self.server.command("GET", "test:stream-writer:same")), "7")
        ttl = yield self.server.command("TTL", "test:stream-writer:same")
        self.assertTrue(0 < ttl <= 86400, ttl)

    @defer.inlineCallbacks
    def test_a_consumer_group_sees_every_entry_once(self):
        yield self.server.command("XGROUP", "CREATE", "events", "portal", "$", "MKSTREAM")
        connection = self.connect(self.server.url)
        writer = self.writer(connection, batch_size=20)
        yield connection.when_connected()
        for n in range(300):
            writer.append(numbered(n))
            if n == 150:
                yield task.deferLater(reactor, 0, lambda: None)
                yield self.server.command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        yield writer.flushed()
        seen = {"a": [], "b": []}
        for _ in range(200):
            got = False
            for consumer in ("a", "b"):
                reply = yield self.server.command("XREADGROUP", "GROUP", "portal", consumer, "COUNT", "7",
                                                  "STREAMS", "events", ">")
                if reply:
                    [[_stream, entries]] = reply
                    seen[consumer].extend(numbers([fields for _id, fields in entries]))
                    got = got or bool(entries)
            if not got:
                break
        self.assertEqual(sorted(seen["a"] + seen["b"]), list(range(300)))
        self.assertTrue(seen["a"] and seen["b"])

    @defer.inlineCallbacks
    def test_stop_writes_what_is_queued_before_closing(self):
        connection = self.connect(self.server.url)
        writer = self.writer(connection)
        yield connection.when_connected()
        for n in range(100):
            writer.append(numbered(n))
        yield connection.stopService()
        self.assertEqual(numbers((yield self.server.entries("events"))), list(range(100)))

    @defer.inlineCallbacks
    def test_wrong_type_is_retried_until_fixed(self):
        yield self.server.command("SET", "events", "not a stream")
        connection = self.connect(self.server.url)
        writer = self.writer(connection, retry_delay=0.05)
        writer.append(numbered(1))
        yield wait_until(lambda: connection.figures.errors >= 2)
        yield self.server.command("DEL", "events")
        yield writer.flushed()
        self.assertEqual(numbers((yield self.server.entries("events"))), [1])

