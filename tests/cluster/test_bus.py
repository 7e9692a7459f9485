"""The bus, Clock-driven over a fake connection: requests, replies, timeouts, errors, and requests heard."""

import json

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from rpsa.cluster.bus import Bus, BusObserver, Operations, RequestHandler
from rpsa.cluster.errors import DirectoryUnavailable, OwnerUnreachable, RemoteError
from rpsa.redis.schema import Keys
from rpsa.web import APIError
from tests.cluster.fakes import ScriptConnection


class RecordingObserver(BusObserver):
    def __init__(self):
        self.outcomes = []

    def forwarded(self, op, owner, outcome, seconds):
        self.outcomes.append((op, owner, outcome, seconds))


class Echo(RequestHandler):
    def __init__(self):
        self.seen = []

    def handle_request(self, op, args, sender):
        self.seen.append((op, args, sender))
        if op == "echo":
            return {"echo": args}
        if op == "later":
            self.later = defer.Deferred()
            return self.later
        if op == "refuse":
            raise APIError(409, "game_full", "full")
        if op == "crash":
            raise RuntimeError("bug")
        return super().handle_request(op, args, sender)


class BusTestCase(TestCase):
    def setUp(self):
        self.clock = Clock()
        self.connection = ScriptConnection()
        self.handler = Echo()
        self.observer = RecordingObserver()
        self.bus = Bus(self.clock, self.connection, Keys("p:"), "a", self.handler, self.observer)
        self.bus.startService()

    def published(self):
        """``(channel, message)`` of the PUBLISH sent, answered with 1 receiver."""
        args, d = self.connection.take_command("PUBLISH")
        d.callback(1)
        return args[1], json.loads(args[2])


class RequestTests(BusTestCase):
    def test_a_request_is_published_on_the_owners_channel_and_fires_with_the_reply(self):
        d = self.bus.request("b", "join", {"game_id": "g"}, timeout=5)
        channel, message = self.published()
        self.assertEqual(channel, "p:bus:b")
        self.assertEqual((message["from"], message["op"], message["args"]), ("a", "join", {"game_id": "g"}))
        self.clock.advance(0.25)
        self.bus.message("p:bus:a", json.dumps({"re": message["id"], "result": {"ok": 1}}))
        self.assertEqual(self.successResultOf(d), {"ok": 1})
        self.assertEqual(self.observer.outcomes, [("join", "b", "ok", 0.25)])
        self.assertFalse(self.clock.getDelayedCalls())

    def test_an_error_reply_is_a_remote_error_with_the_owners_status_code_and_message(self):
        d = self.bus.request("b", "join", {}, timeout=5)
        _, message = self.published()
        error = {"status": 409, "code": "game_full", "message": "game 'g' is full"}
        self.bus.message("p:bus:a", json.dumps({"re": message["id"], "error": error}))
        failure = self.failureResultOf(d, RemoteError)
        self.assertEqual((failure.value.status, failure.value.code, failure.value.message),
                         (409, "game_full", "game 'g' is full"))
        self.assertEqual(self.observer.outcomes[0][2], "game_full")

    def test_nobody_subscribed_to_the_owners_channel_is_owner_unreachable_at_once(self):
        d = self.bus.request("b", "join", {}, timeout=5)
        _, publish = self.connection.take_command("PUBLISH")
        publish.callback(0)
        failure = self.failureResultOf(d, OwnerUnreachable)
        self.assertEqual((failure.value.status, failure.value.code), (504, "owner_unreachable"))
        self.assertFalse(self.clock.getDelayedCalls())

    def test_no_reply_within_the_timeout_is_owner_unreachable_and_a_late_reply_is_ignored(self):
        d = self.bus.request("b", "join", {}, timeout=5)
        _, message = self.published()
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.assertIn("5s", self.failureResultOf(d, OwnerUnreachable).value.message)
        self.bus.message("p:bus:a", json.dumps({"re": message["id"], "result": 1}))  # nothing happens
        self.assertEqual([o[2] for o in self.observer.outcomes], ["owner_unreachable"])

    def test_redis_away_is_directory_unavailable_without_sending(self):
        self.connection.connected = False
        d = self.bus.request("b", "join", {}, timeout=5)
        self.failureResultOf(d, DirectoryUnavailable)
        self.assertEqual(self.connection.calls, [])
        self.assertFalse(self.clock.getDelayedCalls())

    def test_the_connection_lost_before_publishing_is_directory_unavailable(self):
        d = self.bus.request("b", "join", {}, timeout=5)
        self.connection.go_down()
        self.failureResultOf(d, DirectoryUnavailable)

    def test_stopping_fails_the_requests_in_flight(self):
        d = self.bus.request("b", "join", {}, timeout=5)
        self.published()
        self.bus.stopService()
        self.failureResultOf(d, DirectoryUnavailable)
        self.assertFalse(self.clock.getDelayedCalls())


class HearingTests(BusTestCase):
    def request(self, op, args=None, request_id="r1", sender="b"):
        self.bus.message("p:bus:a", json.dumps({"id": request_id, "from": sender, "op": op, "args": args or {}}))

    def test_a_request_is_handled_and_answered_on_the_senders_channel(self):
        self.request("echo", {"x": 1})
        self.assertEqual(self.handler.seen, [("echo", {"x": 1}, "b")])
        channel, reply = self.published()
        self.assertEqual(channel, "p:bus:b")
        self.assertEqual(reply, {"re": "r1", "result": {"echo": {"x": 1}}})

    def test_a_deferred_result_is_answered_when_it_fires(self):
        self.request("later")
        self.assertEqual(self.connection.calls, [])
        self.handler.later.callback([1, 2])
        self.assertEqual(self.published()[1], {"re": "r1", "result": [1, 2]})

    def test_an_api_error_is_answered_as_an_error(self):
        self.request("refuse")
        self.assertEqual(self.published()[1],
                         {"re": "r1", "error": {"status": 409, "code": "game_full", "message": "full"}})

    def test_an_unknown_operation_is_answered_400(self):
        self.request("fly")
        self.assertEqual(self.published()[1]["error"]["code"], "unknown_operation")

    def test_a_crash_is_logged_and_answered_500_without_details(self):
        self.request("crash")
        self.assertEqual(self.published()[1]["error"],
                         {"status": 500, "code": "internal_error", "message": "internal server error"})
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_malformed_messages_are_ignored(self):
        for text in ("not json", "[1]", json.dumps({"id": 1, "from": "b", "op": "echo"}), json.dumps({"op": "x"})):
            self.bus.message("p:bus:a", text)
        self.assertEqual(self.handler.seen, [])
        self.assertEqual(self.connection.calls, [])

    def test_a_reply_that_cannot_be_sent_is_logged_not_raised(self):
        self.connection.connected = False
        self.request("echo")
        self.assertEqual(self.connection.calls, [])


class OperationsTests(TestCase):
    def test_each_operation_goes_to_its_handler(self):
        first, second = Echo(), Echo()
        operations = Operations({"echo": first, "refuse": second})
        self.assertEqual(operations.handle_request("echo", {"a": 1}, "n"), {"echo": {"a": 1}})
        self.assertRaises(APIError, operations.handle_request, "refuse", {}, "n")
        self.assertEqual(len(second.seen), 1)
        error = self.assertRaises(APIError, operations.handle_request, "other", {}, "n")
        self.assertEqual(error.code, "unknown_operation")
