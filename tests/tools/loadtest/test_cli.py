"""Tests of ``rpsa.tools.loadtest.cli``: options and their errors, the text report, the JSON line."""

import io
import json
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from rpsa.tools.loadtest import cli
from rpsa.tools.loadtest.run import REPORT_KEYS
from tests.support.process import child_env, python_command


def sample_report(**over):
    """A made-up JSON report with every key the tool writes."""
    r = {
        "tool": "rpsa.tools.loadtest", "label": "t1", "mode": "steady", "routes": "compat", "games": 200, "ramp": 10.0,
        "rampS": 20.0, "settleS": 5.0, "measureS": 20.0, "tickMs": 1000.0, "http": "http://127.0.0.1:8080",
        "ws": "ws://127.0.0.1:8085", "hardStop": False, "startedAt": "2026-01-01T00:00:00.000+00:00",
        "windowS": 20.0, "started": 200, "completed": 3, "completedInWindow": 1,
        "errors": {"http_status_500": 2, "timeout_tick": 1}, "errorsTotal": 3, "errorsInWindow": 1,
        "closeHandshakeTimeouts": 0,
        "tickJitterMs": {"n": 4000, "p50": 0.3, "p90": 1.1, "p99": 5.3, "max": 14.0, "min": -5.0},
        "jitterBurstsAll": 9000,
        "httpLatencyMs": {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "min": None},
        "httpOkPerSec": 0.0,
        "gameLengthTicks": {"n": 3, "p50": 196, "p90": 196, "p99": 196, "max": 196, "min": 196},
        "gameLengthS": {"n": 3, "p50": 196.0, "p90": 196.0, "p99": 196.0, "max": 196.0, "min": 196.0},
        "server": {"cpuPct": 12.5, "cpuPctMaxSample": 20.0, "rssMbStart": 60.0, "rssMbEnd": 61.0, "rssMbMax": 62.0},
        "steal": {"cpu0": {"pct": 1.0, "maxPct1s": 3.0}},
        "generator": {"cpuPct": 8.0, "loopDelayP99Ms": 1.5, "loopDelayMaxMs": 9.0, "rssMb": 60.0},
    }
    r.update(over)
    return r


class ReportTests(SynchronousTestCase):
    """The human report and the JSON line."""

    def test_sample_has_every_key(self):
        """The made-up report used here has exactly the keys the tool documents (aux aside)."""
        self.assertEqual(set(sample_report()) | {"aux"}, set(REPORT_KEYS))

    def test_text(self):
        """The text report gives games, errors by kind, jitter, HTTP, server and generator figures."""
        text = cli.format_report(sample_report())
        self.assertIn("[t1]", text)
        self.assertIn("games: started 200, completed 3 (1 in the window)", text)
        self.assertIn("errors: 3 total, 1 in the window: http_status_500 2, timeout_tick 1", text)
        self.assertIn("tick jitter ms (tick 1000.0 ms): n 4000  p50 0.3  p90 1.1  p99 5.3  max 14.0  min -5.0", text)
        self.assertIn("http latency ms: n 0;", text)
        self.assertIn("server: cpu 12.5% (max 1 s sample 20.0%), rss 60.0 MB at window start, 61.0 MB at end", text)
        self.assertIn("generator: cpu 8.0%, event-loop lag p99 1.5 ms, max 9.0 ms", text)
        self.assertNotIn("HARD STOP", text)

    def test_text_hard_stop_and_no_server(self):
        """A hard stop is flagged; a missing server sample says so; no errors prints no kinds."""
        text = cli.format_report(sample_report(hardStop=True, server=None, errors={}, errorsTotal=0,
                                               errorsInWindow=0))
        self.assertIn("HARD STOP", text)
        self.assertIn("server: no samples in the window", text)
        self.assertIn("errors: 0 total, 0 in the window\n", text)

    def test_json_line_appends(self):
        """Each report is appended to the --json file as one JSON line."""
        path = self.mktemp()
        cli.write_json_line(path, sample_report(label="a"))
        cli.write_json_line(path, sample_report(label="b"))
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual([json.loads(line)["label"] for line in lines], ["a", "b"])

    def test_json_to_stdout(self):
        """--json - writes the line to stdout."""
        out = io.StringIO()
        cli.write_json_line("-", sample_report(), stdout=out)
        self.assertEqual(json.loads(out.getvalue())["completed"], 3)


class OptionTests(SynchronousTestCase):
    """Command-line parsing and its errors."""

    def test_defaults(self):
        """Defaults: native routes, steady mode, 100 games ramped at 100 games/s, 1 s tick."""
        o = cli.parse_options([])
        self.assertEqual((o.compat, o.mode, o.games, o.ramp, o.tick_ms, o.ws),
                         (False, "steady", 100, 1.0, 1000.0, None))

    def test_compat_ws_defaults_to_http_host(self):
        """With --compat and no --ws, the WebSocket base is the --http URL with a ws scheme."""
        o = cli.parse_options(["--compat", "--http", "http://127.0.0.1:9000/"])
        self.assertEqual((o.http, o.ws), ("http://127.0.0.1:9000", "ws://127.0.0.1:9000"))

    def test_ramp_rate(self):
        """--ramp-rate R (games per second, loadgen.js's --ramp) means a ramp of games / R seconds."""
        self.assertEqual(cli.parse_options(["--games", "200", "--ramp-rate", "10"]).ramp, 20)
        self.assertEqual(cli.parse_options(["--games", "200", "--ramp", "5"]).ramp, 5)

    def test_api_key_file(self):
        """--api-key-file reads the key from the first line of the file."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("s3cret\nignored\n")
        self.assertEqual(cli.parse_options(["--api-key-file", path]).api_key, "s3cret")

    def assertRejected(self, argv, fragment):
        """parse_options(argv) raises OptionsError whose message contains fragment."""
        e = self.assertRaises(cli.OptionsError, cli.parse_options, argv)
        self.assertIn(fragment, str(e))

    def test_errors(self):
        """Unknown, abbreviated, malformed, out-of-range and conflicting options are rejected with a reason."""
        self.assertRejected(["--bogus"], "unrecognized")
        self.assertRejected(["--comp"], "unrecognized")
        self.assertRejected(["--games", "0"], "at least 1")
        self.assertRejected(["--games", "x"], "not an integer")
        self.assertRejected(["--measure", "0"], "> 0")
        self.assertRejected(["--settle", "nan"], "finite")
        self.assertRejected(["--mode", "idle"], "invalid choice")
        self.assertRejected(["--http", "ftp://x"], "--http")
        self.assertRejected(["--ramp", "5", "--ramp-rate", "5"], "not both")
        self.assertRejected(["--api-key", "a", "--api-key-file", "b"], "not both")
        self.assertRejected(["--api-key-file", "/nonexistent/key"], "cannot read")
        self.assertRejected(["--ws", "ws://x:1"], "only applies with --compat")
        self.assertRejected(["--compat", "--rounds", "3"], "native")
        self.assertRejected(["--compat", "--ws", "http://x:1"], "--ws")
        self.assertRejected(["--fighters", ","], "no fighter")
        self.assertRejected(["--json", "/nonexistent/dir/out.jsonl"], "--json")

    def test_usage_error_exit_status(self):
        """``python -m rpsa.tools.loadtest`` with a bad option exits 2 and says why on stderr."""
        proc = subprocess.run(python_command("-m", "rpsa.tools.loadtest", "--games", "0"), env=child_env(),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--games", proc.stderr)


class FighterDefaultTests(SynchronousTestCase):
    """The default --fighters come from the rules engine."""

    def test_default_fighters_are_the_rules_fighters(self):
        """Without --fighters, every fighter rpsa.rules knows is picked from, in its order."""
        from rpsa.rules import FIGHTERS
        self.assertEqual(cli.parse_options([]).fighters, list(FIGHTERS))
