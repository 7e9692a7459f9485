"""The subscriber link, Clock-driven against a fake endpoint: it subscribes, hears, and subscribes again."""

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import TestCase

from rpsa.redis.pubsub import RETRY_DELAY, Subscriber
from rpsa.redis.connection import RedisReplyError
from rpsa.redis.url import parse_redis_url
from tests.redis.fakes import FakeEndpoint


class SubscriberTests(TestCase):
    def setUp(self):
        self.clock = MemoryReactorClock()
        self.endpoint = FakeEndpoint(self.clock)
        self.heard = []
        self.subscriber = Subscriber(self.clock, parse_redis_url("redis://redis.example:6379/0"), ["p:bus:a"],
                                     lambda channel, message: self.heard.append((channel, message)),
                                     initial_delay=1.0, random=lambda: 1.0, endpoint=self.endpoint)

    def connect(self):
        link = self.endpoint.accept()
        for _ in range(5):
            commands = link.commands()
            if not commands:
                break
            for command in commands:
                if command[0] == "SUBSCRIBE":
                    return link, command
                link.reply("PONG" if command[0] == "PING" else "OK")
        self.fail("no SUBSCRIBE")

    def test_it_subscribes_once_connected_and_hands_each_message_on(self):
        self.subscriber.startService()
        link, command = self.connect()
        self.assertEqual(command, ["SUBSCRIBE", "p:bus:a"])
        self.assertFalse(self.subscriber.subscribed)
        link.reply(["subscribe", "p:bus:a", 1])
        self.assertTrue(self.subscriber.subscribed)
        link.reply(["message", "p:bus:a", '{"id": "1"}'])
        self.assertEqual(self.heard, [("p:bus:a", '{"id": "1"}')])

    def test_it_subscribes_again_after_the_link_is_lost(self):
        self.subscriber.startService()
        link, _ = self.connect()
        link.reply(["subscribe", "p:bus:a", 1])
        link.lose()
        self.assertFalse(self.subscriber.subscribed)
        self.clock.advance(1.0)
        link, command = self.connect()
        self.assertEqual(command, ["SUBSCRIBE", "p:bus:a"])
        link.reply(["subscribe", "p:bus:a", 1])
        self.assertTrue(self.subscriber.subscribed)

    def test_a_handler_that_raises_is_logged_and_the_link_stays(self):
        self.subscriber = Subscriber(self.clock, parse_redis_url("redis://r:6379"), ["c"], lambda c, m: 1 / 0,
                                     endpoint=self.endpoint)
        self.subscriber.startService()
        link, _ = self.connect()
        link.reply(["subscribe", "c", 1])
        link.reply(["message", "c", "x"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertTrue(self.subscriber.subscribed)

    def test_a_refused_subscription_is_retried_after_a_delay(self):
        self.subscriber.startService()
        link, _ = self.connect()
        link.reply(RedisReplyError("NOPERM no"))
        self.assertEqual(len(self.flushLoggedErrors(RedisReplyError)), 1)
        self.assertEqual(link.commands(), [])
        self.clock.advance(RETRY_DELAY)
        self.assertEqual(link.commands(), [["SUBSCRIBE", "p:bus:a"]])

    def test_stopping_ends_the_loop(self):
        self.subscriber.startService()
        link, _ = self.connect()
        link.reply(["subscribe", "p:bus:a", 1])
        d = self.subscriber.stopService()
        link.lose()
        self.successResultOf(d)
        self.assertFalse(self.subscriber.subscribed)
        self.assertFalse(self.clock.getDelayedCalls())
