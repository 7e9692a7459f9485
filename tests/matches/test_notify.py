"""Tests for rpsa.matches.notify: delivering events with retries, against treq's StubTreq and a Clock."""

from __future__ import annotations

import json

from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseNeverReceived
from treq.testing import StringStubbingResource, StubTreq

from rpsa.matches.launcher import MatchRecord
from rpsa.matches.notify import MatchNotifications, Notifier

URL = "https://lobby.example/rpsa/events"
EVENT = {"event": "match_ready", "match_id": "m1", "port": 9000, "spectate_url": "wss://example/m1"}


class FakeServer:
    """Answers requests with the given statuses in turn, recording each request and its time."""

    def __init__(self, clock, statuses):
        self.clock = clock
        self.statuses = list(statuses)
        self.requests = []

    def __call__(self, method, url, params, headers, data):
        self.requests.append(
            {"time": self.clock.seconds(), "method": method, "url": url, "headers": headers, "body": json.loads(data)}
        )
        return (self.statuses.pop(0), {}, b"ok")


class FlakyClient:
    """A treq client whose first ``failures`` posts fail (or hang, if ``hang``); then it delegates to ``client``."""

    client = None

    def __init__(self, failures, hang=False, error=None):
        self.failures = failures
        self.hang = hang
        self.error = error or ConnectionRefusedError()
        self.cancelled = 0

    def post(self, url, **kwargs):
        if self.failures <= 0:
            return self.client.post(url, **kwargs)
        self.failures -= 1
        if self.hang:
            return Deferred(self._cancel)
        return fail(self.error)

    def _cancel(self, d):
        """Fail as twisted.web's Agent does when a request is cancelled: not with CancelledError itself."""
        self.cancelled += 1
        d.errback(ResponseNeverReceived([Failure(CancelledError())]))


class NotifierTests(SynchronousTestCase):
    """Notifier.post delivers, retries with backoff, gives up, and stops."""

    def setUp(self):
        self.clock = Clock()
        self.logged = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    def notifier(self, statuses, wrapper=None, **kwargs):
        """A Notifier on ``self.clock`` whose server answers with ``statuses``, through ``wrapper`` if given."""
        self.server = FakeServer(self.clock, statuses)
        client = StubTreq(StringStubbingResource(self.server))
        if wrapper is not None:
            wrapper.client, client = client, wrapper
        return Notifier(URL, self.clock, treq_client=client, **kwargs)

    def assert_no_timers(self):
        """No delayed call is left on the clock."""
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def log_levels(self, text):
        """The levels of the log events whose format contains ``text``."""
        return [e["log_level"].name for e in self.logged if text in (e.get("log_format") or "")]

    def test_success_first_try(self):
        """A 2xx answer to the first POST fires with True; the body is the event as JSON."""
        d = self.notifier([204]).post(EVENT)
        self.assertIs(self.successResultOf(d), True)
        [request] = self.server.requests
        self.assertEqual((request["method"], request["url"], request["body"]), (b"POST", URL, EVENT))
        [content_type] = request["headers"][b"Content-Type"]
        self.assertTrue(content_type.startswith(b"application/json"), content_type)
        self.assert_no_timers()

    def test_retry_after_5xx(self):
        """A 5xx answer is retried after ``backoff`` seconds."""
        d = self.notifier([503, 200], backoff=1.0).post(EVENT)
        self.assertNoResult(d)
        self.clock.advance(0.9)
        self.assertEqual(len(self.server.requests), 1)
        self.clock.advance(0.1)
        self.assertIs(self.successResultOf(d), True)
        self.assertEqual([r["time"] for r in self.server.requests], [0, 1.0])
        self.assertEqual(self.log_levels("failed (attempt"), ["warn"])
        self.assert_no_timers()

    def test_retry_after_connection_error(self):
        """A connection error is retried, and the retry can succeed."""
        d = self.notifier([200], FlakyClient(failures=1)).post(EVENT)
        self.assertNoResult(d)
        self.clock.advance(1.0)
        self.assertIs(self.successResultOf(d), True)
        self.assertEqual(len(self.server.requests), 1)

    def test_timeout_is_a_failure(self):
        """A POST without an answer within ``timeout`` is cancelled and retried."""
        flaky = FlakyClient(failures=1, hang=True)
        d = self.notifier([200], flaky, timeout=10.0).post(EVENT)
        self.clock.advance(9.9)
        self.assertEqual(flaky.cancelled, 0)
        self.clock.advance(0.1)
        self.assertEqual(flaky.cancelled, 1)
        self.assertNoResult(d)
        self.clock.advance(1.0)
        self.assertIs(self.successResultOf(d), True)

    def test_give_up_after_attempts(self):
        """After ``attempts`` failures, spaced by doubling delays, the post fires with False."""
        d = self.notifier([500] * 4, attempts=4, backoff=1.0).post(EVENT)
        self.clock.pump([1.0, 2.0, 4.0])
        self.assertIs(self.successResultOf(d), False)
        self.assertEqual([r["time"] for r in self.server.requests], [0, 1.0, 3.0, 7.0])
        self.assertEqual(self.log_levels("failed (attempt"), ["warn"] * 4)
        self.assertEqual(self.log_levels("gave up"), ["error"])
        self.assert_no_timers()

    def test_unexpected_client_error_does_not_raise(self):
        """A client that raises synchronously counts as failed attempts; post still fires with False."""

        class Broken:
            def post(self, url, **kwargs):
                raise RuntimeError("broken client")

        d = self.notifier([], Broken(), attempts=2).post(EVENT)
        self.clock.advance(1.0)
        self.assertIs(self.successResultOf(d), False)

    def test_stop_cancels_retry(self):
        """stopService() during a back-off cancels the retry; the post fires with False."""
        notifier = self.notifier([500, 200])
        d = notifier.post(EVENT)
        stopped = notifier.stopService()
        self.assertIs(self.successResultOf(d), False)
        self.assertIsNone(self.successResultOf(stopped))
        self.clock.advance(60)
        self.assertEqual(len(self.server.requests), 1)
        self.assert_no_timers()

    def test_stop_cancels_request(self):
        """stopService() cancels a request in flight; the post fires with False."""
        flaky = FlakyClient(failures=1, hang=True)
        notifier = self.notifier([], flaky)
        d = notifier.post(EVENT)
        notifier.stopService()
        self.assertIs(self.successResultOf(d), False)
        self.assertEqual(flaky.cancelled, 1)
        self.assert_no_timers()

    def test_cancel_post(self):
        """Cancelling the Deferred from post abandons that event: it fires with False and nothing is retried."""
        notifier = self.notifier([500, 200])
        d = notifier.post(EVENT)
        d.cancel()
        self.assertIs(self.successResultOf(d), False)
        self.clock.advance(60)
        self.assertEqual(len(self.server.requests), 1)
        self.assert_no_timers()

    def test_secrets_in_url_not_logged(self):
        """Failures are logged without the URL's user info or query string."""
        url = "https://user:hunter2@lobby.example/events?key=s3cret"
        notifier = Notifier(url, self.clock, treq_client=FlakyClient(failures=1), attempts=1)
        self.assertIs(self.successResultOf(notifier.post(EVENT)), False)
        text = " ".join(formatEvent(e) for e in self.logged)
        self.assertIn("https://lobby.example/events", text)
        self.assertNotIn("hunter2", text)
        self.assertNotIn("s3cret", text)

    def test_post_after_stop(self):
        """A post after stopService() sends nothing and fires with False."""
        notifier = self.notifier([])
        notifier.stopService()
        self.assertIs(self.successResultOf(notifier.post(EVENT)), False)
        self.assertEqual(self.server.requests, [])


class RecordingNotifier:
    """A notifier that records the events posted to it."""

    def __init__(self):
        self.events = []

    def post(self, event):
        self.events.append(event)


class MatchNotificationsTests(SynchronousTestCase):
    """The launcher's observer that posts match_ended."""

    def test_ended_with_result_or_reason(self):
        """match_ended carries the result, or the reason when there is no winner."""
        notifier = RecordingNotifier()
        notifications = MatchNotifications(notifier)
        won = MatchRecord(match_id="a", request={}, state="ended", result={"winner": "ann", "loser": "ben"})
        abandoned = MatchRecord(match_id="b", request={}, state="ended", reason="abandoned")
        notifications.match_ended(won)
        notifications.match_ended(abandoned)
        self.assertEqual(notifier.events, [
            {"event": "match_ended", "match_id": "a", "result": {"winner": "ann", "loser": "ben"}},
            {"event": "match_ended", "match_id": "b", "reason": "abandoned"},
        ])

    def test_without_notifier(self):
        """Without a notifier, the end is only logged; match_ready does nothing."""
        notifications = MatchNotifications()
        record = MatchRecord(match_id="a", request={}, state="ended", reason="stopped")
        notifications.match_ready(record)
        notifications.match_ended(record)
