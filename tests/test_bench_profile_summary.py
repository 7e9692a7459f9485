"""Tests of ``bench/profile_summary.py``: collapsed py-spy stacks to shares by part and by function."""

import contextlib
import io

from twisted.trial.unittest import SynchronousTestCase

from tests.support.bench import load_bench


summary = load_bench("profile_summary")

RUN = "run (twisted/internet/base.py:686)"
POLL = "EPollReactor.doPoll (twisted/internet/epollreactor.py:244)"
LINES = [
    f"{RUN};{POLL};WebSocketProtocol.processData (autobahn/websocket/protocol.py:1600) 6",
    f"{RUN};{POLL};WebSocketProtocol.processData (autobahn/websocket/protocol.py:1600);"
    "GameSession.received (rpsa/play/session.py:200);loads (json/__init__.py:346) 2",
    f"{RUN};TickScheduler._run (rpsa/play/ticker.py:98) 2",
    "not a stack line",
    "",
]


class SummaryTests(SynchronousTestCase):
    """Parts, self and inclusive shares."""

    def test_read_stacks_skips_malformed(self):
        """Each stack line's frames and count; lines without a count are skipped."""
        stacks = summary.read_stacks(LINES)
        self.assertEqual(sum(stacks.values()), 10)
        self.assertEqual(len(stacks), 3)

    def test_innermost_match_names_the_part(self):
        """JSON decoding inside frame parsing counts as JSON, not as frame parsing."""
        s = summary.summarize(summary.read_stacks(LINES))
        self.assertEqual(s["parts"], {"receive: frame parsing": 60.0, "JSON decode": 20.0,
                                      "tick and broadcast": 20.0})
        self.assertEqual(s["inclusive"][RUN], 100.0)
        self.assertEqual(s["self"]["loads (json/__init__.py:346)"], 20.0)

    def test_main(self):
        """The command prints the sample count and the parts; no samples exits 2."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("\n".join(LINES))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(summary.main([path]), 0)
        self.assertIn("10 busy samples", out.getvalue())
        empty = self.mktemp()
        open(empty, "w").close()
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(summary.main([empty]), 2)
