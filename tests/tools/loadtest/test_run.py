"""Tests of ``rpsa.tools.loadtest.run``: the report of tiny runs against the in-process fake server."""

import io
import json
import os

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase
from twisted.web import resource, server

from rpsa.tools.loadtest import cli
from rpsa.tools.loadtest.run import REPORT_KEYS, LoadTest
from tests.tools.loadtest.fakes import TICK_MS, FakeServer


class TinyRunTests(TestCase):
    """The load tool's report on a tiny run against the in-process fake server."""

    timeout = 60

    def start_fake(self, **kw):
        """Start a FakeServer stopped at the end of the test."""
        fake = FakeServer(**kw)
        fake.start()
        self.addCleanup(fake.stop)
        return fake

    def options(self, fake, *extra):
        """Options of a 2-game once run against the fake server."""
        argv = ["--http", "http://127.0.0.1:%d" % fake.http_port, "--mode", "once", "--games", "2",
                "--ramp", "0", "--settle", "0", "--measure", "30", "--max-seconds", "30",
                "--tick-ms", str(TICK_MS), "--progress", "0", "--seed", "1"]
        if not fake.native:
            argv += ["--compat", "--ws", "ws://127.0.0.1:%d" % fake.ws_port]
        return cli.parse_options(argv + list(extra))

    def run_tool(self, cfg):
        """Run the tool on the test's reactor; fire with its report."""
        return LoadTest(reactor, cfg, err=io.StringIO()).run()

    @defer.inlineCallbacks
    def test_native_two_games(self):
        """On native routes, 2 games in once mode complete with 0 errors, jitter is measured, the key is sent."""
        fake = self.start_fake(native=True)
        report = yield self.run_tool(self.options(fake, "--api-key", "k1", "--server-pid", str(os.getpid())))
        self.assertEqual((report["completed"], report["errorsTotal"], report["errors"]), (2, 0, {}))
        self.assertFalse(report["hardStop"])
        self.assertEqual(report["routes"], "native")
        self.assertGreater(report["tickJitterMs"]["n"], 0)
        self.assertEqual(report["httpLatencyMs"]["n"], 4)
        self.assertEqual(fake.auth_headers, ["Bearer k1"] * 4)
        self.assertIsNotNone(report["server"]["rssMbEnd"])
        self.assertTrue(set(REPORT_KEYS) - {"aux"} <= set(report))
        json.dumps(report)  # serialisable
        text = cli.format_report(report)
        self.assertIn("completed 2", text)
        self.assertIn("errors: 0 total", text)

    @defer.inlineCallbacks
    def test_compat_two_games(self):
        """On --compat routes with a separate WebSocket port, 2 games complete with 0 errors."""
        fake = self.start_fake(native=False)
        report = yield self.run_tool(self.options(fake))
        self.assertEqual((report["completed"], report["errorsTotal"]), (2, 0))
        self.assertEqual(report["routes"], "compat")
        self.assertEqual(report["gameLengthTicks"]["n"], 2)
        self.assertEqual(fake.auth_headers, [None] * 4)

    @defer.inlineCallbacks
    def test_http_errors_counted(self):
        """An HTTP status other than the expected one is counted by kind and no game starts playing."""
        fake = self.start_fake(native=True, http_status=503)
        report = yield self.run_tool(self.options(fake))
        self.assertEqual((report["completed"], report["errors"]), (0, {"http_status_503": 2}))

    @defer.inlineCallbacks
    def test_early_close_counted(self):
        """A socket closed by the server before GAME_COMPLETE counts as ws_unexpected_close_<code>."""
        fake = self.start_fake(native=False, close_host_with=4002)
        report = yield self.run_tool(self.options(fake))
        self.assertEqual((report["completed"], report["errors"]), (0, {"ws_unexpected_close_4002": 2}))

    @defer.inlineCallbacks
    def test_connection_refused_counted(self):
        """A WebSocket that cannot connect counts as ws_error_ECONNREFUSED."""
        fake = self.start_fake(native=False)
        # A port that was just free: listen, note it, stop listening.
        p = reactor.listenTCP(0, server.Site(resource.Resource()), interface="127.0.0.1")
        dead_port = p.getHost().port
        yield p.stopListening()
        cfg = cli.parse_options([
            "--http", "http://127.0.0.1:%d" % fake.http_port, "--compat", "--ws", "ws://127.0.0.1:%d" % dead_port,
            "--mode", "once", "--games", "2", "--ramp", "0", "--settle", "0", "--measure", "30",
            "--max-seconds", "30", "--progress", "0"])
        report = yield self.run_tool(cfg)
        self.assertEqual((report["completed"], report["errors"]), (0, {"ws_error_ECONNREFUSED": 2}))
