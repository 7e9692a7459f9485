"""The --redis family of options: parsing (in rpsa.daemon.tap), what goes together, and what they build."""

from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import TestCase

from rpsa.daemon.tap import Options
from rpsa.redis import options as redis_options
from rpsa.redis.varcade import VarcadeEvents


def parse(*argv):
    options = Options()
    options.parseOptions(list(argv))
    return options


class OptionTests(TestCase):
    def test_defaults(self):
        options = parse()
        self.assertEqual((options["redis"], options["redis-key-prefix"], options["event-stream"],
                          options["event-stream-maxlen"], options["event-queue"]),
                         (None, "rpsa:", None, 100_000, 10_000))
        self.assertIsNone(redis_options.build(options, MemoryReactorClock()))

    def test_full(self):
        options = parse("--redis", "redis://:pw@127.0.0.1:6390/1", "--event-stream", "game_event_stream",
                        "--product-id", "exrps", "--event-stream-maxlen", "5000", "--redis-key-prefix", "x:",
                        "--event-queue", "20")
        self.assertEqual(options["redis"].port, 6390)
        redis = redis_options.build(options, MemoryReactorClock())
        self.assertIsInstance(redis.events, VarcadeEvents)
        self.assertEqual(redis.writer.stream, "game_event_stream")
        self.assertEqual(list(redis.connection), [redis.writer])
        self.assertFalse(redis.healthy)
        self.assertEqual(redis.name, "redis")
        names = [family.name for family in redis.metric_families()]
        self.assertIn("rpsa_redis_connected", names)
        self.assertIn("rpsa_redis_stream_dropped", names)

    def test_redis_without_stream(self):
        redis = redis_options.build(parse("--redis", "redis://localhost"), MemoryReactorClock())
        self.assertIsNone(redis.writer)
        self.assertIsNone(redis.events)
        self.assertEqual(list(redis.connection), [])

    def test_ca_file_without_certificate(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("nothing\n")
        with self.assertRaises(usage.UsageError) as caught:
            parse("--redis", f"rediss://:pw@h?ssl_ca_certs={path}")
        self.assertIn("no PEM certificate", str(caught.exception))

    def test_errors(self):
        for argv, expected in [
            (["--redis", "http://:secretpw@x"], "--redis: "),
            (["--redis", "redis://:secretpw@x/notadb"], "--redis: "),
            (["--event-stream", "s", "--product-id", "p"], "--event-stream needs --redis"),
            (["--redis", "redis://x", "--event-stream", "s"], "needs --product-id"),
            (["--product-id", "p"], "--product-id means nothing without --event-stream"),
            (["--event-stream-maxlen", "-1"], "--event-stream-maxlen: must be a finite number of at least 0"),
            (["--event-queue", "0"], "--event-queue: must be a finite number of at least 1"),
            (["--event-queue", "many"], "is not an integer"),
        ]:
            with self.subTest(argv=argv):
                with self.assertRaises(usage.UsageError) as caught:
                    parse(*argv)
                self.assertIn(expected, str(caught.exception))
                self.assertNotIn("secretpw", str(caught.exception))
