"""rpsa.site: the access log (no token in it) and the Site; the APIs themselves are tested through the root app."""

import io

from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet.task import Clock
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import combinedLogFormatter
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from twisted.web.test.requesthelper import DummyChannel

from rpsa.daemon import logs
from rpsa.daemon.logs import REDACTED, Redactor
from rpsa.site import SiteHooks, _WithoutQueries, access_log_formatter, make_site

SECRET = "s3cr3t-T0KEN_value"


def access_request(uri, referer=None):
    """A finished GET request for ``uri`` as Site.log sees it."""
    request = Request(DummyChannel())
    request.method = b"GET"
    request.uri = uri
    request.path = uri.split(b"?", 1)[0]
    request.clientproto = b"HTTP/1.1"
    request.code = 200
    if referer is not None:
        request.requestHeaders.setRawHeaders(b"referer", [referer])
    return request



class CountingHooks(SiteHooks):
    """Site hooks that append every logged request to ``requests``."""

    def __init__(self, requests):
        self.http_request = requests.append

class AccessLogTests(SynchronousTestCase):
    """Access log lines carry no token."""

    def test_formatter_drops_query(self):
        """The access log formatter drops the query string that carries the token."""
        request = access_request(f"/api/games/g/ws?token={SECRET}&user_id=x".encode())
        line = access_log_formatter("[01/Jan/2026:00:00:00 +0000]", request)
        self.assertNotIn(SECRET, line)
        self.assertIn('"GET /api/games/g/ws HTTP/1.1" 200', line)

    def test_site_uses_it(self):
        """The Site built by make_site writes its access lines without the query string, and counts them."""
        counted = []
        site = make_site(Resource(), reactor=Clock(), hooks=CountingHooks(counted))
        site.startFactory()
        out = io.StringIO()
        site.logFile = out
        site.log(access_request(f"/?game_token={SECRET}&user_id=x".encode()))
        self.assertIn('"GET / HTTP/1.1"', out.getvalue())
        self.assertNotIn(SECRET, out.getvalue())
        self.assertEqual(len(counted), 1)

    def test_form_bodies_not_parsed(self):
        """A form-encoded POST body does not become request.args (only the query string does)."""
        from twisted.internet.address import IPv4Address
        from twisted.internet.testing import StringTransport

        seen = []

        class Spy(Resource):
            isLeaf = True

            def render_POST(self, request):
                seen.append(request.args)
                return b"{}"

        site = make_site(Spy(), reactor=Clock())
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        channel.makeConnection(StringTransport())
        channel.dataReceived(b"POST /x?q=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                             b"Content-Length: 7\r\n\r\ngame=g1")
        self.assertEqual(seen, [{b"q": [b"1"]}])

    def test_tokens_redacted_in_access_log_events(self):
        """Whatever the formatter leaves in an access line (logged as an event), the observer scrubs its tokens."""
        # Twisted's own formatter keeps the whole URI and Referer: the worst case.
        site = Site(Resource(), logFormatter=combinedLogFormatter, reactor=Clock())
        site.startFactory()
        self.addCleanup(site.stopFactory)
        request = access_request(
            f"/?game_token={SECRET}&user_id=x".encode(), referer=f"https://h/?game_token={SECRET}&user_id=x".encode()
        )
        with capturedLogs() as events:
            site.log(request)
        self.assertTrue(any(SECRET in str(e.get("log_io")) for e in events))
        out = io.StringIO()
        observer = logs.text_file_observer(out, Redactor())
        for event in events:
            observer(event)
        self.assertIn(f'"GET /?game_token={REDACTED}&user_id=x HTTP/1.1"', out.getvalue())
        self.assertNotIn(SECRET, out.getvalue())

    def test_access_log_formatter_drops_referer_query(self):
        """access_log_formatter drops the query strings of both the URI and the Referer."""
        request = access_request(
            f"/api/games/g/ws?token={SECRET}".encode(), referer=f"https://h/play?game_token={SECRET}".encode()
        )
        line = access_log_formatter("[01/Jan/2026:00:00:00 +0000]", request)
        self.assertNotIn(SECRET, line)
        self.assertIn('"GET /api/games/g/ws HTTP/1.1" 200 - "https://h/play"', line)


_header_bytes = st.binary(max_size=40) | st.sampled_from([b"-", b"Mozilla/5.0 (X11)", b'say "hi"', b"it's", b"a\\b",
                                                           b"caf\xc3\xa9", b"\x1b[31m"])


class AccessLineTests(SynchronousTestCase):
    """access_log_formatter's direct line is, byte for byte, Twisted's combinedLogFormatter's (queries dropped)."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(method=st.sampled_from([b"GET", b"POST", b"DELETE", b"G\"ET"]), path=_header_bytes,
           query=st.binary(max_size=20), referer=st.none() | _header_bytes, agent=st.none() | _header_bytes,
           code=st.sampled_from([200, 404, 500]), length=st.sampled_from([0, 17, 4096]))
    def test_same_line_as_twisted(self, method, path, query, referer, agent, code, length):
        """For every mix of plain and escapable fields, the same line as Twisted's formatter on the query-less view."""
        request = access_request(b"/" + path + b"?" + query, referer)
        request.method, request.code, request.sentLength = method, code, length
        if agent is not None:
            request.requestHeaders.setRawHeaders(b"user-agent", [agent])
        stamp = "[01/Jan/2026:00:00:00 +0000]"
        self.assertEqual(access_log_formatter(stamp, request), combinedLogFormatter(stamp, _WithoutQueries(request)))
