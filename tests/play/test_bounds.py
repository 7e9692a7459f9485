"""rpsa.play.bounds: the HTTP channel's deadlines (the guard table for its overrides is in test_fastpath)."""

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.trial.unittest import SynchronousTestCase

from rpsa.site import SiteHooks, make_site


class DeadlineChannelTests(SynchronousTestCase):
    """Deadlines for the request line and headers, and for the body, on the site's clock."""

    def setUp(self):
        from twisted.internet.task import Clock
        from twisted.web.resource import Resource

        self.clock = Clock()
        self.timeouts = []
        root = Resource()
        hooks = SiteHooks()
        hooks.dropped = self.timeouts.append
        site = make_site(root, self.clock, hooks=hooks, header_timeout=2.0, body_timeout=3.0)
        self.channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        self.transport = StringTransportWithDisconnection()
        self.transport.protocol = self.channel
        self.channel.makeConnection(self.transport)

    def test_headers_that_trickle(self):
        """A byte a second does not extend the header deadline: 408 and closed at 2 s."""
        for byte in b"GET / HTTP/1.1\r\nX-Slow: aaaa":
            self.channel.dataReceived(bytes([byte]))
            self.clock.advance(0.05)
        self.clock.advance(2.0)
        self.assertEqual(self.timeouts, ["header_timeout"])
        self.assertTrue(self.transport.value().startswith(b"HTTP/1.1 408 "))

    def test_body_that_trickles(self):
        self.channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        self.clock.advance(3.0)
        self.assertEqual(self.timeouts, ["body_timeout"])

    def test_complete_requests_have_no_deadline(self):
        self.channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.clock.advance(100)
        self.assertEqual(self.timeouts, [])
        self.assertEqual(self.clock.getDelayedCalls() and [c for c in self.clock.getDelayedCalls()
                                                          if c.func.__name__ == "_expired"], [])
