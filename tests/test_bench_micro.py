"""bench/micro.py runs: each micro-benchmark once with a few operations (the figures are not checked)."""

import contextlib
import io
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from tests.support.bench import bench_path, load_bench
from tests.support.process import child_env, python_command


class MicroTests(SynchronousTestCase):
    """Every case runs and prints its line."""

    def test_in_process_cases(self):
        """receive, write, burst and poll print rpsa's figure beside the library's."""
        micro = load_bench("micro")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            for case in ("receive", "write", "burst", "poll"):
                self.assertEqual(micro.main([case, "--n", "50", "--repeat", "1"]), 0)
        lines = out.getvalue().splitlines()
        self.assertEqual([line.split()[0] for line in lines], ["receive", "write", "burst", "poll"])
        self.assertTrue(all("rpsa/library" in line for line in lines))

    def test_http_and_game_cases(self):
        """The http and game cases (which start logging, so in child processes) print the cost of a pair, a game."""
        for case, line in (("http", "create+join pair"), ("game", "create+join+2 upgrades")):
            done = subprocess.run(python_command(bench_path("micro"), case, "--n", "40", "--repeat", "1"),
                                  env=child_env(), capture_output=True, text=True, timeout=120)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn(line, done.stdout)
