"""Tests for L{rpsa.web}: L{Endpoint}, a route's handler served past Klein, answering as a Klein app would.

(The rest of rpsa.web is exercised through the APIs: tests/lobby, tests/daemon/test_root.py.)
"""

import json

from twisted.internet import defer
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyChannel, DummyRequest

from rpsa.web import APIError, Endpoint, json_response, message_response


class EndpointTests(SynchronousTestCase):
    """What an Endpoint answers for each kind of handler outcome."""

    def setUp(self):
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def render(self, handler, render=message_response):
        request = DummyRequest([b"create_game"])
        request.method, request.path = b"POST", b"/create_game"
        request.channel = DummyChannel()  # a live connection (Twisted sets it to None once the client is gone)
        return request, Endpoint(handler, render).render(request)

    def test_body_at_once(self):
        """A handler's bytes are the answer, returned from render (Twisted sets the Content-Length)."""
        request, body = self.render(lambda request: json_response(request, {"gameToken": "t"}))
        self.assertEqual(json.loads(body), {"gameToken": "t"})
        self.assertEqual(request.responseCode, 200)

    def test_api_error_at_once(self):
        """An APIError raised is answered in the endpoint's style."""
        def handler(request):
            raise APIError(400, "original_error", "Game g1 already exists")

        request, body = self.render(handler)
        self.assertEqual((request.responseCode, json.loads(body)), (400, {"message": "Game g1 already exists"}))

    def test_body_later(self):
        """A Deferred's body is written and the request finished when it fires."""
        later = defer.Deferred()
        request, body = self.render(lambda request: later)
        self.assertIs(body, NOT_DONE_YET)
        self.assertEqual(request.finished, 0)
        later.callback(json_response(request, {"gameToken": "t"}))
        self.assertEqual(request.finished, 1)
        self.assertEqual(json.loads(b"".join(request.written)), {"gameToken": "t"})

    def test_api_error_later(self):
        """A Deferred failing with an APIError is answered in the endpoint's style."""
        later = defer.Deferred()
        request, _ = self.render(lambda request: later)
        later.errback(APIError(503, "original_error", "draining"))
        self.assertEqual((request.responseCode, json.loads(b"".join(request.written))), (503, {"message": "draining"}))

    def test_unexpected_error_is_500_and_logged(self):
        """Any other exception, at once or later, is logged with its traceback and answered 500."""
        def handler(request):
            raise KeyError("bug")

        request, body = self.render(handler)
        self.assertEqual((request.responseCode, json.loads(body)), (500, {"message": "internal server error"}))
        later = defer.Deferred()
        second, _ = self.render(lambda request: later)
        later.errback(ValueError("bug"))
        self.assertEqual(second.responseCode, 500)
        failures = [e["log_failure"].type for e in self.events if "log_failure" in e]
        self.assertEqual(failures, [KeyError, ValueError])
        self.assertEqual(len(self.flushLoggedErrors(KeyError, ValueError)), 2)

    def test_client_gone_before_the_answer(self):
        """A request whose client went away while the handler waited is not written to."""
        later = defer.Deferred()
        request, _ = self.render(lambda request: later)
        request.channel = None
        later.callback(b"{}")
        self.assertEqual((request.written, request.finished), ([], 0))
