"""The replay command: output format, bad lines and exit status."""

import io
import json
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from rpsa.tools.replay import main, replay_lines
from tests.support.process import child_env

RECORDINGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "engine-transcripts.jsonl")


def _first_recording():
    with open(RECORDINGS, encoding="utf-8") as f:
        return json.loads(f.readline())


class ReplayLinesTests(SynchronousTestCase):
    """replay_lines() prints one line per match and stops at the first bad line."""

    def _replay(self, lines):
        out, err = io.StringIO(), io.StringIO()
        status = replay_lines(lines, out, err)
        return status, out.getvalue().splitlines(), err.getvalue()

    def test_output_keys(self):
        """A good line prints exactly name, events, winner and ticks."""
        record = _first_recording()
        record["extra"] = "ignored"
        status, out, err = self._replay([json.dumps(record)])
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(len(out), 1)
        result = json.loads(out[0])
        self.assertEqual(sorted(result), ["events", "name", "ticks", "winner"])
        self.assertEqual(result["events"], record["events"])

    def test_bad_json_names_line(self):
        """A line that is not JSON is reported with its number; earlier lines are kept."""
        good = json.dumps(_first_recording())
        status, out, err = self._replay([good, "{not json"])
        self.assertEqual(status, 1)
        self.assertEqual(len(out), 1)
        self.assertIn("line 2", err)
        self.assertIn("not valid JSON", err)

    def test_missing_key(self):
        """A record without a required key names the key."""
        record = _first_recording()
        del record["botch_damages"]
        status, out, err = self._replay([json.dumps(record)])
        self.assertEqual((status, out), (1, []))
        self.assertIn("line 1", err)
        self.assertIn("botch_damages", err)

    def test_unknown_fighter(self):
        """An unknown fighter id is reported as such."""
        record = _first_recording()
        record["fighters"] = ["zzz", "aru"]
        status, _, err = self._replay([json.dumps(record)])
        self.assertEqual(status, 1)
        self.assertIn("unknown fighter 'zzz'", err)

    def test_bad_weapon(self):
        """An input with a weapon outside 0..2 is reported with its input index."""
        record = _first_recording()
        record["inputs"][0]["weapon"] = 7
        status, _, err = self._replay([json.dumps(record)])
        self.assertEqual(status, 1)
        self.assertIn("input 0", err)
        self.assertIn("0..2", err)

    def test_too_few_botches(self):
        """Running out of recorded botch damages is an error, not a random draw."""
        record = _first_recording()
        record["botch_damages"] = []
        status, _, err = self._replay([json.dumps(record)])
        self.assertEqual(status, 1)
        self.assertIn("more botches", err)

    def test_bad_rounds(self):
        """An even number of rounds is refused."""
        record = _first_recording()
        record["num_rounds"] = 4
        status, _, err = self._replay([json.dumps(record)])
        self.assertEqual(status, 1)
        self.assertIn("rounds", err)

    def test_rounds_not_an_integer(self):
        """A num_rounds that is not an integer is refused by the engine's own check, with its reason."""
        record = _first_recording()
        record["num_rounds"] = "3"
        status, _, err = self._replay([json.dumps(record)])
        self.assertEqual(status, 1)
        self.assertIn("rounds must be an odd integer from 1 to 9", err)

    def test_not_an_object(self):
        """A JSON line that is not an object is refused."""
        status, _, err = self._replay(["[1, 2]"])
        self.assertEqual(status, 1)
        self.assertIn("JSON object", err)

    def test_blank_lines_skipped(self):
        """Blank lines are skipped, not errors."""
        status, out, _ = self._replay(["\n", json.dumps(_first_recording()), "  \n"])
        self.assertEqual((status, len(out)), (0, 1))

    def test_missing_file(self):
        """A file that cannot be read gives exit status 2."""
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        self.assertEqual(main([os.path.join(self.mktemp(), "nope.jsonl")]), 2)
        self.assertIn("cannot read", err.getvalue())


class ReplayCommandTests(SynchronousTestCase):
    """``python -m rpsa.tools.replay`` as a real process."""

    def test_replays_all_recordings(self):
        """The command replays all 60 recordings, one line each, and exits 0."""
        proc = subprocess.run(
            [sys.executable, "-m", "rpsa.tools.replay", RECORDINGS],
            capture_output=True, text=True, timeout=120, env=child_env(),
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(len(lines), 60)
        self.assertEqual(json.loads(lines[0])["name"], "seed-1")
